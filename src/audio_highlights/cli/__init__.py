"""The ``audio-highlights`` command.

``audio-highlights FILE|URL ...`` prints the highlights of each input;
``audio-highlights serve ...`` runs the offline engine as an HTTP server.
Without an API key it uses the embedded engine, in-process.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

import anyio

from .._client import AsyncClient
from .._errors import AudioHighlightsError
from .._models import Transcript
from .._version import __version__

__all__ = ["main"]


def _mmss(ms: int) -> str:
    seconds = ms // 1000
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


def _print_table(name: str, transcript: Transcript, out: TextIO) -> None:
    duration = transcript.audio_duration
    heading = f"{name}" + (f"  ({duration:.1f} s)" if duration is not None else "")
    out.write(f"\n{heading}\n")
    if not transcript.highlights:
        out.write("  (no highlights)\n")
        return
    width = max(len(h.text) for h in transcript.highlights)
    out.write(f"  {'phrase':<{width}}  count  rank  at\n")
    for h in transcript.highlights:
        rank = f"{h.rank:.2f}" if h.rank is not None else "  - "
        at = ", ".join(_mmss(ts.start) for ts in h.timestamps[:3])
        if len(h.timestamps) > 3:
            at += ", ..."
        out.write(f"  {h.text:<{width}}  {h.count:>5}  {rank}  {at}\n")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="audio-highlights",
        description="Print the key phrases of audio or video files: what was said, how often, "
        "how relevant, and when. Run 'audio-highlights serve --help' for the server.",
    )
    parser.add_argument("inputs", nargs="+", metavar="FILE|URL", help="audio/video files or URLs")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--json", action="store_true", help="print one JSON object per input")
    parser.add_argument(
        "--engine",
        choices=["auto", "embedded", "remote"],
        default="auto",
        help="remote when an API key is set, else the embedded offline engine (default: auto)",
    )
    parser.add_argument("--api-key", help="API key (default: $ASSEMBLYAI_API_KEY)")
    parser.add_argument("--base-url", help="API root (default: $ASSEMBLYAI_BASE_URL or hosted)")
    parser.add_argument(
        "--timeout", type=float, default=3600.0, help="seconds to wait per input (default: 3600)"
    )
    parser.add_argument("--concurrency", type=int, default=4, help="inputs processed at once")
    parser.add_argument("--data-dir", help="embedded engine's data directory")
    return parser


async def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    api_key = args.api_key or os.environ.get("ASSEMBLYAI_API_KEY")
    embedded = args.engine == "embedded" or (args.engine == "auto" and not api_key)
    results: dict[int, Transcript | Exception] = {}
    limiter = anyio.Semaphore(max(1, args.concurrency))

    async def one(client: AsyncClient, index: int, source: str) -> None:
        async with limiter:
            try:
                results[index] = await client.transcribe(source, timeout=args.timeout)
            except AudioHighlightsError as exc:
                results[index] = exc

    async def run_all(client: AsyncClient) -> None:
        async with anyio.create_task_group() as tg:
            for index, source in enumerate(args.inputs):
                tg.start_soon(one, client, index, source)

    if embedded:
        err.write("audio-highlights: no API key, using the embedded offline engine\n")
        options: dict[str, Any] = {}
        if args.data_dir:
            options["data_dir"] = args.data_dir
        async with AsyncClient.embedded(**options) as client:
            await run_all(client)
    else:
        async with AsyncClient(api_key=api_key, base_url=args.base_url) as client:
            await run_all(client)

    failed = 0
    for index, source in enumerate(args.inputs):
        result = results[index]
        if isinstance(result, Exception):
            failed += 1
            err.write(f"audio-highlights: {source}: {type(result).__name__}: {result}\n")
        elif args.json:
            out.write(json.dumps({"source": source, **result.to_dict()}) + "\n")
        else:
            _print_table(source, result, out)
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 some inputs failed, 2 usage)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["serve"]:
        try:
            from ..engine import serve_main
        except ImportError:
            sys.stderr.write(
                'audio-highlights serve needs the engine: pip install "audio-highlights[engine]"\n'
            )
            return 2
        return serve_main(args_list[1:])
    args = _parser().parse_args(args_list)
    try:
        return anyio.run(_run, args, sys.stdout, sys.stderr)
    except AudioHighlightsError as exc:
        sys.stderr.write(f"audio-highlights: {type(exc).__name__}: {exc}\n")
        return 2 if isinstance(exc, ValueError) else 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
