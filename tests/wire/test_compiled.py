"""The compiled wire codec: the build hook, the choice between extension and source, the fallbacks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from otlpy.wire import _compiled

ROOT = Path(__file__).resolve().parents[2]
SUFFIX = ".cpython-%d%d-x86_64-linux-gnu.so" % sys.version_info[:2]  # noqa: UP031


def _environment(*, measured: bool = True) -> dict[str, str]:
    """This process's environment for a child, without OTLPY_PURE_PYTHON.

    ``measured=False`` also leaves out coverage's variables: a child running another copy of
    otlpy (an installed wheel) must not report it as if it were the source tree.
    """
    return {
        name: value
        for name, value in os.environ.items()
        if name != "OTLPY_PURE_PYTHON" and (measured or not name.startswith(("COV_", "COVERAGE")))
    }


def _python(code: str, *, measured: bool = True, **env: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**_environment(measured=measured), **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def test_pure_python_on_request() -> None:
    code = (
        "import otlpy.wire.sdk_traces as t, otlpy.wire.protobuf_writer as w\n"
        "from otlpy.wire import _compiled\n"
        "print(t.__file__, w.__file__, _compiled.is_compiled('otlpy.wire.sdk_traces'))\n"
        "print(_compiled.describe())"
    )
    first, second = _python(code, OTLPY_PURE_PYTHON="1").splitlines()
    traces, writer, compiled = first.split()
    assert traces.endswith("sdk_traces.py") and writer.endswith("protobuf_writer.py")
    assert compiled == "False"
    assert second == "pure Python (OTLPY_PURE_PYTHON is set)"


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler: installed as pure Python")
@pytest.mark.skipif(
    os.environ.get("OTLPY_PURE_PYTHON", "") not in ("", "0"), reason="pure Python asked for"
)
def test_this_install_runs_the_compiled_codec() -> None:
    # `make` installs (and after an edit, reinstalls) otlpy, which compiles the codec
    assert _compiled.describe() == "compiled (mypyc)", "reinstall: pip install -e ."
    assert (
        _python(
            "from otlpy.wire import _compiled; print(_compiled.is_compiled('otlpy.wire.sdk_traces'))"
        )
        == "True"
    )


def test_the_other_modules_are_left_to_the_normal_machinery() -> None:
    assert _compiled._SourceFirst.find_spec("otlpy.wire.otlp_json") is None
    assert _compiled._SourceFirst.find_spec("json") is None


def test_an_extension_older_than_its_source_is_ignored(tmp_path: Path) -> None:
    source = tmp_path / "codec.py"
    extension = tmp_path / f"codec{SUFFIX}"
    source.write_text("x = 1\n")
    extension.write_bytes(b"\x7fELF")
    os.utime(extension, (1_000_000, 1_000_000))
    os.utime(source, (1_000_000 + 1, 1_000_000 + 1))
    found = _compiled._extension("codec", tmp_path)
    assert found == extension
    # written in the same moment, in either order, by an installer: the extension counts
    assert not _compiled._stale("codec", found)
    os.utime(source, (1_000_000 + 60, 1_000_000 + 60))
    assert _compiled._stale("codec", found)
    assert _compiled._extension("other", tmp_path) is None


def test_every_compiled_module_is_governed_by_the_finder() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    paths = config["tool"]["hatch"]["build"]["hooks"]["custom"]["compile"]
    names = {path.removesuffix(".py").replace("/", ".") for path in paths}
    assert names == _compiled.COMPILABLE


def _build_wheel(out: Path, **env: str) -> tuple[Path, str]:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-v",
            "-w",
            str(out),
            str(ROOT),
        ],
        env={**_environment(measured=False), **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (wheel,) = out.glob("otlpy-*.whl")
    return wheel, result.stdout + result.stderr


@pytest.mark.timeout(600)
def test_a_wheel_carries_the_compiled_codec_and_runs_it(tmp_path: Path) -> None:
    wheel, _ = _build_wheel(tmp_path / "dist", OTLPY_COMPILE="1")
    assert "-py3-none-any" not in wheel.name  # a platform wheel
    names = set(zipfile.ZipFile(wheel).namelist())
    for module in _compiled.COMPILABLE:
        path = module.replace(".", "/")
        assert f"{path}{SUFFIX}" in names
        assert f"{path}.py" in names  # the source stays, for the fallback and for tracebacks
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), wheel],
        check=True,
    )
    code = (
        "import sys\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "from opentelemetry.sdk.trace.export import SimpleSpanProcessor\n"
        "from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter\n"
        "from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as off\n"
        "import otlpy.wire.sdk_traces as t\n"
        "from otlpy.wire import _compiled\n"
        "keep = InMemorySpanExporter(); provider = TracerProvider()\n"
        "provider.add_span_processor(SimpleSpanProcessor(keep))\n"
        "tracer = provider.get_tracer('t')\n"
        "for i in range(50):\n"
        "    with tracer.start_as_current_span(f's{i % 3}', attributes={'i': i, 'k': 'v'}) as s:\n"
        "        s.add_event('e', {'n': i * 1.5})\n"
        "spans = keep.get_finished_spans()\n"
        "assert t.encode_spans(spans) == off(spans).SerializeToString()\n"
        "print(t.__file__); print(_compiled.describe())"
    )
    # the compiled form, even when this suite runs with OTLPY_PURE_PYTHON=1
    out = _python(code, measured=False, PYTHONPATH=str(target), OTLPY_PURE_PYTHON="0").splitlines()
    assert out[0].startswith(str(target)) and out[0].endswith(SUFFIX)
    assert out[1] == "compiled (mypyc)"


@pytest.mark.timeout(600)
def test_without_a_compiler_the_wheel_is_pure_python(tmp_path: Path) -> None:
    wheel, output = _build_wheel(tmp_path / "dist", CC="/bin/false", LDSHARED="/bin/false")
    assert wheel.name.endswith("-py3-none-any.whl")
    assert not [name for name in zipfile.ZipFile(wheel).namelist() if name.endswith(".so")]
    assert "compiling the wire codec failed; installing pure Python" in output


@pytest.mark.timeout(600)
def test_compiling_can_be_turned_off(tmp_path: Path) -> None:
    wheel, _ = _build_wheel(tmp_path / "dist", OTLPY_COMPILE="0")
    assert wheel.name.endswith("-py3-none-any.whl")
