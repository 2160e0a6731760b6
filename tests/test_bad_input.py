"""Bad input to the SDK, one table: every case ends in a clear typed error, never a hang.

Each case runs against the fake API (tests/fakeserver.py) inside ``anyio.fail_after``, on
asyncio and Trio. Cases marked ``local`` must fail before any request reaches the server.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

import audio_highlights as ah
from fakeserver import FAILED_JOB_ERROR, FakeServer, Fault, serve_fake

pytestmark = pytest.mark.anyio

KEY = "sk-bad-input-0123456789"
QUICK = ah.RetrySettings(initial=0.01, max_backoff=0.02, max_retry_after=0.05, max_retries=2)
POLL = ah.PollSettings(initial=0.02, max_interval=0.05, timeout=5)

Run = Callable[[FakeServer, ah.AsyncClient, Path], Awaitable[Any]]


@dataclass
class Case:
    """One bad input: what to run, the error it must raise, and text the message must hold."""

    id: str
    run: Run
    error: type[Exception]
    match: str
    local: bool = False  # refused before any request
    server: dict[str, Any] | None = None  # serve_fake options
    marks: tuple[Any, ...] = ()


def faulted(*faults: Fault) -> Callable[[Run], Run]:
    """Install ``faults`` on the server before running the case."""

    def wrap(run: Run) -> Run:
        async def go(server: FakeServer, client: ah.AsyncClient, tmp: Path) -> Any:
            # Fresh copies: a Fault counts its hits, and each run needs its own.
            server.faults = [dataclasses.replace(f, hits=0) for f in faults]
            return await run(server, client, tmp)

        return go

    return wrap


async def _empty_stream() -> AsyncIterator[bytes]:
    if False:  # pragma: no cover - an async generator that yields nothing
        yield b""


async def _str_stream() -> AsyncIterator[Any]:
    yield "not bytes"


def _file(tmp: Path, name: str, data: bytes = b"") -> Path:
    path = tmp / name
    path.write_bytes(data)
    return path


async def _closed_file(server: FakeServer, client: ah.AsyncClient, tmp: Path) -> Any:
    f = _file(tmp, "c.mp3", b"abc").open("rb")
    f.close()
    return await client.transcribe(f)


async def _unreadable(server: FakeServer, client: ah.AsyncClient, tmp: Path) -> Any:
    path = _file(tmp, "locked.mp3", b"abc")
    path.chmod(0)
    return await client.transcribe(path)


async def _text_mode(server: FakeServer, client: ah.AsyncClient, tmp: Path) -> Any:
    with _file(tmp, "t.txt", b"abc").open("r") as f:
        return await client.transcribe(f)


def _new_client(**kw: Any) -> Run:
    async def go(server: FakeServer, client: ah.AsyncClient, tmp: Path) -> Any:
        return ah.AsyncClient(**kw)

    return go


async def _closed_client(server: FakeServer, client: ah.AsyncClient, tmp: Path) -> Any:
    await client.aclose()
    return await client.get("x")


async def _batch_of_one(server: FakeServer, client: ah.AsyncClient, tmp: Path) -> Any:
    return await client.transcribe_all("https://example.com/a.mp3")  # type: ignore[arg-type]


async def _list_all(server: FakeServer, client: ah.AsyncClient, tmp: Path) -> Any:
    return [t async for t in client.list()]


CASES: list[Case] = [
    # --- local sources: refused before any request
    Case("missing-file", lambda s, c, t: c.transcribe(t / "nope.mp3"), ah.SourceError,
         "no such file", local=True),
    Case("empty-file", lambda s, c, t: c.transcribe(_file(t, "e.mp3")), ah.SourceError,
         "empty", local=True),
    Case("directory", lambda s, c, t: c.transcribe(t), ah.SourceError, "directory", local=True),
    Case("path-through-a-file", lambda s, c, t: c.transcribe(_file(t, "f.mp3", b"x") / "y"),
         ah.SourceError, "cannot access", local=True),
    Case("unreadable-file", _unreadable, ah.SourceError, "cannot", local=True,
         marks=(pytest.mark.skipif(os.geteuid() == 0, reason="root reads mode-000 files"),)),
    Case("empty-path", lambda s, c, t: c.transcribe(""), ah.SourceError, "empty", local=True),
    Case("empty-bytes", lambda s, c, t: c.transcribe(b""), ah.SourceError, "empty", local=True),
    Case("text-mode-file", _text_mode, ah.SourceError, "text mode", local=True),
    Case("closed-file", _closed_file, ah.SourceError, "closed", local=True),
    Case("zero-byte-async-iterable", lambda s, c, t: c.transcribe(_empty_stream()),
         ah.SourceError, "no bytes", local=True),
    Case("async-iterable-of-str", lambda s, c, t: c.transcribe(_str_stream()),
         ah.SourceError, "expected bytes", local=True),
    Case("not-a-source", lambda s, c, t: c.transcribe(12345), ah.SourceError, "cannot upload",
         local=True),
    Case("ftp-url", lambda s, c, t: c.transcribe("ftp://host/a.mp3"), ah.SourceError, "http",
         local=True),
    Case("file-url-submit", lambda s, c, t: c.submit("file:///etc/passwd"), ah.SourceError,
         "http", local=True),
    Case("submit-bytes", lambda s, c, t: c.submit(b"\x00" * 1_000_000), ah.SourceError,  # type: ignore[arg-type]
         "got bytes: submit() takes the URL", local=True),
    Case("submit-a-path", lambda s, c, t: c.submit(t / "a.mp3"), ah.SourceError,  # type: ignore[arg-type]
         "upload() a file", local=True),
    Case("submit-long-text", lambda s, c, t: c.submit("x" * 100_000), ah.SourceError,
         "x...'", local=True),
    Case("upload-a-url", lambda s, c, t: c.upload("https://example.com/a.mp3"), ah.SourceError,
         "URL", local=True),
    Case("empty-id", lambda s, c, t: c.get(""), ah.UsageError, "non-empty", local=True),
    Case("whitespace-id", lambda s, c, t: c.wait("  "), ah.UsageError, "non-empty", local=True),
    Case("batch-of-a-single-source", _batch_of_one, ah.UsageError, "single source", local=True),
    Case("closed-client", _closed_client, ah.UsageError, "closed", local=True),
    # --- construction
    Case("base-url-ftp", _new_client(api_key="k", base_url="ftp://x"), ah.UsageError,
         "http(s)", local=True),
    Case("base-url-no-scheme", _new_client(api_key="k", base_url="api.assemblyai.com"),
         ah.UsageError, "http(s)", local=True),
    Case("base-url-no-host", _new_client(api_key="k", base_url="http://"), ah.UsageError,
         "host", local=True),
    Case("base-url-query", _new_client(api_key="k", base_url="https://h/?q=1"), ah.UsageError,
         "query", local=True),
    Case("zero-concurrency", _new_client(api_key="k", base_url="http://h", max_concurrency=0),
         ah.UsageError, "at least 1", local=True),
    Case("tiny-chunk-size", _new_client(api_key="k", base_url="http://h", upload_chunk_size=1),
         ah.UsageError, "chunk", local=True),
    # --- what the server says
    Case("wrong-api-key", lambda s, c, t: c.get("x"), ah.AuthenticationError, "API token",
         server={"api_key": "the-right-key"}),
    Case("unknown-id-404", lambda s, c, t: c.get("no-such-id"), ah.NotFoundError, "not found"),
    Case("unknown-id-400-style", lambda s, c, t: c.wait("no-such-id"), ah.NotFoundError,
         "not found", server={"not_found_style": "400"}),
    Case("job-error", lambda s, c, t: c.transcribe("https://example.com/fail.mp3"),
         ah.JobFailedError, FAILED_JOB_ERROR),
    Case("html-200", faulted(Fault(times=99, status=200, body="<html>Welcome</html>",
                                   headers={"content-type": "text/html"}))(
        lambda s, c, t: c.get("x")), ah.APIResponseError, "not JSON"),
    Case("garbage-200-upload", faulted(Fault(times=99, status=200, body=b"\x00\xff{"))(
        lambda s, c, t: c.upload(b"abc")), ah.APIResponseError, "not JSON"),
    Case("empty-200", faulted(Fault(times=99, status=200, body=b""))(
        lambda s, c, t: c.get("x")), ah.APIResponseError, "transcript object"),
    Case("json-list-200", faulted(Fault(times=99, status=200, body="[1, 2]"))(
        lambda s, c, t: c.upload(b"abc")), ah.APIResponseError, "upload_url"),
    Case("list-without-transcripts", faulted(Fault(times=99, status=200, body={"x": 1}))(
        _list_all), ah.APIResponseError, "transcripts"),
    Case("html-502", faulted(Fault(times=99, status=502, body="<h1>Bad Gateway</h1>"))(
        lambda s, c, t: c.get("x")), ah.ServerError, "Bad Gateway"),
    Case("huge-retry-after-then-429s", faulted(Fault(times=99, status=429, body={
        "error": "slow down"}, headers={"retry-after": "86400"}))(
        lambda s, c, t: c.get("x")), ah.RateLimitError, "slow down"),
    Case("bad-field-400", faulted(Fault(method="POST", path="/v2/transcript", status=400,
                                        body={"error": "speech_models: invalid model"}))(
        lambda s, c, t: c.submit("https://example.com/a.mp3")), ah.BadRequestError,
         "speech_models"),
    Case("forbidden-403", faulted(Fault(status=403, body={"error": "account disabled"}))(
        lambda s, c, t: c.get("x")), ah.PermissionDeniedError, "account disabled"),
    Case("upload-too-large-413", faulted(Fault(path="/v2/upload", status=413,
                                               body={"error": "upload too large"}))(
        lambda s, c, t: c.upload(b"abc")), ah.BadRequestError, "too large"),
    Case("wait-deadline", lambda s, c, t: c.transcribe("https://example.com/a.mp3",
                                                       timeout=0.05),
         ah.JobTimeoutError, "", server={"complete_after": 30}),
]


@pytest.mark.parametrize(
    "case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES]
)
async def test_bad_input(case: Case, tmp_path: Path) -> None:
    async with serve_fake(**(case.server or {})) as server:
        client = ah.AsyncClient(api_key=KEY, base_url=server.base_url, retry=QUICK,
                                polling=POLL, timeout=2)
        async with client:
            # A hang is a failure too.
            with anyio.fail_after(10), pytest.raises(case.error) as info:
                await case.run(server, client, tmp_path)
        message = str(info.value)
        assert case.match.lower() in message.lower(), message
        # Whatever the input, the message stays readable.
        assert len(message) < 1000, message[:300]
        assert isinstance(info.value, ah.AudioHighlightsError)
        assert KEY not in message and KEY not in repr(info.value)
        if case.local:
            assert server.requests == []
    assert not server.errors


def test_at_least_25_cases() -> None:
    assert len(CASES) >= 25
