"""The job runner: claims queued jobs and recognises them in worker processes."""

from __future__ import annotations

import importlib.util
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import anyio
import anyio.abc

from .._errors import APIConnectionError
from .._http import HTTPSession
from ._asr import RecognizerUnavailable
from ._audio import AudioDecodeError
from ._model_files import ModelFilesError, whisper_base_dir
from ._pipeline import JobFailed, JobRequest, WarmUp
from ._settings import EngineSettings
from ._ssrf import UrlRefused, check_fetch_url, is_public_address
from ._store import Job, Store
from ._webhooks import deliver_webhook
from ._worker import WorkerCrashed, WorkerProcess

__all__ = ["Runner", "prepare_recognizer"]

logger = logging.getLogger("audio_highlights.engine")


def _fall_back(reason: str) -> tuple[str, str | None]:
    message = f"whisper recognizer unavailable ({reason}); falling back to pocketsphinx"
    logger.warning(message)
    warnings.warn(message, RuntimeWarning, stacklevel=3)
    return "pocketsphinx", None


def prepare_recognizer(settings: EngineSettings) -> tuple[str, str | None]:
    """Pick the recognizer and model directory (blocking; run it in a thread).

    Whisper uses, in order: ``settings.model_dir``, the packaged model (assembled
    once under the data dir), or a model faster-whisper already has in its hub
    cache. If none is usable the engine falls back to pocketsphinx with a warning.

    Returns:
        ``(recognizer, model_dir)``; ``model_dir`` is ``None`` for pocketsphinx.
    """
    if settings.recognizer == "pocketsphinx":
        return "pocketsphinx", None
    if importlib.util.find_spec("faster_whisper") is None:
        return _fall_back("faster-whisper is not installed")
    if settings.model_dir is not None:
        if (settings.model_dir / "model.bin").is_file():
            return "whisper", str(settings.model_dir)
        return _fall_back(f"no model.bin in {settings.model_dir}")
    try:
        return "whisper", str(whisper_base_dir(settings.models_dir))
    except (ModelFilesError, OSError) as exc:
        packaged_error = str(exc)
    from faster_whisper.utils import download_model  # type: ignore[import-untyped,unused-ignore]

    hub_errors = []
    # A model already in the hub cache first; then the hub itself, where reachable.
    for local_only in (True, False):
        try:
            return "whisper", str(download_model("base", local_files_only=local_only))
        except Exception as exc:  # noqa: BLE001 - any hub failure just means "not available"
            hub_errors.append(str(exc))
    return _fall_back(f"{packaged_error}; no hub model either ({hub_errors[-1]})")


class Runner:
    """Runs queued jobs with at most ``settings.workers`` recognitions at once."""

    def __init__(
        self, settings: EngineSettings, store: Store, recognizer: str, model_dir: str | None
    ) -> None:
        self.settings = settings
        self.store = store
        self.recognizer = recognizer
        self.model_dir = model_dir
        self._cpu_threads = max(1, (os.cpu_count() or 1) // settings.workers)
        self._wake = anyio.Event()
        self._tg: anyio.abc.TaskGroup | None = None

    def wake(self) -> None:
        """Tell idle workers that a job was queued."""
        self._wake.set()
        self._wake = anyio.Event()

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Run the worker loops until cancelled."""
        await anyio.to_thread.run_sync(self.store.requeue_interrupted)
        async with anyio.create_task_group() as tg:
            self._tg = tg
            for _ in range(self.settings.workers):
                tg.start_soon(self._worker)
            task_status.started()

    async def _worker(self) -> None:
        # One subprocess per worker loop, started with the engine and stopped with it.
        process = WorkerProcess()
        try:
            await self._warm_up(process)
            while True:
                job = await anyio.to_thread.run_sync(self.store.claim_next)
                if job is None:
                    # Polling as well as waking covers jobs queued by another process.
                    with anyio.move_on_after(2.0):
                        await self._wake.wait()
                    continue
                await self._process(job, process)
        finally:
            await process.aclose()

    async def _warm_up(self, process: WorkerProcess) -> None:
        # Load the models now, so the first job does not wait for them.
        warm = WarmUp(
            recognizer=self.recognizer, model_dir=self.model_dir, cpu_threads=self._cpu_threads
        )
        try:
            await process.call(warm)
        except (RecognizerUnavailable, WorkerCrashed) as exc:
            # Jobs report it (or recover, for a crash) when they run.
            logger.warning("recognition worker warm-up failed: %s", exc)

    async def _process(self, job: Job, process: WorkerProcess) -> None:
        status, result, error = "error", None, None
        try:
            result = await self._recognise(job, process)
            status = "completed"
        except (
            AudioDecodeError,
            JobFailed,
            UrlRefused,
            RecognizerUnavailable,
            WorkerCrashed,
            _FetchError,
        ) as exc:
            error = str(exc)
        except Exception as exc:
            logger.exception("job %s failed", job.id)
            error = f"internal error while transcribing: {type(exc).__name__}: {exc}"
        await anyio.to_thread.run_sync(self.store.finish, job.id, status, result, error)
        webhook_url = job.params.get("webhook_url")
        if webhook_url and self._tg is not None:
            self._tg.start_soon(self._webhook, job, status)

    async def _recognise(self, job: Job, process: WorkerProcess) -> dict[str, Any]:
        upload = job.params.get("_upload")
        if upload:
            path = self.settings.uploads_dir / upload
            if not path.is_file():
                raise AudioDecodeError("the uploaded file no longer exists")
            return await self._run_job(process, job, path)
        path = await self._download(job.audio_url)
        try:
            return await self._run_job(process, job, path)
        finally:
            path.unlink(missing_ok=True)

    async def _run_job(self, process: WorkerProcess, job: Job, path: Path) -> dict[str, Any]:
        request = JobRequest(
            path=str(path),
            params=job.params,
            recognizer=self.recognizer,
            model_dir=self.model_dir,
            cpu_threads=self._cpu_threads,
            accuracy=self.settings.accuracy,
        )
        out: dict[str, Any] = await process.call(request)
        return out

    async def _download(self, url: str) -> Path:
        await check_fetch_url(url, self.settings.allow_url_hosts)
        self.settings.tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="download-", dir=self.settings.tmp_dir)
        os.close(fd)
        path = Path(name)
        done = False
        # No proxies from the environment: the address checks assume a direct connection.
        session = HTTPSession(
            timeout=60, connect_timeout=10, max_connections=1, verify=True, trust_env=False
        )
        try:
            async with session.stream_get(url) as (status, peer, chunks):
                # The name was checked before connecting, but DNS may answer
                # differently the second time (rebinding): check where we landed.
                if peer is None or not is_public_address(peer):
                    raise _FetchError(
                        f"Download error, {url} resolved to a non-public address when fetched"
                    )
                if status != 200:
                    raise _FetchError(f"Download error, {url} answered HTTP {status}")
                size = 0
                async with await anyio.open_file(path, "wb") as f:
                    async for chunk in chunks:
                        size += len(chunk)
                        if size > self.settings.max_download_bytes:
                            raise _FetchError(f"Download error, {url} is too large")
                        await f.write(chunk)
            done = True
        except APIConnectionError as exc:
            raise _FetchError(f"Download error, unable to download {url}: {exc}") from exc
        finally:
            with anyio.CancelScope(shield=True):
                await session.aclose()
                if not done:
                    await anyio.Path(path).unlink(missing_ok=True)
        return path

    async def _webhook(self, job: Job, status: str) -> None:
        name = job.params.get("webhook_auth_header_name")
        value = job.params.get("webhook_auth_header_value")
        header = (name, value) if name and value is not None else None
        code = await deliver_webhook(
            job.params["webhook_url"],
            {"transcript_id": job.id, "status": status},
            header,
            max_attempts=self.settings.webhook_max_attempts,
            initial_backoff=self.settings.webhook_initial_backoff,
            max_backoff=self.settings.webhook_max_backoff,
            timeout=self.settings.webhook_timeout,
        )
        await anyio.to_thread.run_sync(
            self.store.update_result, job.id, {"webhook_status_code": code}
        )


class _FetchError(RuntimeError):
    """``audio_url`` could not be downloaded."""
