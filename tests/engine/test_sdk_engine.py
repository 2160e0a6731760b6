"""The SDK against the real engine: over HTTP (``serve``) and in-process (``embedded``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("faster_whisper")
pytest.importorskip("starlette")
pytest.importorskip("av")

import audio_highlights as ah
from audio_highlights.cli import main as cli_main

from .conftest import AUDIO, Server

pytestmark = pytest.mark.anyio
# Real recognition (whisper) end to end: minutes on a small machine.
slow = pytest.mark.slow
SAMPLE = AUDIO / "wildfires.mp3"
FAST = ah.PollSettings(initial=0.1, multiplier=1.3, max_interval=0.5, timeout=120)


def check_wildfires(t: ah.Transcript) -> None:
    assert t.status is ah.TranscriptStatus.COMPLETED
    assert t.text and "air quality" in t.text.lower()
    assert t.words and all(w.start <= w.end for w in t.words)
    assert t.audio_duration and 15 < t.audio_duration < 30
    texts = [h.text.lower() for h in t.highlights]
    assert any("air quality" in text for text in texts)
    assert 0 < len(t.highlights) <= 15
    for h in t.highlights:
        assert h.count == len(h.timestamps) >= 1
        assert all(0 <= ts.start <= ts.end <= t.audio_duration * 1000 + 500 for ts in h.timestamps)
    ranks = [h.rank or 0 for h in t.highlights]
    assert ranks == sorted(ranks, reverse=True)


@slow
async def test_sdk_over_http(server: Server) -> None:
    async with ah.AsyncClient(base_url=server.url, polling=FAST) as client:
        sent: list[int] = []
        t = await client.transcribe(SAMPLE, on_progress=lambda n, total: sent.append(n))
        check_wildfires(t)
        assert sent[-1] == SAMPLE.stat().st_size
        # the same Idempotency-Key returns the same job
        url = t.audio_url
        assert url is not None
        a = await client.submit(url, idempotency_key="same-key")
        b = await client.submit(url, idempotency_key="same-key")
        assert a.id == b.id
        assert (await client.wait(a.id)).text == t.text
        assert t.id in [item.id async for item in client.list(limit=2)]
        with pytest.raises(ah.NotFoundError):
            await client.get("0" * 32)


@slow
async def test_views_and_status_callback_against_the_engine(server: Server) -> None:
    statuses: list[ah.TranscriptStatus] = []
    async with ah.AsyncClient(base_url=server.url, polling=FAST) as client:
        t = await client.transcribe(SAMPLE, on_status=lambda t: statuses.append(t.status))
        assert statuses[0] is ah.TranscriptStatus.QUEUED
        assert statuses[-1] is ah.TranscriptStatus.COMPLETED
        assert len(statuses) == len(set(statuses))  # one call per change
        sentences = await client.sentences(t)
        assert len(sentences) >= 2
        assert " ".join(s.text for s in sentences) == t.text
        assert sum(len(s.words) for s in sentences) == len(t.words)
        paragraphs = await client.paragraphs(t.id)
        assert 1 <= len(paragraphs) <= len(sentences)
        assert paragraphs[0].start == t.words[0].start
        srt = await client.subtitles(t, "srt", chars_per_caption=40)
        blocks = [b.splitlines() for b in srt.strip().split("\n\n")]
        assert [b[0] for b in blocks] == [str(i) for i in range(1, len(blocks) + 1)]
        assert all(" --> " in b[1] and len(b[2]) <= 40 for b in blocks)
        assert (await client.subtitles(t, "vtt")).startswith("WEBVTT")
        (air,) = await client.word_search(t, ["air quality"])
        assert air.count == len(air.timestamps) == len(air.indexes) >= 1
        assert t.words[air.indexes[0]].text.lower().startswith("air")
        assert air.timestamps[0].start == t.words[air.indexes[0]].start


@slow
async def test_sdk_undecodable_upload_is_job_failed(server: Server) -> None:
    async with ah.AsyncClient(base_url=server.url, polling=FAST) as client:
        with pytest.raises(ah.JobFailedError) as info:
            await client.transcribe(b"this is not audio at all" * 100)
        assert info.value.message


@slow
async def test_sdk_refused_field_is_bad_request(server: Server) -> None:
    async with ah.AsyncClient(base_url=server.url, polling=FAST) as client:
        with pytest.raises(ah.BadRequestError, match="sentiment_analysis"):
            await client.submit("https://example.com/a.mp3", sentiment_analysis=True)


@slow
@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_embedded_client(tmp_path: Path, anyio_backend: str) -> None:
    async with ah.AsyncClient.embedded(data_dir=tmp_path, workers=1) as client:
        check_wildfires(await client.transcribe(SAMPLE))


@slow
def test_cli_main_job_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ASSEMBLYAI_API_KEY", raising=False)
    code = cli_main([str(SAMPLE), "--json", "--data-dir", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "embedded" in err
    [record] = json.loads(out)  # --json is an array, also for one input
    check_wildfires(ah.Transcript.from_dict(record))


def test_cli_reports_failures_with_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli_main([str(tmp_path / "missing.mp3"), "--data-dir", str(tmp_path / "data")])
    assert code == 1
    assert "no such file" in capsys.readouterr().err
    # Nothing could be transcribed, so no engine was started on the data dir.
    assert not (tmp_path / "data").exists()
