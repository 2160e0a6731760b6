"""What the engine keeps on disk, and removing it (``audio-highlights cache info|clear``).

``audio-highlights serve`` and any run given a data dir keep the job database,
uploads and assembled model there (by default ``~/.cache/audio-highlights``);
``AsyncClient.embedded()`` and the command line otherwise use a temporary
store and leave only the model in the user cache. Uploads expire on their own
(``upload_retention``); transcripts stay until deleted or cleared here.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ._owners import live_owners

__all__ = ["EngineRunning", "cache_entries", "clear_cache"]

# What "clear" removes; models/ goes too only with --all (it is slow to rebuild).
_JOB_DATA = ("engine.sqlite3", "engine.sqlite3-wal", "engine.sqlite3-shm", "uploads", "tmp")


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


class EngineRunning(RuntimeError):
    """An engine is running on the data dir: its files are not removed from under it."""


def cache_entries(data_dir: Path, *, models: bool = True) -> list[tuple[Path, int]]:
    """What the data dir holds, as ``(path, bytes)``.

    The job store, uploads and partial files, and with ``models`` the
    assembled speech model.
    """
    names = [*_JOB_DATA, "models"] if models else list(_JOB_DATA)
    return [(data_dir / n, _size(data_dir / n)) for n in names if (data_dir / n).exists()]


def clear_cache(data_dir: Path, *, models: bool = False) -> int:
    """Remove the data dir's jobs, transcripts and uploads (and with ``models`` the model).

    Returns:
        The bytes removed.

    Raises:
        EngineRunning: An engine holds the data dir; nothing was removed.
    """
    running = live_owners(data_dir)
    if running:
        raise EngineRunning(f"an engine is running on {data_dir} (pid {', '.join(running)})")
    entries = cache_entries(data_dir, models=models)
    for path, _ in entries:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    return sum(size for _, size in entries)
