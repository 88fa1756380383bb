from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from otlpy.config.loader import expand, load_files, merge
from otlpy.errors import ConfigError


def test_expand_env_forms() -> None:
    env = {"PORT": "4317", "HOST": "example", "EMPTY": "", "FLAG": "true"}
    data = {
        "a": "${env:PORT}",
        "b": "${env:HOST}:${env:PORT}",
        "c": "${env:MISSING:-fallback}",
        "d": "${HOST}",
        "e": "$${env:HOST}",
        "f": ["${env:FLAG}"],
        "g": "${env:EMPTY:-dflt}",
        "h": "${env:MISSING}",
        "i": 3,
    }
    out, problems = expand(data, env)
    assert problems == []
    assert out == {
        "a": 4317,
        "b": "example:4317",
        "c": "fallback",
        "d": "example",
        "e": "${env:HOST}",
        "f": [True],
        "g": "dflt",
        "h": "",
        "i": 3,
    }


def test_unsupported_reference_is_reported() -> None:
    _, problems = expand({"x": {"y": "a ${file:/etc/passwd} b"}}, {})
    assert [p.path for p in problems] == ["x.y"]
    assert "unsupported reference" in problems[0].message


def test_merge_is_deep() -> None:
    assert merge({"a": {"b": 1, "c": 2}, "l": [1]}, {"a": {"c": 3}, "l": [2]}) == {
        "a": {"b": 1, "c": 3},
        "l": [2],
    }


def test_load_files_merges_and_reports(tmp_path: Path) -> None:
    first = tmp_path / "a.yaml"
    first.write_text("receivers:\n  otlp:\n    protocols: {grpc: {}}\n")
    second = tmp_path / "b.yaml"
    second.write_text("receivers:\n  otlp:\n    protocols: {http: {}}\n")
    data = load_files([first, second], {})
    assert data == {"receivers": {"otlp": {"protocols": {"grpc": {}, "http": {}}}}}
    assert load_files(["yaml:a: 1"], {}) == {"a": 1}

    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [unclosed\n")
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just text\n")
    with pytest.raises(ConfigError) as info:
        load_files([bad, tmp_path / "missing.yaml", scalar], {})
    messages = [p.message for p in info.value.problems]
    assert len(messages) == 3
    assert "not valid YAML" in messages[0]
    assert "cannot read" in messages[1]
    assert "top level must be a mapping" in messages[2]
    assert "3 errors" in str(info.value)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert load_files([empty], {}) == {}


def test_double_colon_keys_are_nested_paths() -> None:
    # the Collector's key delimiter: `otlpy run -c config.yaml -c 'yaml:...'` edits one setting
    base = {"processors": {"batch": {"timeout": "1s", "send_batch_size": 100}}}
    edit = "yaml:processors::batch::timeout: 2s"
    loaded = load_files([f"yaml:{yaml.safe_dump(base)}", edit], {})
    assert loaded == {"processors": {"batch": {"timeout": "2s", "send_batch_size": 100}}}
    nested = load_files(["yaml:{a::b: 1, a: {c: 2}, l: [{x::y: 3}]}"], {})
    assert nested == {"a": {"b": 1, "c": 2}, "l": [{"x": {"y": 3}}]}
