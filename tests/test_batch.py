"""Fan-out (transcribe_many / transcribe_all) against the fake server, on asyncio and trio."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

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


def client_for(server: FakeServer, **kw: Any) -> ah.AsyncClient:
    kw.setdefault("polling", FAST)
    kw.setdefault("retry", QUICK_RETRY)
    return ah.AsyncClient(api_key=KEY, base_url=server.base_url, **kw)


def blobs(n: int) -> list[bytes]:
    return [os.urandom(2000) + i.to_bytes(4, "big") for i in range(n)]


def count_concurrency(server: FakeServer, delay: float = 0.05) -> dict[str, int]:
    """Wrap the fake's upload handler to observe, server-side, how many run at once."""
    seen = {"active": 0, "peak": 0}
    original = server._upload

    async def counting(*args: Any) -> Any:
        seen["active"] += 1
        seen["peak"] = max(seen["peak"], seen["active"])
        try:
            await anyio.sleep(delay)
            return await original(*args)
        finally:
            seen["active"] -= 1

    server._upload = counting  # type: ignore[method-assign]
    return seen


def assert_pool_clean(client: ah.AsyncClient) -> None:
    """No request waits in the connection pool and no connection is stuck mid-request.

    Reads httpcore2's pool internals: a cancelled request must not leave a
    connection marked active, or the pool would slowly fill with dead ones.
    """
    pool = client._api._http._client._transport._pool  # type: ignore[attr-defined]
    assert not pool._requests
    assert all(c.is_idle() or c.is_closed() for c in pool.connections)


async def test_results_in_completion_order_and_all_in_input_order() -> None:
    async with serve_fake(api_key=KEY, complete_after=0.05) as server, client_for(server) as client:
        # Upload delays make later items finish first: item 0 uploads slowest.
        delays = [0.4, 0.2, 0.0]

        def slow(i: int) -> AsyncIterator[bytes]:
            async def gen() -> AsyncIterator[bytes]:
                await anyio.sleep(delays[i])
                yield b"x" * 1000 + bytes([i])

            return gen()

        order = []
        async with client.transcribe_many([slow(i) for i in range(3)], concurrency=3) as results:
            async for r in results:
                assert r.ok and r.transcript is not None and r.error is None
                assert r.transcript.highlights[0].text == "air quality alerts"
                order.append(r.index)
        assert order == [2, 1, 0]

        data = blobs(12)
        got = await client.transcribe_all(data, concurrency=5)
        assert [r.index for r in got] == list(range(12))
        assert [r.source for r in got] == data
        assert all(r.transcript is not None for r in got)
        assert len(server.uploads) == 15
        assert server.created_jobs == 15
        assert all(j.request["auto_highlights"] is True for j in server.jobs.values())
        assert server.errors == []


async def test_url_sources_skip_upload_and_fields_pass_through() -> None:
    async with serve_fake(complete_after=0.05) as server, client_for(server) as client:
        urls = [f"https://example.com/{i}.mp3" for i in range(4)]
        got = await client.transcribe_all(urls, language_code="de", auto_highlights=False)
        assert [r.transcript.audio_url for r in got if r.transcript] == urls
        assert server.uploads == []
        assert {j.request["language_code"] for j in server.jobs.values()} == {"de"}


async def test_huge_generator_is_consumed_lazily() -> None:
    pulled = 0

    def sources() -> Iterator[bytes]:
        nonlocal pulled
        for i in range(100_000):
            pulled += 1
            yield b"audio" * 100 + i.to_bytes(4, "big")

    async with serve_fake(complete_after=0.05) as server, client_for(server) as client:
        async with client.transcribe_many(sources(), concurrency=8) as results:
            async for r in results:
                assert r.ok
                break
        # the workers' items, the one the feeder is holding, and nothing more
        assert pulled <= 8 + 2
        assert server.created_jobs <= 8 + 1


class TurnCounter:
    """Counts the turns another task gets: ``run`` checkpoints and counts, for ever."""

    def __init__(self) -> None:
        self.count = 0

    async def run(self) -> None:
        while True:
            self.count += 1
            await anyio.lowlevel.checkpoint()


async def test_finished_results_do_not_pile_up_behind_a_reader_that_keeps_nothing() -> None:
    # 200 jobs finish together; the reader keeps nothing. Before, it got one
    # result per turn of the event loop (another task always ran in between)
    # while the workers finished dozens a turn, so finished transcripts piled
    # up in the batch's buffer, all alive at once. Now it takes every result
    # already waiting in the same turn.
    turns = TurnCounter()

    async with (
        serve_fake(complete_after=0.3) as server,
        client_for(server) as client,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(turns.run)
        turns_between: list[int] = []
        async with client.transcribe_many(blobs(200), concurrency=200) as results:
            last = turns.count
            async for r in results:
                assert r.ok
                turns_between.append(turns.count - last)
                last = turns.count
        tg.cancel_scope.cancel()
    assert len(turns_between) == 200
    # Most results are taken in a turn already spent (145-179 of 200 here;
    # before: none on asyncio, and on Trio, whose batches run in random order,
    # about a quarter).
    assert turns_between.count(0) >= 100, turns_between


async def test_buffered_results_are_read_without_a_schedule_point_but_cancellation_holds() -> (
    None
):
    send, receive = anyio.create_memory_object_stream[Any](10)
    results = ah.BatchResults(receive)
    turns = TurnCounter()

    async with send, receive, anyio.create_task_group() as tg:
        tg.start_soon(turns.run)
        await anyio.sleep(0.01)
        for i in range(3):
            send.send_nowait(i)
        before = turns.count
        assert [await results.__anext__() for _ in range(3)] == [0, 1, 2]
        assert turns.count == before  # the other task never ran in between
        send.send_nowait(3)
        with anyio.CancelScope() as scope:
            scope.cancel()
            await results.__anext__()
        assert scope.cancelled_caught  # a cancelled reader stops even with results waiting
        assert receive.statistics().current_buffer_used == 1
        tg.cancel_scope.cancel()


async def test_the_opening_burst_is_handed_out_in_one_turn() -> None:
    # Each new worker used to be started and then sent its item, which cost
    # the batch a turn of the event loop per item: 1,000 uploads trickled out
    # and the opening burst ran 25 % slower than 1,000 plain tasks. A new
    # worker now starts with its item, so sources are pulled without waiting.
    turns = TurnCounter()
    pulled_at: list[int] = []

    def sources(n: int) -> Iterator[bytes]:
        for blob in blobs(n):
            pulled_at.append(turns.count)
            yield blob

    async with (
        serve_fake(complete_after=0.05) as server,
        client_for(server) as client,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(turns.run)
        await anyio.sleep(0.01)
        got = await client.transcribe_all(sources(100), concurrency=50)
        tg.cancel_scope.cancel()
    assert all(r.ok for r in got) and len(got) == 100
    # The first 50 (the concurrency) in one go, and the one the feed then
    # holds until a worker is free; the rest as workers come free.
    assert pulled_at[50] == pulled_at[0], pulled_at[:51]
    assert pulled_at[51] > pulled_at[0]


async def test_async_iterable_of_sources() -> None:
    async def sources() -> AsyncIterator[bytes]:
        for blob in blobs(5):
            await anyio.lowlevel.checkpoint()
            yield blob

    async with serve_fake(complete_after=0.05) as server, client_for(server) as client:
        got = await client.transcribe_all(sources(), concurrency=2)
        assert [r.index for r in got] == [0, 1, 2, 3, 4]
        assert all(r.ok for r in got)


async def test_per_item_errors_do_not_stop_the_batch(tmp_path: Path) -> None:
    sources: list[Any] = [
        b"good" * 100,
        tmp_path / "missing.mp3",
        "https://example.com/fail.mp3",  # the fake fails jobs whose URL says "fail"
        b"",  # empty: a SourceError before any request
        b"fine" * 100,
    ]
    async with serve_fake(complete_after=0.05) as server, client_for(server) as client:
        got = await client.transcribe_all(sources, concurrency=3)
        assert [r.ok for r in got] == [True, False, False, False, True]
        assert isinstance(got[1].error, ah.SourceError)
        assert got[1].transcript is None
        assert isinstance(got[2].error, ah.JobFailedError)
        assert got[2].error.message == FAILED_JOB_ERROR
        assert isinstance(got[3].error, ah.SourceError)
        for r in got:
            assert (r.transcript is None) != (r.error is None)
        assert server.created_jobs == 3


async def test_fail_fast_raises_the_first_error_unwrapped(tmp_path: Path) -> None:
    def sources() -> Iterator[Any]:
        yield tmp_path / "missing.mp3"
        yield from blobs(50)

    async with serve_fake(complete_after=0.3) as server, client_for(server) as client:
        seen: list[ah.BatchResult] = []

        async def consume() -> None:
            async with client.transcribe_many(sources(), concurrency=4, fail_fast=True) as results:
                async for r in results:
                    seen.append(r)

        with pytest.raises(ah.SourceError, match="missing"):
            await consume()
        assert seen == []
        # the rest was cancelled: far fewer than 50 jobs were ever created
        assert server.created_jobs <= 5
        # and the client still works
        t = await client.transcribe(b"after" * 100)
        assert t.status is ah.TranscriptStatus.COMPLETED

        with pytest.raises(ah.JobFailedError):
            await client.transcribe_all(
                ["https://example.com/fail.mp3", "https://example.com/a.mp3"], fail_fast=True
            )


async def test_leaving_early_cancels_the_rest_and_client_stays_usable() -> None:
    async with serve_fake(complete_after=0.05) as server, client_for(server) as client:
        # item 0 finishes at once; the others' jobs take long to complete
        async def sources() -> AsyncIterator[str]:
            yield "https://example.com/0.mp3"
            await anyio.sleep(0.3)
            server.complete_after = 30.0
            for i in range(20):
                yield f"https://example.com/slow{i}"

        async with client.transcribe_many(sources(), concurrency=21) as results:
            async for r in results:
                assert r.index == 0
                assert r.ok
                break
        # nothing keeps polling after the block: no task outlived it
        # (that nothing polls on afterwards is checked on a virtual clock, in test_timing.py)
        assert_pool_clean(client)
        # the pool is healthy: ordinary calls and a second batch work
        server.complete_after = 0.05
        t = await client.transcribe(b"after" * 100)
        assert t.status is ah.TranscriptStatus.COMPLETED
        got = await client.transcribe_all(blobs(3))
        assert all(r.ok for r in got)
        assert server.errors == []


async def test_exception_in_body_propagates_unwrapped() -> None:
    async with serve_fake(complete_after=0.05) as server, client_for(server) as client:

        async def consume() -> None:
            async with client.transcribe_many(blobs(10), concurrency=4) as results:
                async for _ in results:
                    raise KeyError("boom")

        with pytest.raises(KeyError, match="boom"):
            await consume()
        assert_pool_clean(client)
        assert (await client.transcribe(b"x" * 100)).text


async def test_cancelled_from_outside_leaves_nothing_running() -> None:
    async with serve_fake(complete_after=30) as server, client_for(server) as client:
        with anyio.move_on_after(0.5) as scope:
            await client.transcribe_all([f"https://example.com/{i}" for i in range(10)])
        assert scope.cancelled_caught
        assert_pool_clean(client)
        server.complete_after = 0.05
        assert (await client.transcribe(b"x" * 100)).text


async def test_progress_events_sync_and_async() -> None:
    events: list[ah.BatchEvent] = []
    async_events: list[ah.BatchEvent] = []

    async def record_async(event: ah.BatchEvent) -> None:
        await anyio.lowlevel.checkpoint()
        async_events.append(event)

    sources: list[Any] = [b"a" * 100, "https://example.com/fail.mp3", "https://example.com/u"]
    async with serve_fake(complete_after=0.05) as server, client_for(server) as client:
        await client.transcribe_all(sources, on_event=events.append)
        await client.transcribe_all(sources, on_event=record_async)
    for evs in (events, async_events):
        kinds = {(e.index, e.kind) for e in evs}
        K = ah.BatchEventKind
        assert kinds == {
            (0, K.UPLOADED),
            (0, K.SUBMITTED),
            (0, K.COMPLETED),
            (1, K.SUBMITTED),
            (1, K.FAILED),
            (2, K.SUBMITTED),
            (2, K.COMPLETED),
        }
        by_index = {i: [e for e in evs if e.index == i] for i in range(3)}
        assert [e.kind for e in by_index[0]] == [K.UPLOADED, K.SUBMITTED, K.COMPLETED]
        assert by_index[0][1].transcript_id == by_index[0][2].transcript_id is not None
        assert isinstance(by_index[1][-1].error, ah.JobFailedError)
        assert by_index[2][0].source == "https://example.com/u"
    assert server.errors == []


async def test_upload_and_job_limits_are_respected() -> None:
    in_flight = peak_jobs = 0

    def on_event(e: ah.BatchEvent) -> None:
        nonlocal in_flight, peak_jobs
        if e.kind is ah.BatchEventKind.SUBMITTED:
            in_flight += 1
            peak_jobs = max(peak_jobs, in_flight)
        elif e.kind in (ah.BatchEventKind.COMPLETED, ah.BatchEventKind.FAILED):
            in_flight -= 1

    async with serve_fake(complete_after=0.2) as server, client_for(server) as client:
        seen = count_concurrency(server)
        got = await client.transcribe_all(
            blobs(24), concurrency=6, max_concurrent_uploads=2, on_event=on_event
        )
        assert all(r.ok for r in got)
        assert seen["peak"] == 2  # observed at the server: never more, and it was reached
        assert 1 < peak_jobs <= 6
        # the client's own upload limit also applies when it is the smaller one
    async with (
        serve_fake(complete_after=0.05) as server,
        client_for(server, max_concurrent_uploads=3) as client,
    ):
        seen = count_concurrency(server)
        await client.transcribe_all(blobs(12), concurrency=10)
        assert seen["peak"] == 3


# Poll backoff and the client-wide 429 pause are timed on a virtual clock in test_timing.py.


async def test_a_failing_callback_stops_the_batch_and_is_raised() -> None:
    def on_event(e: ah.BatchEvent) -> None:
        if e.kind is ah.BatchEventKind.SUBMITTED and e.index == 2:
            raise RuntimeError("callback bug")

    async with serve_fake(complete_after=0.3) as server, client_for(server) as client:
        with pytest.raises(RuntimeError, match="callback bug"):
            await client.transcribe_all(
                [f"https://example.com/{i}" for i in range(50)], concurrency=5, on_event=on_event
            )
        # nothing runs after it: test_timing.py checks that on a virtual clock
        assert server.created_jobs < 50
        assert (await client.transcribe(b"x" * 100)).text


async def test_single_source_and_bad_limits_are_usage_errors() -> None:
    async with serve_fake() as server, client_for(server) as client:
        with pytest.raises(ah.UsageError):
            await client.transcribe_all(b"not a list of sources")
        with pytest.raises(ah.UsageError):
            await client.transcribe_all("a.mp3")
        with pytest.raises(ah.UsageError):
            await client.transcribe_all([b"x"], concurrency=0)
        assert server.requests == []


def _list_fault(**kw: Any) -> Fault:
    fault = Fault(method="GET", times=1000, **kw)
    # a plain path prefix would also match GET /v2/transcript/{id}
    fault.matches = lambda method, path: method == "GET" and path == "/v2/transcript"  # type: ignore[method-assign]
    return fault


# Sweeps that see every job (exact request counts) run on a virtual clock: test_timing.py.


async def test_list_polling_falls_back_to_per_job_polls_when_the_list_is_unusable() -> None:
    polling = ah.PollSettings(initial=0.05, multiplier=1.5, max_interval=0.3, timeout=10)
    async with serve_fake(complete_after=0.2) as server, client_for(server) as client:
        broken_list = _list_fault(status=400, body={"error": "nope"})
        server.faults.append(broken_list)
        got = await client.transcribe_all(
            [f"https://example.com/{i}" for i in range(5)], polling=polling, list_polling=True
        )
        assert all(r.ok for r in got)
        # One refusal is enough: every job is polled on its own from then on.
        assert broken_list.hits == 1


async def test_list_polling_outlasts_a_failing_list_by_per_job_polls() -> None:
    # 503s may pass: the list is swept again, and jobs it has not shown for
    # ``patience`` are polled on their own meanwhile.
    async with serve_fake(complete_after=0.2) as server, client_for(server) as client:
        failing_list = _list_fault(status=503, body={"error": "busy"})
        server.faults.append(failing_list)
        got = await client.transcribe_all(
            [f"https://example.com/{i}" for i in range(5)],
            list_polling=ah.ListPollSettings(patience=0.3),
        )
        assert all(r.ok for r in got)
        assert failing_list.hits >= 2  # swept again after a failure, one attempt each


async def test_list_polling_survives_waiters_leaving_during_a_slow_sweep() -> None:
    # Each list request outlasts the waiters' patience: they fall back to
    # polling their own job while the sweep's page is still in flight.
    async with serve_fake(complete_after=0.1) as server, client_for(server) as client:
        slow_list = _list_fault(kind="stall", seconds=0.3)
        server.faults.append(slow_list)
        # In waves, so the batch is still running when a stale page comes back.
        got = await client.transcribe_all(
            [f"https://example.com/{i}" for i in range(12)],
            concurrency=3,
            list_polling=ah.ListPollSettings(patience=0.15),
        )
        assert all(r.ok for r in got)
        assert slow_list.hits >= 1


def _sweeper(polling: ah.PollSettings, waiting: int) -> Any:
    from audio_highlights._polling import ListSweeper, _Listed

    sweeper = ListSweeper(None, polling)  # type: ignore[arg-type]
    waiter = _Listed(changed=None, last_seen=0.0)  # type: ignore[arg-type]
    sweeper.waiters.update({str(i): waiter for i in range(waiting)})
    return sweeper


def test_list_sweeps_are_prompt_for_many_jobs_and_cost_no_more_than_polls_for_few() -> None:
    default = ah.PollSettings()
    one, many = _sweeper(default, 1), _sweeper(default, 1000)
    assert [one.interval(0), one.interval(50)] == [3.0, 10.0]  # one job: as if polled alone
    assert many.interval(0) == 0.5  # 1,000 jobs: 5 pages a sweep, every 0.5 s
    assert many.interval(1) == pytest.approx(0.5 * 1.5)
    assert many.interval(50) == 1.0  # and at most every 1 s while none finishes
    # A client tuned to poll fast sweeps at least as fast.
    assert _sweeper(ah.PollSettings(initial=0.05, max_interval=0.2), 1000).interval(0) == 0.05
    for waiting in (1, 2, 3, 10, 50, 199, 200, 201, 1000, 10_000):
        sweeper = _sweeper(default, waiting)
        pages = waiting // 200 + 1
        for read in range(12):
            sweeper.pages_read = read
            for idle in range(40):
                polls_per_second = waiting / min(3.0 * 1.1**idle, 10.0)
                assert pages / sweeper.interval(idle) <= polls_per_second * (1 + 1e-9)


def test_a_sweep_of_few_pages_comes_back_sooner() -> None:
    # The last jobs of a big batch are a page away: looking for them as
    # often as for the whole batch would cost less, so they are looked for
    # more often. A failed sweep (no page read) is not taken for a cheap one.
    many = _sweeper(ah.PollSettings(), 1000)
    paces = {}
    for read in (0, 1, 2, 4, 6, 8, 20):
        many.pages_read = read
        paces[read] = many.interval(0)
    assert paces == {0: 0.125, 1: 0.125, 2: 0.125, 4: 0.25, 6: 0.375, 8: 0.5, 20: 0.5}
    many.pages_read = 1
    assert many.interval(50) == 1.0  # still at most every 1 s while none finishes
