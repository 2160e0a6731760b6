"""Open the embedded engine: store, recognizer, job runner and ASGI app, as one unit."""

from __future__ import annotations

import contextlib
import functools
import logging
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from attrs import frozen
from starlette.types import ASGIApp

from ._app import build_app
from ._owners import OwnerLock
from ._runner import Runner, prepare_language_model, prepare_recognizer
from ._settings import EngineSettings, data_dir_from_environment, default_data_dir
from ._store import Store

__all__ = ["Engine", "open_engine"]

logger = logging.getLogger("audio_highlights.engine")

_STALE_PARTIAL_S = 3600.0


@frozen
class Engine:
    """A running engine.

    Attributes:
        app: The started ASGI application (AssemblyAI v2 routes).
        settings: The settings it runs with.
        recognizer: The recognizer actually in use (``"whisper"`` or ``"pocketsphinx"``).
    """

    app: ASGIApp
    settings: EngineSettings
    recognizer: str


def _prepare_dirs(settings: EngineSettings) -> None:
    for directory in (settings.data_dir, settings.uploads_dir, settings.tmp_dir):
        directory.mkdir(parents=True, exist_ok=True)
    # Partial files of a killed run are never served; drop them once they are
    # clearly abandoned (another engine on the same data dir may still be writing
    # fresh ones).
    cutoff = time.time() - _STALE_PARTIAL_S
    for path in settings.tmp_dir.iterdir():
        with contextlib.suppress(OSError):
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()


def _is_temporary(temporary: bool | None, settings: EngineSettings | None, options: Any) -> bool:
    if temporary is not None:
        if temporary and (settings is not None or "data_dir" in options):
            raise TypeError("temporary=True makes its own data_dir; pass one or the other")
        return temporary
    return settings is None and "data_dir" not in options and not data_dir_from_environment()


@asynccontextmanager
async def open_engine(
    settings: EngineSettings | None = None, *, temporary: bool | None = False, **options: Any
) -> AsyncIterator[Engine]:
    """Start the engine and stop it, with every task it started, on exit.

    Jobs left queued or processing by an earlier run on the same data dir are
    requeued and finished. Several engines may share a data dir (and its
    queue): a job is requeued only when the engine that was processing it has
    stopped.

    Args:
        settings: Complete settings; or pass :class:`EngineSettings` fields as
            keyword ``options`` instead.
        temporary: Keep jobs and uploads in a fresh directory removed on exit,
            so nothing is left behind and nothing from an earlier run is seen;
            the speech model is still assembled once into the lasting cache
            (``model_cache_dir``, default: the default data dir's ``models``).
            ``None`` decides: temporary unless a data dir is given (``settings``,
            ``data_dir`` or ``AUDIO_HIGHLIGHTS_DATA_DIR``), as
            :meth:`AsyncClient.embedded() <audio_highlights.AsyncClient.embedded>` does.
        **options: Fields of :class:`EngineSettings` (``data_dir``, ``workers`` ...).

    Yields:
        The running :class:`Engine`; talk to ``engine.app`` over ASGI.

    Raises:
        LanguageModelUnavailable: ``spacy_model`` names no usable spaCy pipeline.
    """
    if _is_temporary(temporary, settings, options):
        scratch = await anyio.to_thread.run_sync(
            functools.partial(tempfile.mkdtemp, prefix="audio-highlights-")
        )
        options.setdefault("model_cache_dir", default_data_dir() / "models")
        try:
            async with open_engine(data_dir=scratch, **options) as engine:
                yield engine
        finally:
            # Uploads can be large: removed in a thread, and even when cancelled.
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(shutil.rmtree, scratch, True)
        return
    if settings is None:
        settings = EngineSettings(**options)
    elif options:
        raise TypeError("pass either settings or keyword options, not both")
    await anyio.to_thread.run_sync(_prepare_dirs, settings)
    recognizer, model_dir = await anyio.to_thread.run_sync(prepare_recognizer, settings)
    logger.info("engine recognizer: %s (%s)", recognizer, model_dir or "bundled model")
    await anyio.to_thread.run_sync(prepare_language_model, settings)
    store = await anyio.to_thread.run_sync(Store, settings.db_path)
    owner = await anyio.to_thread.run_sync(OwnerLock, settings.data_dir)
    try:
        runner = Runner(settings, store, recognizer, model_dir, owner)
        app = build_app(settings, store, runner)
        async with anyio.create_task_group() as tg:
            await tg.start(runner.run)
            try:
                yield Engine(app=app, settings=settings, recognizer=recognizer)
            finally:
                tg.cancel_scope.cancel()
    finally:
        owner.close()
        store.close()
