"""``audio-highlights cache info|clear``: what the engine keeps on disk (click; the engine acts)."""

from __future__ import annotations

from pathlib import Path

import click

from .._version import __version__

__all__ = ["cache"]

_DATA_DIR = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="AUDIO_HIGHLIGHTS_DATA_DIR",
    help="The data dir (default: $AUDIO_HIGHLIGHTS_DATA_DIR, else ~/.cache/audio-highlights).",
)


def _data_dir(given: Path | None) -> Path:
    from ..engine import default_data_dir

    return given.expanduser() if given is not None else default_data_dir()


@click.group(
    short_help="Show or clear what the engine keeps on disk.",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="audio-highlights")
def cache() -> None:
    """Show or clear what the engine keeps on disk (jobs, uploads, the speech model).

    `serve` and --data-dir runs keep their jobs and uploads in the data dir; the
    command line's and AsyncClient.embedded()'s own runs use a temporary one
    and leave only the speech model behind.
    """


@cache.command()
@_DATA_DIR
def info(data_dir: Path | None) -> int:
    """Print what the data dir holds, and how large it is."""
    from ..engine import cache_entries

    where = _data_dir(data_dir)
    entries = cache_entries(where, models=True)
    for path, size in entries:
        click.echo(f"{size:>14,} bytes  {path}")
    click.echo(f"{sum(size for _, size in entries):>14,} bytes  in {where}")
    return 0


@cache.command(short_help="Remove the jobs and uploads (--all: the model too).")
@_DATA_DIR
@click.option("--all", "everything", is_flag=True, help="Remove the assembled model too.")
def clear(data_dir: Path | None, everything: bool) -> int:
    """Remove the jobs, transcripts and uploads (and with --all the model)."""
    from ..engine import EngineRunning, clear_cache

    where = _data_dir(data_dir)
    try:
        removed = clear_cache(where, models=everything)
    except EngineRunning as exc:
        click.echo(f"audio-highlights cache: {exc}; stop it first", err=True)
        return 1
    click.echo(f"removed {removed:,} bytes from {where}")
    return 0
