"""``audio-highlights serve``: the offline engine as an HTTP server.

The options and help are click's, like the rest of the command line; the
engine runs the server (:func:`audio_highlights.engine.run_server`). Only
click is needed here (the engine extra's uvicorn brings it), not rich.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .. import UsageError
from .._version import __version__

__all__ = ["serve"]

_EPILOG = """\
Any AssemblyAI client can use it: point ASSEMBLYAI_BASE_URL (or base_url=) at
http://HOST:PORT. GET /health answers as long as the server runs; GET /ready
answers 200 once a recognition worker has loaded its model and the job store
takes writes, else 503 (for load balancers and orchestrators).

Exit status: 0 after a clean shutdown (Ctrl-C), 2 unusable options or a
missing engine extra.
"""

_SECONDS = click.FloatRange(min=0, min_open=True)


class _SecondsOrNone(click.ParamType):  # type: ignore[type-arg,unused-ignore]
    name = "SECONDS|none"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value is None or isinstance(value, float):
            return value
        if str(value).lower() in ("none", "forever"):
            return None
        try:
            return float(value)
        except ValueError:
            self.fail(f"{value!r} is neither a number of seconds nor 'none'", param, ctx)


@click.command(
    epilog=_EPILOG,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="Port to bind."
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="AUDIO_HIGHLIGHTS_DATA_DIR",
    help="Jobs, uploads and models (default: $AUDIO_HIGHLIGHTS_DATA_DIR, else "
    "~/.cache/audio-highlights).",
)
@click.option(
    "--workers", type=click.IntRange(min=1), help="Recognition worker processes (default: cores)."
)
@click.option(
    "--api-key",
    envvar="AUDIO_HIGHLIGHTS_API_KEY",
    help="Require 'authorization: KEY' on every request (default: $AUDIO_HIGHLIGHTS_API_KEY); "
    "needed to bind beyond loopback.",
)
@click.option(
    "--max-upload-bytes", type=click.IntRange(min=1), help="Largest accepted upload (2.2 GB)."
)
@click.option(
    "--allow-url-host",
    "allow_url_hosts",
    multiple=True,
    metavar="HOST",
    help="A host audio_url may be downloaded from (repeatable).",
)
@click.option(
    "--webhook-allow-loopback",
    is_flag=True,
    help="Let webhook_url point at this machine (an app on the same host).",
)
@click.option(
    "--upload-retention",
    type=_SecondsOrNone(),
    help="Keep uploads this long (default 86400; 'none': until their transcript is deleted).",
)
@click.option(
    "--max-audio-duration", type=_SECONDS, metavar="SECONDS", help="Longest audio (36000)."
)
@click.option(
    "--max-job-time", type=_SECONDS, metavar="SECONDS", help="Longest processing (14400)."
)
@click.option(
    "--max-connections",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Open connections at most (lowered to fit the open-file limit).",
)
@click.option(
    "--header-timeout",
    type=_SECONDS,
    default=10.0,
    show_default=True,
    metavar="SECONDS",
    help="Close a connection that has not sent a whole request head by then.",
)
@click.option(
    "--body-timeout",
    type=_SECONDS,
    metavar="SECONDS",
    help="Answer 408 when a request body stalls this long (30).",
)
@click.option(
    "--recognizer",
    type=click.Choice(["whisper", "pocketsphinx"]),
    default="whisper",
    show_default=True,
)
@click.option(
    "--model-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="A faster-whisper model directory to use instead of the packaged one.",
)
@click.option(
    "--accuracy",
    type=click.Choice(["fast", "accurate"]),
    default="fast",
    show_default=True,
    help="Whisper decoding: fast (greedy) or accurate (beam search, about 1.4x slower).",
)
@click.option(
    "--spacy-model",
    metavar="NAME_OR_DIR",
    help="spaCy pipeline for key phrases: a model package name or directory "
    "(default: the bundled en_core_web_sm).",
)
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug", "trace"]),
    default="info",
    show_default=True,
    help="uvicorn's log level.",
)
@click.version_option(__version__, prog_name="audio-highlights")
def serve(
    host: str,
    port: int,
    max_connections: int,
    header_timeout: float,
    log_level: str,
    allow_url_hosts: tuple[str, ...],
    **given: Any,
) -> int:
    """Serve the offline AssemblyAI-compatible engine over HTTP."""
    from ..engine import EngineSettings, run_server

    options = {k: v for k, v in given.items() if v is not None}
    options["allow_url_hosts"] = allow_url_hosts
    options["api_key"] = options.get("api_key") or None
    if "upload_retention" in given and given["upload_retention"] is None:
        source = click.get_current_context().get_parameter_source("upload_retention")
        if source is click.core.ParameterSource.COMMANDLINE:
            options["upload_retention"] = None  # 'none': kept until deleted
    try:
        settings = EngineSettings(**options)
    except (TypeError, ValueError) as exc:
        raise click.UsageError(str(exc)) from exc
    try:
        # Without the engine extra this raises ImportError naming the missing
        # module before anything starts: exit 2 with the install line.
        run_server(
            settings,
            host=host,
            port=port,
            log_level=log_level,
            max_connections=max_connections,
            header_timeout=header_timeout,
        )
    except UsageError as exc:
        raise click.UsageError(str(exc)) from exc
    return 0
