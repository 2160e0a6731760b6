"""A recognition worker process and the parent's handle on it.

The worker runs as ``python -m audio_highlights.engine._worker`` rather than via
multiprocessing or :mod:`anyio.to_process`: those re-import the parent's
``__main__`` in the child, which breaks for scripts without a main guard and
for ``python -m`` entry points. Requests and replies are length-prefixed pickles
over the child's stdin and a private copy of its stdout (fd 1 itself is pointed
at stderr, so stray prints from native libraries cannot corrupt the protocol).
"""

from __future__ import annotations

import os
import pickle
import signal
import struct
import subprocess
import sys
from typing import TYPE_CHECKING, Any, BinaryIO

import anyio
import anyio.abc
from anyio.streams.buffered import BufferedByteReceiveStream

if TYPE_CHECKING:
    from ._pipeline import JobRequest, WarmUp

__all__ = ["WorkerCrashed", "WorkerProcess"]

_HEADER = struct.Struct("!Q")


class WorkerCrashed(RuntimeError):
    """The worker process died while handling a request."""


class WorkerProcess:
    """One long-lived worker subprocess that runs :func:`~._pipeline.run_job` calls in turn.

    A :class:`~._pipeline.WarmUp` request runs :func:`~._pipeline.warm_up` instead.
    """

    def __init__(self) -> None:
        self._process: anyio.abc.Process | None = None
        self._reader: BufferedByteReceiveStream | None = None

    async def _ensure(self) -> tuple[anyio.abc.Process, BufferedByteReceiveStream]:
        if self._process is None or self._process.returncode is not None:
            await self.aclose()
            self._process = await anyio.open_process(
                [sys.executable, "-m", "audio_highlights.engine._worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=None,
                env=_child_env(),
            )
            assert self._process.stdout is not None
            self._reader = BufferedByteReceiveStream(self._process.stdout)
        assert self._reader is not None
        return self._process, self._reader

    async def call(self, request: JobRequest | WarmUp) -> Any:
        """Run ``run_job(request)`` (or ``warm_up``) in the worker and return its result.

        An exception raised in the worker is re-raised here. If this call is
        cancelled the worker is killed (its work cannot be interrupted otherwise).

        Raises:
            WorkerCrashed: The process died before answering.
        """
        process, reader = await self._ensure()
        assert process.stdin is not None
        payload = pickle.dumps(request)
        answered = False
        try:
            try:
                await process.stdin.send(_HEADER.pack(len(payload)) + payload)
                size = _HEADER.unpack(await reader.receive_exactly(_HEADER.size))[0]
                ok, value = pickle.loads(await reader.receive_exactly(size))  # noqa: S301
            except (
                anyio.EndOfStream,
                anyio.IncompleteRead,
                anyio.BrokenResourceError,
                anyio.ClosedResourceError,
            ) as exc:
                raise WorkerCrashed("the recognition worker process died") from exc
            answered = True
        finally:
            if not answered:
                await self.aclose()
        if not ok:
            raise value
        return value

    async def aclose(self) -> None:
        """Stop the worker process (killing it if it is busy)."""
        process, self._process, self._reader = self._process, None, None
        if process is None:
            return
        with anyio.CancelScope(shield=True):
            if process.returncode is None:
                process.kill()
            await process.aclose()


def _child_env() -> dict[str, str]:
    # The child must import this package exactly as the parent did, even when
    # the parent found it through a sys.path tweak rather than an install.
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return env


def _read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _serve_forever() -> None:
    # Ctrl-C reaches the whole process group; the parent shuts down and closes
    # our stdin, which ends this loop. A traceback per worker helps nobody.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from ._pipeline import WarmUp, run_job, warm_up

    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    requests = sys.stdin.buffer
    while True:
        header = _read_exactly(requests, _HEADER.size)
        if header is None:
            return
        body = _read_exactly(requests, _HEADER.unpack(header)[0])
        if body is None:
            return
        request = pickle.loads(body)  # noqa: S301 - the parent is the only writer
        try:
            handler = warm_up if isinstance(request, WarmUp) else run_job
            reply: tuple[bool, Any] = (True, handler(request))
        except Exception as exc:  # noqa: BLE001 - sent back to the parent, which re-raises
            reply = (False, exc)
        try:
            data = pickle.dumps(reply)
        except (pickle.PicklingError, TypeError, AttributeError):
            data = pickle.dumps((False, RuntimeError(repr(reply[1]))))
        replies.write(_HEADER.pack(len(data)) + data)
        replies.flush()


if __name__ == "__main__":
    _serve_forever()
