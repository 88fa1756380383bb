"""Bad processor configs in testdata: each problem is reported with its path, all at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from otlpy.cli import dispatch
from otlpy.config import build
from otlpy.config.loader import load_files
from otlpy.errors import ConfigError

TESTDATA = Path(__file__).parent / "testdata"
FILES = sorted(TESTDATA.glob("bad_*.yaml"))


def expectations(path: Path) -> list[tuple[str, str]]:
    out = []
    for line in path.read_text().splitlines():
        if line.startswith("# expect: "):
            where, _, words = line[len("# expect: ") :].partition(" ")
            out.append((where, words))
    return out


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_bad_config_reports_every_problem_with_its_path(path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        build(load_files([path]))
    problems = {p.path: p.message for p in info.value.problems}
    for where, words in expectations(path):
        assert where in problems, (where, problems)
        assert words in problems[where], (words, problems[where])


def test_otlpy_validate_prints_the_statement_column(capsys: pytest.CaptureFixture[str]) -> None:
    code = dispatch(["validate", "--config", str(TESTDATA / "bad_transform.yaml")])
    assert code != 0
    out = capsys.readouterr()
    text = out.out + out.err
    assert "processors.transform.trace_statements[0]" in text
    assert "column 15" in text
