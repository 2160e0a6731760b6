"""Every ```python block of docs/*.md and README.md runs, as a script, and exits 0.

Blocks run in a scratch directory holding the files the docs name (``call.mp3``,
``talk.mp3``, ``recordings/``, ``examples/``), with ``ASSEMBLYAI_BASE_URL`` and
``ASSEMBLYAI_API_KEY`` pointing at the fake API (running on its own loop in a thread);
``http://127.0.0.1:8000``, the docs' address of ``audio-highlights serve``, is
rewritten to the same fake. ``--8<-- "path"`` lines (snippet includes) are replaced
by the file. A block preceded by ``<!-- skip-test: reason -->`` is skipped.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakeserver import FakeServer, serve_fake_in_thread

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "audio" / "wildfires.mp3"
DOC_FILES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
SERVE_URL = "http://127.0.0.1:8000"
# Extras a block may need; without them the block is skipped, not failed.
OPTIONAL = {
    "assemblyai",
    "av",
    "ctranslate2",
    "fastapi",
    "faster_whisper",
    "multipart",
    "numpy",
    "pocketsphinx",
    "pydantic",
    "starlette",
    "trio",
    "uvicorn",
}

_FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
_SKIP = re.compile(r"<!--\s*skip-test:\s*(.+?)\s*-->\s*$")
_SNIPPET = re.compile(r'^--8<--\s+"([^"]+)"\s*$', re.MULTILINE)
_AUDIO_NAME = re.compile(r"""["']([\w.-]+\.(?:mp3|wav|m4a|mp4|flac|ogg))["']""")


def collect() -> list[pytest.ParameterSet]:
    params = []
    for path in DOC_FILES:
        text = path.read_text(encoding="utf-8")
        for match in _FENCE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
            skip = _SKIP.search(before)
            marks = [pytest.mark.skip(reason=skip.group(1))] if skip else []
            name = f"{path.relative_to(ROOT).as_posix()}:{line}"
            params.append(pytest.param(match.group(1), id=name, marks=marks))
    return params


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeServer]:
    with serve_fake_in_thread(complete_after=0.05) as server:
        yield server


def workspace(directory: Path, code: str) -> None:
    (directory / "examples").symlink_to(ROOT / "examples", target_is_directory=True)
    names = {"call.mp3", "talk.mp3", *_AUDIO_NAME.findall(code)}
    for name in names:
        if not name.startswith("missing"):
            shutil.copyfile(SAMPLE, directory / name)
    for rel in ("recordings/a.mp3", "recordings/b.mp3", "recordings/2024/c.mp3"):
        (directory / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SAMPLE, directory / rel)


def test_collected_every_doc_page() -> None:
    ids = [p.id for p in collect()]
    assert any(i.startswith("README.md") for i in ids)
    assert sum(i.startswith("docs/recipes.md") for i in ids) >= 6


# Each block runs as its own Python process (a second or more each).
@pytest.mark.slow
@pytest.mark.parametrize("code", collect())
def test_example_runs(code: str, fake: FakeServer, tmp_path: Path) -> None:
    code = _SNIPPET.sub(lambda m: (ROOT / m.group(1)).read_text(encoding="utf-8"), code)
    code = code.replace(SERVE_URL, fake.base_url)
    workspace(tmp_path, code)
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    env = {
        **os.environ,
        "ASSEMBLYAI_BASE_URL": fake.base_url,
        "ASSEMBLYAI_API_KEY": "docs-test-key",
        "PYTHONPATH": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    missing = re.search(r"No module named '([\w]+)", done.stderr)
    if done.returncode != 0 and missing and missing.group(1) in OPTIONAL:
        pytest.skip(f"needs {missing.group(1)}")
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert not fake.errors
