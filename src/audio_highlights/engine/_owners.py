"""Which engines are alive on a data dir: one locked file per running engine.

Several engines (two ``audio-highlights`` commands, a server and a script) may
share a data dir: they share its queue, and each job in ``processing`` records
the engine that claimed it. An engine holds an exclusive ``flock`` on
``owners/<id>.lock`` for as long as it runs; the kernel releases it when the
process dies, even by ``kill -9``. So an engine requeues a ``processing`` job
only when its owner's lock is free, never one another live engine is working
on, and a crashed engine's jobs are requeued at once rather than after a lease
runs out.

Where ``fcntl`` is missing (Windows), every other owner counts as gone, which
is the behaviour of a single engine per data dir.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["OwnerLock", "live_owners"]


class OwnerLock:
    """This engine's lock on its data dir, and the liveness test for the others."""

    def __init__(self, data_dir: Path) -> None:
        self.id = uuid.uuid4().hex
        self._dir = data_dir / "owners"
        self._dir.mkdir(parents=True, exist_ok=True)
        self._file: IO[bytes] | None = (self._dir / f"{self.id}.lock").open("wb")
        if fcntl is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._file.write(str(os.getpid()).encode())
        self._file.flush()

    def is_alive(self, owner: str) -> bool:
        """Whether the engine ``owner`` still holds its lock."""
        if owner == self.id:
            return True
        if fcntl is None or not owner.isalnum():
            return False
        path = self._dir / f"{owner}.lock"
        try:
            f = path.open("rb")
        except FileNotFoundError:
            return False
        with f:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            # Its engine is gone: the stale file goes too.
            with contextlib.suppress(OSError):
                path.unlink()
            return False

    def close(self) -> None:
        """Release the lock (the engine stops)."""
        if self._file is None:
            return
        with contextlib.suppress(OSError):
            (self._dir / f"{self.id}.lock").unlink()
        self._file.close()
        self._file = None


def live_owners(data_dir: Path) -> list[str]:
    """Process ids of the engines running on ``data_dir`` (as they wrote them)."""
    owners = data_dir / "owners"
    if fcntl is None or not owners.is_dir():
        return []
    alive = []
    for path in owners.glob("*.lock"):
        try:
            f = path.open("rb")
        except OSError:
            continue
        with f:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                alive.append(f.read().decode(errors="replace") or "?")
    return alive
