"""The Starlette application: AssemblyAI v2 routes over the store and the runner."""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import hmac
import json
import logging
import os
import re
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import _exports
from ._health import PUBLIC_PATHS, health_routes
from ._outbound import Refused, check_webhook_header, vet_url
from ._params import ParamError, check_params
from ._retention import remove_upload
from ._runner import Runner
from ._settings import EngineSettings
from ._store import Job, Store, StoreBusy, StoreError, StoreFull, StoreGone
from ._transcript import blank_params, blank_result, list_item, transcript_json

__all__ = ["build_app"]

_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_UPLOAD_PATH = re.compile(r"^/v2/upload/([0-9a-f]{32})$")
_LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "embedded.audio-highlights"})
_STATUSES = ("queued", "processing", "completed", "error")
_CHUNK = 1 << 16
_LIMIT = re.compile(r"^[0-9]{1,3}$")
_POSITIVE = re.compile(r"^[0-9]{1,6}$")
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_CANCELLED = "Transcript deleted by user before it finished"

logger = logging.getLogger("audio_highlights.engine")


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class _BadRequest(Exception):
    """Answered as ``{"error": message}`` with ``status`` by the app's exception handler."""

    def __init__(
        self, message: str, status: int = 400, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.headers = dict(headers or {})


def _status_of(exc: Exception) -> _BadRequest | None:
    """The answer for an exception a route let through (``None``: a bug, answered 500)."""
    if isinstance(exc, _BadRequest):
        return exc
    if isinstance(exc, Refused):
        return _BadRequest(str(exc))
    if isinstance(exc, StoreFull):
        return _BadRequest(f"Insufficient storage: {exc}", status=507)
    if isinstance(exc, StoreGone):
        return _BadRequest(f"Service unavailable: {exc}", status=503)
    if isinstance(exc, (StoreBusy, StoreError)):
        return _BadRequest(f"Service unavailable: {exc}", status=503, headers={"retry-after": "1"})
    if isinstance(exc, HTTPException):
        return _BadRequest(str(exc.detail), status=exc.status_code)
    return None


async def _error_handler(request: Request, exc: Exception) -> Response:
    """The one place where errors become HTTP answers."""
    if isinstance(exc, ClientDisconnect):
        # The client went away mid-request (an aborted upload): nobody to answer.
        logger.debug("client disconnected during %s %s", request.method, request.url.path)
        return Response(status_code=400)
    # A bug: answered 500 here, then logged once with its traceback by the server.
    answer = _status_of(exc) or _BadRequest("internal server error", status=500)
    return _error(answer.status, str(answer), answer.headers)


class _BodyTimeout:
    """Pure ASGI middleware: a request body that stalls for ``timeout`` seconds gets 408.

    A client that opens an upload and then sends nothing (or a byte a minute)
    would otherwise hold its connection, its partial file and a task forever.
    """

    def __init__(self, app: ASGIApp, timeout: float) -> None:
        self.app = app
        self._timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def timed_receive() -> Message:
            with anyio.move_on_after(self._timeout) as timer:
                message = await receive()
            if timer.cancelled_caught:
                raise _BadRequest(
                    f"Request timeout: no request body data for {self._timeout:g} s", status=408
                )
            return message

        await self.app(scope, timed_receive, send)


class _Auth:
    """Pure ASGI middleware requiring ``authorization: <api_key>`` on every request."""

    def __init__(self, app: ASGIApp, api_key: str) -> None:
        self.app = app
        self._key = api_key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS:
            # Health checks come from load balancers, which hold no key.
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


def _request_hash(body: Mapping[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _parse_int(raw: str, pattern: re.Pattern[str], low: int, high: int) -> int | None:
    # str.isdigit() accepts "²" and int() refuses 5,000 digits: match ASCII digits only.
    if not pattern.match(raw):
        return None
    value = int(raw)
    return value if low <= value <= high else None


def _parse_date(raw: str) -> str | None:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        return None
    try:
        return dt.date.fromisoformat(raw).isoformat()
    except ValueError:  # 2024-13-45
        return None


def build_app(settings: EngineSettings, store: Store, runner: Runner) -> ASGIApp:
    """Create the ASGI app serving ``store`` and feeding ``runner``."""

    async def db(fn: Any, *args: Any) -> Any:
        return await anyio.to_thread.run_sync(fn, *args)

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
        upload_id = uuid.uuid4().hex
        partial = settings.tmp_dir / f"upload-{upload_id}.part"
        size = 0
        done = False
        chunks = request.stream()
        try:
            try:
                settings.tmp_dir.mkdir(parents=True, exist_ok=True)
                settings.uploads_dir.mkdir(parents=True, exist_ok=True)
                async with await anyio.open_file(partial, "wb") as f:
                    async for chunk in chunks:
                        size += len(chunk)
                        if size > limit:
                            return _error(413, f"upload exceeds the {limit} byte limit")
                        await f.write(chunk)
                    await f.flush()
                    await anyio.to_thread.run_sync(os.fsync, f.wrapped.fileno())
                # Only a complete file ever appears under its final name.
                await anyio.to_thread.run_sync(
                    os.replace, partial, settings.uploads_dir / upload_id
                )
                done = True
            except OSError as exc:
                if exc.errno not in _DISK_FULL:
                    raise
                # Read the rest of the body (into nothing) so the client gets this
                # answer rather than a connection reset in the middle of sending.
                async for chunk in chunks:
                    size += len(chunk)
                    if size > limit:
                        break
                raise _BadRequest(
                    f"Insufficient storage: the engine cannot store the upload ({exc.strerror})",
                    status=507,
                ) from exc
        finally:
            if not done:
                with anyio.CancelScope(shield=True):
                    await anyio.Path(partial).unlink(missing_ok=True)
        return JSONResponse({"upload_url": f"{_base_url(request)}/v2/upload/{upload_id}"})

    def own_upload(request: Request, audio_url: str) -> str | None:
        """The upload id ``audio_url`` names on this engine, or ``None`` if it is not ours.

        Raises:
            _BadRequest: It names an upload of this engine that does not exist.
        """
        try:
            parts = urlsplit(audio_url)
            netloc_host = (parts.hostname or "").lower()
        except ValueError as exc:  # urlsplit refuses some malformed URLs ("http://[::1")
            raise _BadRequest(f"audio_url is not a valid URL ({exc})") from exc
        match = _UPLOAD_PATH.match(parts.path)
        if parts.scheme not in ("http", "https") or match is None:
            return None
        if netloc_host not in _LOCAL_NAMES and parts.netloc != request.headers.get("host"):
            return None
        if not (settings.uploads_dir / match.group(1)).is_file():
            raise _BadRequest(
                "audio_url names no such upload on this engine (it may have expired or "
                "been deleted); upload the file again"
            )
        return match.group(1)

    async def create(request: Request) -> Response:
        body = await read_json(request)
        params = _check_params(body)
        upload_id = own_upload(request, params["audio_url"])
        if upload_id is None:
            await vet_url(params["audio_url"], runner.outbound.audio)
        else:
            params["_upload"] = upload_id
        if params.get("webhook_url") is not None:
            await vet_url(params["webhook_url"], runner.outbound.webhook)
        check_webhook_header(
            params.get("webhook_auth_header_name"), params.get("webhook_auth_header_value")
        )
        key = request.headers.get("idempotency-key")
        if key is not None and not 0 < len(key) <= 255:
            raise _BadRequest("Idempotency-Key must be 1-255 characters")
        digest = _request_hash(body)
        job, created = await db(
            store.create, str(uuid.uuid4()), params["audio_url"], params, key, digest
        )
        if not created and job.request_hash not in (None, digest):
            raise _BadRequest(
                "Idempotency-Key was already used with a different request body; "
                "use a new key for a new request",
                status=422,
            )
        if created:
            runner.wake()
        ignored = params["_ignored_fields"]
        headers = {"X-Ignored-Fields": ", ".join(ignored)} if ignored else None
        return JSONResponse(transcript_json(job), headers=headers)

    async def listing(request: Request) -> Response:
        query = request.query_params
        limit = _parse_int(query.get("limit", "10"), _LIMIT, 1, 200)
        if limit is None:
            raise _BadRequest("limit must be an integer from 1 to 200")
        status = query.get("status")
        if status is not None and status not in _STATUSES:
            raise _BadRequest(f"status must be one of {', '.join(_STATUSES)}")
        created_on = query.get("created_on")
        if created_on is not None and _parse_date(created_on) is None:
            raise _BadRequest("created_on must be a date like 2024-03-11")
        seqs: dict[str, int | None] = {}
        for name in ("before_id", "after_id"):
            value = query.get(name)
            seqs[name] = None
            if value is not None:
                seq = await db(store.seq_of, value) if _ID.match(value) else None
                if seq is None:
                    raise _BadRequest(f"{name} {value!r} is not a known transcript id")
                seqs[name] = seq
        jobs, older, newer = await db(
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

    async def lookup(request: Request) -> Job:
        job_id = request.path_params["transcript_id"]
        job: Job | None = await db(store.get, job_id) if _ID.match(job_id) else None
        if job is None:
            raise _BadRequest("Transcript lookup error, transcript id not found", status=404)
        return job

    async def get_one(request: Request) -> Response:
        return JSONResponse(transcript_json(await lookup(request)))

    def blank(job: Job) -> tuple[dict[str, Any], dict[str, Any]]:
        return blank_result(job), blank_params(job)

    async def delete_one(request: Request) -> Response:
        job = await lookup(request)
        before, after = await db(store.delete, job.id, blank, _CANCELLED)
        # A queued job is never claimed now; a running one stops here, or, when
        # another engine on this data dir runs it, there within seconds.
        runner.cancel(job.id)
        upload_id = before.params.get("_upload")
        if isinstance(upload_id, str):
            # As the hosted API does: the uploaded file goes with its transcript.
            await anyio.to_thread.run_sync(remove_upload, settings, upload_id)
        return JSONResponse(transcript_json(after))

    async def completed_transcript(request: Request) -> dict[str, Any]:
        job = await lookup(request)
        if job.status != "completed":
            raise _BadRequest(f"Transcript is not completed (status: {job.status})")
        return transcript_json(job)

    async def sentences(request: Request) -> Response:
        return JSONResponse(_exports.sentences(await completed_transcript(request)))

    async def paragraphs(request: Request) -> Response:
        return JSONResponse(_exports.paragraphs(await completed_transcript(request)))

    async def word_search(request: Request) -> Response:
        raw = request.query_params.get("words", "")
        terms = [t.strip() for t in raw.split(",") if t.strip()]
        if not terms:
            raise _BadRequest("words must be a comma-separated list of words")
        return JSONResponse(_exports.word_search(await completed_transcript(request), terms))

    async def captions(request: Request) -> Response:
        fmt = request.path_params["subtitle_format"]
        if fmt not in ("srt", "vtt"):
            raise _BadRequest("Not Found", status=404)
        chars = _parse_int(request.query_params.get("chars_per_caption", "32"), _POSITIVE, 1, 10**6)
        if chars is None:
            raise _BadRequest("chars_per_caption must be a positive integer")
        transcript = await completed_transcript(request)
        return PlainTextResponse(_exports.subtitles(transcript, fmt, chars))

    handled = (_BadRequest, Refused, StoreError, ClientDisconnect, HTTPException, Exception)
    app: ASGIApp = Starlette(
        routes=[
            *health_routes(settings, store, runner),
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
        exception_handlers=dict.fromkeys(handled, _error_handler),
    )
    app = _BodyTimeout(app, settings.body_timeout)
    if settings.api_key:
        app = _Auth(app, settings.api_key)
    return app
