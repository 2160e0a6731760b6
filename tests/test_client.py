"""The async client against a real HTTP server on 127.0.0.1 (tests/fakeserver.py)."""

from __future__ import annotations

import hashlib
import io
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

import audio_highlights as ah
from fakeserver import FAILED_JOB_ERROR, FakeServer, Fault, serve_fake

pytestmark = pytest.mark.anyio

KEY = "sk-test-0123456789abcdef"
FAST = ah.PollSettings(initial=0.05, multiplier=1.5, max_interval=0.2, timeout=10)
# list_lag: the fake lists a job at once; the default 2 s would wait out a real list.
QUICK_RETRY = ah.RetrySettings(initial=0.01, max_backoff=0.05, max_retry_after=2, list_lag=0.2)


def client_for(server, **kw) -> ah.AsyncClient:
    kw.setdefault("polling", FAST)
    kw.setdefault("retry", QUICK_RETRY)
    return ah.AsyncClient(api_key=KEY, base_url=server.base_url, **kw)


@pytest.fixture
def audio_file(tmp_path: Path) -> Path:
    path = tmp_path / "call.mp3"
    path.write_bytes(os.urandom(300_000))
    return path


async def test_transcribe_path_end_to_end(audio_file: Path) -> None:
    async with serve_fake(api_key=KEY) as server, client_for(server) as client:
        t = await client.transcribe(audio_file)
        assert t.status is ah.TranscriptStatus.COMPLETED
        assert t.text and t.text.startswith("Smoke from hundreds")
        assert t.words[0] == ah.Word(
            text="Smoke", start=250, end=650, confidence=t.words[0].confidence
        )
        assert t.highlights[0].text == "air quality alerts"
        ranks = [h.rank for h in t.highlights]
        assert ranks == sorted(ranks, reverse=True)
        first = t.highlights[0]
        assert first.count == len(first.timestamps) == 1
        assert (first.timestamps[0].start, first.timestamps[0].end) == (3978, 5114)
        # streamed with a known size, byte-exact
        (upload,) = server.uploads
        assert not upload.chunked
        assert upload.content_length == str(audio_file.stat().st_size)
        assert upload.sha256 == hashlib.sha256(audio_file.read_bytes()).hexdigest()
        # the submit carried highlights, default speech models and an idempotency key
        (job,) = server.jobs.values()
        assert job.request["auto_highlights"] is True
        assert job.request["speech_models"] == list(ah.DEFAULT_SPEECH_MODELS)
        submit = next(r for r in server.requests if r.path == "/v2/transcript")
        assert submit.headers["idempotency-key"]
        assert submit.headers["authorization"] == KEY
        assert server.errors == []


async def test_url_source_skips_upload() -> None:
    async with serve_fake() as server, client_for(server) as client:
        t = await client.transcribe("https://example.com/a.mp3", language_code="en_us")
        assert t.audio_url == "https://example.com/a.mp3"
        assert server.uploads == []


async def test_bytes_file_object_and_async_iterable_sources() -> None:
    data = os.urandom(100_000)

    async def gen() -> AsyncIterator[bytes]:
        for i in range(0, len(data), 7000):
            yield data[i : i + 7000]
            await anyio.lowlevel.checkpoint()

    async with serve_fake() as server, client_for(server, upload_chunk_size=4096) as client:
        await client.upload(data)
        await client.upload(io.BytesIO(data))
        await client.upload(gen())
        sha = hashlib.sha256(data).hexdigest()
        assert [u.sha256 for u in server.uploads] == [sha] * 3
        assert [u.chunked for u in server.uploads] == [False, False, True]


async def test_upload_progress(audio_file: Path) -> None:
    seen: list[tuple[int, int | None]] = []
    async with serve_fake() as server, client_for(server, upload_chunk_size=65536) as client:
        url = await client.upload(
            audio_file, on_progress=lambda sent, total: seen.append((sent, total))
        )
        assert url.startswith(server.base_url)
    size = audio_file.stat().st_size
    assert seen[0] == (0, size) and seen[-1] == (size, size)
    assert [s for s, _ in seen] == sorted(s for s, _ in seen)



@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
async def test_small_in_memory_upload_goes_in_one_piece_and_is_resent(kind: type) -> None:
    data = os.urandom(5000)
    seen: list[tuple[int, int | None]] = []
    async with serve_fake() as server, client_for(server, upload_chunk_size=8192) as client:
        server.faults = [
            Fault(kind="close_mid_body", method="POST", path="/v2/upload", after_bytes=1000)
        ]
        await client.upload(kind(data), on_progress=lambda s, t: seen.append((s, t)))
        (upload,) = server.uploads
        assert upload.sha256 == hashlib.sha256(data).hexdigest()
        assert upload.chunked is False
    # The failed first attempt reported its start; the retry restarts at 0.
    assert seen[-2:] == [(0, 5000), (5000, 5000)]

async def test_submit_fields_and_user_speech_models_win() -> None:
    async with serve_fake() as server, client_for(server) as client:
        job = await client.submit(
            "https://example.com/a.mp3",
            speech_models=["universal-2"],
            punctuate=False,
            webhook_url=None,
            extra={"custom_field": {"x": 1}},  # a field newer than the SDK
        )
        assert job.status is ah.TranscriptStatus.QUEUED
        request = server.jobs[job.id].request
        assert request["speech_models"] == ["universal-2"]
        assert request["punctuate"] is False and request["custom_field"] == {"x": 1}
        assert "webhook_url" not in request
        assert job.raw["custom_field"] == {"x": 1}  # unknown fields kept


async def test_get_delete_and_wait_resume() -> None:
    async with serve_fake(complete_after=0.6) as server, client_for(server) as client:
        job = await client.submit("https://example.com/a.mp3")
        with pytest.raises(ah.JobTimeoutError) as info:
            await client.wait(job.id, timeout=0.1)
        assert info.value.transcript_id == job.id
        assert info.value.last_status in (
            ah.TranscriptStatus.QUEUED,
            ah.TranscriptStatus.PROCESSING,
        )
        assert isinstance(info.value, TimeoutError)
        done = await client.wait(job.id, timeout=5)  # resumes by id
        assert done.status is ah.TranscriptStatus.COMPLETED
        assert (await client.get(job.id)).text == done.text
        deleted = await client.delete(job)
        assert deleted.text == "Deleted by user."


async def test_job_error_raises_job_failed() -> None:
    async with serve_fake() as server, client_for(server) as client:
        with pytest.raises(ah.JobFailedError) as info:
            await client.transcribe("https://example.com/fail.mp3")
        assert info.value.message == FAILED_JOB_ERROR
        assert info.value.transcript.status is ah.TranscriptStatus.ERROR
        assert FAILED_JOB_ERROR in str(info.value)


async def test_list_follows_pages() -> None:
    async with serve_fake(complete_after=0.0) as server, client_for(server) as client:
        ids = [(await client.submit(f"https://example.com/{i}.mp3")).id for i in range(23)]
        listed = [t.id async for t in client.list(page_size=10)]
        assert listed == ids[::-1]
        assert sum(r.path == "/v2/transcript" and r.method == "GET" for r in server.requests) == 3
        completed = [t async for t in client.list(status="completed", page_size=200)]
        assert {t.status for t in completed} == {ah.TranscriptStatus.COMPLETED}


async def test_list_limit_is_the_total_and_page_size_the_page() -> None:
    def list_gets(server: FakeServer) -> list[dict[str, str]]:
        return [r.query for r in server.requests if (r.method, r.path) == ("GET", "/v2/transcript")]

    async with serve_fake(complete_after=0.0) as server, client_for(server) as client:
        ids = [(await client.submit(f"https://example.com/{i}.mp3")).id for i in range(23)]
        # limit=2 is two transcripts, in one request of two
        assert [t.id async for t in client.list(limit=2)] == ids[::-1][:2]
        assert [q.get("limit") for q in list_gets(server)] == ["2"]
        server.requests.clear()
        # more than a page: pages of page_size, and no page past the limit
        assert [t.id async for t in client.list(limit=15, page_size=10)] == ids[::-1][:15]
        assert [q.get("limit") for q in list_gets(server)] == ["10", "10"]
        server.requests.clear()
        for bad in ({"limit": 0}, {"page_size": 0}, {"page_size": 201}):
            with pytest.raises(ah.UsageError):
                client.list(**bad)  # type: ignore[arg-type]
        assert server.requests == []


@pytest.mark.parametrize("style", ["404", "400"])
async def test_not_found_both_styles(style: str) -> None:
    async with serve_fake(not_found_style=style) as server, client_for(server) as client:
        with pytest.raises(ah.NotFoundError) as info:
            await client.get("no-such-id")
        assert info.value.status_code == int(style)
        assert info.value.request_id  # the server's x-request-id
        assert info.value.request_id in str(info.value)
        with pytest.raises(ah.NotFoundError):
            await client.wait("no-such-id")


async def test_wrong_key_is_authentication_error_without_the_key(caplog) -> None:
    caplog.set_level(logging.DEBUG)
    async with serve_fake(api_key="the-right-key") as server, client_for(server) as client:
        assert KEY not in repr(client)
        with pytest.raises(ah.AuthenticationError) as info:
            await client.get("x")
        text = str(info.value) + repr(info.value) + repr(info.value.__dict__)
        assert "API token" in text and KEY not in text
    assert KEY not in caplog.text


# ---------------------------------------------------------------- faults over real HTTP


async def test_poll_survives_429_503_and_garbage() -> None:
    async with serve_fake(complete_after=0.3) as server, client_for(server) as client:
        job = await client.submit("https://example.com/a.mp3")
        server.faults = [
            Fault(
                method="GET",
                path="/v2/transcript/",
                status=429,
                headers={"Retry-After": "0.2"},
                body={"error": "Too many requests"},
            ),
            Fault(method="GET", path="/v2/transcript/", status=503, body="<html>down</html>"),
            Fault(method="GET", path="/v2/transcript/", status=200, body='{"id": "x", "stat'),
            Fault(kind="close", method="GET", path="/v2/transcript/"),
        ]
        t = await client.wait(job.id, timeout=10)
        assert t.status is ah.TranscriptStatus.COMPLETED
        assert all(f.hits == 1 for f in server.faults)


async def test_submit_retried_on_429_and_reconciled_on_500() -> None:
    async with serve_fake() as server, client_for(server) as client:
        server.faults = [
            Fault(
                method="POST",
                path="/v2/transcript",
                status=429,
                headers={"retry-after-ms": "50"},
                body={"error": "slow down"},
            )
        ]
        await client.submit("https://example.com/a.mp3")
        assert server.created_jobs == 1
        server.faults = [
            Fault(method="POST", path="/v2/transcript", status=500, body={"error": "boom"})
        ]
        await client.submit("https://example.com/b.mp3")
        assert server.faults[0].hits == 1
        # Resent only after the list showed that the 500 had created no job.
        posts = [r for r in server.requests if r.method == "POST" and r.path == "/v2/transcript"]
        assert len(posts) == 4 and server.created_jobs == 2
        assert any(r.method == "GET" and r.path == "/v2/transcript" for r in server.requests)


async def test_idempotent_submit_retries_everything_without_duplicates() -> None:
    retry = ah.RetrySettings(initial=0.01, max_backoff=0.05, idempotent_submit=True)
    async with serve_fake() as server, client_for(server, retry=retry) as client:
        server.faults = [Fault(kind="close", method="POST", path="/v2/transcript", times=2)]
        await client.submit("https://example.com/a.mp3")
        assert server.created_jobs == 1
        keys = {r.headers["idempotency-key"] for r in server.requests if r.path == "/v2/transcript"}
        assert len(keys) == 1  # every retry carried the same key


async def test_dropped_connection_mid_upload_resends_from_byte_zero(audio_file: Path) -> None:
    async with serve_fake() as server, client_for(server, upload_chunk_size=8192) as client:
        server.faults = [
            Fault(kind="close_mid_body", method="POST", path="/v2/upload", after_bytes=100_000)
        ]
        await client.upload(audio_file)
        (upload,) = server.uploads
        assert upload.sha256 == hashlib.sha256(audio_file.read_bytes()).hexdigest()


async def test_one_shot_stream_failure_is_upload_error() -> None:
    async def gen() -> AsyncIterator[bytes]:
        for _ in range(50):
            yield b"x" * 10_000

    async with serve_fake() as server, client_for(server) as client:
        server.faults = [
            Fault(kind="close_mid_body", method="POST", path="/v2/upload", after_bytes=20_000)
        ]
        with pytest.raises(ah.UploadError, match="one-shot") as info:
            await client.upload(gen())
        assert isinstance(info.value.__cause__, ah.APIConnectionError)


async def test_retries_exhausted_raise_typed_error() -> None:
    async with serve_fake() as server, client_for(server, max_retries=2) as client:
        server.faults = [Fault(method="GET", status=503, times=10, body={"error": "busy"})]
        with pytest.raises(ah.ServerError) as info:
            await client.get("abc")
        assert server.faults[0].hits == 3
        assert info.value.status_code == 503


# The client-wide 429 pause is timed on a virtual clock in test_timing.py.


async def test_read_timeout_on_get_is_retried_then_typed() -> None:
    async with serve_fake() as server, client_for(server, timeout=0.2, max_retries=1) as client:
        server.faults = [Fault(kind="stall", method="GET", seconds=1.0, times=5)]
        with pytest.raises(ah.APITimeoutError):
            await client.get("abc")
        assert server.faults[0].hits == 2


# ---------------------------------------------------------------- local input


async def test_bad_local_input_fails_before_any_request(tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    text_file = (tmp_path / "t.txt").open("w")

    async def nothing() -> AsyncIterator[bytes]:
        if False:
            yield b""

    cases = [
        (tmp_path / "missing.mp3", "no such file"),
        (tmp_path, "directory"),
        (empty, "empty"),
        (tmp_path / "empty.wav" / "x", "cannot access"),
        (b"", "empty"),
        (text_file, "text mode"),
        (nothing(), "no bytes"),
        ("ftp://host/a.mp3", "http"),
        (12345, "cannot upload"),
    ]
    async with serve_fake() as server, client_for(server) as client:
        for source, message in cases:
            with pytest.raises(ah.SourceError, match=message):
                await client.transcribe(source)
        with pytest.raises(ah.SourceError, match="already a URL"):
            await client.upload("https://example.com/a.mp3")
        with pytest.raises(ah.SourceError):
            await client.submit("file:///etc/passwd")
        with pytest.raises(ah.UsageError):
            await client.get("")
        assert server.requests == []
    text_file.close()


def test_base_url_and_key_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASSEMBLYAI_API_KEY", raising=False)
    monkeypatch.delenv("ASSEMBLYAI_BASE_URL", raising=False)
    for bad in ["ftp://x", "file:///tmp", "api.assemblyai.com", "http://", "https://h/?q=1"]:
        with pytest.raises(ah.UsageError):
            ah.AsyncClient(api_key="k", base_url=bad)
    with pytest.raises(ah.UsageError, match="ASSEMBLYAI_API_KEY"):
        ah.AsyncClient()
    monkeypatch.setenv("ASSEMBLYAI_API_KEY", KEY)
    monkeypatch.setenv("ASSEMBLYAI_BASE_URL", "https://api.eu.assemblyai.com/")
    client = ah.AsyncClient()
    assert client.base_url == "https://api.eu.assemblyai.com"
    assert KEY not in repr(client) and "api_key=set" in repr(client)


async def test_path_traversal_ids_stay_in_their_segment() -> None:
    async with serve_fake() as server, client_for(server) as client:
        with pytest.raises(ah.NotFoundError):
            await client.get("../upload")
        assert server.requests[-1].path == "/v2/transcript/..%2Fupload"


# ---------------------------------------------------------------- concurrency


async def test_cancellation_storm_leaves_client_usable(audio_file: Path) -> None:
    limits = {"max_concurrency": 4, "max_concurrent_uploads": 2}
    async with serve_fake(complete_after=0.05) as server, client_for(server, **limits) as client:
        job = await client.submit("https://example.com/a.mp3")
        server.faults = [Fault(kind="stall", seconds=0.05, times=100)]

        async def one(i: int) -> None:
            with anyio.move_on_after(0.001 * (i % 40)):
                if i % 3 == 0:
                    await client.upload(audio_file)
                elif i % 3 == 1:
                    await client.transcribe("https://example.com/x.mp3")
                else:
                    await client.get(job.id)

        async with anyio.create_task_group() as tg:
            for i in range(300):
                tg.start_soon(one, i)
        server.faults = []
        with anyio.fail_after(10):
            for _ in range(10):
                assert (await client.get(job.id)).id == job.id
                await client.upload(b"abc")


async def test_many_concurrent_transcriptions_share_one_pool() -> None:
    async with (
        serve_fake(complete_after=0.2) as server,
        client_for(server, max_concurrency=8) as client,
    ):
        results: list[ah.Transcript] = []

        async def one(i: int) -> None:
            results.append(await client.transcribe(f"https://example.com/{i}.mp3"))

        async with anyio.create_task_group() as tg:
            for i in range(100):
                tg.start_soon(one, i)
        assert len(results) == 100
        assert server.connections <= 8 + 8 + 4


async def test_caller_http_client_is_used_not_closed() -> None:
    import httpx2

    async with serve_fake() as server:
        async with httpx2.AsyncClient() as http:
            client = client_for(server, http_client=http)
            async with client:
                await client.submit("https://example.com/a.mp3")
            assert not http.is_closed
        assert server.created_jobs == 1


async def test_closed_client_refuses() -> None:
    async with serve_fake() as server:
        client = client_for(server)
        await client.aclose()
        with pytest.raises(ah.UsageError, match="closed"):
            await client.get("x")


async def test_unreadable_file_fails_before_any_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tests run as root, where mode 000 still reads, so deny the open itself.
    from audio_highlights import _sources

    path = tmp_path / "locked.mp3"
    path.write_bytes(b"ID3 not really audio")

    def deny(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(_sources, "open", deny, raising=False)
    async with serve_fake() as server, client_for(server) as client:
        with pytest.raises(ah.SourceError, match=r"cannot read .*Permission denied"):
            await client.transcribe(path)
        assert server.requests == []


def test_clients_share_one_verifying_tls_context(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building a CA store per client cost ~20 ms each; clients share one per CA location."""
    import ssl

    from audio_highlights._http import tls_verify

    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    shared = tls_verify(True)
    assert isinstance(shared, ssl.SSLContext) and tls_verify(True) is shared
    assert shared.verify_mode is ssl.CERT_REQUIRED and shared.check_hostname
    assert tls_verify(False) is False  # what the caller asked for, untouched
    cafile = ssl.get_default_verify_paths().openssl_cafile
    if not os.path.isfile(cafile):
        pytest.skip("no system CA file to point SSL_CERT_FILE at")
    monkeypatch.setenv("SSL_CERT_FILE", cafile)
    assert tls_verify(True) is not shared  # the environment's CA file, as httpx2 reads it
