"""How long audio stays on disk: uploads expire, deleted jobs take their audio along.

Blocking functions (call them in a thread).
"""

from __future__ import annotations

import contextlib
import logging
import re
import time

from ._settings import EngineSettings
from ._store import Store

__all__ = ["remove_upload", "sweep_uploads"]

logger = logging.getLogger("audio_highlights.engine")

_UPLOAD_NAME = re.compile(r"^[0-9a-f]{32}$")


def remove_upload(settings: EngineSettings, upload_id: str) -> bool:
    """Delete one upload's file; return whether it existed."""
    if not _UPLOAD_NAME.match(upload_id):
        return False
    try:
        (settings.uploads_dir / upload_id).unlink()
    except FileNotFoundError:
        return False
    return True


def sweep_uploads(settings: EngineSettings, store: Store) -> int:
    """Remove uploads older than ``settings.upload_retention``; return how many.

    An upload a queued or processing job still needs is kept until that job is
    done, however old it is.
    """
    retention = settings.upload_retention
    if retention is None or not settings.uploads_dir.is_dir():
        return 0
    cutoff = time.time() - retention
    in_use = store.uploads_in_use()
    removed = 0
    for path in settings.uploads_dir.iterdir():
        if not _UPLOAD_NAME.match(path.name) or path.name in in_use:
            continue
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
    if removed:
        logger.info("removed %d upload(s) older than %g s", removed, retention)
    return removed
