"""``audio-highlights serve``: run the engine as an HTTP server with uvicorn."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

import anyio

from ._settings import ACCURACIES, EngineSettings

__all__ = ["serve_main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="audio-highlights serve",
        description="Serve the offline AssemblyAI-compatible engine over HTTP.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port to bind (default 8000)")
    p.add_argument("--data-dir", help="directory for jobs, uploads and models")
    p.add_argument("--workers", type=int, help="recognition worker processes (default: cores)")
    p.add_argument(
        "--api-key",
        default=os.environ.get("AUDIO_HIGHLIGHTS_API_KEY"),
        help="require 'authorization: KEY' (default: $AUDIO_HIGHLIGHTS_API_KEY)",
    )
    p.add_argument("--max-upload-bytes", type=int, help="largest accepted upload")
    p.add_argument(
        "--allow-url-host",
        action="append",
        default=[],
        metavar="HOST",
        help="host that audio_url may download from (repeatable)",
    )
    p.add_argument(
        "--webhook-allow-loopback",
        action="store_true",
        help="let webhook_url point at this machine (an app on the same host)",
    )
    p.add_argument(
        "--upload-retention",
        type=_seconds_or_none,
        default=argparse.SUPPRESS,
        metavar="SECONDS",
        help="keep uploads this long (default 86400; 'none': until their transcript is deleted)",
    )
    p.add_argument("--max-audio-duration", type=float, metavar="SECONDS", help="default 36000")
    p.add_argument("--max-job-time", type=float, metavar="SECONDS", help="default 14400")
    p.add_argument(
        "--max-connections",
        type=int,
        default=1000,
        help="open connections at most (lowered to fit the open-file limit; default 1000)",
    )
    p.add_argument(
        "--header-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="close a connection that has not sent a whole request head by then (default 10)",
    )
    p.add_argument(
        "--body-timeout",
        type=float,
        metavar="SECONDS",
        help="answer 408 when a request body stalls this long (default 30)",
    )
    p.add_argument("--recognizer", choices=("whisper", "pocketsphinx"), default="whisper")
    p.add_argument("--model-dir", help="a faster-whisper model directory to use")
    p.add_argument(
        "--accuracy",
        choices=ACCURACIES,
        default="fast",
        help="whisper decoding: fast (greedy, default) or accurate (beam search, ~1.4x slower)",
    )
    p.add_argument(
        "--spacy-model",
        metavar="NAME_OR_DIR",
        help="spaCy pipeline for key phrases: a model package name or directory "
        "(default: the bundled en_core_web_sm)",
    )
    p.add_argument("--log-level", default="info", help="uvicorn log level (default info)")
    return p


def _seconds_or_none(text: str) -> float | None:
    if text.lower() in ("none", "forever"):
        return None
    return float(text)


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


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _serve(settings: EngineSettings, args: argparse.Namespace, max_connections: int) -> None:
    import uvicorn

    from ._engine import open_engine

    async with open_engine(settings) as engine:
        config = uvicorn.Config(
            engine.app,
            host=args.host,
            port=args.port,
            log_level=args.log_level,
            lifespan="off",
            http=_protocol(args.header_timeout, max_connections),
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


def serve_main(argv: Sequence[str] | None = None) -> int:
    """Run ``audio-highlights serve`` with ``argv`` (default ``sys.argv[1:]``).

    Returns:
        The exit status: 0 after a clean shutdown, 2 for unusable arguments
        (including a ``--spacy-model`` that names no usable pipeline).
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if not _is_loopback(args.host) and not args.api_key:
        print(
            f"audio-highlights serve: refusing to bind to non-loopback host {args.host!r} "
            "without an API key; pass --api-key or set AUDIO_HIGHLIGHTS_API_KEY",
            file=sys.stderr,
        )
        return 2
    options: dict[str, Any] = {
        "recognizer": args.recognizer,
        "accuracy": args.accuracy,
        "api_key": args.api_key or None,
        "allow_url_hosts": args.allow_url_host,
        "webhook_allow_loopback": args.webhook_allow_loopback,
    }
    for name in (
        "data_dir",
        "workers",
        "max_upload_bytes",
        "model_dir",
        "max_audio_duration",
        "max_job_time",
        "body_timeout",
        "spacy_model",
    ):
        value = getattr(args, name)
        if value is not None:
            options[name] = value
    if hasattr(args, "upload_retention"):
        options["upload_retention"] = args.upload_retention
    if args.max_connections < 1 or args.header_timeout <= 0:
        print(
            "audio-highlights serve: --max-connections and --header-timeout must be positive",
            file=sys.stderr,
        )
        return 2
    try:
        settings = EngineSettings(**options)
    except (TypeError, ValueError) as exc:
        print(f"audio-highlights serve: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    from ._language import LanguageModelUnavailable

    try:
        with contextlib.suppress(KeyboardInterrupt):
            anyio.run(_serve, settings, args, connection_cap(args.max_connections))
    except LanguageModelUnavailable as exc:
        print(f"audio-highlights serve: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(serve_main())
