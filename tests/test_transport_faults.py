"""Edge cases driven through httpx2.MockTransport: faults a real server can't easily produce."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import anyio
import httpx2
import pytest

import audio_highlights as ah
from audio_highlights._retry import parse_retry_after

pytestmark = pytest.mark.anyio

Handler = Callable[[httpx2.Request], httpx2.Response]
QUICK = ah.RetrySettings(initial=0.01, max_backoff=0.02, max_retry_after=0.05)
FAST_POLL = ah.PollSettings(initial=0.01, max_interval=0.02, timeout=5)


def job(status: str = "queued", **extra: object) -> dict[str, object]:
    return {"id": "job1", "status": status, "audio_url": "https://x/a.mp3", **extra}


def client_with(handler: Handler, **kw: object) -> ah.AsyncClient:
    kw.setdefault("retry", QUICK)
    kw.setdefault("polling", FAST_POLL)
    return ah.AsyncClient(
        api_key="k", base_url="https://api.example", transport=httpx2.MockTransport(handler), **kw
    )


async def test_connect_error_on_submit_is_retried_read_error_is_not() -> None:
    calls: list[str] = []

    def connect_fails_once(request: httpx2.Request) -> httpx2.Response:
        calls.append(request.url.path)
        if len(calls) == 1:
            raise httpx2.ConnectError("refused", request=request)
        return httpx2.Response(200, json=job())

    async with client_with(connect_fails_once) as client:
        await client.submit("https://x/a.mp3")
    assert len(calls) == 2

    calls.clear()

    def read_fails(request: httpx2.Request) -> httpx2.Response:
        calls.append(request.method)
        raise httpx2.ReadError("reset after send", request=request)

    async with client_with(read_fails) as client:
        with pytest.raises(ah.APIConnectionError) as info:
            await client.submit("https://x/a.mp3")
    # The server may have created the job, and its list cannot be read here: not resent.
    assert calls.count("POST") == 1 and set(calls) == {"POST", "GET"}
    assert isinstance(info.value.__cause__, httpx2.ReadError)
    assert "reset after send" in str(info.value)


async def test_read_error_on_get_is_retried() -> None:
    calls = 0

    def flaky(request: httpx2.Request) -> httpx2.Response:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise httpx2.ReadTimeout("slow", request=request)
        return httpx2.Response(200, json=job("completed", text="hi"))

    async with client_with(flaky) as client:
        assert (await client.get("job1")).text == "hi"
    assert calls == 3


async def test_html_502_and_garbage_200() -> None:
    def html(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(502, text="<html><h1>Bad Gateway</h1></html>")

    async with client_with(html, max_retries=0) as client:
        with pytest.raises(ah.ServerError, match="Bad Gateway") as info:
            await client.get("job1")
        assert info.value.body is None and info.value.status_code == 502

    def garbage(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=b"\x00\xffnot json")

    async with client_with(garbage) as client:
        with pytest.raises(ah.APIResponseError, match="not JSON"):
            await client.get("job1")
        with pytest.raises(ah.APIResponseError):
            await client.upload(b"abc")

    def wrong_shape(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json=["a", "list"])

    async with client_with(wrong_shape) as client:
        with pytest.raises(ah.APIResponseError, match="upload_url"):
            await client.upload(b"abc")
        with pytest.raises(ah.APIResponseError, match="transcript object"):
            await client.get("job1")


async def test_huge_retry_after_is_capped() -> None:
    calls = 0

    def limited(request: httpx2.Request) -> httpx2.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            return httpx2.Response(429, headers={"Retry-After": "86400"}, json={"error": "slow"})
        return httpx2.Response(200, json=job())

    async with client_with(limited) as client:
        with anyio.fail_after(2):
            await client.get("job1")
    assert calls == 2


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None
    when = datetime.now(timezone.utc) + timedelta(seconds=30)
    parsed = parse_retry_after({"retry-after": format_datetime(when, usegmt=True)})
    assert parsed is not None and 25 < parsed <= 30
    assert parse_retry_after({"retry-after": "-5"}) == 0.0


async def test_wait_retries_transient_failures_until_completion() -> None:
    answers: list[httpx2.Response | Exception] = [
        httpx2.Response(500, json={"error": "oops"}),
        httpx2.Response(200, content=b'{"id": "job1", "sta'),
        httpx2.Response(429, headers={"retry-after-ms": "10"}, json={"error": "slow"}),
        httpx2.Response(200, json=job("processing")),
        httpx2.Response(200, json=job("completed", text="done")),
    ]

    def sequence(request: httpx2.Request) -> httpx2.Response:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async with client_with(sequence) as client:
        t = await client.wait("job1")
    assert t.text == "done"
    assert answers == []


async def test_wait_fails_fast_on_non_transient_error() -> None:
    def forbidden(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(403, json={"error": "no access"}, headers={"x-request-id": "r1"})

    async with client_with(forbidden) as client:
        with pytest.raises(ah.PermissionDeniedError, match=r"403: no access \(request id r1\)"):
            await client.wait("job1", timeout=5)


async def test_deadline_while_server_keeps_failing() -> None:
    def down(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(503, json={"error": "maintenance"})

    async with client_with(down) as client:
        with pytest.raises(ah.JobTimeoutError) as info:
            await client.wait("job1", timeout=0.2)
    assert info.value.last_status is None
    assert isinstance(info.value.__cause__, ah.ServerError)


async def test_poll_honours_retry_after_on_200() -> None:
    times: list[float] = []

    def slow_down(request: httpx2.Request) -> httpx2.Response:
        times.append(anyio.current_time())
        status = "completed" if len(times) == 2 else "processing"
        return httpx2.Response(200, json=job(status), headers={"retry-after": "0.3"})

    # The poll's Retry-After is honoured up to max_retry_after.
    async with client_with(slow_down, retry=ah.RetrySettings(max_retry_after=1)) as client:
        await client.wait("job1")
    assert times[1] - times[0] >= 0.28


async def test_no_retry_error_leaks_when_retries_run_out() -> None:
    def always_429(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(429, json={"error": "slow"}, headers={"retry-after": "0"})

    async with client_with(always_429, max_retries=2) as client:
        with pytest.raises(ah.RateLimitError) as info:
            await client.get("job1")
    assert info.value.retry_after == 0.0
    assert "RetryError" not in repr(info.value.__context__)


async def test_request_headers() -> None:
    seen: list[httpx2.Request] = []

    def record(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        body = json.loads(request.content) if request.url.path == "/v2/transcript" else None
        assert body is None or body["audio_url"] == "https://x/a.mp3"
        return httpx2.Response(200, json=job())

    async with client_with(record, headers={"x-team": "a"}) as client:
        await client.submit("https://x/a.mp3", idempotency_key="fixed")
    (request,) = seen
    assert request.headers["authorization"] == "k"
    assert request.headers["idempotency-key"] == "fixed"
    assert request.headers["x-team"] == "a"
    assert request.headers["user-agent"].startswith("audio-highlights/")
    assert "'k'" not in repr(request.headers)
