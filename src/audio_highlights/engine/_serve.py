"""``audio-highlights serve``: run the engine as an HTTP server with uvicorn."""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import logging
import os
import sys
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
    p.add_argument("--recognizer", choices=("whisper", "pocketsphinx"), default="whisper")
    p.add_argument("--model-dir", help="a faster-whisper model directory to use")
    p.add_argument(
        "--accuracy",
        choices=ACCURACIES,
        default="fast",
        help="whisper decoding: fast (greedy, default) or accurate (beam search, ~1.4x slower)",
    )
    p.add_argument("--log-level", default="info", help="uvicorn log level (default info)")
    return p


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def _serve(settings: EngineSettings, host: str, port: int, log_level: str) -> None:
    import uvicorn

    from ._engine import open_engine

    async with open_engine(settings) as engine:
        config = uvicorn.Config(
            engine.app, host=host, port=port, log_level=log_level, lifespan="off"
        )
        await uvicorn.Server(config).serve()


def serve_main(argv: Sequence[str] | None = None) -> int:
    """Run ``audio-highlights serve`` with ``argv`` (default ``sys.argv[1:]``).

    Returns:
        The exit status: 0 after a clean shutdown, 2 for unusable arguments.
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
    }
    for name in ("data_dir", "workers", "max_upload_bytes", "model_dir"):
        value = getattr(args, name)
        if value is not None:
            options[name] = value
    try:
        settings = EngineSettings(**options)
    except (TypeError, ValueError) as exc:
        print(f"audio-highlights serve: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        anyio.run(_serve, settings, args.host, args.port, args.log_level)
    return 0


if __name__ == "__main__":
    raise SystemExit(serve_main())
