"""Time-based behaviour on virtual time and an in-memory fake: fast, and it cannot flake.

Every test here runs on asyncio (in debug mode) and Trio with a virtual clock
(``tests/vclock.py``): a 60 s sleep passes at once, and the order of events is exact.
The fake API is served in memory (``fakeserver.MemoryTransport``), on the same clock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

import audio_highlights as ah
from audio_highlights.fastapi import CompletionHub
from fakeserver import FakeServer, Fault, memory_fake
from vclock import virtual_backend

pytestmark = pytest.mark.anyio

KEY = "sk-test-virtual"
FAST = ah.PollSettings(initial=0.05, multiplier=1.5, max_interval=0.2, timeout=600)
QUICK_RETRY = ah.RetrySettings(initial=0.01, max_backoff=0.05, max_retry_after=2)
NEVER = ah.PollSettings(initial=3600, max_interval=3600, timeout=None)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    return virtual_backend(str(request.param))


@asynccontextmanager
async def fake_client(**options: Any) -> AsyncIterator[tuple[FakeServer, ah.AsyncClient]]:
    polling = options.pop("polling", FAST)
    async with (
        memory_fake(api_key=KEY, **options) as (server, transport),
        ah.AsyncClient(
            api_key=KEY,
            base_url=server.base_url,
            transport=transport,
            polling=polling,
            retry=QUICK_RETRY,
        ) as client,
    ):
        yield server, client


def urls(n: int) -> list[str]:
    return [f"https://example.com/{i}.mp3" for i in range(n)]


async def test_the_clock_is_virtual() -> None:
    slow = ah.PollSettings(initial=1, max_interval=20, timeout=600)
    async with fake_client(processing_after=100, complete_after=500, polling=slow) as (_, c):
        client = c
        start = anyio.current_time()
        t = await client.transcribe("https://example.com/a.mp3")
        assert t.status is ah.TranscriptStatus.COMPLETED
        assert anyio.current_time() - start >= 500
        with pytest.raises(ah.JobTimeoutError):
            await client.wait((await client.submit("https://example.com/b.mp3")).id, timeout=30)


async def test_a_wait_of_hours_keeps_its_backoff_finite() -> None:
    # 360 polls: multiplier ** attempt used to overflow at poll 309 (1,751 at the default 1.5).
    steep = ah.PollSettings(initial=0.5, multiplier=10, max_interval=10)
    async with fake_client(complete_after=3600, polling=steep) as (_, client):
        t = await client.transcribe("https://example.com/long.mp3", timeout=None)
        assert t.status is ah.TranscriptStatus.COMPLETED


async def test_on_status_sees_each_status_once_in_order() -> None:
    seen: list[ah.TranscriptStatus] = []
    async_seen: list[str] = []

    async def record(t: ah.Transcript) -> None:
        await anyio.lowlevel.checkpoint()
        async_seen.append(t.id)

    async with fake_client(processing_after=5, complete_after=20) as (_, client):
        t = await client.transcribe(b"x" * 1000, on_status=lambda t: seen.append(t.status))
        S = ah.TranscriptStatus
        assert seen == [S.QUEUED, S.PROCESSING, S.COMPLETED]
        job = await client.submit("https://example.com/b.mp3")
        await client.wait(job.id, on_status=record)
        assert async_seen == [job.id] * 3
        # a finished job: one call, with its final status
        again: list[ah.TranscriptStatus] = []
        await client.wait(t, on_status=lambda t: again.append(t.status))
        assert again == [S.COMPLETED]


async def test_batch_status_events_per_item() -> None:
    events: list[ah.BatchEvent] = []
    async with fake_client(processing_after=5, complete_after=20) as (_, client):
        for list_polling in (False, True):
            events.clear()
            got = await client.transcribe_all(
                [b"audio" * 100, "https://example.com/u.mp3"],
                on_event=events.append,
                status_events=True,
                list_polling=list_polling,
            )
            assert all(r.ok for r in got)
            K, S = ah.BatchEventKind, ah.TranscriptStatus
            steps = [(e.kind, e.status) for e in events if e.index == 0]
            assert steps == [
                (K.UPLOADING, None),
                (K.UPLOADED, None),
                (K.SUBMITTED, S.QUEUED),
                (K.STATUS, S.PROCESSING),
                (K.COMPLETED, S.COMPLETED),
            ]
            assert [e.kind for e in events if e.index == 1] == [
                K.SUBMITTED,
                K.STATUS,
                K.COMPLETED,
            ]
        # without status_events, the four original kinds only
        events.clear()
        await client.transcribe_all([b"audio" * 100], on_event=events.append)
        assert [e.kind for e in events] == [K.UPLOADED, K.SUBMITTED, K.COMPLETED]


async def test_a_failing_callback_stops_the_batch_and_nothing_runs_after() -> None:
    def on_event(e: ah.BatchEvent) -> None:
        if e.kind is ah.BatchEventKind.SUBMITTED and e.index == 2:
            raise RuntimeError("callback bug")

    async with fake_client(complete_after=0.3) as (server, client):
        with pytest.raises(RuntimeError, match="callback bug"):
            await client.transcribe_all(urls(50), concurrency=5, on_event=on_event)
        count = len(server.requests)
        await anyio.sleep(60)
        assert len(server.requests) == count
        assert server.created_jobs < 50


async def test_leaving_early_leaves_nothing_polling() -> None:
    async with fake_client(complete_after=0.05) as (server, client):

        async def sources() -> AsyncIterator[str]:
            yield "https://example.com/0.mp3"
            await anyio.sleep(0.3)
            server.complete_after = 3000.0
            for i in range(20):
                yield f"https://example.com/slow{i}"

        async with client.transcribe_many(sources(), concurrency=21) as results:
            async for r in results:
                assert r.index == 0 and r.ok
                break
        count = len(server.requests)
        await anyio.sleep(60)
        assert len(server.requests) == count


async def test_an_exception_in_the_body_leaves_nothing_polling() -> None:
    async with fake_client(complete_after=0.05) as (server, client):

        async def consume() -> None:
            async with client.transcribe_many(urls(10), concurrency=4) as results:
                async for _ in results:
                    raise KeyError("boom")

        with pytest.raises(KeyError, match="boom"):
            await consume()
        count = len(server.requests)
        await anyio.sleep(60)
        assert len(server.requests) == count


async def test_cancelled_from_outside_leaves_nothing_running() -> None:
    async with fake_client(complete_after=3000) as (server, client):
        with anyio.move_on_after(5) as scope:
            await client.transcribe_all(urls(10))
        assert scope.cancelled_caught
        count = len(server.requests)
        await anyio.sleep(60)
        assert len(server.requests) == count


async def test_429_pauses_the_whole_client() -> None:
    async with fake_client() as (server, client):
        server.faults = [
            Fault(method="GET", status=429, headers={"Retry-After": "0.5"}, body={"error": "slow"})
        ]
        job = await client.submit("https://example.com/a.mp3")
        start = anyio.current_time()
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.get, job.id)
            await anyio.sleep(0.1)
            await client.submit("https://example.com/b.mp3")  # waits out the pause too
        assert anyio.current_time() - start >= 0.5 - 1e-9
        hit, resent = (r for r in server.requests if r.method == "GET")
        assert resent.time - hit.time >= 0.5 - 1e-9


async def test_429_on_a_poll_pauses_every_job_of_a_batch() -> None:
    async with fake_client(complete_after=0.3) as (server, client):
        server.faults.append(
            Fault(method="GET", path="/v2/transcript/", status=429, headers={"retry-after": "1"})
        )
        got = await client.transcribe_all(urls(10), concurrency=10, list_polling=False)
        assert all(r.ok for r in got)
        hit = next(r for r in server.requests if r.method == "GET")
        after = [r.time - hit.time for r in server.requests if r.time > hit.time]
        # Every other job polls every <= 0.2 s, yet nothing is sent until Retry-After passed.
        assert after and min(after) >= 1.0 - 1e-9


async def test_polls_back_off_per_job() -> None:
    polling = ah.PollSettings(initial=0.05, multiplier=2.0, max_interval=1.0, jitter=0.0)
    async with fake_client(complete_after=0.7) as (server, client):
        await client.transcribe_all(urls(20), polling=polling, list_polling=False)
        polls = [r for r in server.requests if r.method == "GET"]
        # after 0.05, 0.15, 0.35, 0.75 s: 4 polls a job, not 0.7 / 0.05 = 14
        assert len(polls) == 20 * 4


async def test_the_wait_deadline_holds_exactly() -> None:
    async with fake_client(complete_after=100) as (_, client):
        job = await client.submit("https://example.com/a.mp3")
        start = anyio.current_time()
        with pytest.raises(ah.JobTimeoutError) as info:
            await client.wait(job.id, timeout=10)
        assert 10 <= anyio.current_time() - start <= 10.5
        assert info.value.last_status is ah.TranscriptStatus.PROCESSING
        assert (await client.wait(job.id, timeout=None)).status is ah.TranscriptStatus.COMPLETED


async def test_webhook_wakes_the_waiter_and_nothing_polls_meanwhile() -> None:
    hub = CompletionHub(auth_header_value="s3cret", fallback_polling=NEVER)
    async with fake_client(complete_after=0.3) as (server, client):
        job = await client.submit("https://example.com/a.mp3")
        done: list[ah.Transcript] = []

        async def waiter() -> None:
            done.append(await hub.wait(client, job.id))

        async with anyio.create_task_group() as tg:
            tg.start_soon(waiter)
            tg.start_soon(waiter)  # two waiters share one event
            await anyio.sleep(600)
            assert not done
            assert hub.notify(job.id, "completed")
        assert [t.status for t in done] == [ah.TranscriptStatus.COMPLETED] * 2
        gets = [r for r in server.requests if r.method == "GET"]
        # one immediate poll + one fetch after the webhook, per waiter
        assert len(gets) == 4


async def test_list_polling_uses_one_sweep_for_many_jobs() -> None:
    polling = ah.PollSettings(initial=0.1, multiplier=1.5, max_interval=5.0, timeout=10)
    async with fake_client(complete_after=0.5) as (server, client):
        urls = [f"https://example.com/{i}" for i in range(40)] + ["https://example.com/fail"]
        got = await client.transcribe_all(urls, polling=polling, list_polling=True)
        assert [r.ok for r in got] == [True] * 40 + [False]
        assert isinstance(got[-1].error, ah.JobFailedError)
        assert got[0].transcript is not None and got[0].transcript.highlights
        gets = [r for r in server.requests if r.method == "GET" and r.path != "/v2/transcript"]
        lists = [r for r in server.requests if r.path == "/v2/transcript" and r.method == "GET"]
        assert len(gets) == 41  # one fetch per job, no per-job polling
        assert 1 <= len(lists) <= 15
        assert server.errors == []


async def test_list_polling_waits_on_listed_jobs_longer_than_max_interval() -> None:
    # Jobs that run several max_intervals are still seen through the list:
    # being listed as processing keeps a job off per-job polling.
    polling = ah.PollSettings(initial=0.05, multiplier=1.5, max_interval=0.4, timeout=10)
    async with fake_client(complete_after=1.2) as (server, client):
        urls = [f"https://example.com/{i}" for i in range(30)]
        got = await client.transcribe_all(urls, polling=polling, list_polling=True)
        assert all(r.ok for r in got)
        gets = [r for r in server.requests if r.method == "GET" and r.path != "/v2/transcript"]
        assert len(gets) == 30
        assert server.errors == []


# --- hosted-like defaults: list polling for batches, a 3 s-bounded schedule for one job ---

HOSTED = ah.PollSettings()  # the defaults


def vary_latency(server: FakeServer, latencies: list[float]) -> list[float]:
    """Give the n-th job created the n-th latency; returns when each completes (server time)."""
    create = server._create
    completes: list[float] = []

    def created(headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        status, payload = create(headers, body)
        job = server.jobs[payload["id"]]
        job.complete_after = latencies[len(completes)]
        completes.append(job.created + job.complete_after)
        return status, payload

    server._create = created  # type: ignore[method-assign]
    return completes


def by_kind(server: FakeServer) -> dict[str, int]:
    kinds = {"list": 0, "get": 0, "submit": 0}
    for r in server.requests:
        if r.path == "/v2/transcript":
            kinds["list" if r.method == "GET" else "submit"] += 1
        elif r.path.startswith("/v2/transcript/"):
            kinds["get"] += 1
    return kinds


async def test_a_default_batch_watches_the_list_and_fetches_each_job_once() -> None:
    n = 400
    async with fake_client(complete_after=10, polling=HOSTED) as (server, client):
        done_at: list[float] = []
        async with client.transcribe_many(urls(n), concurrency=n) as results:
            async for r in results:
                assert r.ok
                done_at.append(anyio.current_time())
        kinds = by_kind(server)
        assert kinds["get"] == n and kinds["submit"] == n  # no per-job polls
        assert kinds["list"] <= 0.1 * n  # 3 pages a sweep, a few sweeps
        last_completed = max(j.created + j.complete_after for j in server.jobs.values())
        # Every job finishes at the same moment, after 10 s with none finishing:
        # seen within the idle pace of the sweeps (1 s).
        assert max(done_at) - last_completed <= ah.ListPollSettings().max_interval + 1e-6


@pytest.mark.parametrize("latency", [9.6, 10.0, 10.4, 10.8, 11.2, 11.6])
async def test_the_first_jobs_of_a_batch_are_seen_within_a_second_whatever_the_phase(
    latency: float,
) -> None:
    # While nothing finishes, sweeps slow down to max_interval: that bounds
    # how late the first finished jobs are seen, whichever way the sweeps fall
    # against the jobs' completion. Catching them late makes the batch fetch
    # them all in one burst.
    n = 50
    async with fake_client(complete_after=latency, polling=HOSTED) as (server, client):
        first: float | None = None
        async with client.transcribe_many(urls(n), concurrency=n) as results:
            async for r in results:
                assert r.ok
                first = anyio.current_time() if first is None else first
        assert first is not None
        first_completed = min(j.created + j.complete_after for j in server.jobs.values())
        assert first - first_completed <= 1.0 + 1e-6, first - first_completed


@pytest.mark.slow  # seconds of real time for 600 jobs, on debug-mode asyncio
async def test_a_default_batch_finishes_soon_after_its_last_job_with_spread_latency() -> None:
    import random

    # Enough jobs that those still waiting sit pages below finished ones.
    n = 600
    rng = random.Random(7)
    latencies = [rng.uniform(10, 45) for _ in range(n)]
    async with fake_client(polling=HOSTED) as (server, client):
        completes = vary_latency(server, latencies)
        got = await client.transcribe_all(urls(n), concurrency=n)
        finished = anyio.current_time()
        assert all(r.ok for r in got)
        assert finished - max(completes) <= 2.0
        kinds = by_kind(server)
        assert kinds["get"] == n
        # Fewer list requests than a fifth of what per-job polls would have cost.
        per_job = sum(polls_of(HOSTED, latency, "high") for latency in latencies)
        assert kinds["list"] <= per_job / 5


async def test_a_batch_whose_jobs_the_list_never_shows_polls_them_after_patience() -> None:
    # An eventually consistent list that lags for ever: every job falls back.
    async with fake_client(complete_after=30, polling=HOSTED) as (server, client):
        server.list_lag = 10_000
        start = anyio.current_time()
        got = await client.transcribe_all(urls(20), concurrency=20)
        assert all(r.ok for r in got)
        # Patience 10 s, then per-job polls from 10 s: seen within one interval of 30 s.
        assert anyio.current_time() - start <= 30 + 10 + 0.5
        assert by_kind(server)["get"] > 20


async def test_a_list_that_is_not_there_sends_the_batch_to_per_job_polls_at_once() -> None:
    async with fake_client(complete_after=12, polling=HOSTED) as (server, client):
        server.faults.append(
            Fault(method="GET", path="/v2/transcript", status=404, times=1000,
                  body={"error": "Not found"})
        )
        server.faults[-1].matches = (  # type: ignore[method-assign]
            lambda method, path: method == "GET" and path == "/v2/transcript"
        )
        start = anyio.current_time()
        got = await client.transcribe_all(urls(10), concurrency=10)
        assert all(r.ok for r in got)
        assert by_kind(server)["list"] == 1
        # Polled on the default schedule from the first sweep on, not after patience.
        assert anyio.current_time() - start <= 12 + 10


async def test_a_batch_keeps_nothing_of_the_items_it_has_handed_out() -> None:
    import gc
    import weakref

    async with fake_client(complete_after=1) as (_, client):
        refs: list[weakref.ref[ah.Transcript]] = []
        async with client.transcribe_many(urls(60), concurrency=4) as results:
            async for r in results:
                assert r.transcript is not None
                refs.append(weakref.ref(r.transcript))
                del r
        gc.collect()
        assert refs and all(ref() is None for ref in refs[:-1])


def polls_of(polling: ah.PollSettings, duration: float, jitter: str) -> int:
    """GETs one wait() sends for a job of ``duration`` s, from the schedule (the submit's
    answer is the first look); ``jitter`` picks the extreme of every random draw."""
    from unittest import mock

    from audio_highlights._polling import PollSchedule

    schedule = PollSchedule(polling, deadline=None)
    pick = (lambda a, b: a) if jitter == "low" else (lambda a, b: b)
    t, polls = 0.0, 0
    with mock.patch("random.uniform", pick):
        while t < duration:
            polls += 1
            t += schedule(mock.Mock(attempt_number=polls))
    return polls


def test_one_wait_never_polls_more_than_a_fixed_3s_poll_on_10_to_45s_jobs() -> None:
    import math

    for tenths in range(100, 451):
        duration = tenths / 10
        fixed = math.ceil(duration / 3)  # GETs at 3, 6, 9, ... s after the submit
        for jitter in ("low", "high"):
            assert polls_of(HOSTED, duration, jitter) <= fixed, (duration, jitter)
    # And it is not simply slow: a 45 s job is polled 9 to 11 times (10 without jitter).
    assert polls_of(HOSTED, 45, "high") == 9 and polls_of(HOSTED, 45, "low") == 11


async def test_one_wait_polls_on_that_schedule(monkeypatch: pytest.MonkeyPatch) -> None:
    import math
    import random

    monkeypatch.setattr(random, "uniform", lambda a, b: a)  # the most polls jitter allows
    for duration in (10, 12, 21, 33.3, 45):
        async with fake_client(complete_after=duration, polling=HOSTED) as (server, client):
            t = await client.transcribe("https://example.com/a.mp3")
            assert t.status is ah.TranscriptStatus.COMPLETED
            gets = by_kind(server)["get"]
            assert gets == polls_of(HOSTED, duration, "low") <= math.ceil(duration / 3)
