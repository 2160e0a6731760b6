"""``audio-highlights cache``: see and clear what the embedded engine keeps on disk.

The embedded engine (``AsyncClient.embedded()``, the command line without an API
key) keeps its job database, uploads and assembled model under the data dir,
by default ``~/.cache/audio-highlights``. Uploads expire on their own
(``upload_retention``); transcripts stay until deleted. This command shows the
size and removes it all, except the model unless ``--all``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from ._owners import live_owners
from ._settings import default_data_dir

__all__ = ["cache_main"]

# What "clear" removes; models/ goes too only with --all (it is slow to rebuild).
_JOB_DATA = ("engine.sqlite3", "engine.sqlite3-wal", "engine.sqlite3-shm", "uploads", "tmp")


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="audio-highlights cache",
        description="Show or clear the embedded engine's data dir (jobs, uploads, model).",
    )
    p.add_argument("action", choices=("info", "clear"))
    p.add_argument("--data-dir", help=f"the data dir (default {default_data_dir()})")
    p.add_argument("--all", action="store_true", help="clear the assembled model too")
    return p


def cache_main(argv: Sequence[str] | None = None) -> int:
    """Run ``audio-highlights cache info|clear`` with ``argv``.

    Returns:
        0 done; 1 an engine is running on that data dir (nothing removed); 2 usage.
    """
    args = _parser().parse_args(argv)
    data_dir = Path(args.data_dir).expanduser() if args.data_dir else default_data_dir()
    names = [*_JOB_DATA, "models"] if args.all or args.action == "info" else list(_JOB_DATA)
    present = [data_dir / n for n in names if (data_dir / n).exists()]
    total = sum(_size(p) for p in present)
    if args.action == "info":
        for path in present:
            print(f"{_size(path):>14,} bytes  {path}")
        print(f"{total:>14,} bytes  in all")
        return 0
    running = live_owners(data_dir)
    if running:
        print(
            f"audio-highlights cache: an engine is running on {data_dir} "
            f"(pid {', '.join(running)}); stop it first",
            file=sys.stderr,
        )
        return 1
    for path in present:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    print(f"removed {total:,} bytes from {data_dir}")
    return 0
