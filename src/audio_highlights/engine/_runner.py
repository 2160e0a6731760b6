"""The job runner: claims queued jobs and recognises them in worker processes."""

from __future__ import annotations

import importlib.util
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.abc

from ._asr import RecognizerUnavailable
from ._audio import AudioDecodeError
from ._language import LanguageModelUnavailable, resolve_model_dir
from ._model_files import ModelFilesError, whisper_base_dir
from ._outbound import DownloadError, Outbound, Refused, policies
from ._owners import OwnerLock
from ._pipeline import JobFailed, JobRequest, WarmUp
from ._retention import sweep_uploads
from ._settings import EngineSettings
from ._store import Job, Store, StoreError, StoreGone
from ._webhooks import deliver_webhook
from ._worker import WorkerCrashed, WorkerProcess

__all__ = ["Runner", "prepare_language_model", "prepare_recognizer"]

logger = logging.getLogger("audio_highlights.engine")

T = TypeVar("T")

_IDLE_POLL_S = 2.0  # also picks up jobs queued by another engine on the same data dir
_ORPHAN_CHECK_S = 10.0  # how often jobs of engines that died are requeued
_SWEEP_S = 600.0  # how often expired uploads are removed
_WATCH_S = 2.0  # how often a running job checks it was not deleted elsewhere
_STORE_BACKOFF_MAX_S = 5.0


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


def prepare_language_model(settings: EngineSettings) -> None:
    """Check that the key-phrase pipeline can be found and verified (blocking; run it in a thread).

    The bundled pipeline being unusable only warns (transcripts still work, key
    phrases come back ``unavailable``); a pipeline the user named must be usable.

    Raises:
        LanguageModelUnavailable: ``settings.spacy_model`` names nothing usable.
    """
    try:
        resolve_model_dir(settings.spacy_model)
    except LanguageModelUnavailable as exc:
        if settings.spacy_model is not None:
            raise
        message = f"key phrases will be unavailable: {exc}"
        logger.warning(message)
        warnings.warn(message, RuntimeWarning, stacklevel=3)


class Runner:
    """Runs queued jobs with at most ``settings.workers`` recognitions at once.

    Nothing a job does can end the runner: recognition, downloads, webhooks and
    store writes each catch and record their failures. A store write that fails
    (disk full, database locked) is retried with backoff until it goes through.
    """

    def __init__(
        self,
        settings: EngineSettings,
        store: Store,
        recognizer: str,
        model_dir: str | None,
        owner: OwnerLock,
    ) -> None:
        self.settings = settings
        self.store = store
        self.recognizer = recognizer
        self.model_dir = model_dir
        self.owner = owner
        audio, webhook = policies(settings.allow_url_hosts, settings.webhook_allow_loopback)
        self.outbound = Outbound(audio=audio, webhook=webhook)
        self._cpu_threads = max(1, (os.cpu_count() or 1) // settings.workers)
        self._wake = anyio.Event()
        self._tg: anyio.abc.TaskGroup | None = None
        self._running: dict[str, anyio.CancelScope] = {}
        self._complaints: dict[str, float] = {}
        #: Workers whose models are loaded (``GET /ready`` needs one).
        self.warm_workers = 0
        #: Why the last warm-up failed, if one did.
        self.warm_up_failure: str | None = None

    def wake(self) -> None:
        """Tell idle workers that a job was queued."""
        self._wake.set()
        self._wake = anyio.Event()

    def cancel(self, job_id: str) -> None:
        """Stop ``job_id`` if this engine is running it (it was deleted)."""
        scope = self._running.get(job_id)
        if scope is not None:
            scope.cancel()

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Run the worker loops until cancelled."""
        async with anyio.create_task_group() as tg:
            self._tg = tg
            for _ in range(self.settings.workers):
                tg.start_soon(self._worker)
            tg.start_soon(self._maintenance)
            task_status.started()

    def _complain(self, key: str, message: str, *args: Any) -> None:
        # One log line per kind of trouble a minute, however often it happens.
        now = time.monotonic()
        if now - self._complaints.get(key, -60.0) >= 60.0:
            self._complaints[key] = now
            logger.error(message, *args)

    async def _store(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a store call, retrying with backoff until it goes through.

        Raises:
            StoreGone: The database file is gone; retrying cannot help.
        """
        delay = 0.5
        while True:
            try:
                return await anyio.to_thread.run_sync(fn, *args)
            except StoreGone as exc:
                self._complain("gone", "%s", exc)
                raise
            except StoreError as exc:
                self._complain("store", "job store write failed, retrying: %s", exc)
                await anyio.sleep(delay)
                delay = min(delay * 2, _STORE_BACKOFF_MAX_S)

    async def _maintenance(self) -> None:
        last_sweep = -_SWEEP_S
        while True:
            try:
                await anyio.to_thread.run_sync(self.store.requeue_orphans, self.owner.is_alive)
                if time.monotonic() - last_sweep >= _SWEEP_S:
                    last_sweep = time.monotonic()
                    await anyio.to_thread.run_sync(sweep_uploads, self.settings, self.store)
            except StoreError as exc:
                self._complain("maintenance", "engine maintenance failed: %s", exc)
            except Exception as exc:  # noqa: BLE001 - maintenance must never end the engine
                self._complain("sweep", "engine maintenance failed: %s", exc)
            await anyio.sleep(_ORPHAN_CHECK_S)

    async def _worker(self) -> None:
        # One subprocess per worker loop, started with the engine and stopped with it.
        process = WorkerProcess()
        delay = 0.5
        try:
            await self._warm_up(process)
            while True:
                try:
                    job = await anyio.to_thread.run_sync(self.store.claim_next, self.owner.id)
                except StoreError as exc:
                    self._complain("claim", "cannot claim a job, retrying: %s", exc)
                    await anyio.sleep(delay)
                    delay = min(delay * 2, _STORE_BACKOFF_MAX_S)
                    continue
                delay = 0.5
                if job is None:
                    with anyio.move_on_after(_IDLE_POLL_S):
                        await self._wake.wait()
                    continue
                try:
                    await self._process(job, process)
                except Exception:
                    # _process records every failure it expects; this is the last net
                    # so that nothing a job does can end the worker loop.
                    logger.exception("job %s: unexpected failure in the runner", job.id)
        finally:
            await process.aclose()

    async def _warm_up(self, process: WorkerProcess) -> None:
        # Load the models now, so the first job does not wait for them.
        warm = WarmUp(
            recognizer=self.recognizer,
            model_dir=self.model_dir,
            cpu_threads=self._cpu_threads,
            spacy_model=self.settings.spacy_model,
        )
        try:
            await process.call(warm)
        except (RecognizerUnavailable, WorkerCrashed) as exc:
            # Jobs report it (or recover, for a crash) when they run.
            logger.warning("recognition worker warm-up failed: %s", exc)
            self.warm_up_failure = str(exc)
        else:
            self.warm_workers += 1

    async def _process(self, job: Job, process: WorkerProcess) -> None:
        status, result, error = "error", None, None
        limit = self.settings.max_job_time
        with anyio.CancelScope() as scope:
            self._running[job.id] = scope
            try:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._watch, job.id, scope)
                    with anyio.move_on_after(limit) as timer:
                        try:
                            result = await self._recognise(job, process)
                            status = "completed"
                        except (
                            AudioDecodeError,
                            JobFailed,
                            Refused,
                            RecognizerUnavailable,
                            WorkerCrashed,
                            DownloadError,
                        ) as exc:
                            error = self._public(str(exc))
                        except Exception as exc:
                            logger.exception("job %s failed", job.id)
                            error = self._public(
                                f"internal error while transcribing: {type(exc).__name__}: {exc}"
                            )
                    if timer.cancelled_caught:
                        error = f"processing took longer than the {limit:g} s limit per job"
                    tg.cancel_scope.cancel()
            finally:
                del self._running[job.id]
        if scope.cancelled_caught:
            return  # deleted while running: the store already says so
        try:
            recorded = await self._store(
                self.store.finish, job.id, self.owner.id, status, result, error
            )
        except StoreGone:
            return
        webhook_url = job.params.get("webhook_url")
        if recorded and webhook_url and self._tg is not None:
            self._tg.start_soon(self._webhook, job, status)

    async def _watch(self, job_id: str, scope: anyio.CancelScope) -> None:
        # A DELETE answered by another engine on this data dir cannot reach
        # self.cancel(): notice it in the store instead.
        while True:
            await anyio.sleep(_WATCH_S)
            try:
                status = await anyio.to_thread.run_sync(self.store.status_of, job_id)
            except StoreError:
                continue
            if status != "processing":
                scope.cancel()
                return

    def _public(self, message: str) -> str:
        # Job errors are shown to API callers: no server paths in them.
        for path in (self.settings.uploads_dir, self.settings.tmp_dir, self.settings.data_dir):
            message = message.replace(str(path), "<data dir>")
        return message

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
            with anyio.CancelScope(shield=True):
                await anyio.Path(path).unlink(missing_ok=True)

    async def _run_job(self, process: WorkerProcess, job: Job, path: Path) -> dict[str, Any]:
        request = JobRequest(
            path=str(path),
            params=job.params,
            recognizer=self.recognizer,
            model_dir=self.model_dir,
            cpu_threads=self._cpu_threads,
            accuracy=self.settings.accuracy,
            max_audio_duration=self.settings.max_audio_duration,
            spacy_model=self.settings.spacy_model,
        )
        out: dict[str, Any] = await process.call(request)
        return out

    async def _download(self, url: str) -> Path:
        self.settings.tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="download-", dir=self.settings.tmp_dir)
        os.close(fd)
        path = Path(name)
        done = False
        try:
            async with self.outbound.download(url) as chunks:
                size = 0
                async with await anyio.open_file(path, "wb") as f:
                    async for chunk in chunks:
                        size += len(chunk)
                        if size > self.settings.max_download_bytes:
                            raise DownloadError(f"Download error, {url} is too large")
                        await f.write(chunk)
            done = True
        except OSError as exc:
            raise DownloadError(f"Download error, cannot store {url}: {exc.strerror}") from exc
        finally:
            if not done:
                with anyio.CancelScope(shield=True):
                    await anyio.Path(path).unlink(missing_ok=True)
        return path

    async def _webhook(self, job: Job, status: str) -> None:
        name = job.params.get("webhook_auth_header_name")
        value = job.params.get("webhook_auth_header_value")
        header = (name, value) if name and value is not None else None
        try:
            code = await deliver_webhook(
                self.outbound,
                job.params["webhook_url"],
                {"transcript_id": job.id, "status": status},
                header,
                max_attempts=self.settings.webhook_max_attempts,
                initial_backoff=self.settings.webhook_initial_backoff,
                max_backoff=self.settings.webhook_max_backoff,
                timeout=self.settings.webhook_timeout,
            )
            await self._store(self.store.update_result, job.id, {"webhook_status_code": code})
        except Exception:
            # A webhook is a side task: whatever goes wrong, the engine runs on.
            logger.exception("webhook for job %s failed", job.id)
