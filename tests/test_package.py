"""Package hygiene: the public surface, its docs, and what importing it pulls in."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

import audio_highlights as ah

SRC = Path(ah.__file__).parent


def test_all_is_sorted_and_complete() -> None:
    assert ah.__all__ == sorted(ah.__all__)
    for name in ah.__all__:
        assert hasattr(ah, name), name


def test_all_is_exactly_the_public_names() -> None:
    # As httpx's test_exported_members: nothing public is left out of __all__ or in it by
    # mistake. Subpackages (engine, cli, fastapi) become attributes once imported.
    subpackages = {
        name
        for name, value in vars(ah).items()
        if isinstance(value, types.ModuleType) and value.__name__.startswith("audio_highlights.")
    }
    public = {n for n in vars(ah) if not n.startswith("_")} - subpackages
    assert sorted(ah.__all__) == sorted(public | {"__version__"})


def test_the_api_reference_lists_every_exported_name() -> None:
    text = (SRC.parents[1] / "docs" / "api.md").read_text()
    listed = set(re.findall(r"^::: audio_highlights\.(\w+)\s*$", text, re.MULTILINE))
    assert sorted(set(ah.__all__) - listed - {"__version__"}) == []


def test_every_public_name_is_documented() -> None:
    for name in ah.__all__:
        obj = getattr(ah, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), f"{name} has no docstring"
            for attr, member in vars(obj).items():
                if attr.startswith("_") or not callable(member):
                    continue
                assert inspect.getdoc(member), f"{name}.{attr} has no docstring"


def test_httpx2_is_imported_in_one_module_only() -> None:
    importers = [
        path.relative_to(SRC).as_posix()
        for path in SRC.rglob("*.py")
        if re.search(r"^\s*(import httpx2|from httpx2)", path.read_text(), re.MULTILINE)
    ]
    assert importers == ["_http.py"]


def test_import_needs_only_the_core_dependencies() -> None:
    code = (
        "import importlib.util, sys, audio_highlights, audio_highlights.engine;"
        "importlib.util.find_spec('numpy') and audio_highlights.engine.extract_highlights;"
        "heavy = {'starlette', 'uvicorn', 'faster_whisper', 'av', 'pocketsphinx', 'ctranslate2',"
        " 'spacy'};"
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_py_typed_is_shipped() -> None:
    assert (SRC / "py.typed").exists()


ROOT = SRC.parents[1]


def extras() -> dict[str, list[str]]:
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    found: dict[str, list[str]] = project["optional-dependencies"]
    return found


def test_dev_extra_installs_nox_and_docs_format_signatures() -> None:
    found = extras()
    assert any(re.match(r"nox\b", d) for d in found["dev"])
    # mkdocstrings formats signatures only when Ruff or Black is installed
    assert any(re.match(r"(ruff|black)\b", d) for d in found["docs"])
    readme = (ROOT / "README.md").read_text()
    assert '".[dev]"' in readme and "nox -s" in readme


# It collects the whole suite in a subprocess: seconds, so not part of the quick selection.
@pytest.mark.slow
def test_quick_selection_leaves_the_slow_tests_out() -> None:
    readme = (ROOT / "README.md").read_text()
    assert '-m "not slow"' in readme
    collected = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-m",
            "not slow",
            "-p",
            "no:cacheprovider",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    if "tests collected" not in collected:
        pytest.fail(collected[-2000:])
    # real recognition, servers in subprocesses and the docs' scripts stay out
    for heavy in (
        "tests/engine/test_sdk_engine.py::test_embedded_client",
        "tests/engine/test_http.py::test_job_completes_with_words_and_highlights",
        "tests/engine/test_durability.py::test_kill_9_while_uploading_queued_and_processing",
        "tests/engine/test_hardening.py::test_3_words_of_later_chunks_keep_their_place_in_time",
        "tests/test_deadlines.py::test_trickling_body_is_a_timeout[asyncio-submit]",
        "tests/test_deadlines.py::test_trickling_body_is_a_timeout[trio-submit]",
        "tests/test_docs_examples.py::test_example_runs",
        "tests/test_sync.py::test_embedded",
        "test_recipe_app_end_to_end",
        "test_100_jobs_under_faults",
    ):
        assert heavy not in collected, heavy
    ids = [line for line in collected.splitlines() if "::" in line]
    # every test file keeps at least one test, among them the CLI's happy path, the
    # FastAPI recipe on real speech and `serve` as a user starts it
    files = {p.relative_to(ROOT).as_posix() for p in (ROOT / "tests").rglob("test_*.py")}
    assert files == {i.split("::")[0] for i in ids}
    for kept in (
        "tests/test_cli.py::test_table_per_file",
        "tests/test_fastapi.py::test_recipe_returns_the_highlights_of_real_speech",
        "tests/engine/test_http.py::test_serve_as_a_user_starts_it",
    ):
        assert kept in ids, kept
    # each async test once, on asyncio or on Trio: both backends stay in the selection
    twins = [i for i in ids if i.startswith("tests/test_client.py::")]
    assert any("[asyncio" in i for i in twins) and any("[trio" in i for i in twins)
    bases = [re.sub(r"(asyncio|trio)-?", "", i) for i in ids if re.search(r"\[(asyncio|trio)", i)]
    assert len(bases) == len(set(bases))
