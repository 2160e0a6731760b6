"""Submit reconciliation: a submit whose answer was lost is looked up in the list before it is
resent, so no job is lost and none is duplicated, against a server that ignores
``Idempotency-Key`` (the hosted API documents no such header)."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

import audio_highlights as ah
from audio_highlights._reconcile import parse_created
from fakeserver import FakeServer, Fault, serve_fake

pytestmark = pytest.mark.anyio

QUICK = ah.RetrySettings(initial=0.01, max_backoff=0.02, list_lag=0.3)
URL = "https://example.com/a.mp3"


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    async with serve_fake(api_key="k", complete_after=0.05, idempotency=False) as fake:
        yield fake


def client(server: FakeServer, **options: Any) -> ah.AsyncClient:
    options.setdefault("retry", QUICK)
    return ah.AsyncClient(api_key="k", base_url=server.base_url, **options)


def submits(server: FakeServer) -> int:
    return sum(1 for r in server.requests if r.method == "POST" and r.path == "/v2/transcript")


def lists(server: FakeServer) -> int:
    return sum(1 for r in server.requests if r.method == "GET" and r.path == "/v2/transcript")


def submit_fault(kind: str, **options: Any) -> Fault:
    return Fault(kind=kind, method="POST", path="/v2/transcript", **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("fault", [
    submit_fault("respond_after", status=500, body={"error": "boom"}),
    submit_fault("respond_after", status=503, body=b"<html>bad gateway</html>"),
    submit_fault("respond_after", status=200, body=b'{"id": "abc", "sta'),  # garbled
    submit_fault("close_after"),  # dropped after the job was created
], ids=["500", "503-html", "garbled-200", "dropped"])
async def test_job_created_before_the_failure_is_adopted(server: FakeServer, fault: Fault) -> None:
    server.faults = [dataclasses.replace(fault, hits=0)]  # the parameter serves both backends
    async with client(server) as c:
        job = await c.submit(URL)
        stats = c._api.reconcile_stats
    assert server.created_jobs == 1 and submits(server) == 1
    assert job.id in server.jobs and job.audio_url == URL
    assert stats.adopted == 1 and stats.resubmitted == 0


async def test_job_not_created_is_submitted_again_once(server: FakeServer) -> None:
    server.faults = [submit_fault("respond", status=500, body={"error": "before"}),
                     submit_fault("close")]
    async with client(server) as c:
        job = await c.transcribe(URL)
        stats = c._api.reconcile_stats
    assert job.status is ah.TranscriptStatus.COMPLETED
    assert server.created_jobs == 1 and submits(server) == 3
    assert stats.adopted == 0 and stats.resubmitted == 2


async def test_a_lagging_list_is_waited_out(server: FakeServer) -> None:
    """The list shows a job 0.2 s after it is made: the first look misses it, the look made
    ``list_lag`` after the failure finds it."""
    server.list_lag = 0.2
    server.faults = [submit_fault("respond_after", status=500, body={"error": "boom"})]
    async with client(server) as c:
        start = anyio.current_time()
        await c.submit(URL)
        took = anyio.current_time() - start
        stats = c._api.reconcile_stats
    assert server.created_jobs == 1 and stats.looks == 2 and stats.adopted == 1
    assert took >= QUICK.list_lag


async def test_a_later_job_of_the_client_proves_the_list_caught_up(server: FakeServer) -> None:
    """Absence is settled at once when the list already shows a job sent after the failure
    (here the look is slow to answer, and another submit gets in meanwhile)."""
    server.faults = [
        submit_fault("respond", status=500, body={"error": "before"}),
        Fault(kind="stall", method="GET", path="/v2/transcript", seconds=0.5),
    ]
    async with client(server, retry=ah.RetrySettings(initial=0.01, list_lag=30)) as c:
        with anyio.fail_after(10):  # not the 30 s of list_lag
            async with anyio.create_task_group() as tg:
                tg.start_soon(c.submit, URL)
                await anyio.sleep(0.2)
                tg.start_soon(c.submit, "https://example.com/later.mp3")
        assert c._api.reconcile_stats.looks == 1
    assert server.created_jobs == 2


async def test_an_older_job_with_the_same_url_is_not_adopted(server: FakeServer) -> None:
    """The same URL again from the same client: its earlier job bounds the look."""
    async with client(server) as c:
        old = await c.submit(URL)
        server.faults = [submit_fault("respond", status=500, body={"error": "before"})]
        new = await c.submit(URL)
    assert new.id != old.id and server.created_jobs == 2
    # Each look reads one page, stopped at the earlier job; two looks, list_lag apart.
    assert lists(server) == 2


async def test_fresh_client_same_url_limit(server: FakeServer) -> None:
    """The documented limit: a client that has created no job yet cannot tell its lost job
    from the account's newest job when that one has the same URL (the list shows nothing
    else to tell them apart), and adopts it. Uploads are unaffected: their URL is unique."""
    async with client(server) as first:
        old = await first.submit(URL)
    server.faults = [submit_fault("respond", status=500, body={"error": "before"})]
    async with client(server) as again:
        adopted = await again.submit(URL)
    assert adopted.id == old.id and server.created_jobs == 1


async def test_same_url_again_after_a_dropped_submit(server: FakeServer) -> None:
    async with client(server) as c:
        old = await c.submit(URL)
        server.faults = [submit_fault("close")]
        new = await c.submit(URL)
    assert new.id != old.id and server.created_jobs == 2


async def test_undecided_raises_the_submit_error(server: FakeServer) -> None:
    """If the list cannot be read, the job may exist: the submit's error, not a resend."""
    retry = ah.RetrySettings(initial=0.01, max_backoff=0.02, max_retries=2)
    server.faults = [
        submit_fault("respond_after", status=500, body={"error": "boom"}),
        Fault(method="GET", path="/v2/transcript", status=503, times=100, body={"error": "x"}),
    ]
    async with client(server, retry=retry) as c:
        with pytest.raises(ah.ServerError, match="boom") as info:
            await c.submit(URL)
        assert c._api.reconcile_stats.undecided == 1
    assert server.created_jobs == 1 and submits(server) == 1
    if sys.version_info >= (3, 11):
        assert any("may exist" in note for note in info.value.__notes__)


async def test_retries_run_out_with_no_job_created(server: FakeServer) -> None:
    retry = ah.RetrySettings(initial=0.01, max_backoff=0.02, max_retries=2, list_lag=0)
    server.faults = [submit_fault("respond", status=500, times=10, body={"error": "down"})]
    async with client(server, retry=retry) as c:
        with pytest.raises(ah.ServerError, match="down"):
            await c.submit(URL)
    assert server.created_jobs == 0 and submits(server) == 3


async def test_reconcile_off_raises_at_once(server: FakeServer) -> None:
    server.faults = [submit_fault("respond_after", status=500, body={"error": "boom"})]
    retry = ah.RetrySettings(reconcile_submit=False)
    async with client(server, retry=retry) as c:
        with pytest.raises(ah.ServerError):
            await c.submit(URL)
    assert lists(server) == 0 and server.created_jobs == 1


async def test_idempotent_submit_resends_plainly() -> None:
    async with serve_fake(api_key="k") as server:
        server.faults = [submit_fault("respond_after", status=500, body={"error": "boom"})]
        retry = ah.RetrySettings(initial=0.01, idempotent_submit=True)
        async with client(server, retry=retry) as c:
            await c.submit(URL)
    assert lists(server) == 0 and submits(server) == 2 and server.created_jobs == 1


def test_parse_created_forms() -> None:
    assert str(parse_created("2024-03-11T21:29:59.936851")) == "2024-03-11 21:29:59.936851"
    assert str(parse_created("2024-03-11T21:29:59Z")) == "2024-03-11 21:29:59"
    assert str(parse_created("2024-03-11T21:29:59.1+02:00")) == "2024-03-11 19:29:59.100000"
    assert str(parse_created("2024-03-11T21:29:59.123456789")) == "2024-03-11 21:29:59.123456"
    for bad in (None, "", "yesterday", "2024-13-40T00:00:00", 12):
        assert parse_created(bad) is None
