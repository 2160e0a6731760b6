"""The blocking facade: :class:`Client` runs an :class:`AsyncClient` on a private event loop.

Every method forwards to the async client through an anyio blocking portal
(an event loop in a background thread), so the logic exists once; the
methods themselves are derived from :class:`AsyncClient`'s, so their
signatures do too.

A blocking call is refused from code that runs *in* a coroutine (it would
freeze that coroutine's event loop), but allowed from a notebook cell: Jupyter
runs cells from its own event loop, yet a cell's top level is no coroutine,
and the portal's loop is a thread of its own, so nothing deadlocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from types import FrameType, TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

from anyio.from_thread import BlockingPortal, start_blocking_portal

from ._client import AsyncClient
from ._errors import UsageError

__all__ = ["Client"]

_P = ParamSpec("_P")
_T = TypeVar("_T")
_DONE = object()
_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep
_ASYNC_CODE = inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR | inspect.CO_ITERABLE_COROUTINE
_LOOP_MODULES = ("asyncio", "trio", "anyio", "sniffio", "tornado", "uvloop")


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


def _called_from_a_coroutine(frame: FrameType | None) -> bool:
    # Walk out of the SDK to the caller's code. A coroutine frame (or the
    # event loop's own machinery, as for a loop callback) first means the
    # call would block a loop from inside; a module's top level first means
    # code run at top level, as a notebook cell is, even inside Jupyter's loop.
    while frame is not None:
        code = frame.f_code
        if not os.path.abspath(code.co_filename).startswith(_PACKAGE):
            if code.co_flags & _ASYNC_CODE:
                return True
            if code.co_name == "<module>":
                return False
            module = str(frame.f_globals.get("__name__", ""))
            if module.split(".")[0] in _LOOP_MODULES:
                return True
        frame = frame.f_back
    return True


def _refuse_inside_event_loop() -> None:
    library = _running_async_library()
    if library is not None and _called_from_a_coroutine(sys._getframe(1)):
        raise UsageError(
            f"audio_highlights.Client blocks, and it was called from a coroutine on a running "
            f"{library} event loop, which it would freeze: use audio_highlights.AsyncClient and "
            "await its methods (in a notebook, top-level `await client.transcribe(...)` works)"
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


def _blocking_doc(name: str, extra: str = "") -> str:
    return (
        f"Blocking :meth:`AsyncClient.{name}`: the same arguments and result.\n\n"
        f"Callbacks it is given run on the client's background thread.{extra}"
    )


def _blocking(
    method: Callable[Concatenate[AsyncClient, _P], Awaitable[_T]],
) -> Callable[Concatenate[Client, _P], _T]:
    def call(self: Client, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        _refuse_inside_event_loop()
        self._refuse_if_closed()

        async def run() -> _T:
            return await method(self._async, *args, **kwargs)

        return self._portal.call(run)

    call.__name__ = call.__qualname__ = method.__name__
    call.__doc__ = _blocking_doc(method.__name__)
    return call


def _blocking_iterator(
    method: Callable[Concatenate[AsyncClient, _P], AsyncIterator[_T]],
) -> Callable[Concatenate[Client, _P], Iterator[_T]]:
    def call(self: Client, /, *args: _P.args, **kwargs: _P.kwargs) -> Iterator[_T]:
        _refuse_inside_event_loop()
        self._refuse_if_closed()
        return _iterate(self._portal, method(self._async, *args, **kwargs))

    call.__name__ = call.__qualname__ = method.__name__
    call.__doc__ = _blocking_doc(method.__name__, " It returns an iterator.")
    return call


def _blocking_batch(
    method: Callable[
        Concatenate[AsyncClient, _P], contextlib.AbstractAsyncContextManager[AsyncIterator[_T]]
    ],
) -> Callable[Concatenate[Client, _P], contextlib.AbstractContextManager[Iterator[_T]]]:
    @contextlib.contextmanager
    def call(self: Client, /, *args: _P.args, **kwargs: _P.kwargs) -> Iterator[Iterator[_T]]:
        _refuse_inside_event_loop()
        self._refuse_if_closed()
        batch = method(self._async, *args, **kwargs)
        with self._portal.wrap_async_context_manager(batch) as results:
            yield _iterate(self._portal, results)

    call.__name__ = call.__qualname__ = method.__name__
    call.__doc__ = _blocking_doc(
        method.__name__, " It is a context manager yielding an iterator of results."
    )
    return call


class Client:
    """A blocking client with the same methods as :class:`AsyncClient`, for scripts and notebooks.

    It runs an :class:`AsyncClient` on an event loop in a background thread;
    use it as a context manager, or call :meth:`close`. Each method takes the
    arguments of its :class:`AsyncClient` twin. It works in Jupyter and
    IPython cells; called from inside a coroutine it raises :class:`UsageError`
    (use :class:`AsyncClient` there).

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
        UsageError: Called from inside a coroutine, or an option is wrong.
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
        self._closed = False

    def _refuse_if_closed(self) -> None:
        # The background loop is gone: without this, the portal's bare
        # RuntimeError would be all the caller sees.
        if self._closed:
            raise UsageError("the client is closed: open a new Client to make more calls")

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
            UsageError: The engine extra is not installed, or called from a coroutine.
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
            try:
                yield self
            finally:
                self._closed = True

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
        """Close the connection pool and stop the background event loop.

        Calls made afterwards raise :class:`UsageError`; closing again does nothing.
        """
        self._closed = True
        self._stack.close()

    @property
    def base_url(self) -> str:
        """The API root requests go to."""
        return self._async.base_url

    def __repr__(self) -> str:
        return repr(self._async).replace("AsyncClient", "Client", 1)

    upload = _blocking(AsyncClient.upload)
    """Blocking :meth:`AsyncClient.upload` (``on_progress`` runs on the background thread)."""
    audio_url_for = _blocking(AsyncClient.audio_url_for)
    """Blocking :meth:`AsyncClient.audio_url_for`."""
    submit = _blocking(AsyncClient.submit)
    """Blocking :meth:`AsyncClient.submit`."""
    get = _blocking(AsyncClient.get)
    """Blocking :meth:`AsyncClient.get`."""
    delete = _blocking(AsyncClient.delete)
    """Blocking :meth:`AsyncClient.delete`."""
    list = _blocking_iterator(AsyncClient.list)
    """Blocking :meth:`AsyncClient.list`: an iterator, newest first, page by page."""
    wait = _blocking(AsyncClient.wait)
    """Blocking :meth:`AsyncClient.wait` (``on_status`` runs on the background thread)."""
    transcribe = _blocking(AsyncClient.transcribe)
    """Blocking :meth:`AsyncClient.transcribe`."""
    transcribe_many = _blocking_batch(AsyncClient.transcribe_many)
    """Blocking :meth:`AsyncClient.transcribe_many`: ``with client.transcribe_many(paths) as
    results: for r in results: ...``; leaving the ``with`` early cancels what is left."""
    transcribe_all = _blocking(AsyncClient.transcribe_all)
    """Blocking :meth:`AsyncClient.transcribe_all`: results in input order."""
    sentences = _blocking(AsyncClient.sentences)
    """Blocking :meth:`AsyncClient.sentences`."""
    paragraphs = _blocking(AsyncClient.paragraphs)
    """Blocking :meth:`AsyncClient.paragraphs`."""
    subtitles = _blocking(AsyncClient.subtitles)
    """Blocking :meth:`AsyncClient.subtitles`."""
    word_search = _blocking(AsyncClient.word_search)
    """Blocking :meth:`AsyncClient.word_search`."""
