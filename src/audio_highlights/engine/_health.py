"""The engine's liveness and readiness answers (``GET /health``, ``GET /ready``).

Load balancers and orchestrators ask these without the API key, so the
answers say what is wrong in a word, never with a path or a message of the
server's own.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .._version import __version__
from ._runner import Runner
from ._settings import EngineSettings
from ._store import Store, StoreBusy, StoreError, StoreFull, StoreGone

__all__ = ["PUBLIC_PATHS", "health_routes"]

#: Paths answered without the API key.
PUBLIC_PATHS = frozenset({"/", "/health", "/ready"})

# A readiness probe that waits longer than this has its answer: not ready.
_PROBE_SECONDS = 2.0


def _write_probe(directory: str) -> None:
    # The uploads and partial files go there: it must take a write too.
    os.makedirs(directory, exist_ok=True)
    with tempfile.TemporaryFile(dir=directory) as f:
        f.write(b"ready?")
        f.flush()


def _store_state(exc: Exception) -> str:
    if isinstance(exc, StoreGone):
        return "gone"  # deleted or replaced under the running engine
    if isinstance(exc, StoreBusy):
        return "busy"
    if isinstance(exc, StoreFull | OSError):
        return "not writable"
    return "failing"


def health_routes(settings: EngineSettings, store: Store, runner: Runner) -> list[Route]:
    """``GET /`` and ``GET /health`` (liveness), ``GET /ready`` (readiness)."""

    async def health(request: Request) -> Response:
        # Cheap on purpose: it answers as long as the server does.
        return JSONResponse({"status": "ok", "version": __version__})

    async def ready(request: Request) -> Response:
        problems: list[str] = []
        store_state = "writable"
        with anyio.move_on_after(_PROBE_SECONDS) as probe:
            try:
                await anyio.to_thread.run_sync(store.check_writable, abandon_on_cancel=True)
                await anyio.to_thread.run_sync(
                    _write_probe, str(settings.tmp_dir), abandon_on_cancel=True
                )
            except (StoreError, OSError) as exc:
                store_state = _store_state(exc)
        if probe.cancelled_caught:
            store_state = "busy"
        if store_state != "writable":
            problems.append(f"the job store is {store_state}")
        if runner.warm_workers:
            model = "loaded"
        elif runner.warm_up_failure is not None:
            model = "failed to load"
        else:
            model = "loading"
        if model != "loaded":
            problems.append(f"the speech model is {model}")
        body: dict[str, Any] = {
            "status": "ready" if not problems else "not ready",
            "recognizer": runner.recognizer,
            "model": model,
            "workers": {"ready": runner.warm_workers, "total": settings.workers},
            "store": store_state,
        }
        if problems:
            body["error"] = "not ready: " + "; ".join(problems)
        return JSONResponse(body, status_code=503 if problems else 200)

    return [
        Route("/", health, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/ready", ready, methods=["GET"]),
    ]
