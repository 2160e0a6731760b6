"""A batch against the real embedded engine: its list endpoint serves the sweeps."""

from __future__ import annotations

import logging
import re

import pytest

pytest.importorskip("starlette")
pytest.importorskip("pocketsphinx")

import audio_highlights as ah

pytestmark = pytest.mark.anyio


async def test_a_default_batch_on_the_engine_fetches_each_job_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Bytes that are not audio: the engine fails each job quickly, without recognition.
    sources = [f"not audio {i}".encode() for i in range(6)]
    caplog.set_level(logging.DEBUG, logger="audio_highlights")
    async with ah.AsyncClient.embedded(recognizer="pocketsphinx", workers=1) as client:
        results = await client.transcribe_all(sources)
    assert [type(r.error) for r in results] == [ah.JobFailedError] * 6
    lines = [r.getMessage() for r in caplog.records if r.name == "audio_highlights"]
    fetches = [m for m in lines if re.match(r"GET \S+/v2/transcript/[^/ ]+ -> 200$", m)]
    sweeps = [m for m in lines if re.match(r"GET \S+/v2/transcript -> 200$", m)]
    assert len(fetches) == 6  # each job fetched once, never polled
    assert sweeps  # seen finished by the engine's list
    assert not any("sweep" in m for m in lines)  # no failed sweep, no fallback
