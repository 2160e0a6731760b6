"""Fan-out: many transcriptions on one event loop, with bounded concurrency.

A feeder task pulls sources lazily from the caller's (async) iterable into an
unbuffered stream; a pool of workers, started on demand (one per item while
none is idle) up to ``concurrency``, takes them one at a time, so at
most ``concurrency + 1`` sources have been pulled beyond those finished,
whatever the iterable's length. Results go back through a small buffered
stream, which also gives backpressure when the caller reads slowly. All tasks
live in a task group opened by the ``async with``, so none outlives it.
"""

from __future__ import annotations

import contextlib
import enum
import inspect
import logging
import math
import os
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import anyio
import anyio.abc
import anyio.lowlevel
import attrs
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._errors import AudioHighlightsError, UsageError
from ._models import Transcript
from ._settings import PollSettings, Seconds, to_seconds
from ._sources import Source, is_url

if TYPE_CHECKING:
    from ._client import AsyncClient, _UseDefault

_log = logging.getLogger("audio_highlights")
_TERMINAL = frozenset({"completed", "error"})

__all__ = [
    "BatchEvent",
    "BatchEventKind",
    "BatchProgress",
    "BatchResult",
    "BatchResults",
    "run_batch",
]


@attrs.frozen(kw_only=True)
class BatchResult:
    """The outcome of one source of a batch: exactly one of ``transcript``/``error`` is set.

    Attributes:
        index: Position of the source in the input (0-based).
        source: The source as given.
        transcript: The completed transcript, or ``None`` if the item failed.
        error: Why the item failed (an :class:`AudioHighlightsError` such as
            :class:`SourceError`, :class:`JobFailedError`, :class:`JobTimeoutError`),
            or ``None``.
    """

    index: int
    source: Source
    transcript: Transcript | None = None
    error: Exception | None = None

    @property
    def ok(self) -> bool:
        """Whether the item produced a transcript."""
        return self.error is None


class BatchEventKind(str, enum.Enum):
    """What happened to one item of a batch."""

    UPLOADED = "uploaded"
    """The local source was uploaded (never sent for URL sources)."""
    SUBMITTED = "submitted"
    """The job was created; ``transcript_id`` is set."""
    COMPLETED = "completed"
    """The transcript is ready."""
    FAILED = "failed"
    """The item failed; ``error`` is set."""


@attrs.frozen(kw_only=True)
class BatchEvent:
    """A progress event of one item, passed to a batch's ``on_event`` callback.

    Attributes:
        kind: What happened.
        index: Position of the source in the input (0-based).
        source: The source as given.
        transcript_id: The job id, once submitted.
        error: The failure, for ``FAILED`` events.
    """

    kind: BatchEventKind
    index: int
    source: Source
    transcript_id: str | None = None
    error: Exception | None = None


#: A progress callback: a plain function, or a coroutine function, taking a
#: :class:`BatchEvent`. It runs inside the batch's tasks, so it should be quick.
BatchProgress = Callable[[BatchEvent], Awaitable[None] | None]

#: The sources of a batch: an iterable or async iterable of what
#: :meth:`AsyncClient.transcribe` accepts.
BatchSources = Iterable[Source] | AsyncIterable[Source]


class BatchResults(AsyncIterator[BatchResult]):
    """Results of a batch in completion order, as an async iterator.

    Obtained from :meth:`AsyncClient.transcribe_many`; valid only inside its
    ``async with``.
    """

    def __init__(self, receive: MemoryObjectReceiveStream[BatchResult]) -> None:
        self._receive = receive

    def __aiter__(self) -> BatchResults:
        return self

    async def __anext__(self) -> BatchResult:
        try:
            return await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise StopAsyncIteration from None


_LIST_PAGE = 200


@attrs.define
class _Waiter:
    done: anyio.Event
    last_seen: float  # when a sweep last listed the job (or when waiting began)


class _ListPoller:
    """One task that learns about many jobs' completion from the list endpoint.

    Each sweep pages through ``GET /v2/transcript`` (newest first, 200 a page)
    until it has seen every job still waited for, so 1,000 jobs cost about
    five requests a sweep instead of one poll each. List items carry no words
    or highlights, so a job seen finished is still fetched once.
    """

    def __init__(self, client: AsyncClient, settings: PollSettings) -> None:
        self.client = client
        self.settings = settings
        self.waiters: dict[str, _Waiter] = {}
        self.wakeup = anyio.Event()

    async def finished(self, transcript_id: str, *, patience: float) -> bool:
        """Wait until a sweep lists the job as finished.

        Returns ``True`` then, or ``False`` once no sweep has listed the job
        at all for ``patience`` seconds (a failing or hanging list, or a busy
        account pushing it past the pages a sweep reads). A job that is listed
        but still running is waited for as long as it takes.
        """
        waiter = _Waiter(done=anyio.Event(), last_seen=anyio.current_time())
        self.waiters[transcript_id] = waiter
        self.wakeup.set()
        try:
            while True:
                with anyio.move_on_after(waiter.last_seen + patience - anyio.current_time()):
                    await waiter.done.wait()
                    return True
                # The deadline moves on each time a sweep lists the job.
                if anyio.current_time() - waiter.last_seen >= patience:
                    return False
        finally:
            self.waiters.pop(transcript_id, None)

    def interval(self, idle_sweeps: int) -> float:
        """Seconds until the next sweep, after ``idle_sweeps`` sweeps in a row finished nothing.

        Sweeps back off like one job's polls, up to a cap that keeps their
        cost at or below polling each waiting job every ``max_interval``: a
        sweep reads one page per 200 jobs, so with many jobs waiting the cap
        stays at ``initial`` and a finished job is seen within it.
        """
        s = self.settings
        waiting = max(len(self.waiters), 1)
        pages = waiting // _LIST_PAGE + 1
        cap = min(s.max_interval, max(s.initial, s.max_interval * pages / waiting))
        return min(cap, s.initial * s.multiplier**idle_sweeps)

    async def run(self) -> None:
        idle_sweeps = 0
        while True:
            if not self.waiters:
                self.wakeup = anyio.Event()
                await self.wakeup.wait()
                idle_sweeps = 0
            await anyio.sleep(self.interval(idle_sweeps))
            try:
                finished = await self.sweep()
            except AudioHighlightsError as exc:
                # Waiters fall back to polling their job on their own, so a
                # list that fails for a while only slows them down.
                _log.debug("list sweep failed: %s", exc)
                finished = 0
            # Jobs of a batch tend to finish together: after one, look again soon.
            idle_sweeps = 0 if finished else idle_sweeps + 1

    async def sweep(self) -> int:
        """Read the list once and wake the waiters of finished jobs; return how many."""
        finished = 0
        remaining = set(self.waiters)
        params: dict[str, Any] = {"limit": _LIST_PAGE}
        # Our jobs are among the newest; a few extra pages allow for others
        # created by the same account meanwhile.
        for _ in range(len(remaining) // _LIST_PAGE + 2):
            if not remaining:
                return finished
            reply = await self.client._send("GET", "/v2/transcript", params=params)
            data = reply.data if isinstance(reply.data, Mapping) else {}
            items = data.get("transcripts")
            if not isinstance(items, list) or not items:
                return finished
            for item in items:
                if not isinstance(item, Mapping):
                    continue
                tid = item.get("id")
                if tid in remaining:
                    remaining.discard(tid)
                    # The waiter may have given up while this page was in flight.
                    waiter = self.waiters.get(tid)
                    if waiter is None:
                        continue
                    waiter.last_seen = anyio.current_time()
                    if item.get("status") in _TERMINAL:
                        waiter.done.set()
                        finished += 1
            details = data.get("page_details")
            prev_url = details.get("prev_url") if isinstance(details, Mapping) else None
            if not isinstance(prev_url, str) or not prev_url:
                return finished
            # Only the query is used, so the key never goes to another host.
            params = dict(parse_qsl(urlsplit(prev_url).query))
        return finished


class _Batch:
    def __init__(
        self,
        client: AsyncClient,
        *,
        upload_limiter: anyio.CapacityLimiter,
        fail_fast: bool,
        on_event: BatchProgress | None,
        timeout: Seconds | _UseDefault | None,
        polling: PollSettings | None,
        fields: dict[str, Any],
        poller: _ListPoller | None,
    ) -> None:
        self.client = client
        self.poller = poller
        self.upload_limiter = upload_limiter
        self.fail_fast = fail_fast
        self.on_event = on_event
        self.timeout = timeout
        self.polling = polling
        self.fields = fields
        self.failure: Exception | None = None
        self.group: anyio.abc.TaskGroup | None = None
        self.workers = 0  # started so far
        self.idle = 0  # started and not busy with an item

    def stop(self, error: Exception) -> None:
        """Record the batch's failure (the first one wins) and cancel all its tasks."""
        if self.failure is None:
            self.failure = error
        if self.group is not None:
            self.group.cancel_scope.cancel()

    async def emit(self, event: BatchEvent) -> None:
        if self.on_event is None:
            return
        try:
            outcome = self.on_event(event)
            if inspect.isawaitable(outcome):
                await outcome
        except Exception as exc:
            # A failing callback is a bug in the caller's code, not a failed
            # item: stop the batch and raise it from the ``async with``.
            self.stop(exc)
            await anyio.lowlevel.checkpoint()  # delivers the cancellation
            raise

    def spawn(
        self,
        items: MemoryObjectReceiveStream[tuple[int, Source]],
        results: MemoryObjectSendStream[BatchResult],
        concurrency: int,
    ) -> None:
        """Start a worker if none is idle and the limit allows.

        Workers start on demand rather than all up front: a hundred small
        batches at once would otherwise start ``100 * concurrency`` tasks and
        stall the event loop doing so.
        """
        if self.idle == 0 and self.workers < concurrency:
            assert self.group is not None
            self.workers += 1
            self.idle += 1
            self.group.start_soon(self.work, items, results.clone())

    async def feed(
        self,
        sources: BatchSources,
        send: MemoryObjectSendStream[tuple[int, Source]],
        items: MemoryObjectReceiveStream[tuple[int, Source]],
        results: MemoryObjectSendStream[BatchResult],
        concurrency: int,
    ) -> None:
        # Holding ``results`` open until every source is handed out keeps the
        # result stream alive for workers not yet started.
        async with send, results:
            if isinstance(sources, AsyncIterable):
                index = 0
                async for source in sources:
                    self.spawn(items, results, concurrency)
                    await send.send((index, source))
                    index += 1
            else:
                for index, source in enumerate(sources):
                    self.spawn(items, results, concurrency)
                    # Unbuffered: this blocks until a worker is free, so the
                    # iterable is consumed only as fast as work gets done.
                    await send.send((index, source))

    async def work(
        self,
        items: MemoryObjectReceiveStream[tuple[int, Source]],
        results: MemoryObjectSendStream[BatchResult],
    ) -> None:
        async with results:
            async for index, source in items:
                self.idle -= 1
                result = await self.run_one(index, source)
                if result.error is not None and self.fail_fast:
                    self.stop(result.error)
                    return
                await results.send(result)
                self.idle += 1

    async def failed(self, index: int, source: Source, error: Exception) -> BatchResult:
        await self.emit(
            BatchEvent(kind=BatchEventKind.FAILED, index=index, source=source, error=error)
        )
        return BatchResult(index=index, source=source, error=error)

    async def wait(self, job: Transcript) -> Transcript:
        client = self.client
        if self.poller is None or job.status.is_terminal:
            return await client._wait(job, known=job, timeout=self.timeout, polling=self.polling)
        # Imported here: _client imports this module.
        from ._client import _UseDefault

        settings = self.polling or client._poll
        limit = settings.timeout if isinstance(self.timeout, _UseDefault) else self.timeout
        limit = None if limit is None else to_seconds(limit)
        start = anyio.current_time()
        # A job the list stops showing for a poll interval's worth of time is
        # polled on its own from then on, with what is left of its deadline.
        with anyio.move_on_after(math.inf if limit is None else limit):
            await self.poller.finished(job.id, patience=settings.max_interval)
        left = None if limit is None else max(limit - (anyio.current_time() - start), 0.0)
        return await client._wait(job, known=None, timeout=left, polling=self.polling)

    # One bad item must not end a batch of thousands, whatever it raised: each
    # step's error is handed back in the item's result. Cancellation is not an
    # Exception and still passes through; callbacks run outside the ``try``s
    # so that their own errors are not mistaken for the item's.
    async def run_one(self, index: int, source: Source) -> BatchResult:
        client = self.client
        if is_url(source):
            assert isinstance(source, str)
            audio_url = source
        else:
            try:
                # The batch's own limiter, on top of the client's, so a batch
                # can keep fewer uploads in flight than jobs.
                async with self.upload_limiter:
                    audio_url = await client.upload(source)
            except Exception as exc:  # noqa: BLE001
                return await self.failed(index, source, exc)
            await self.emit(BatchEvent(kind=BatchEventKind.UPLOADED, index=index, source=source))
        try:
            job = await client.submit(audio_url, **self.fields)
        except Exception as exc:  # noqa: BLE001
            return await self.failed(index, source, exc)
        await self.emit(
            BatchEvent(
                kind=BatchEventKind.SUBMITTED, index=index, source=source, transcript_id=job.id
            )
        )
        try:
            transcript = await self.wait(job)
        except Exception as exc:  # noqa: BLE001
            return await self.failed(index, source, exc)
        await self.emit(
            BatchEvent(
                kind=BatchEventKind.COMPLETED,
                index=index,
                source=source,
                transcript_id=transcript.id,
            )
        )
        return BatchResult(index=index, source=source, transcript=transcript)


@contextlib.asynccontextmanager
async def run_batch(
    client: AsyncClient,
    sources: BatchSources,
    *,
    concurrency: int,
    max_concurrent_uploads: int | None,
    fail_fast: bool,
    on_event: BatchProgress | None,
    timeout: Seconds | _UseDefault | None,
    polling: PollSettings | None,
    fields: dict[str, Any],
    list_polling: bool = False,
) -> AsyncIterator[BatchResults]:
    """Run a batch for the duration of an ``async with``; see :meth:`AsyncClient.transcribe_many`.

    Raises:
        UsageError: ``sources`` is a single source, or a limit is below 1.
    """
    if isinstance(sources, (str, bytes, bytearray, memoryview, os.PathLike)):
        raise UsageError("sources must be an iterable of sources, not a single source")
    if not isinstance(sources, (Iterable, AsyncIterable)):
        raise UsageError(f"sources must be an iterable or async iterable, got {type(sources)!r}")
    uploads = concurrency if max_concurrent_uploads is None else max_concurrent_uploads
    if concurrency < 1 or uploads < 1:
        raise UsageError("concurrency and max_concurrent_uploads must be at least 1")
    batch = _Batch(
        client,
        upload_limiter=anyio.CapacityLimiter(uploads),
        fail_fast=fail_fast,
        on_event=on_event,
        timeout=timeout,
        polling=polling,
        fields=fields,
        poller=_ListPoller(client, polling or client._poll) if list_polling else None,
    )
    item_send, item_receive = anyio.create_memory_object_stream[tuple[int, Source]](0)
    result_send, result_receive = anyio.create_memory_object_stream[BatchResult](concurrency)
    body_error: Exception | None = None
    # The streams close after the task group has finished, so no worker ever
    # sees a closed stream: cancellation is the only way they stop early.
    async with item_receive, result_receive, anyio.create_task_group() as group:
        batch.group = group
        if batch.poller is not None:
            group.start_soon(batch.poller.run)
        group.start_soon(batch.feed, sources, item_send, item_receive, result_send, concurrency)
        try:
            yield BatchResults(result_receive)
        # Taken out of the task group and re-raised below, so the caller sees
        # its own exception rather than an ExceptionGroup wrapping it.
        except Exception as exc:  # noqa: BLE001
            body_error = exc
        finally:
            # Leaving the block early (break, error, cancellation) stops the
            # work that is left; after a normal end there is none.
            group.cancel_scope.cancel()
    if body_error is not None:
        raise body_error
    if batch.failure is not None:
        raise batch.failure
