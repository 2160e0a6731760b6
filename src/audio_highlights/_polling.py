"""The polling layer: waiting for jobs to finish, over the request layer.

Everything about waiting lives here:

- what "finished" means (:func:`settle`: a terminal status, ``error`` raising
  :class:`JobFailedError`), and what a deadline is (:func:`resolve_timeout`);
- the wait schedule of one job (:class:`PollSchedule`: growing, jittered
  intervals, ``Retry-After`` honoured, never past the deadline);
- the per-job wait strategy (:meth:`Poller.wait`);
- the list sweeper (:class:`ListSweeper`): one task that learns about many
  jobs' completion from ``GET /v2/transcript``, for batches;
- status callbacks (:class:`StatusWatch`): one call per change of status.

It uses only :class:`~audio_highlights._api.Requester`'s public methods.
"""

from __future__ import annotations

import inspect
import math
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import anyio
import attrs
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, retry_if_result

from ._api import LIST_PAGE_LIMIT, NO_RETRY, Requester, log, transcript_id
from ._errors import (
    APIStatusError,
    APITimeoutError,
    AudioHighlightsError,
    JobFailedError,
    JobTimeoutError,
    RateLimitError,
)
from ._models import Transcript, TranscriptStatus
from ._retry import is_transient
from ._settings import ListPollSettings, PollSettings, Seconds, UseDefault, grown, to_seconds

__all__ = [
    "ListSweeper",
    "PollSchedule",
    "Poller",
    "StatusCallback",
    "StatusWatch",
    "call_back",
    "resolve_timeout",
    "settle",
]

#: Called as ``on_status(transcript)`` each time a job's status changes
#: (``queued`` → ``processing`` → ``completed``); a plain function or a
#: coroutine function. While a batch watches the list endpoint, the
#: transcript is the list's summary (``id``, ``status``, ``audio_url``).
StatusCallback = Callable[[Transcript], Awaitable[None] | None]

_T = TypeVar("_T")

# A last poll may overrun the deadline by this much, so that a job finishing
# right at the deadline is still seen instead of reported as timed out.
_LAST_POLL_GRACE = 0.5


async def call_back(callback: Callable[[_T], Awaitable[None] | None], value: _T) -> None:
    """Call a user callback that may be a plain function or a coroutine function."""
    outcome = callback(value)
    if inspect.isawaitable(outcome):
        await outcome


def settle(transcript: Transcript) -> Transcript:
    """The outcome of a finished job: the transcript, or :class:`JobFailedError`.

    Raises:
        JobFailedError: The job ended with ``status: "error"``.
    """
    if transcript.status is TranscriptStatus.ERROR:
        raise JobFailedError(transcript)
    return transcript


def resolve_timeout(timeout: Seconds | UseDefault | None, settings: PollSettings) -> float | None:
    """A wait's deadline in seconds: ``timeout``, or the policy's when it is the default."""
    if isinstance(timeout, UseDefault):
        return settings.timeout
    return None if timeout is None else to_seconds(timeout)


class StatusWatch:
    """Calls ``on_status`` once per change of one job's status.

    Args:
        on_status: The callback, or ``None`` (then this only tracks).
        status: The status already known (and so not announced again).
    """

    def __init__(
        self, on_status: StatusCallback | None, status: TranscriptStatus | None = None
    ) -> None:
        self._on_status = on_status
        self.status = status

    async def seen(self, transcript: Transcript) -> None:
        """Record a look at the job; call back if its status changed."""
        if transcript.status is self.status:
            return
        self.status = transcript.status
        if self._on_status is not None:
            await call_back(self._on_status, transcript)


class PollSchedule:
    """The next poll interval: growing, jittered, bounded by the deadline.

    Args:
        settings: The poll policy.
        deadline: Absolute :func:`anyio.current_time` by which waiting ends,
            or ``None``.
        max_retry_after: Cap on a server-requested interval, seconds.
    """

    def __init__(
        self, settings: PollSettings, deadline: float | None, max_retry_after: float = math.inf
    ) -> None:
        self._settings = settings
        self._deadline = deadline
        self._max_retry_after = max_retry_after
        self.retry_after: float | None = None

    def __call__(self, state: RetryCallState) -> float:
        s = self._settings
        base = grown(s.initial, s.multiplier, state.attempt_number - 1, s.max_interval)
        # Jitter never makes an interval shorter than the first: so no job of
        # any length is polled more often than every ``initial`` seconds.
        floor = min(s.initial, s.max_interval)
        delay = max(floor, base * random.uniform(1.0 - s.jitter, 1.0 + s.jitter))
        if self.retry_after is not None:
            delay = min(self.retry_after, self._max_retry_after)
            self.retry_after = None
        if self._deadline is not None:
            delay = min(delay, max(0.0, self._deadline - anyio.current_time()))
        return delay


class Poller:
    """Waits for single jobs by polling ``GET /v2/transcript/{id}``.

    Args:
        api: The request layer.
        settings: The default poll policy.
    """

    def __init__(self, api: Requester, settings: PollSettings) -> None:
        self.api = api
        self.settings = settings

    async def wait(
        self,
        ref: str | Transcript,
        *,
        known: Transcript | None = None,
        timeout: Seconds | UseDefault | None,
        polling: PollSettings | None = None,
        watch: StatusWatch | None = None,
    ) -> Transcript:
        """Poll a job until it finishes or the deadline passes.

        Transient poll failures are retried until the deadline.

        Args:
            ref: The job.
            known: The job as just seen (the submit's response): it counts as
                the first look, saving a poll.
            timeout: The deadline (see :func:`resolve_timeout`).
            polling: Overrides the poll policy.
            watch: Told of every look at the job.

        Raises:
            JobFailedError: The job ended in error.
            JobTimeoutError: The deadline passed first.
        """
        settings = polling or self.settings
        limit = resolve_timeout(timeout, settings)
        tid = transcript_id(ref)
        deadline = None if limit is None else anyio.current_time() + limit
        schedule = PollSchedule(settings, deadline, self.api.retry.max_retry_after)
        watch = watch or StatusWatch(None)
        last: Transcript | None = None
        pending = known
        failed: Exception | None = None

        async def poll_once() -> Transcript:
            nonlocal last, pending, failed
            if failed is not None:
                failure, failed = failed, None
                raise failure
            if pending is not None:
                last, pending = pending, None
            else:
                budget = (
                    None
                    if deadline is None
                    else max(deadline - anyio.current_time(), _LAST_POLL_GRACE)
                )
                try:
                    with anyio.fail_after(budget):
                        last, schedule.retry_after = await self.api.poll(tid)
                except TimeoutError as exc:
                    if isinstance(exc, APITimeoutError):
                        raise
                    raise APITimeoutError(f"poll of {tid} hit the wait deadline") from exc
                except RateLimitError as exc:
                    schedule.retry_after = exc.retry_after
                    raise
            await watch.seen(last)
            return last

        if pending is None:
            # A look right away (a batch's fetch of a job the list showed
            # finished) is most often the last one: the retry loop is set up
            # only if it is not, and counts this look as its first.
            try:
                first = await poll_once()
            except Exception as exc:  # noqa: BLE001 - handed to the retry loop below
                failed = exc
            else:
                if first.status.is_terminal:
                    return settle(first)
                pending = first
        retrying = AsyncRetrying(
            sleep=anyio.sleep,
            wait=schedule,
            stop=lambda _: deadline is not None and anyio.current_time() >= deadline,
            retry=(
                retry_if_result(lambda t: not t.status.is_terminal)
                | retry_if_exception(is_transient)
            ),
            retry_error_callback=lambda state: state,
            reraise=True,
        )
        result: Transcript | RetryCallState = await retrying(poll_once)
        if not isinstance(result, Transcript):
            cause = result.outcome.exception() if result.outcome is not None else None
            assert limit is not None
            raise JobTimeoutError(tid, last.status if last else None, limit) from cause
        return settle(result)


@attrs.define
class _Listed:
    changed: anyio.Event  # set by a sweep when the job's listed status changed
    last_seen: float  # when a sweep last listed the job (or when waiting began)
    status: TranscriptStatus | None = None
    item: Mapping[str, Any] | None = None
    serial: int = 0  # how many waiters the sweeper had seen before this one


# Answers to a list request that say it will not work next time either.
_LIST_UNUSABLE = frozenset({400, 401, 403, 404, 405, 501})

# What a sweep costs is its pages: one that read fewer than this many comes
# back proportionally sooner, down to a quarter of the interval (see
# ListSweeper.interval).
_PAGES_PER_INTERVAL = 8
_SHORTEST_SHARE = 0.25


class ListSweeper:
    """One task that learns about many jobs' completion from the list endpoint.

    Each sweep pages through ``GET /v2/transcript`` (newest first, 200 a page)
    until it has seen every job still waited for, so 1,000 jobs cost about
    five requests a sweep instead of one poll each. A batch's jobs are the
    account's newest, so the unfiltered newest-first pages reach them in the
    fewest requests (a ``status`` filter would need one query per terminal
    status, and would hide the ``processing`` step). List items carry no words
    or highlights, so a job seen finished is still fetched once.

    Args:
        poller: Fetches finished jobs, and waits for those the list loses sight of.
        settings: The poll policy of jobs polled on their own (and the bounds
            of the sweeps' pace, see :class:`ListPollSettings`).
        sweeps: The sweeps' pace and patience.
    """

    def __init__(
        self, poller: Poller, settings: PollSettings, sweeps: ListPollSettings | None = None
    ) -> None:
        self.poller = poller
        self.settings = settings
        self.sweeps = sweeps or ListPollSettings()
        self.waiters: dict[str, _Listed] = {}
        self.wakeup = anyio.Event()
        #: Set once the list has answered in a way that rules it out for good.
        self.unusable: Exception | None = None
        #: The most jobs waiting at once since the sweeps last went idle.
        self.peak = 0
        #: Waiters seen so far, in the order their jobs were submitted.
        self.serial = 0
        #: Pages the last sweep read.
        self.pages_read = _PAGES_PER_INTERVAL

    async def wait(
        self, job: Transcript, *, timeout: Seconds | UseDefault | None, watch: StatusWatch
    ) -> Transcript:
        """Wait for a submitted job through the sweeps, then fetch it once.

        A job the list stops showing for ``patience`` (or every job, once the
        list proves unusable) is polled on its own from then on, with what is
        left of its deadline.

        Raises:
            JobFailedError: The job ended in error.
            JobTimeoutError: The deadline passed first.
        """
        if job.status.is_terminal:
            return await self.poller.wait(job, known=job, timeout=timeout, watch=watch)
        limit = resolve_timeout(timeout, self.settings)
        start = anyio.current_time()
        with anyio.move_on_after(math.inf if limit is None else limit):
            await self.finished(job.id, patience=self.sweeps.patience, watch=watch)
        left = None if limit is None else max(limit - (anyio.current_time() - start), 0.0)
        return await self.poller.wait(job, timeout=left, polling=self.settings, watch=watch)

    async def finished(self, tid: str, *, patience: float, watch: StatusWatch) -> bool:
        """Wait until a sweep lists the job as finished.

        Returns ``True`` then, or ``False`` once no sweep has listed the job
        at all for ``patience`` seconds (a failing or hanging list, or a busy
        account pushing it past the pages a sweep reads), or at once when the
        list is unusable. A job that is listed but still running is waited
        for as long as it takes.
        """
        if self.unusable is not None:
            return False
        waiter = _Listed(changed=anyio.Event(), last_seen=anyio.current_time())
        waiter.status = watch.status
        waiter.serial = self.serial
        self.serial += 1
        self.waiters[tid] = waiter
        self.peak = max(self.peak, len(self.waiters))
        self.wakeup.set()
        try:
            while True:
                with anyio.move_on_after(waiter.last_seen + patience - anyio.current_time()):
                    await waiter.changed.wait()
                if self.unusable is not None:
                    return False
                if waiter.changed.is_set():
                    waiter.changed = anyio.Event()
                    assert waiter.item is not None
                    await watch.seen(Transcript._adopt(waiter.item))
                    if watch.status is not None and watch.status.is_terminal:
                        return True
                # The deadline moves on each time a sweep lists the job.
                elif anyio.current_time() - waiter.last_seen >= patience:
                    return False
        finally:
            self.waiters.pop(tid, None)

    def interval(self, idle_sweeps: int) -> float:
        """Seconds until the next sweep, after ``idle_sweeps`` sweeps in a row finished nothing.

        The sweeps' own pace (``interval``, growing to ``max_interval``;
        after a sweep of fewer than ``_PAGES_PER_INTERVAL`` pages, that share
        of it, down to ``_SHORTEST_SHARE``: the last jobs of a big batch are a
        page or two away, so they are looked for more often at no more
        requests a second),
        slowed so that a sweep (one request per 200 waiting jobs) costs no more
        than polling each job of the batch would, and never slower than one
        job's polls. The batch is the most jobs waiting at once lately, so
        that the last jobs of a big batch are still swept at its pace.
        """
        s, p = self.sweeps, self.settings
        waiting = max(len(self.waiters), self.peak, 1)
        requests_per_job = min(1.0, (waiting // LIST_PAGE_LIMIT + 1) / waiting)
        per_job = grown(p.initial, p.multiplier, idle_sweeps, p.max_interval)
        share = min(1.0, max(self.pages_read / _PAGES_PER_INTERVAL, _SHORTEST_SHARE))
        own = grown(s.interval * share, s.multiplier, idle_sweeps, s.max_interval)
        return min(per_job, max(own, per_job * requests_per_job))

    async def run(self) -> None:
        """Sweep while anyone waits, for ever (cancel it to stop), or until the list is unusable."""
        idle_sweeps = 0
        while self.unusable is None:
            if not self.waiters:
                self.wakeup = anyio.Event()
                self.peak = 0
                await self.wakeup.wait()
                idle_sweeps = 0
            await self._pause(idle_sweeps)
            try:
                finished = await self.sweep()
            except APIStatusError as exc:
                if exc.status_code in _LIST_UNUSABLE:
                    self._give_up(exc)
                    return
                log.debug("list sweep failed: %s", exc)
                finished = 0
            except AudioHighlightsError as exc:
                # Waiters fall back to polling their job on their own, so a
                # list that fails for a while only slows them down.
                log.debug("list sweep failed: %s", exc)
                finished = 0
            # Jobs of a batch tend to finish together: after one, look again soon.
            idle_sweeps = 0 if finished else idle_sweeps + 1

    async def _pause(self, idle_sweeps: int) -> None:
        # The pace depends on how many wait, and a batch's jobs arrive one by
        # one: each arrival wakes this to work the pause out again.
        since = anyio.current_time()
        while True:
            left = since + self.interval(idle_sweeps) - anyio.current_time()
            if left <= 0:
                return
            self.wakeup = anyio.Event()
            with anyio.move_on_after(left):
                await self.wakeup.wait()

    def _give_up(self, error: Exception) -> None:
        log.debug("the list cannot serve sweeps (%s): polling each job", error)
        self.unusable = error
        for waiter in list(self.waiters.values()):
            waiter.changed.set()

    async def sweep(self) -> int:
        """Read the list once and wake the waiters whose job changed; return how many finished."""
        finished = 0
        remaining = set(self.waiters)
        if not remaining:
            return 0
        # Jobs are listed newest first, and the oldest one waited for is the
        # first waiter (dicts keep their order): the sweep reads down to it,
        # past every job submitted since, finished or not, plus a few pages
        # for others created by the same account meanwhile.
        oldest = next(iter(self.waiters.values()))
        budget = (self.serial - oldest.serial) // LIST_PAGE_LIMIT + 2
        # One attempt a page: a failed sweep is simply made again at the next
        # interval, rather than holding every waiter through a retry loop.
        pages = self.poller.api.pages({"limit": LIST_PAGE_LIMIT}, retry=NO_RETRY)
        self.pages_read = 0
        try:
            async for items in pages:
                self.pages_read += 1
                for item in items:
                    tid = item.get("id")
                    if tid not in remaining:
                        continue
                    remaining.discard(tid)
                    # The waiter may have given up while this page was in flight.
                    waiter = self.waiters.get(tid)
                    if waiter is not None:
                        finished += self._listed(waiter, item)
                budget -= 1
                if not remaining or budget == 0:
                    break
        finally:
            await pages.aclose()
        return finished

    @staticmethod
    def _listed(waiter: _Listed, item: Mapping[str, Any]) -> bool:
        waiter.last_seen = anyio.current_time()
        try:
            status = TranscriptStatus(item.get("status"))
        except ValueError:
            return False
        if status is not waiter.status:
            waiter.status, waiter.item = status, item
            waiter.changed.set()
        return status.is_terminal
