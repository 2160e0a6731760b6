"""Where the embedded engine keeps jobs: a temporary store unless a data dir is given."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("pocketsphinx")

import audio_highlights as ah
from audio_highlights.engine import open_engine

pytestmark = pytest.mark.anyio


@pytest.fixture
def user_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private user cache and temporary directory; returns the cache's data dir."""
    monkeypatch.delenv("AUDIO_HIGHLIGHTS_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    return tmp_path / "cache" / "audio-highlights"


async def test_embedded_client_sees_no_job_of_an_earlier_one(user_cache: Path) -> None:
    async with ah.AsyncClient.embedded(recognizer="pocketsphinx", workers=1) as first:
        job = await first.submit(await first.upload(b"not audio, but a job all the same"))
        assert [t.id async for t in first.list()] == [job.id]
    async with ah.AsyncClient.embedded(recognizer="pocketsphinx", workers=1) as second:
        assert [t async for t in second.list()] == []
    # nothing left behind: no store in the user cache, no scratch directory
    assert not (user_cache / "engine.sqlite3").exists()
    assert list(Path(tempfile.gettempdir()).iterdir()) == []


async def test_a_data_dir_keeps_the_jobs(user_cache: Path, tmp_path: Path) -> None:
    kept = tmp_path / "kept"
    async with ah.AsyncClient.embedded(data_dir=kept, recognizer="pocketsphinx") as first:
        job = await first.submit(await first.upload(b"not audio"))
    async with ah.AsyncClient.embedded(data_dir=kept, recognizer="pocketsphinx") as second:
        assert [t.id async for t in second.list()] == [job.id]
    assert (kept / "engine.sqlite3").is_file()


async def test_open_engine_keeps_its_default_and_refuses_two_data_dirs(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="temporary"):
        async with open_engine(temporary=True, data_dir=tmp_path):
            pass
