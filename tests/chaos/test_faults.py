"""The SDK under injected faults: nothing lost, nothing duplicated, nothing leaked.

The fake API (tests/fakeserver.py) runs in random fault mode: a share of all requests
gets a 429 with ``Retry-After``, a 500/502/503/504, a connection reset before or after the
request was processed, a 500 after the job was created, a stall, or a truncated/garbled
body. The batches run with the client's default settings against a server that honours
``Idempotency-Key`` and one that ignores it (submits are reconciled through the list), and
with ``idempotent_submit=True`` (plain retries, the engine's setting). The fast run does 100
jobs per backend; ``nox -s chaos`` does 1,000. Figures, with the list requests that
reconciliation cost, are printed (run with ``-s``) and recorded in docs/reliability.md.
"""

from __future__ import annotations

import gc
import os
import random
import time
from collections import Counter
from typing import Any

import anyio
import pytest

import audio_highlights as ah
from fakeserver import FakeServer, serve_fake

pytestmark = pytest.mark.anyio

KEY = "sk-chaos-0123456789abcdef"
FAULT_RATE = 0.2
STALL = 1.2  # the fake's stall; the quick configuration's read timeout is below it
# Not much below: on a loaded 2-core machine the event loop (client and fake share it) can
# lag by a few hundred ms, and a tighter timeout then fails requests that did nothing wrong.
QUICK_TIMEOUT = 0.8
# The default ten attempts: a request failing ten times running at 20 % (p = 1e-7) is no worry.
RETRY = ah.RetrySettings(
    initial=0.01, max_backoff=0.05, max_retry_after=0.1, idempotent_submit=True
)
POLL = ah.PollSettings(initial=0.05, multiplier=1.5, max_interval=0.2, timeout=120)


def open_fds() -> int:
    """Open file descriptors of this process (Linux)."""
    return len(os.listdir("/proc/self/fd"))


def backend() -> str:
    """The running event loop's library (sniffio is not always installed)."""
    try:
        import trio

        trio.lowlevel.current_task()
    except (ImportError, RuntimeError):
        return "asyncio"
    return "trio"


def live_tasks() -> int:
    """Tasks alive in the current event loop, on either backend."""
    if backend() == "trio":
        import trio

        def count(task: Any) -> int:
            return 1 + sum(count(t) for n in task.child_nurseries for t in n.child_tasks)

        return count(trio.lowlevel.current_root_task())
    import asyncio

    return len(asyncio.all_tasks())


async def settle(predicate: Any, timeout: float) -> bool:
    """Wait up to ``timeout`` for ``predicate()``, collecting garbage between looks."""
    with anyio.move_on_after(timeout):
        while not predicate():
            gc.collect()
            await anyio.sleep(0.05)
        return True
    return False


async def run_batch_under_faults(
    n: int,
    *,
    retry: ah.RetrySettings | None,
    seed: int,
    list_polling: bool = False,
    idempotency: bool = True,
) -> tuple[FakeServer, ah.AsyncClient, list[ah.BatchResult], float, dict[str, int]]:
    """Transcribe ``n`` uploads through ``transcribe_many`` under 20 % faults; check leaks.

    ``retry=None`` runs the client with its default settings throughout (timeouts, retries,
    polling); otherwise with quick timeouts and the given retry policy.
    """
    gc.collect()
    fds_before, tasks_before = open_fds(), live_tasks()
    rnd = random.Random(seed)
    sources = [rnd.randbytes(2048) + i.to_bytes(4, "big") for i in range(n)]
    started = time.monotonic()
    async with serve_fake(
        api_key=KEY, complete_after=0.05, fault_rate=FAULT_RATE, seed=seed, stall_seconds=STALL,
        idempotency=idempotency,
    ) as server:
        options: dict[str, Any] = {} if retry is None else {
            "timeout": QUICK_TIMEOUT, "retry": retry, "polling": POLL
        }
        client = ah.AsyncClient(api_key=KEY, base_url=server.base_url, **options)
        async with client:
            results = await client.transcribe_all(
                sources, concurrency=64, list_polling=list_polling
            )
        wall = time.monotonic() - started
        # Every pooled connection is closed by aclose(); the fake notices each hang-up
        # (a stalled handler only after its stall).
        assert await settle(lambda: server.open_connections == 0, STALL + 5), (
            server.open_connections
        )
    leaks = {"fds": 0, "tasks": 0}
    await settle(lambda: open_fds() <= fds_before and live_tasks() <= tasks_before, 5)
    leaks = {"fds": open_fds() - fds_before, "tasks": live_tasks() - tasks_before}
    assert not server.errors, server.errors
    return server, client, results, wall, leaks


def report(label: str, n: int, server: FakeServer, client: ah.AsyncClient,
           results: list[ah.BatchResult], wall: float, leaks: dict[str, int]) -> None:
    failed = Counter(type(r.error).__name__ for r in results if r.error is not None)
    lists = sum(1 for r in server.requests if r.method == "GET" and r.path == "/v2/transcript")
    stats = client._api.reconcile_stats
    print(
        f"\n[{label} {backend()}] jobs={n} requests={len(server.requests)} "
        f"faults={server.faults_injected} {dict(sorted(server.injected.items()))} "
        f"created={server.created_jobs} failed={dict(failed)} leaks={leaks} wall={wall:.2f}s "
        f"list_requests={lists} reconcile={stats}"
    )


def check_all_done_once(n: int, server: FakeServer, results: list[ah.BatchResult],
                        leaks: dict[str, int]) -> None:
    """Every input completed, by exactly one job; the faults really happened; nothing leaked."""
    assert [r.error for r in results if r.error is not None] == []
    assert all(r.transcript is not None and r.transcript.status is ah.TranscriptStatus.COMPLETED
               for r in results)
    # Exactly one job per input: no retried submit created a second one.
    assert server.created_jobs == n
    audio_urls = [job.request["audio_url"] for job in server.jobs.values()]
    assert len(set(audio_urls)) == n
    assert len({r.transcript.id for r in results if r.transcript}) == n
    assert server.faults_injected >= n * FAULT_RATE  # the faults really happened
    assert server.injected.get("500_after", 0) > 0 and server.injected.get("reset_after", 0) > 0
    assert leaks == {"fds": 0, "tasks": 0}


async def check_idempotent(n: int, seed: int, *, list_polling: bool = False) -> None:
    """``idempotent_submit=True`` against a server that honours Idempotency-Key: plain retries."""
    server, client, results, wall, leaks = await run_batch_under_faults(
        n, retry=RETRY, seed=seed, list_polling=list_polling
    )
    report(f"idempotent_submit list_polling={list_polling}", n, server, client, results, wall,
           leaks)
    check_all_done_once(n, server, results, leaks)
    assert client._api.reconcile_stats.looks == 0


async def check_defaults(n: int, seed: int, *, idempotency: bool) -> None:
    """Default client settings, against a server that does or does not honour Idempotency-Key:
    submits that may have created their job are reconciled through the list."""
    server, client, results, wall, leaks = await run_batch_under_faults(
        n, retry=None, seed=seed, idempotency=idempotency
    )
    report(f"defaults server_idempotency={idempotency}", n, server, client, results, wall, leaks)
    check_all_done_once(n, server, results, leaks)
    stats = client._api.reconcile_stats
    assert stats.adopted > 0 and stats.resubmitted > 0 and stats.undecided == 0


@pytest.mark.slow
async def test_100_jobs_under_faults_idempotent_submit() -> None:
    await check_idempotent(100, seed=7)


@pytest.mark.slow
async def test_100_jobs_under_faults_defaults_server_ignores_idempotency_key() -> None:
    await check_defaults(100, seed=11, idempotency=False)


@pytest.mark.slow
async def test_100_jobs_under_faults_defaults_server_honours_idempotency_key() -> None:
    await check_defaults(100, seed=12, idempotency=True)


@pytest.mark.slow
async def test_100_jobs_under_faults_list_polling() -> None:
    await check_idempotent(100, seed=13, list_polling=True)


@pytest.mark.chaos
async def test_1000_jobs_under_faults_idempotent_submit() -> None:
    await check_idempotent(1000, seed=1000)


@pytest.mark.chaos
async def test_1000_jobs_under_faults_list_polling() -> None:
    await check_idempotent(1000, seed=1002, list_polling=True)


@pytest.mark.chaos
async def test_1000_jobs_under_faults_defaults_server_ignores_idempotency_key() -> None:
    await check_defaults(1000, seed=1001, idempotency=False)


@pytest.mark.chaos
async def test_1000_jobs_under_faults_defaults_server_honours_idempotency_key() -> None:
    await check_defaults(1000, seed=1003, idempotency=True)


# ---------------------------------------------------------------- cancellation


async def cancellation_storm(calls: int, seed: int) -> None:
    rnd = random.Random(seed)
    async with serve_fake(
        api_key=KEY, complete_after=0.05, fault_rate=0.1, seed=seed, stall_seconds=STALL
    ) as server:
        client = ah.AsyncClient(
            api_key=KEY, base_url=server.base_url, timeout=0.3, retry=RETRY, polling=POLL,
            max_concurrency=16, max_concurrent_uploads=4,
        )
        async with client:
            seed_job = await client.submit("https://example.com/seed.mp3")
            cancelled = 0

            async def one(i: int) -> None:
                nonlocal cancelled
                # Calls start over a spread of time and are cancelled at a random moment of
                # their life: mid-connect, mid-upload, mid-poll, mid-retry-sleep.
                await anyio.sleep(rnd.uniform(0, calls / 500))
                with anyio.move_on_after(rnd.uniform(0, 0.3)) as scope:
                    kind = i % 4
                    if kind == 0:
                        await client.upload(rnd.randbytes(4096))
                    elif kind == 1:
                        await client.transcribe(f"https://example.com/{i}.mp3")
                    elif kind == 2:
                        await client.get(seed_job.id)
                    else:
                        await client.transcribe_all([f"https://example.com/b{i}-{j}.mp3"
                                                     for j in range(3)])
                cancelled += scope.cancelled_caught

            async with anyio.create_task_group() as tg:
                for i in range(calls):
                    tg.start_soon(one, i)
            print(f"\n[cancellation {backend()}] calls={calls} "
                  f"cancelled={cancelled} requests={len(server.requests)} "
                  f"faults={server.faults_injected}")
            # Cancellations happened (on a loaded machine nearly every call is cancelled
            # before it finishes, so "some finished" is not asserted).
            assert cancelled > 0
            # Afterwards, with the faults off, normal calls just work.
            server.fault_rate = 0.0
            with anyio.fail_after(20):
                for i in range(10):
                    assert (await client.get(seed_job.id)).id == seed_job.id
                    await client.upload(b"abc")
                    t = await client.transcribe(f"https://example.com/after-{i}.mp3")
                    assert t.status is ah.TranscriptStatus.COMPLETED
        assert await settle(lambda: server.open_connections == 0, STALL + 5)


async def test_cancellation_storm_then_normal_calls() -> None:
    await cancellation_storm(300, seed=3)


@pytest.mark.chaos
async def test_cancellation_storm_large() -> None:
    await cancellation_storm(2000, seed=4)


async def test_deadline_expiry_leaves_job_resumable_by_id() -> None:
    async with serve_fake(api_key=KEY, complete_after=1.0, fault_rate=0.2, seed=5,
                          stall_seconds=STALL) as server:
        client = ah.AsyncClient(api_key=KEY, base_url=server.base_url, timeout=0.3,
                                retry=RETRY, polling=POLL)
        async with client:
            with pytest.raises(ah.JobTimeoutError) as info:
                await client.transcribe("https://example.com/slow.mp3", timeout=0.2)
            tid = info.value.transcript_id
            assert tid in server.jobs
            with anyio.fail_after(30):
                done = await client.wait(tid, timeout=20)
            assert done.id == tid and done.status is ah.TranscriptStatus.COMPLETED
            assert server.created_jobs == 1
