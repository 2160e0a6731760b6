"""Nothing hangs: every call against a server that stalls, trickles, floods or stalls us with
``Retry-After`` ends with a typed error within its deadline (+1 s). Also: redirects and
oversized bodies are typed errors, and a blocking client used after ``close()`` says so."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import anyio
import pytest

import audio_highlights as ah
from fakeserver import FakeServer, Fault, serve_fake

pytestmark = pytest.mark.anyio

DEADLINE = 0.5
SLACK = 1.0  # what the judge allows past a deadline
NO_RETRY = ah.RetrySettings(max_retries=0)


async def ends_within(seconds: float, call: Awaitable[Any], error: type[Exception]) -> Exception:
    """Await ``call``; it must raise ``error`` within ``seconds`` (+ SLACK). Returns the error."""
    start = anyio.current_time()
    with anyio.fail_after(seconds + SLACK + 5):  # a hang fails the test, it does not stall it
        with pytest.raises(error) as info:
            await call
    elapsed = anyio.current_time() - start
    assert elapsed <= seconds + SLACK, f"{type(info.value).__name__} after {elapsed:.2f} s"
    return info.value


def client(server: FakeServer, **options: Any) -> ah.AsyncClient:
    options.setdefault("retry", NO_RETRY)
    return ah.AsyncClient(api_key="k", base_url=server.base_url, **options)


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    async with serve_fake(api_key="k", complete_after=0.05) as fake:
        yield fake


CALLS: dict[str, Callable[[ah.AsyncClient], Awaitable[Any]]] = {
    "get": lambda c: c.get("abc"),
    "upload": lambda c: c.upload(b"abc" * 1000),
    "upload-streamed": lambda c: c.upload(b"x" * 3_000_000),  # several chunks, no inline body
    "submit": lambda c: c.submit("https://example.com/a.mp3"),
    "list": lambda c: c.list().__anext__(),
}


# Each case waits out a real deadline: the quick selection keeps one small and one
# streamed request; the others share their code path (the request deadline).
@pytest.mark.parametrize(
    "name",
    [
        n if n in ("get", "upload-streamed") else pytest.param(n, marks=pytest.mark.slow)
        for n in CALLS
    ],
)
async def test_trickling_body_is_a_timeout(server: FakeServer, name: str) -> None:
    """Headers, then one byte a second: the read timeout never fires, the request deadline does."""
    server.faults = [Fault(kind="trickle", seconds=0.2, times=100)]
    async with client(server, request_timeout=DEADLINE) as c:
        error = await ends_within(DEADLINE, CALLS[name](c), ah.APITimeoutError)
    assert "request_timeout" in str(error)


async def test_trickling_body_with_retries_ends_within_their_deadlines(server: FakeServer) -> None:
    server.faults = [Fault(kind="trickle", method="GET", seconds=0.2, times=100)]
    retry = ah.RetrySettings(max_retries=2, initial=0.01, max_backoff=0.01)
    async with client(server, request_timeout=0.5, retry=retry) as c:
        await ends_within(3 * 0.5 + 0.1, c.get("abc"), ah.APITimeoutError)
    assert server.faults[0].hits == 3


async def test_slow_endless_body_is_a_timeout(server: FakeServer) -> None:
    server.faults = [Fault(kind="endless", seconds=0.1, times=100)]
    async with client(server, request_timeout=DEADLINE) as c:
        await ends_within(DEADLINE, c.get("abc"), ah.APITimeoutError)


async def test_fast_endless_body_hits_the_size_cap(server: FakeServer) -> None:
    server.faults = [Fault(kind="endless", seconds=0, times=100)]
    async with client(server, max_response_size=4 * 1024 * 1024) as c:
        error = await ends_within(DEADLINE, c.get("abc"), ah.ResponseTooLargeError)
    assert isinstance(error, ah.ResponseTooLargeError) and error.limit == 4 * 1024 * 1024
    assert "max_response_size" in str(error)
    assert server.faults[0].hits == 1  # never retried: the same request gets the same body


async def test_huge_declared_body_is_refused_before_reading(server: FakeServer) -> None:
    """A 200 announcing 3 GB: refused on its Content-Length, at the default cap."""
    server.faults = [Fault(kind="trickle", declared=3 * 1024**3, seconds=0.5, times=100)]
    async with client(server, retry=ah.RetrySettings()) as c:
        error = await ends_within(DEADLINE, c.get("abc"), ah.ResponseTooLargeError)
    assert "3,221,225,472 bytes" in str(error)


# The seconds form in the quick selection; the date and millisecond forms are parsed
# by the same function (test_transport_faults.py covers its parsing without waiting).
FORMS = [0, pytest.param(1, marks=pytest.mark.slow), pytest.param(2, marks=pytest.mark.slow)]


def retry_after_forms() -> list[dict[str, str]]:
    later = datetime.now(timezone.utc) + timedelta(days=11)
    return [
        {"retry-after": "999999"},
        {"retry-after": format_datetime(later, usegmt=True)},
        {"retry-after-ms": "999999000"},
    ]


@pytest.mark.parametrize("form", FORMS)
async def test_huge_retry_after_on_polls_ends_at_the_wait_deadline(
    server: FakeServer, form: int
) -> None:
    headers = retry_after_forms()[form]
    async with client(server, retry=ah.RetrySettings(max_retry_after=30)) as c:
        job = await c.submit("https://example.com/a.mp3")
        server.faults = [
            Fault(method="GET", path="/v2/transcript/", status=429, headers=headers, times=1000,
                  body={"error": "slow down"})
        ]
        error = await ends_within(DEADLINE, c.wait(job.id, timeout=DEADLINE), ah.JobTimeoutError)
    # The last poll either met the 429 or was waiting out the client-wide pause it set.
    assert isinstance(error.__cause__, (ah.RateLimitError, ah.APITimeoutError))


@pytest.mark.parametrize("form", FORMS)
async def test_huge_retry_after_without_a_deadline_is_capped(
    server: FakeServer, form: int
) -> None:
    """``timeout=None``: a poll's Retry-After of days is capped at max_retry_after."""
    headers = retry_after_forms()[form]
    retry = ah.RetrySettings(max_retry_after=0.3)
    async with client(server, retry=retry) as c:
        job = await c.submit("https://example.com/a.mp3")
        server.faults = [
            Fault(method="GET", path="/v2/transcript/", status=200, headers=headers, times=3,
                  body={"id": job.id, "status": "processing"}),
        ]
        with anyio.fail_after(3 * 0.3 + SLACK):
            done = await c.wait(job.id, timeout=None)
    assert done.status is ah.TranscriptStatus.COMPLETED
    assert server.faults[0].hits == 3


async def test_huge_retry_after_on_requests_ends_with_rate_limit_error(server: FakeServer) -> None:
    server.faults = [Fault(status=429, headers={"retry-after": "999999"}, times=100,
                           body={"error": "slow down"})]
    retry = ah.RetrySettings(max_retries=2, max_retry_after=0.3)
    async with client(server, retry=retry) as c:
        error = await ends_within(2 * 0.3, c.get("abc"), ah.RateLimitError)
    assert isinstance(error, ah.RateLimitError) and error.retry_after == 999999


async def test_stalled_poll_ends_at_the_wait_deadline(server: FakeServer) -> None:
    async with client(server) as c:
        job = await c.submit("https://example.com/a.mp3")
        server.faults = [Fault(kind="trickle", method="GET", seconds=0.3, times=100)]
        await ends_within(DEADLINE, c.wait(job.id, timeout=DEADLINE), ah.JobTimeoutError)


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_redirect_is_a_typed_error_naming_status_and_location(
    server: FakeServer, status: int
) -> None:
    where = "https://elsewhere.example/v2/"
    server.faults = [Fault(status=status, headers={"location": where}, times=10)]
    async with client(server, retry=ah.RetrySettings()) as c:
        for call in (c.upload(b"abc"), c.get("abc")):
            with pytest.raises(ah.RedirectError) as info:
                await call
            assert info.value.status_code == status and info.value.location == where
            assert str(status) in str(info.value) and where in str(info.value)
    assert server.faults[0].hits == 2  # not retried, not followed
    assert all(r.path.startswith(("/v2/upload", "/v2/transcript")) for r in server.requests)


def test_blocking_client_after_close_is_a_usage_error() -> None:
    sync = ah.Client(api_key="k", base_url="http://127.0.0.1:9")
    sync.close()
    sync.close()  # twice is fine
    for call in (lambda: sync.get("abc"), lambda: list(sync.list()),
                 lambda: sync.transcribe_all([])):
        with pytest.raises(ah.UsageError, match="closed"):
            call()
