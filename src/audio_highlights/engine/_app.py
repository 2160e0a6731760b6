"""The Starlette application: AssemblyAI v2 routes over the store and the runner."""

from __future__ import annotations

import hmac
import json
import os
import re
import uuid
from typing import Any
from urllib.parse import urlencode, urlsplit

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from . import _exports
from ._params import ParamError, check_params
from ._runner import Runner
from ._settings import EngineSettings
from ._ssrf import UrlRefused, check_fetch_url
from ._store import Store
from ._transcript import blank_result, list_item, transcript_json

__all__ = ["build_app"]

_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_UPLOAD_PATH = re.compile(r"^/v2/upload/([0-9a-f]{32})$")
_LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "embedded.audio-highlights"})
_STATUSES = ("queued", "processing", "completed", "error")
_CHUNK = 1 << 16


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class _BadRequest(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class _Auth:
    """Pure ASGI middleware requiring ``authorization: <api_key>`` on every request."""

    def __init__(self, app: ASGIApp, api_key: str) -> None:
        self.app = app
        self._key = api_key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                given = value
                break
        if not given or not hmac.compare_digest(given, self._key):
            response = _error(401, "Authentication error, API token missing/invalid")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _check_params(body: Any) -> dict[str, Any]:
    try:
        return check_params(body)
    except ParamError as exc:
        raise _BadRequest(str(exc)) from exc


def build_app(settings: EngineSettings, store: Store, runner: Runner) -> ASGIApp:
    """Create the ASGI app serving ``store`` and feeding ``runner``."""

    async def read_json(request: Request) -> Any:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > settings.max_json_bytes:
            raise _BadRequest("request body too large", status=413)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > settings.max_json_bytes:
                raise _BadRequest("request body too large", status=413)
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise _BadRequest(f"the request body is not valid JSON ({exc})") from exc
        except RecursionError as exc:
            # Thousands of nested brackets fit well under the size cap.
            raise _BadRequest("the request body is not valid JSON (nested too deeply)") from exc

    async def upload(request: Request) -> Response:
        limit = settings.max_upload_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            return _error(413, f"upload exceeds the {limit} byte limit")
        settings.tmp_dir.mkdir(parents=True, exist_ok=True)
        settings.uploads_dir.mkdir(parents=True, exist_ok=True)
        upload_id = uuid.uuid4().hex
        partial = settings.tmp_dir / f"upload-{upload_id}.part"
        size = 0
        done = False
        try:
            async with await anyio.open_file(partial, "wb") as f:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        return _error(413, f"upload exceeds the {limit} byte limit")
                    await f.write(chunk)
                await f.flush()
                await anyio.to_thread.run_sync(os.fsync, f.wrapped.fileno())
            # Only a complete file ever appears under its final name.
            await anyio.to_thread.run_sync(os.replace, partial, settings.uploads_dir / upload_id)
            done = True
        finally:
            if not done:
                partial.unlink(missing_ok=True)
        return JSONResponse({"upload_url": f"{_base_url(request)}/v2/upload/{upload_id}"})

    def own_upload(request: Request, audio_url: str) -> str | None:
        parts = urlsplit(audio_url)
        match = _UPLOAD_PATH.match(parts.path)
        if parts.scheme not in ("http", "https") or match is None:
            return None
        host = (parts.hostname or "").lower()
        if host not in _LOCAL_NAMES and parts.netloc != request.headers.get("host"):
            return None
        if not (settings.uploads_dir / match.group(1)).is_file():
            return None
        return match.group(1)

    async def create(request: Request) -> Response:
        try:
            params = _check_params(await read_json(request))
            upload_id = own_upload(request, params["audio_url"])
            if upload_id is None:
                await check_fetch_url(params["audio_url"], settings.allow_url_hosts)
            else:
                params["_upload"] = upload_id
        except _BadRequest as exc:
            return _error(exc.status, str(exc))
        except UrlRefused as exc:
            return _error(400, str(exc))
        except ValueError as exc:  # urlsplit refuses some malformed URLs ("http://[::1")
            return _error(400, f"audio_url is not a valid URL ({exc})")
        key = request.headers.get("idempotency-key")
        if key is not None and not 0 < len(key) <= 255:
            return _error(400, "Idempotency-Key must be 1-255 characters")
        job, created = await anyio.to_thread.run_sync(
            store.create, str(uuid.uuid4()), params["audio_url"], params, key
        )
        if created:
            runner.wake()
        ignored = params["_ignored_fields"]
        headers = {"X-Ignored-Fields": ", ".join(ignored)} if ignored else None
        return JSONResponse(transcript_json(job), headers=headers)

    async def listing(request: Request) -> Response:
        query = request.query_params
        limit_raw = query.get("limit", "10")
        if not limit_raw.isdigit() or not 1 <= int(limit_raw) <= 200:
            return _error(400, "limit must be an integer from 1 to 200")
        limit = int(limit_raw)
        status = query.get("status")
        if status is not None and status not in _STATUSES:
            return _error(400, f"status must be one of {', '.join(_STATUSES)}")
        created_on = query.get("created_on")
        if created_on is not None and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", created_on):
            return _error(400, "created_on must be a date like 2024-03-11")
        seqs: dict[str, int | None] = {}
        for name in ("before_id", "after_id"):
            value = query.get(name)
            seqs[name] = None
            if value is not None:
                seq = (
                    await anyio.to_thread.run_sync(store.seq_of, value)
                    if _ID.match(value)
                    else None
                )
                if seq is None:
                    return _error(400, f"{name} {value!r} is not a known transcript id")
                seqs[name] = seq
        jobs, older, newer = await anyio.to_thread.run_sync(
            store.page, limit, status, created_on, seqs["before_id"], seqs["after_id"]
        )
        base = _base_url(request)
        common = {"limit": str(limit)}
        if status:
            common["status"] = status
        if created_on:
            common["created_on"] = created_on
        current = (
            f"{base}/v2/transcript?{urlencode(dict(query))}"
            if query
            else (f"{base}/v2/transcript?{urlencode(common)}")
        )
        prev_url = (
            f"{base}/v2/transcript?{urlencode({**common, 'before_id': jobs[-1].id})}"
            if older
            else None
        )
        next_url = (
            f"{base}/v2/transcript?{urlencode({**common, 'after_id': jobs[0].id})}"
            if newer
            else None
        )
        return JSONResponse(
            {
                "page_details": {
                    "limit": limit,
                    "result_count": len(jobs),
                    "current_url": current,
                    "prev_url": prev_url,
                    "next_url": next_url,
                },
                "transcripts": [list_item(job, base) for job in jobs],
            }
        )

    async def lookup(request: Request) -> Any:
        job_id = request.path_params["transcript_id"]
        job = await anyio.to_thread.run_sync(store.get, job_id) if _ID.match(job_id) else None
        if job is None:
            raise _BadRequest("Transcript lookup error, transcript id not found", status=404)
        return job

    async def get_one(request: Request) -> Response:
        try:
            job = await lookup(request)
        except _BadRequest as exc:
            return _error(exc.status, str(exc))
        return JSONResponse(transcript_json(job))

    async def delete_one(request: Request) -> Response:
        try:
            job = await lookup(request)
        except _BadRequest as exc:
            return _error(exc.status, str(exc))
        if job.status in ("queued", "processing"):
            return _error(400, "Transcript is still being processed and cannot be deleted yet")
        deleted = await anyio.to_thread.run_sync(store.delete, job.id, blank_result(job))
        return JSONResponse(transcript_json(deleted or job))

    async def completed_transcript(request: Request) -> dict[str, Any]:
        job = await lookup(request)
        if job.status != "completed":
            raise _BadRequest(f"Transcript is not completed (status: {job.status})")
        return transcript_json(job)

    async def sentences(request: Request) -> Response:
        try:
            return JSONResponse(_exports.sentences(await completed_transcript(request)))
        except _BadRequest as exc:
            return _error(exc.status, str(exc))

    async def paragraphs(request: Request) -> Response:
        try:
            return JSONResponse(_exports.paragraphs(await completed_transcript(request)))
        except _BadRequest as exc:
            return _error(exc.status, str(exc))

    async def word_search(request: Request) -> Response:
        raw = request.query_params.get("words", "")
        terms = [t.strip() for t in raw.split(",") if t.strip()]
        if not terms:
            return _error(400, "words must be a comma-separated list of words")
        try:
            return JSONResponse(_exports.word_search(await completed_transcript(request), terms))
        except _BadRequest as exc:
            return _error(exc.status, str(exc))

    async def captions(request: Request) -> Response:
        fmt = request.path_params["subtitle_format"]
        if fmt not in ("srt", "vtt"):
            return _error(404, "Not Found")
        raw = request.query_params.get("chars_per_caption", "32")
        if not raw.isdigit() or int(raw) < 1:
            return _error(400, "chars_per_caption must be a positive integer")
        try:
            transcript = await completed_transcript(request)
        except _BadRequest as exc:
            return _error(exc.status, str(exc))
        return PlainTextResponse(_exports.subtitles(transcript, fmt, int(raw)))

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else "internal server error"
        return _error(status, str(detail))

    app: ASGIApp = Starlette(
        routes=[
            Route("/v2/upload", upload, methods=["POST"]),
            Route("/v2/transcript", create, methods=["POST"]),
            Route("/v2/transcript", listing, methods=["GET"]),
            Route("/v2/transcript/{transcript_id}", get_one, methods=["GET"]),
            Route("/v2/transcript/{transcript_id}", delete_one, methods=["DELETE"]),
            Route("/v2/transcript/{transcript_id}/sentences", sentences, methods=["GET"]),
            Route("/v2/transcript/{transcript_id}/paragraphs", paragraphs, methods=["GET"]),
            Route("/v2/transcript/{transcript_id}/word-search", word_search, methods=["GET"]),
            Route("/v2/transcript/{transcript_id}/{subtitle_format}", captions, methods=["GET"]),
        ],
        exception_handlers={HTTPException: http_error, Exception: http_error},
    )
    if settings.api_key:
        app = _Auth(app, settings.api_key)
    return app
