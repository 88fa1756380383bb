"""The OTTL conformance corpus (shared/ottl-conformance): every case, as written and with the
``log.`` path context prefix, as its README describes."""

from __future__ import annotations

import pytest
from ottl_conformance import corpus_dir, load_cases, prefix_paths, run_case

ROOT = corpus_dir()
CASES = load_cases(ROOT) if ROOT is not None else []

pytestmark = pytest.mark.skipif(ROOT is None, reason="conformance corpus not available")


@pytest.mark.parametrize("prefixed", [False, True], ids=["plain", "log-prefixed"])
@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case(case: dict, prefixed: bool) -> None:
    assert ROOT is not None
    problem = run_case(ROOT, case, prefixed=prefixed)
    assert problem is None, problem


def test_corpus_is_complete() -> None:
    # the corpus README lists these sources; a truncated copy would pass trivially
    assert len(CASES) >= 127
    assert {c["kind"] for c in CASES} == {"statement", "statements", "value"}


def test_prefixing_leaves_context_paths_alone() -> None:
    text = 'set(attributes["a"], resource.attributes["b"]) where body == "x"'
    assert prefix_paths(text) == (
        'set(log.attributes["a"], resource.attributes["b"]) where log.body == "x"'
    )
