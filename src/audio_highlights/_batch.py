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
import functools
import os
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
)
from typing import Any, ParamSpec

import anyio
import anyio.abc
import anyio.lowlevel
import attrs
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._api import Requester
from ._errors import UsageError
from ._models import Transcript, TranscriptStatus
from ._options import TranscriptOptions, merge_options
from ._polling import ListSweeper, Poller, StatusWatch, call_back
from ._settings import DEFAULT, ListPollSettings, PollSettings, Seconds, UseDefault
from ._sources import Source, is_url

__all__ = [
    "BatchEvent",
    "BatchEventKind",
    "BatchOptions",
    "BatchProgress",
    "BatchResult",
    "BatchResults",
    "BatchMethods",
    "BatchSources",
    "in_input_order",
    "run_batch",
]

_P = ParamSpec("_P")


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

    UPLOADING = "uploading"
    """The local source started uploading (only with ``status_events=True``)."""
    UPLOADED = "uploaded"
    """The local source was uploaded (never sent for URL sources)."""
    SUBMITTED = "submitted"
    """The job was created; ``transcript_id`` and ``status`` (usually ``queued``) are set."""
    STATUS = "status"
    """The job's status changed while waiting, e.g. to ``processing``; ``status`` is
    set (only with ``status_events=True``)."""
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
        status: The job's status, once submitted (``SUBMITTED``, ``STATUS``,
            ``COMPLETED``, and ``FAILED`` after the submit).
    """

    kind: BatchEventKind
    index: int
    source: Source
    transcript_id: str | None = None
    error: Exception | None = None
    status: TranscriptStatus | None = None


#: A progress callback: a plain function, or a coroutine function, taking a
#: :class:`BatchEvent`. It runs inside the batch's tasks, so it should be quick.
BatchProgress = Callable[[BatchEvent], Awaitable[None] | None]

#: The sources of a batch: an iterable or async iterable of what
#: :meth:`AsyncClient.transcribe` accepts.
BatchSources = Iterable[Source] | AsyncIterable[Source]


class BatchResults(AsyncIterator[BatchResult]):
    """Results of a batch in completion order, as an async iterator.

    Obtained from :meth:`AsyncClient.transcribe_many`; valid only inside its
    ``async with``. A result that is already waiting is handed over without
    letting other tasks run first (cancellation is still checked), so a reader
    keeps up with workers that finish many items at once.
    """

    def __init__(self, receive: MemoryObjectReceiveStream[BatchResult]) -> None:
        self._receive = receive

    def __aiter__(self) -> BatchResults:
        return self

    async def __anext__(self) -> BatchResult:
        # Results already waiting are handed over without a schedule point.
        # The workers can finish dozens of items in one turn of the event loop,
        # and a reader that yields after each one gets one item a turn: a
        # backlog of finished transcripts would build up faster than it is
        # read, all of them alive at once. Cancellation is still checked on
        # every item, and an empty buffer waits as usual.
        await anyio.lowlevel.checkpoint_if_cancelled()
        try:
            try:
                return self._receive.receive_nowait()
            except anyio.WouldBlock:
                return await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise StopAsyncIteration from None


def _at_least_one(_: Any, attribute: attrs.Attribute[Any], value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise UsageError(f"{attribute.name} must be an int of at least 1, got {value!r}")


@attrs.frozen(kw_only=True)
class BatchOptions:
    """How a batch runs: the options of :meth:`AsyncClient.transcribe_many`, in one object.

    Each attribute is the argument of the same name, documented there.
    """

    concurrency: int = attrs.field(default=64, validator=_at_least_one)
    max_concurrent_uploads: int | None = attrs.field(default=None, validator=_at_least_one)
    fail_fast: bool = False
    on_event: BatchProgress | None = None
    status_events: bool = False
    timeout: Seconds | UseDefault | None = DEFAULT
    polling: PollSettings | None = None
    list_polling: bool | ListPollSettings = True
    options: TranscriptOptions = attrs.Factory(TranscriptOptions)


class _Batch:
    def __init__(self, api: Requester, poller: Poller, options: BatchOptions) -> None:
        self.api = api
        self.poller = poller
        self.options = options
        uploads = options.max_concurrent_uploads or options.concurrency
        # The batch's own limiter, on top of the client's, so a batch can keep
        # fewer uploads in flight than jobs.
        self.upload_limiter = anyio.CapacityLimiter(uploads)
        sweeps = options.list_polling
        self.sweeper = (
            ListSweeper(
                poller,
                options.polling or poller.settings,
                sweeps if isinstance(sweeps, ListPollSettings) else None,
            )
            if sweeps
            else None
        )
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

    async def emit(
        self,
        kind: BatchEventKind,
        index: int,
        source: Source,
        job: Transcript | None = None,
        *,
        status: TranscriptStatus | None = None,
        error: Exception | None = None,
    ) -> None:
        on_event = self.options.on_event
        if on_event is None:
            return
        if kind in (BatchEventKind.UPLOADING, BatchEventKind.STATUS) and not (
            self.options.status_events
        ):
            return
        try:
            event = BatchEvent(
                kind=kind,
                index=index,
                source=source,
                transcript_id=job.id if job is not None else None,
                status=status or (job.status if job is not None else None),
                error=error,
            )
            await call_back(on_event, event)
        except Exception as exc:
            # A failing callback is a bug in the caller's code, not a failed
            # item: stop the batch and raise it from the ``async with``.
            self.stop(exc)
            await anyio.lowlevel.checkpoint()  # delivers the cancellation
            raise

    async def hand_out(
        self,
        item: tuple[int, Source],
        send: MemoryObjectSendStream[tuple[int, Source]],
        items: MemoryObjectReceiveStream[tuple[int, Source]],
        results: MemoryObjectSendStream[BatchResult],
    ) -> None:
        """Give ``item`` to an idle worker, to a new one if none is idle and the limit allows.

        Workers start on demand rather than all up front: a hundred small
        batches at once would otherwise start ``100 * concurrency`` tasks and
        stall the event loop doing so. A new worker is started with its first
        item, so a batch's opening burst is handed out in one go instead of
        one item per turn of the event loop (which starved the uploads of
        work: a 1,000-job batch submitted 25 % slower than 1,000 plain tasks).
        """
        if self.idle == 0 and self.workers < self.options.concurrency:
            assert self.group is not None
            self.workers += 1
            self.group.start_soon(self.work, item, items, results.clone())
        else:
            # Unbuffered: this blocks until a worker is free, so the
            # iterable is consumed only as fast as work gets done.
            await send.send(item)

    async def feed(
        self,
        sources: BatchSources,
        send: MemoryObjectSendStream[tuple[int, Source]],
        items: MemoryObjectReceiveStream[tuple[int, Source]],
        results: MemoryObjectSendStream[BatchResult],
    ) -> None:
        # Holding ``results`` open until every source is handed out keeps the
        # result stream alive for workers not yet started.
        async with send, results:
            if isinstance(sources, AsyncIterable):
                index = 0
                async for source in sources:
                    await self.hand_out((index, source), send, items, results)
                    index += 1
            else:
                for index, source in enumerate(sources):
                    await self.hand_out((index, source), send, items, results)

    async def work(
        self,
        item: tuple[int, Source],
        items: MemoryObjectReceiveStream[tuple[int, Source]],
        results: MemoryObjectSendStream[BatchResult],
    ) -> None:
        async with results:
            while True:
                result = await self.run_one(*item)
                if result.error is not None and self.options.fail_fast:
                    self.stop(result.error)
                    return
                await results.send(result)
                # An idle worker must not keep its last transcript alive: the
                # caller may have dropped it, and a thousand idle workers each
                # holding one would hold a thousand.
                del result, item
                self.idle += 1
                try:
                    item = await items.receive()
                except anyio.EndOfStream:
                    return
                self.idle -= 1

    async def failed(
        self, index: int, source: Source, error: Exception, job: Transcript | None = None
    ) -> BatchResult:
        await self.emit(BatchEventKind.FAILED, index, source, job, error=error)
        return BatchResult(index=index, source=source, error=error)

    async def wait(self, index: int, source: Source, job: Transcript) -> Transcript:
        async def on_status(transcript: Transcript) -> None:
            # Finished jobs are announced by COMPLETED and FAILED.
            if not transcript.status.is_terminal:
                await self.emit(BatchEventKind.STATUS, index, source, job, status=transcript.status)

        watch = StatusWatch(on_status, status=job.status)
        timeout = self.options.timeout
        if self.sweeper is not None:
            return await self.sweeper.wait(job, timeout=timeout, watch=watch)
        return await self.poller.wait(
            job, known=job, timeout=timeout, polling=self.options.polling, watch=watch
        )

    # One bad item must not end a batch of thousands, whatever it raised: each
    # step's error is handed back in the item's result. Cancellation is not an
    # Exception and still passes through; callbacks run outside the ``try``s
    # so that their own errors are not mistaken for the item's.
    async def run_one(self, index: int, source: Source) -> BatchResult:
        if is_url(source):
            assert isinstance(source, str)
            audio_url = source
        else:
            try:
                async with self.upload_limiter:
                    await self.emit(BatchEventKind.UPLOADING, index, source)
                    audio_url = await self.api.upload(source)
            except Exception as exc:  # noqa: BLE001
                return await self.failed(index, source, exc)
            await self.emit(BatchEventKind.UPLOADED, index, source)
        try:
            job = await self.api.submit(audio_url, self.options.options)
        except Exception as exc:  # noqa: BLE001
            return await self.failed(index, source, exc)
        await self.emit(BatchEventKind.SUBMITTED, index, source, job)
        try:
            transcript = await self.wait(index, source, job)
        except Exception as exc:  # noqa: BLE001
            return await self.failed(index, source, exc, job)
        await self.emit(BatchEventKind.COMPLETED, index, source, transcript)
        return BatchResult(index=index, source=source, transcript=transcript)


@contextlib.asynccontextmanager
async def run_batch(
    api: Requester, poller: Poller, sources: BatchSources, options: BatchOptions
) -> AsyncIterator[BatchResults]:
    """Run a batch for the duration of an ``async with``; see :meth:`AsyncClient.transcribe_many`.

    Raises:
        UsageError: ``sources`` is a single source.
    """
    if isinstance(sources, (str, bytes, bytearray, memoryview, os.PathLike)):
        raise UsageError("sources must be an iterable of sources, not a single source")
    if not isinstance(sources, (Iterable, AsyncIterable)):
        raise UsageError(f"sources must be an iterable or async iterable, got {type(sources)!r}")
    batch = _Batch(api, poller, options)
    item_send, item_receive = anyio.create_memory_object_stream[tuple[int, Source]](0)
    result_send, result_receive = anyio.create_memory_object_stream[BatchResult](
        options.concurrency
    )
    body_error: Exception | None = None
    # The streams close after the task group has finished, so no worker ever
    # sees a closed stream: cancellation is the only way they stop early.
    async with item_receive, result_receive, anyio.create_task_group() as group:
        batch.group = group
        if batch.sweeper is not None:
            group.start_soon(batch.sweeper.run)
        group.start_soon(batch.feed, sources, item_send, item_receive, result_send)
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


def in_input_order(
    many: Callable[_P, contextlib.AbstractAsyncContextManager[BatchResults]],
) -> Callable[_P, Coroutine[Any, Any, list[BatchResult]]]:
    """Turn ``transcribe_many`` into ``transcribe_all``, with exactly its arguments.

    Derived rather than written again, so the two signatures cannot drift apart.
    """

    @functools.wraps(many)
    async def transcribe_all(*args: _P.args, **kwargs: _P.kwargs) -> list[BatchResult]:
        async with many(*args, **kwargs) as results:
            out = [result async for result in results]
        out.sort(key=lambda r: r.index)
        return out

    transcribe_all.__doc__ = """Like :meth:`transcribe_many`, but wait for all, in input order.

        Takes the same arguments as :meth:`transcribe_many`.

        Returns:
            One :class:`BatchResult` per source, in the order of ``sources``.

        Raises:
            UsageError: ``sources`` is a single source, or an option is wrong.
        """
    return transcribe_all


_BATCH_OPTIONS = tuple(a.name for a in attrs.fields(BatchOptions))


class BatchMethods:
    """The batch entry points of :class:`AsyncClient` (documented there)."""

    # Set by AsyncClient.__init__.
    _api: Requester
    _poller: Poller

    def transcribe_many(
        self,
        /,
        sources: BatchSources,
        *,
        options: TranscriptOptions | None = None,
        concurrency: int = 64,
        max_concurrent_uploads: int | None = None,
        fail_fast: bool = False,
        on_event: BatchProgress | None = None,
        status_events: bool = False,
        timeout: Seconds | UseDefault | None = DEFAULT,
        polling: PollSettings | None = None,
        list_polling: bool | ListPollSettings = True,
        **fields: Any,
    ) -> contextlib.AbstractAsyncContextManager[BatchResults]:
        """Transcribe many sources concurrently; results arrive as each finishes.

        Sources are pulled lazily, so a generator of 100,000 paths never
        becomes 100,000 tasks. One failing item never stops the others: its
        error is in its result. Leaving the ``async with`` early cancels what
        is left; the client stays usable.

        Example:
            ```python
            async with client.transcribe_many(paths, concurrency=64) as results:
                async for r in results:
                    print(r.index, r.error or r.transcript.highlights[:3])
            ```

        Args:
            sources: An iterable or async iterable of what :meth:`transcribe` accepts
                (paths, URLs, bytes, file objects, ...).
            options: Every job's request fields, typed (see :meth:`submit`).
            concurrency: Items in flight at once (uploading, submitted or polled).
            max_concurrent_uploads: Of those, how many may upload at once; ``None``:
                ``concurrency`` (the client's own upload limit still applies).
            fail_fast: Cancel the rest on the first failed item and raise its
                error from the ``async with``.
            on_event: Called with a :class:`BatchEvent` as each item is uploaded,
                submitted, completed or failed; may be async. It runs inside the
                batch's tasks, so it should be quick; an error it raises stops the batch.
            status_events: Also call ``on_event`` when an upload starts
                (``UPLOADING``) and when a job's status changes while waiting
                (``STATUS``, e.g. to ``processing``), for a per-item progress display.
            timeout: Deadline of each item's wait (see :meth:`AsyncClient.wait`).
            polling: Overrides the client's poll policy for this batch (for jobs
                polled on their own, and as a bound on the sweeps' pace).
            list_polling: How the batch learns that jobs finished. ``True`` (the
                default): from one shared sweep of the list endpoint, a few
                requests for a thousand jobs, after which each finished job is
                fetched once; a :class:`ListPollSettings` tunes the sweeps.
                Jobs fall back to per-job polling on their own when the list
                fails them (see :class:`ListPollSettings`). ``False``: poll each
                job on its own, as :meth:`wait` does.
            **fields: Request fields by name, laid over ``options`` (see :meth:`submit`).

        Returns:
            An async context manager yielding a :class:`BatchResults`, an
            async iterator of :class:`BatchResult` in completion order.

        Raises:
            UsageError: ``sources`` is a single source, a limit is below 1, or
                a field name is unknown.
        """
        batch = BatchOptions(
            concurrency=concurrency,
            max_concurrent_uploads=max_concurrent_uploads,
            fail_fast=fail_fast,
            on_event=on_event,
            status_events=status_events,
            timeout=timeout,
            polling=polling,
            list_polling=list_polling,
            options=merge_options(options, fields, hints=_BATCH_OPTIONS),
        )
        return run_batch(self._api, self._poller, sources, batch)

    transcribe_all = in_input_order(transcribe_many)
    """Like :meth:`transcribe_many`, with the same arguments, but wait for all: ``await
    client.transcribe_all(paths, concurrency=64)`` returns one :class:`BatchResult` per source,
    in input order."""
