"""The ``audio-highlights FILE|URL|GLOB ...`` command (click + rich)."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import attrs
import click
from rich.console import Console

from .._batch import BatchResult
from .._client import AsyncClient
from .._errors import AudioHighlightsError, UsageError
from .._version import __version__
from ._inputs import Input, expand_inputs
from ._output import Outcome, write_csv, write_json, write_jsonl, write_out_dir, write_tables
from ._progress import LiveProgress

__all__ = ["command"]

_EPILOG = """\
Without an API key (ASSEMBLYAI_API_KEY or --api-key) the offline engine runs
in-process, keeping its data in --data-dir (default ~/.cache/audio-highlights;
'audio-highlights cache info|clear' shows or clears it). Run
'audio-highlights serve --help' to serve the engine over HTTP.

Exit status: 0 all inputs done, 1 some failed (each reason on stderr), 2 usage.
"""


def _reason(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


async def _run(
    inputs: list[Input],
    *,
    use_embedded: bool,
    client_options: dict[str, Any],
    engine_options: dict[str, Any],
    concurrency: int,
    timeout: float,
    progress: LiveProgress,
    on_result: Any,
) -> list[Outcome]:
    results: dict[int, Outcome] = {}
    runnable = [(i, item.source) for i, item in enumerate(inputs) if item.problem is None]
    for i, item in enumerate(inputs):
        if item.problem is not None:
            results[i] = (item.source, item.problem)
            on_result(results[i])

    async def consume(client: AsyncClient) -> None:
        if not runnable:
            return
        async with client.transcribe_many(
            [source for _, source in runnable],
            concurrency=concurrency,
            timeout=timeout,
            on_event=lambda e: progress.on_event(attrs.evolve(e, index=runnable[e.index][0])),
        ) as batch:
            async for r in batch:
                index, source = runnable[r.index]
                results[index] = _outcome(source, r)
                on_result(results[index])

    if use_embedded:
        async with AsyncClient.embedded(**engine_options) as client:
            await consume(client)
    else:
        async with AsyncClient(**client_options) as client:
            await consume(client)
    return [results[i] for i in range(len(inputs))]


def _outcome(source: str, result: BatchResult) -> Outcome:
    if result.transcript is not None:
        return (source, result.transcript)
    assert result.error is not None
    return (source, _reason(result.error))


@click.command(
    name="audio-highlights",
    epilog=_EPILOG,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.argument("inputs", nargs=-1, required=True, metavar="FILE|URL|GLOB...")
@click.option(
    "--json", "fmt", flag_value="json", help="One JSON document (an array if many inputs)."
)
@click.option(
    "--jsonl", "fmt", flag_value="jsonl", help="One JSON object per line, as each finishes."
)
@click.option("--csv", "fmt", flag_value="csv", help="CSV: one row per phrase.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also write one JSON file per input into this directory.",
)
@click.option(
    "--engine",
    type=click.Choice(["auto", "embedded", "remote"]),
    default="auto",
    show_default=True,
    help="remote when an API key or base URL is set, else the embedded offline engine.",
)
@click.option("--api-key", help="API key (default: $ASSEMBLYAI_API_KEY).")
@click.option("--base-url", help="API root (default: $ASSEMBLYAI_BASE_URL, else the hosted API).")
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Inputs in flight at once.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=3600.0,
    show_default=True,
    help="Seconds to wait for each input.",
)
@click.option(
    "--data-dir", type=click.Path(file_okay=False), help="Embedded engine's data directory."
)
@click.option(
    "--workers", type=click.IntRange(min=1), help="Embedded engine's recognition workers."
)
@click.option("--no-progress", is_flag=True, help="Never show live progress.")
@click.version_option(__version__, prog_name="audio-highlights")
def command(
    inputs: Sequence[str],
    fmt: str | None,
    out_dir: Path | None,
    engine: str,
    api_key: str | None,
    base_url: str | None,
    concurrency: int,
    timeout: float,
    data_dir: str | None,
    workers: int | None,
    no_progress: bool,
) -> int:
    """Print the key phrases of audio or video files: what was said, how often, how relevant, when.

    Inputs are transcribed concurrently; patterns such as 'calls/*.mp3' or
    'calls/**/*.wav' are expanded by the command itself.
    """
    out = Console(file=sys.stdout, highlight=False, soft_wrap=False)
    err = Console(file=sys.stderr, highlight=False, soft_wrap=True)
    key = api_key or os.environ.get("ASSEMBLYAI_API_KEY") or None
    url = base_url or os.environ.get("ASSEMBLYAI_BASE_URL") or None
    use_embedded = engine == "embedded" or (engine == "auto" and not key and not url)
    items = expand_inputs(inputs)
    if use_embedded:
        why = (
            ""
            if engine == "embedded"
            else " (no API key; set ASSEMBLYAI_API_KEY for the hosted API)"
        )
        err.print(f"audio-highlights: using the embedded offline engine{why}", highlight=False)
    engine_options: dict[str, Any] = {}
    if data_dir:
        engine_options["data_dir"] = data_dir
    if workers:
        engine_options["workers"] = workers
    interactive = sys.stderr.isatty() and sys.stdout.isatty() and not no_progress

    def on_result(outcome: Outcome) -> None:
        if fmt == "jsonl":
            write_jsonl(outcome, sys.stdout)

    try:
        with LiveProgress([i.source for i in items], err, enabled=interactive) as progress:
            outcomes = anyio.run(
                lambda: _run(
                    items,
                    use_embedded=use_embedded,
                    client_options={"api_key": key, "base_url": url},
                    engine_options=engine_options,
                    concurrency=concurrency,
                    timeout=timeout,
                    progress=progress,
                    on_result=on_result,
                )
            )
    except UsageError as exc:
        err.print(f"audio-highlights: {exc}", highlight=False, markup=False)
        return 2
    except AudioHighlightsError as exc:
        err.print(f"audio-highlights: {_reason(exc)}", highlight=False, markup=False)
        return 1

    if fmt == "json":
        write_json(outcomes, sys.stdout)
    elif fmt == "csv":
        write_csv(outcomes, sys.stdout)
    elif fmt is None:
        write_tables(outcomes, out)
    if out_dir is not None:
        for path in write_out_dir(outcomes, out_dir):
            err.print(f"wrote {path}", highlight=False, markup=False)
    failed = [(s, r) for s, r in outcomes if isinstance(r, str)]
    for source, reason in failed:
        err.print(f"audio-highlights: {source}: {reason}", highlight=False, markup=False)
    return 1 if failed else 0
