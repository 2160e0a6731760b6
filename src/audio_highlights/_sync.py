"""The blocking facade: :class:`Client` runs an :class:`AsyncClient` on a private event loop.

Every method forwards to the async client through an anyio blocking portal
(an event loop in a background thread), so the logic exists once.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from types import TracebackType
from typing import Any, TypeVar

from anyio.from_thread import BlockingPortal, start_blocking_portal

from ._batch import BatchProgress, BatchResult, BatchSources
from ._client import _DEFAULT, AsyncClient, _UseDefault
from ._errors import UsageError
from ._models import Transcript, TranscriptStatus
from ._settings import PollSettings, Seconds
from ._sources import ProgressCallback, Source

__all__ = ["Client"]

_T = TypeVar("_T")
_DONE = object()


def _running_async_library() -> str | None:
    # Both checks only ask: neither starts nor touches a loop, and Trio is
    # looked at only if it was imported (no Trio loop can run otherwise).
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        return "asyncio"
    trio = sys.modules.get("trio")
    if trio is not None:
        try:
            trio.lowlevel.current_trio_token()
        except RuntimeError:
            pass
        else:
            return "trio"
    return None


def _refuse_inside_event_loop() -> None:
    # A blocking call on a running loop would freeze every other task on it.
    library = _running_async_library()
    if library is not None:
        raise UsageError(
            f"audio_highlights.Client blocks, and this code runs inside a {library} event "
            "loop: use audio_highlights.AsyncClient (await its methods) instead"
        )


async def _next_item(iterator: AsyncIterator[_T]) -> _T | object:
    # StopAsyncIteration must not cross the portal as an exception: a sentinel
    # marks the end instead.
    try:
        return await iterator.__anext__()
    except StopAsyncIteration:
        return _DONE


def _iterate(portal: BlockingPortal, iterator: AsyncIterator[_T]) -> Iterator[_T]:
    try:
        while True:
            item = portal.call(_next_item, iterator)
            if item is _DONE:
                return
            yield item  # type: ignore[misc]
    finally:
        close: Callable[[], Awaitable[None]] | None = getattr(iterator, "aclose", None)
        # An iterator abandoned mid-way may be collected after its client
        # closed: there is no loop left to close it on, and nothing to free.
        if close is not None:
            with contextlib.suppress(RuntimeError):
                portal.call(close)


class Client:
    """A blocking client with the same methods as :class:`AsyncClient`, for scripts and notebooks.

    It runs an :class:`AsyncClient` on an event loop in a background thread;
    use it as a context manager, or call :meth:`close`. It must not be used
    inside a running event loop (use :class:`AsyncClient` there).

    Example:
        ```python
        import audio_highlights as ah

        with ah.Client.embedded() as client:
            t = client.transcribe("examples/audio/wildfires.mp3")
            for h in t.highlights[:3]:
                print(h.text, h.count, h.rank)
        ```

    Args:
        api_key: As for :class:`AsyncClient` (default ``ASSEMBLYAI_API_KEY``).
        base_url: As for :class:`AsyncClient` (default ``ASSEMBLYAI_BASE_URL``).
        backend: The event loop run in the background thread: ``"asyncio"``
            (default) or ``"trio"``.
        **options: Any other keyword argument of :class:`AsyncClient`.

    Raises:
        UsageError: Called inside a running event loop, or an option is wrong.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        backend: str = "asyncio",
        **options: Any,
    ) -> None:
        _refuse_inside_event_loop()
        stack = contextlib.ExitStack()
        try:
            portal = stack.enter_context(start_blocking_portal(backend))
            # Created on the loop's thread: its locks belong to that loop.
            client = portal.call(lambda: AsyncClient(api_key, base_url, **options))
            stack.enter_context(portal.wrap_async_context_manager(client))
        except Exception:
            stack.close()
            raise
        self._init(portal, client, stack)

    def _init(
        self, portal: BlockingPortal, client: AsyncClient, stack: contextlib.ExitStack
    ) -> None:
        self._portal = portal
        self._async = client
        self._stack = stack

    @classmethod
    @contextlib.contextmanager
    def embedded(cls, *, backend: str = "asyncio", **engine_options: Any) -> Iterator[Client]:
        """Open a blocking client bound to an in-process offline engine.

        Needs the engine extra: ``pip install "audio-highlights[engine]"``.

        Example:
            ```python
            with ah.Client.embedded() as client:
                t = client.transcribe("examples/audio/wildfires.mp3")
            ```

        Args:
            backend: The background event loop (``"asyncio"`` or ``"trio"``).
            **engine_options: Passed to :func:`audio_highlights.engine.open_engine`.

        Raises:
            UsageError: The engine extra is not installed, or called inside an event loop.
        """
        _refuse_inside_event_loop()
        with contextlib.ExitStack() as stack:
            portal = stack.enter_context(start_blocking_portal(backend))
            client = stack.enter_context(
                portal.wrap_async_context_manager(AsyncClient.embedded(**engine_options))
            )
            self = cls.__new__(cls)
            # The stack is closed here, by the with block; close() only
            # marks the client closed.
            self._init(portal, client, contextlib.ExitStack())
            yield self

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool and stop the background event loop."""
        self._stack.close()

    @property
    def base_url(self) -> str:
        """The API root requests go to."""
        return self._async.base_url

    def __repr__(self) -> str:
        return repr(self._async).replace("AsyncClient", "Client", 1)

    def _call(self, func: Callable[..., Awaitable[_T]], *args: Any, **kwargs: Any) -> _T:
        _refuse_inside_event_loop()

        async def run() -> _T:
            return await func(*args, **kwargs)

        return self._portal.call(run)

    # ------------------------------------------------------------------ requests

    def upload(self, source: Source, *, on_progress: ProgressCallback | None = None) -> str:
        """Upload audio or video and return its ``upload_url`` (see :meth:`AsyncClient.upload`).

        ``on_progress`` is called on the background thread.
        """
        return self._call(self._async.upload, source, on_progress=on_progress)

    def submit(self, audio_url: str, **fields: Any) -> Transcript:
        """Create a transcription job and return it (see :meth:`AsyncClient.submit`)."""
        return self._call(self._async.submit, audio_url, **fields)

    def get(self, transcript_id: str | Transcript) -> Transcript:
        """Fetch a transcript as it is now (see :meth:`AsyncClient.get`)."""
        return self._call(self._async.get, transcript_id)

    def delete(self, transcript_id: str | Transcript) -> Transcript:
        """Delete a transcript's data on the server (see :meth:`AsyncClient.delete`)."""
        return self._call(self._async.delete, transcript_id)

    def wait(
        self,
        transcript_id: str | Transcript,
        *,
        timeout: Seconds | _UseDefault | None = _DEFAULT,
        polling: PollSettings | None = None,
    ) -> Transcript:
        """Poll a job until it completes (see :meth:`AsyncClient.wait`)."""
        return self._call(self._async.wait, transcript_id, timeout=timeout, polling=polling)

    def transcribe(
        self,
        source: Source,
        *,
        timeout: Seconds | _UseDefault | None = _DEFAULT,
        on_progress: ProgressCallback | None = None,
        polling: PollSettings | None = None,
        **fields: Any,
    ) -> Transcript:
        """Upload (unless a URL), submit and wait (see :meth:`AsyncClient.transcribe`)."""
        return self._call(
            self._async.transcribe,
            source,
            timeout=timeout,
            on_progress=on_progress,
            polling=polling,
            **fields,
        )

    def list(
        self,
        *,
        status: TranscriptStatus | str | None = None,
        limit: int | None = None,
        created_on: str | None = None,
        before_id: str | None = None,
        after_id: str | None = None,
    ) -> Iterator[Transcript]:
        """Iterate over transcripts, newest first, page by page (see :meth:`AsyncClient.list`)."""
        _refuse_inside_event_loop()
        pages = self._async.list(
            status=status,
            limit=limit,
            created_on=created_on,
            before_id=before_id,
            after_id=after_id,
        )
        return _iterate(self._portal, pages)

    @contextlib.contextmanager
    def transcribe_many(
        self,
        sources: BatchSources,
        *,
        concurrency: int = 64,
        on_event: BatchProgress | None = None,
        **options: Any,
    ) -> Iterator[Iterator[BatchResult]]:
        """Transcribe many sources concurrently; iterate results as each finishes.

        See :meth:`AsyncClient.transcribe_many` for the options. Sources and
        ``on_event`` run on the background thread; leaving the ``with`` early
        cancels what is left.

        Example:
            ```python
            with ah.Client.embedded() as client:
                with client.transcribe_many(["examples/audio/wildfires.mp3"]) as results:
                    for r in results:
                        print(r.index, r.error or r.transcript.highlights[:3])
            ```
        """
        _refuse_inside_event_loop()
        batch = self._async.transcribe_many(
            sources, concurrency=concurrency, on_event=on_event, **options
        )
        with self._portal.wrap_async_context_manager(batch) as results:
            yield _iterate(self._portal, results)

    def transcribe_all(
        self,
        sources: BatchSources,
        *,
        concurrency: int = 64,
        on_event: BatchProgress | None = None,
        **options: Any,
    ) -> builtins.list[BatchResult]:
        """Transcribe many sources and return the results in input order.

        See :meth:`AsyncClient.transcribe_all`.
        """
        return self._call(
            self._async.transcribe_all,
            sources,
            concurrency=concurrency,
            on_event=on_event,
            **options,
        )
