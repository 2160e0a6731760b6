"""Run the engine as an HTTP server with uvicorn: what ``audio-highlights serve`` starts.

The command itself (its options, its help) is :mod:`audio_highlights.cli`'s.
"""

from __future__ import annotations

import asyncio
import importlib
import ipaddress
import logging
import socket
import sys
import time
from typing import Any

import anyio

from .. import UsageError
from ._language import LanguageModelUnavailable
from ._settings import EngineSettings

if sys.version_info < (3, 11):  # pragma: no cover - anyio brings the backport there
    from exceptiongroup import BaseExceptionGroup  # type: ignore[import-not-found,unused-ignore]

__all__ = ["connection_cap", "is_loopback", "run_server"]


# Sockets, the database, worker pipes and model files need descriptors besides
# the connections: keep this many of the open-file limit for them.
_FD_RESERVE = 100
# asyncio accepts up to ``backlog`` connections in one go before any of them
# can be refused, so the cap leaves room for one such burst too.
_BACKLOG = 64


def connection_cap(requested: int) -> int:
    """``requested``, lowered so connections can never use up the open-file limit."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):
        return requested
    if soft == resource.RLIM_INFINITY:
        return requested
    return max(8, min(requested, soft - _FD_RESERVE - _BACKLOG))


class _Throttle(logging.Filter):
    """At most ``burst`` records of one message per ``window`` seconds; counts the rest.

    Under abuse (thousands of bad requests or refused connections a second) the
    log says what happens and how often, instead of growing by a line each time.
    """

    def __init__(self, burst: int = 5, window: float = 10.0) -> None:
        super().__init__()
        self._burst = burst
        self._window = window
        self._seen: dict[tuple[str, str], tuple[float, int, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        """Let the record through unless its message is over the budget."""
        key = (record.name, str(record.msg))
        now = time.monotonic()
        start, shown, hidden = self._seen.get(key, (now, 0, 0))
        if now - start >= self._window:
            if hidden:
                record.msg = (
                    f"{record.msg} ({hidden} more like this in the last {self._window:g} s)"
                )
            self._seen[key] = (now, 1, 0)
            return True
        if shown < self._burst:
            self._seen[key] = (start, shown + 1, hidden)
            return True
        self._seen[key] = (start, shown, hidden + 1)
        return False


def _protocol(header_timeout: float, max_connections: int) -> type[Any]:
    """The h11 protocol of uvicorn plus the two limits it lacks.

    uvicorn closes an idle keep-alive connection after a response, but a fresh
    connection, or one that sends its request head a byte at a time, stays open
    for ever; and nothing caps open connections below the open-file limit. So:
    a connection that has not sent a whole request head ``header_timeout`` after
    it opened (or after its last response) is closed, and a connection beyond
    ``max_connections`` is closed as it is accepted.
    """
    from uvicorn.protocols.http.h11_impl import H11Protocol

    logger = logging.getLogger("uvicorn.error")

    class _LimitedH11(H11Protocol):
        _head_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                logger.warning("connection refused: %d connections open", max_connections)
                transport.abort()
                return
            self._arm()

        def _arm(self) -> None:
            self._disarm()
            self._head_timer = self.loop.call_later(header_timeout, self._head_late)

        def _disarm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_late(self) -> None:
            self._head_timer = None
            if not self.transport.is_closing() and self.conn.their_state is _h11().IDLE:
                logger.warning("closed a connection that sent no request head in time")
                self.transport.close()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state is not _h11().IDLE:
                self._disarm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return _LimitedH11


def _h11() -> Any:
    import h11

    return h11


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (binding there needs no API key)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _serve(
    settings: EngineSettings,
    host: str,
    port: int,
    log_level: str,
    header_timeout: float,
    max_connections: int,
) -> None:
    import uvicorn

    from ._engine import open_engine

    async with open_engine(settings) as engine:
        config = uvicorn.Config(
            engine.app,
            host=host,
            port=port,
            log_level=log_level,
            lifespan="off",
            http=_protocol(header_timeout, max_connections),
            # Requests beyond this many at once get uvicorn's 503.
            limit_concurrency=max_connections,
            timeout_keep_alive=5,
            backlog=_BACKLOG,
        )
        server = uvicorn.Server(config)
        throttle = _Throttle()
        for name in ("uvicorn.error", "uvicorn.access", "asyncio", "audio_highlights.engine"):
            logging.getLogger(name).addFilter(throttle)
        await server.serve()


def check_bindable(host: str, port: int) -> None:
    """Raise :class:`UsageError` when ``host:port`` cannot be listened on (in use, no such host).

    Checked before the engine starts, so that a port already taken is said in one
    line at once, not after the workers have loaded their models. Port 0 (any
    free port) is always bindable.
    """
    if port == 0:
        return
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}; check --host") from exc
    with socket.socket(family, kind, proto) as probe:
        # As the server's own socket does: a port whose last connections are
        # closing (TIME_WAIT) is free to take.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise UsageError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc} "
                "(another server there? choose another --port)"
            ) from exc


# What the server needs from the engine extra, imported before anything starts,
# so a missing one is named at once rather than as a traceback from a worker.
_NEEDED = ("numpy", "av", "starlette", "uvicorn", "h11", "pocketsphinx")


def run_server(
    settings: EngineSettings,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    log_level: str = "info",
    max_connections: int = 1000,
    header_timeout: float = 10.0,
) -> None:
    """Serve the engine over HTTP with uvicorn until interrupted: ``audio-highlights serve``.

    Args:
        settings: The engine's settings.
        host: Address to bind; beyond loopback only with ``settings.api_key``.
        port: Port to bind.
        log_level: uvicorn's log level.
        max_connections: Open connections at most (lowered to fit the open-file limit).
        header_timeout: Seconds a connection may take to send a whole request head.

    Raises:
        ImportError: A module of the engine extra is missing (before anything starts).
        UsageError: ``host:port`` cannot be listened on (in use), a non-loopback
            ``host`` without an API key, a limit that is not positive, or a
            ``spacy_model`` that names no usable pipeline.
    """
    for name in _NEEDED:
        importlib.import_module(name)
    from . import _engine  # noqa: F401 - the server's own modules, checked the same way

    if not is_loopback(host) and not settings.api_key:
        raise UsageError(
            f"refusing to bind to non-loopback host {host!r} without an API key; "
            "pass --api-key or set AUDIO_HIGHLIGHTS_API_KEY"
        )
    if max_connections < 1 or header_timeout <= 0:
        raise UsageError("--max-connections and --header-timeout must be positive")
    check_bindable(host, port)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    try:
        anyio.run(
            _serve,
            settings,
            host,
            port,
            log_level,
            header_timeout,
            connection_cap(max_connections),
        )
    except KeyboardInterrupt:
        pass  # Ctrl-C: uvicorn has shut down cleanly
    except LanguageModelUnavailable as exc:
        raise UsageError(str(exc)) from exc  # a --spacy-model the engine cannot use
    except BaseExceptionGroup as group:
        # uvicorn re-raises the Ctrl-C it caught once it has shut down, inside
        # the engine's task group: that is a clean stop too. The event loop is
        # over, so no cancellation can be swallowed here.
        # (split by type: a callable condition would be asked about the group itself.)
        _, rest = group.split(KeyboardInterrupt)
        if rest is None:
            return
        exited, rest = rest.split(SystemExit)
        if rest is not None:
            raise rest from None
        assert exited is not None
        # uvicorn could not start (the port was taken after the check, say): it
        # has logged why, and exits instead of raising.
        raise UsageError(f"the server could not start on {host}:{port} (see above)") from None
