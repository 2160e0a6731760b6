"""The ``audio-highlights FILE|DIR|URL|GLOB ...`` command (click + rich)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import attrs
import click
from rich.console import Console

import audio_highlights

from .. import (
    DEFAULT_BASE_URL,
    APIConnectionError,
    AsyncClient,
    AudioHighlightsError,
    AuthenticationError,
    BatchEvent,
    BatchEventKind,
    Transcript,
    UsageError,
)
from .._sources import is_url
from .._version import __version__
from ._inputs import Input, expand_inputs, media_duration
from ._output import Failure, ResultWriter
from ._progress import LiveProgress

__all__ = ["command", "failure_of"]

_EPILOG = """\
Without an API key (ASSEMBLYAI_API_KEY or --api-key) the offline engine runs
in-process, with a temporary job store unless --data-dir is given
('audio-highlights cache info|clear' shows or clears a data dir).
'audio-highlights COMMAND --help' tells about each command.

Exit status: 0 all inputs done, 1 some failed (each reason on stderr), 2 usage.
"""

_SKIPPED_SHOWN = 3


def _public_type(error: BaseException) -> str:
    # Internal subclasses (such as a connection-never-made marker) are named by
    # the public class users can catch.
    for cls in type(error).__mro__:
        name: str = cls.__name__
        if getattr(audio_highlights, name, None) is cls:
            return name
    return type(error).__name__


def failure_of(error: Exception, *, base_url: str | None = None) -> Failure:
    """Describe ``error`` in the command's terms (its options, not the SDK's parameters)."""
    message = str(error)
    if isinstance(error, APIConnectionError) and base_url is not None:
        cause = error.__cause__
        why = str(cause) if cause is not None and str(cause) else message
        message = f"cannot reach the API at {base_url} ({why}); check --base-url"
    elif isinstance(error, AuthenticationError):
        message += " (check --api-key or ASSEMBLYAI_API_KEY)"
    return Failure(type=_public_type(error), message=message)


def _is_hosted(base_url: str | None) -> bool:
    host = urlsplit(base_url or DEFAULT_BASE_URL).hostname or ""
    return host == "assemblyai.com" or host.endswith(".assemblyai.com")


def _url_problem(source: str, allowed: frozenset[str]) -> str | None:
    host = (urlsplit(source).hostname or "").lower()
    if host in allowed:
        return None
    return (
        f"the embedded engine fetches URLs only from hosts allowed with --allow-url-host "
        f"(add --allow-url-host {host}), or pass --api-key for the hosted API"
    )


async def _run(
    inputs: list[Input],
    *,
    open_client: Callable[[], contextlib.AbstractAsyncContextManager[AsyncClient]],
    base_url: str | None,
    concurrency: int,
    timeout: float,
    progress: LiveProgress,
    on_result: Callable[[int, Transcript | Failure], None],
) -> None:
    runnable = [i for i, item in enumerate(inputs) if item.problem is None]
    if not runnable:
        return

    async def on_event(event: BatchEvent) -> None:
        event = attrs.evolve(event, index=runnable[event.index])
        progress.on_event(event)
        if event.kind is BatchEventKind.UPLOADING and progress.live:
            # The container's header, read in a thread: milliseconds before an
            # upload of seconds.
            seconds = await anyio.to_thread.run_sync(media_duration, inputs[event.index].source)
            if seconds is not None:
                progress.audio_length(event.index, seconds)

    async with (
        open_client() as client,
        client.transcribe_many(
            [inputs[i].source for i in runnable],
            concurrency=concurrency,
            timeout=timeout,
            on_event=on_event,
            status_events=progress.live,
        ) as batch,
    ):
        async for r in batch:
            if r.transcript is not None:
                on_result(runnable[r.index], r.transcript)
            else:
                assert r.error is not None
                on_result(runnable[r.index], failure_of(r.error, base_url=base_url))


class _Transcribe(click.Command):
    """The group's default command: its usage and help are the program's."""

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage("audio-highlights", " ".join(self.collect_usage_pieces(ctx)))
        formatter.write_usage("audio-highlights", "COMMAND [ARGS]...", prefix="   or: ")

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_options(ctx, formatter)
        group = ctx.parent.command if ctx.parent is not None else None
        if isinstance(group, click.Group):
            group.format_commands(ctx.parent, formatter)  # type: ignore[arg-type]


@click.command(
    name="transcribe",
    cls=_Transcribe,
    short_help="The key phrases of each input (the default: 'audio-highlights FILE...').",
    epilog=_EPILOG,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.argument("inputs", nargs=-1, required=True, metavar="FILE|DIR|URL|GLOB...")
@click.option(
    "--json", "fmt", flag_value="json", help="One JSON array of every input's object, at the end."
)
@click.option(
    "--jsonl", "fmt", flag_value="jsonl", help="One JSON object per line, as each input finishes."
)
@click.option("--csv", "fmt", flag_value="csv", help="CSV: one row per phrase, in input order.")
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
    "--data-dir",
    type=click.Path(file_okay=False),
    envvar="AUDIO_HIGHLIGHTS_DATA_DIR",
    help="Embedded engine: keep jobs and uploads in this directory "
    "(default: a temporary one, removed at exit; $AUDIO_HIGHLIGHTS_DATA_DIR).",
)
@click.option(
    "--workers", type=click.IntRange(min=1), help="Embedded engine's recognition workers."
)
@click.option(
    "--accuracy",
    type=click.Choice(["fast", "accurate"]),
    help="Embedded engine's decoding: fast (greedy, the default) or accurate (beam search, "
    "slower).",
)
@click.option(
    "--allow-url-host",
    "allow_url_hosts",
    multiple=True,
    metavar="HOST",
    help="Embedded engine: a host URL inputs may be downloaded from (repeatable).",
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
    accuracy: str | None,
    allow_url_hosts: Sequence[str],
    no_progress: bool,
) -> int:
    """Print the key phrases of audio or video files: what was said, how often, how relevant, when.

    Inputs are files, directories (walked for audio and video files), http(s)
    URLs and patterns such as 'calls/*.mp3' or 'calls/**/*.wav' (expanded by
    the command itself); they are transcribed concurrently.
    """
    out = Console(file=sys.stdout, highlight=False, soft_wrap=False)
    err = Console(file=sys.stderr, highlight=False, soft_wrap=True)
    key = api_key or os.environ.get("ASSEMBLYAI_API_KEY") or None
    url = base_url or os.environ.get("ASSEMBLYAI_BASE_URL") or None
    use_embedded = engine == "embedded" or (engine == "auto" and not key and not url)
    if not use_embedded and not key and _is_hosted(url):
        err.print(
            "audio-highlights: the hosted API needs an API key: pass --api-key or set "
            "ASSEMBLYAI_API_KEY, or use --engine embedded to run offline",
            markup=False,
        )
        return 2
    if accuracy and not use_embedded:
        err.print(
            "audio-highlights: --accuracy sets the embedded engine's decoding; "
            "it does not apply to a remote API (use --engine embedded)",
            markup=False,
        )
        return 2
    expansion = expand_inputs(inputs)
    items = expansion.inputs
    if use_embedded:
        allowed = frozenset(h.lower().strip("[]") for h in allow_url_hosts)
        items = [
            Input(i.source, _url_problem(i.source, allowed))
            if i.problem is None and is_url(i.source)
            else i
            for i in items
        ]
        why = (
            ""
            if engine == "embedded"
            else " (no API key; set ASSEMBLYAI_API_KEY for the hosted API)"
        )
        err.print(f"audio-highlights: using the embedded offline engine{why}", markup=False)
    if expansion.skipped:
        shown = ", ".join(os.path.basename(p) for p in expansion.skipped[:_SKIPPED_SHOWN])
        more = ", ..." if len(expansion.skipped) > _SKIPPED_SHOWN else ""
        err.print(
            f"audio-highlights: skipped {len(expansion.skipped)} files that are not audio "
            f"or video ({shown}{more})",
            markup=False,
        )

    names = [i.source for i in items]
    live = sys.stderr.isatty() and not no_progress
    progress = LiveProgress(names, err, live=live, stdout_is_terminal=sys.stdout.isatty())
    writer = ResultWriter(
        names,
        fmt=fmt,
        console=out,
        stream=sys.stdout,
        out_dir=out_dir,
        emit=progress.emit,
        on_saved=lambda path: err.print(f"wrote {path}", markup=False),
    )

    def on_result(index: int, result: Transcript | Failure) -> None:
        if isinstance(result, Failure):
            progress.finished(index, str(result))
        else:
            progress.finished(index, None, audio_duration=result.audio_duration)
        writer.add(index, result)

    if use_embedded:
        # Without --data-dir each run starts empty and leaves nothing behind
        # (a temporary store); only the speech model is kept, in the user cache.
        engine_options: dict[str, Any] = {"allow_url_hosts": allow_url_hosts}
        if workers:
            engine_options["workers"] = workers
        if accuracy:
            engine_options["accuracy"] = accuracy
        if data_dir:
            engine_options["data_dir"] = data_dir

        def open_client() -> contextlib.AbstractAsyncContextManager[AsyncClient]:
            return AsyncClient.embedded(**engine_options)

    else:

        def open_client() -> contextlib.AbstractAsyncContextManager[AsyncClient]:
            return AsyncClient(api_key=key, base_url=url)

    with progress:
        for index, item in enumerate(items):
            if item.problem is not None:
                kind = "UsageError" if is_url(item.source) else "SourceError"
                on_result(index, Failure(type=kind, message=item.problem))
        try:
            anyio.run(
                lambda: _run(
                    items,
                    open_client=open_client,
                    base_url=None if use_embedded else (url or DEFAULT_BASE_URL),
                    concurrency=concurrency,
                    timeout=timeout,
                    progress=progress,
                    on_result=on_result,
                )
            )
        except UsageError as exc:
            err.print(f"audio-highlights: {exc}", markup=False)
            return 2
        except AudioHighlightsError as exc:
            err.print(f"audio-highlights: {failure_of(exc)}", markup=False)
            return 1
    writer.finish()
    if progress.failed and len(items) > 1:
        err.print(
            f"audio-highlights: {progress.failed} of {len(items)} inputs failed", markup=False
        )
    return 1 if progress.failed else 0
