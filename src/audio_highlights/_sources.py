"""Turning what the caller hands to ``upload()`` into a streamed request body.

A source is checked before any request is made (missing, empty, unreadable,
a directory, an unsupported type all fail here), then read lazily in chunks
while the request is being written, so memory stays flat whatever the size.
Files and bytes are replayable: a retried upload opens a fresh reader and
starts again from byte 0. One-shot streams (async iterables, unseekable file
objects) are not, and a failure while sending them is final.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import AsyncGenerator, AsyncIterable, Callable
from typing import IO, Any, Union

import anyio
import anyio.to_thread

from ._errors import SourceError, UploadError

__all__ = ["ProgressCallback", "Source", "UploadBody", "is_url", "prepare_source"]

#: Anything ``upload()`` accepts: a path, bytes, a binary file object, or an
#: async iterable of bytes.
Source = Union[
    str,
    "os.PathLike[str]",
    bytes,
    bytearray,
    memoryview,
    IO[bytes],
    AsyncIterable[bytes],
]

#: Called as ``on_progress(bytes_sent, total_bytes_or_None)`` while uploading;
#: a retry starts again from 0.
ProgressCallback = Callable[[int, "int | None"], object]

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


def is_url(source: object) -> bool:
    """Whether ``source`` is an ``http(s)://`` URL string."""
    return isinstance(source, str) and source[:8].lower().startswith(("http://", "https://"))


class UploadBody:
    """A validated source, able to produce its bytes once per attempt.

    Attributes:
        name: Human-readable name for messages (file name or type).
        size: Total bytes when known up front (sent as ``Content-Length``),
            else ``None`` (sent chunked).
        replayable: Whether :meth:`chunks` may be called again after a failure.
        inline: The whole body, for a small in-memory source that fits in one
            chunk; sent in one piece, skipping the per-chunk machinery.
    """

    def __init__(
        self,
        *,
        name: str,
        size: int | None,
        replayable: bool,
        opener: Callable[[], AsyncGenerator[bytes, None]],
        inline: bytes | None = None,
    ) -> None:
        self.name = name
        self.size = size
        self.replayable = replayable
        self.inline = inline
        self._opener = opener
        self._opened = False

    def chunks(self) -> AsyncGenerator[bytes, None]:
        """Return a fresh iterator over the body from byte 0.

        Raises:
            UploadError: A one-shot source was already (partly) sent.
        """
        if self._opened and not self.replayable:
            raise UploadError(f"{self.name} is a one-shot stream and cannot be resent")
        self._opened = True
        return self._opener()


def _check_chunk(chunk: object, name: str) -> bytes:
    if isinstance(chunk, (bytes, bytearray, memoryview)):
        return bytes(chunk)
    raise SourceError(f"{name} yielded {type(chunk).__name__}, expected bytes")


async def _prepare_path(path: str, chunk_size: int) -> UploadBody:
    def check() -> int:
        # One thread hop for all the checks, before any network traffic.
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise SourceError(f"no such file: {path!r}") from None
        except OSError as exc:
            raise SourceError(f"cannot access {path!r}: {exc.strerror or exc}") from exc
        if os.path.isdir(path):
            raise SourceError(f"{path!r} is a directory, not an audio file")
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            raise SourceError(f"cannot read {path!r}: {exc.strerror or exc}") from exc
        if st.st_size == 0:
            raise SourceError(f"{path!r} is empty (0 bytes)")
        return st.st_size

    size = await anyio.to_thread.run_sync(check)

    async def opener() -> AsyncGenerator[bytes, None]:
        sent = 0
        async with await anyio.open_file(path, "rb") as f:
            while chunk := await f.read(chunk_size):
                sent += len(chunk)
                if sent > size:
                    raise UploadError(f"{path!r} grew while it was being uploaded")
                yield chunk
        if sent != size:
            raise UploadError(f"{path!r} shrank while it was being uploaded ({sent} of {size})")

    return UploadBody(name=repr(path), size=size, replayable=True, opener=opener)


def _prepare_bytes(data: bytes | bytearray | memoryview, chunk_size: int) -> UploadBody:
    view = memoryview(data).cast("B")
    if not view.nbytes:
        raise SourceError("the audio bytes are empty (0 bytes)")

    async def opener() -> AsyncGenerator[bytes, None]:
        for start in range(0, view.nbytes, chunk_size):
            yield bytes(view[start : start + chunk_size])

    # Small bodies (the common case in a fan-out of short clips) go out as one
    # buffer; a big bytearray or memoryview is still streamed, never copied whole.
    inline = bytes(view) if view.nbytes <= chunk_size else None
    return UploadBody(name="bytes", size=view.nbytes, replayable=True, opener=opener, inline=inline)


async def _prepare_file(file: IO[bytes], chunk_size: int) -> UploadBody:
    name = repr(getattr(file, "name", type(file).__name__))
    if isinstance(file, io.TextIOBase):
        raise SourceError(f"{name} is opened in text mode; open it with 'rb'")
    if getattr(file, "closed", False):
        raise SourceError(f"{name} is closed")

    def probe() -> tuple[int | None, int | None]:
        try:
            if not file.seekable():
                return None, None
            start = file.tell()
            end = file.seek(0, io.SEEK_END)
            file.seek(start)
        except (OSError, ValueError):
            return None, None
        return start, end - start

    start, size = await anyio.to_thread.run_sync(probe)
    if size == 0:
        raise SourceError(f"{name} has no bytes left to read")

    async def opener() -> AsyncGenerator[bytes, None]:
        if start is not None:
            await anyio.to_thread.run_sync(file.seek, start)
        while True:
            chunk = _check_chunk(await anyio.to_thread.run_sync(file.read, chunk_size), name)
            if not chunk:
                return
            yield chunk

    return UploadBody(name=name, size=size, replayable=start is not None, opener=opener)


async def _prepare_async_iterable(stream: AsyncIterable[bytes]) -> UploadBody:
    name = f"async iterable {type(stream).__name__}"
    iterator = aiter(stream)
    # Pull the first non-empty chunk now, so an empty stream is reported
    # before any request is made.
    first = b""
    async for chunk in iterator:
        first = _check_chunk(chunk, name)
        if first:
            break
    if not first:
        raise SourceError(f"{name} yielded no bytes")

    async def opener() -> AsyncGenerator[bytes, None]:
        yield first
        async for chunk in iterator:
            data = _check_chunk(chunk, name)
            if data:
                yield data

    return UploadBody(name=name, size=None, replayable=False, opener=opener)


async def prepare_source(source: Any, *, chunk_size: int) -> UploadBody:
    """Validate ``source`` and wrap it as an :class:`UploadBody`.

    Raises:
        SourceError: The source is unusable (missing, empty, unreadable,
            a directory, a URL, an unsupported type).
    """
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if is_url(path):
            raise SourceError(
                f"{path!r} is already a URL: pass it as audio_url to submit() or to transcribe()"
            )
        if _SCHEME.match(path):
            raise SourceError(f"{path!r}: only http(s) URLs and local files are supported")
        if not path:
            raise SourceError("the file path is empty")
        return await _prepare_path(path, chunk_size)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _prepare_bytes(source, chunk_size)
    if hasattr(source, "read"):
        return await _prepare_file(source, chunk_size)
    if hasattr(source, "__aiter__"):
        return await _prepare_async_iterable(source)
    raise SourceError(
        f"cannot upload a {type(source).__name__}: pass a path, an http(s) URL, bytes, "
        "a binary file object or an async iterable of bytes"
    )
