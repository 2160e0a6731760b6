"""The asynchronous client: upload, submit, wait, get, delete, list."""

from __future__ import annotations

import builtins
import contextlib
import json
import logging
import os
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Final
from urllib.parse import parse_qsl, quote, urlsplit

import anyio
import attrs
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, retry_if_result

from ._batch import BatchProgress, BatchResult, BatchResults, BatchSources, run_batch
from ._errors import (
    APIConnectionError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    JobFailedError,
    JobTimeoutError,
    RateLimitError,
    SourceError,
    UploadError,
    UsageError,
    status_error,
)
from ._http import (
    AsyncBaseTransport,
    AsyncHTTPClient,
    HTTPSession,
    KeyAuth,
    RawResponse,
    asgi_transport,
)
from ._models import PageDetails, Transcript, TranscriptStatus
from ._retry import PollWait, is_transient, parse_retry_after, request_retrying
from ._settings import PollSettings, RetrySettings, Seconds, to_seconds
from ._sources import ProgressCallback, Source, UploadBody, is_url, prepare_source
from ._version import __version__

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_SPEECH_MODELS", "AsyncClient"]

_log = logging.getLogger("audio_highlights")

#: The hosted API, used when neither ``base_url`` nor ``ASSEMBLYAI_BASE_URL`` is set.
DEFAULT_BASE_URL: Final = "https://api.assemblyai.com"
#: Sent as ``speech_models`` unless the caller passes its own: the hosted API
#: rejects a submit without it, and this is the pair its docs use.
DEFAULT_SPEECH_MODELS: Final = ("universal-3-pro", "universal-2")

_EMBEDDED_BASE_URL = "http://embedded.audio-highlights"
_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-amzn-requestid")
_NO_RETRY = RetrySettings(max_retries=0)
# A last poll may overrun the deadline by this much, so that a job finishing
# right at the deadline is still seen instead of reported as timed out.
_LAST_POLL_GRACE = 0.5


class _UseDefault:
    def __repr__(self) -> str:
        return "<default>"


_DEFAULT: Final = _UseDefault()


@attrs.frozen
class _Reply:
    data: Any
    headers: Mapping[str, str]


def _check_base_url(base_url: str) -> str:
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"base_url must be an http(s) URL with a host, got {base_url!r}")
    if parts.query or parts.fragment:
        raise UsageError(f"base_url must not have a query or fragment, got {base_url!r}")
    return base_url.rstrip("/")


def _transcript_path(transcript_id: str | Transcript) -> str:
    tid = transcript_id.id if isinstance(transcript_id, Transcript) else transcript_id
    if not isinstance(tid, str) or not tid.strip():
        raise UsageError(f"a transcript id must be a non-empty string, got {tid!r}")
    # Quoting every character keeps an id like "../upload" inside its path segment.
    return "/v2/transcript/" + quote(tid, safe="")


def _id_of(transcript_id: str | Transcript) -> str:
    return transcript_id.id if isinstance(transcript_id, Transcript) else transcript_id


def _decode_json(content: bytes) -> Any:
    return json.loads(content) if content.strip() else None


def _snippet(content: bytes) -> str:
    return content[:200].decode("utf-8", "replace")


class AsyncClient:
    """An asynchronous client for the AssemblyAI v2 transcription API.

    One client owns one connection pool; share it across tasks. All methods
    are safe to call concurrently and to cancel at any point: the pool stays
    usable. Use it as an async context manager, or call :meth:`aclose`.

    Example:
        ```python
        import anyio
        import audio_highlights as ah

        async def main() -> None:
            async with ah.AsyncClient() as client:
                t = await client.transcribe("call.mp3")
                for h in t.highlights:
                    print(h.text, h.count, h.rank)

        anyio.run(main)
        ```

    Args:
        api_key: The API key. Defaults to ``ASSEMBLYAI_API_KEY``. Required for
            the hosted API; a self-hosted engine may need none.
        base_url: The API's root. Defaults to ``ASSEMBLYAI_BASE_URL``, else
            ``https://api.assemblyai.com``. Must be http(s).
        timeout: Read/write timeout of one HTTP request.
        connect_timeout: Timeout to open a connection.
        max_concurrency: Requests in flight at once (uploads not included).
            Callers beyond it wait in the SDK, not in the connection pool.
        max_concurrent_uploads: Uploads in flight at once.
        max_retries: Shortcut for ``retry.max_retries``.
        retry: Retry policy for failed requests.
        polling: Poll policy of :meth:`wait` (its ``timeout`` is the default deadline).
        speech_models: Sent as ``speech_models`` on submit unless the caller
            passes its own.
        upload_chunk_size: Bytes read and sent per chunk when uploading.
        verify: TLS verification: ``True`` (default), or a CA bundle path.
        headers: Extra headers for every request.
        http_client: An ``httpx2.AsyncClient`` to use instead of creating one;
            the SDK never closes it.
        transport: An ``httpx2`` async transport for the pool the SDK creates
            (for tests, or an in-process server).

    Raises:
        UsageError: ``base_url`` is not an http(s) URL, or no API key is
            available for the hosted API, or an option is out of range.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: Seconds = 60.0,
        connect_timeout: Seconds = 10.0,
        max_concurrency: int = 32,
        max_concurrent_uploads: int = 8,
        max_retries: int | None = None,
        retry: RetrySettings | None = None,
        polling: PollSettings | None = None,
        speech_models: Sequence[str] = DEFAULT_SPEECH_MODELS,
        upload_chunk_size: int = 1024 * 1024,
        verify: bool | str = True,
        headers: Mapping[str, str] | None = None,
        http_client: AsyncHTTPClient | None = None,
        transport: AsyncBaseTransport | None = None,
    ) -> None:
        if max_concurrency < 1 or max_concurrent_uploads < 1:
            raise UsageError("max_concurrency and max_concurrent_uploads must be at least 1")
        if upload_chunk_size < 1024:
            raise UsageError("upload_chunk_size must be at least 1024 bytes")
        self._base_url = _check_base_url(
            base_url or os.environ.get("ASSEMBLYAI_BASE_URL") or DEFAULT_BASE_URL
        )
        key = api_key if api_key is not None else os.environ.get("ASSEMBLYAI_API_KEY")
        if not key and (urlsplit(self._base_url).hostname or "").endswith("assemblyai.com"):
            raise UsageError(
                "no API key for the hosted API: pass api_key= or set ASSEMBLYAI_API_KEY "
                "(or use AsyncClient.embedded() to run offline)"
            )
        self._auth = KeyAuth(key) if key else None
        del key
        retry = retry or RetrySettings()
        if max_retries is not None:
            retry = attrs.evolve(retry, max_retries=max_retries)
        self._retry = retry
        self._poll = polling or PollSettings()
        self._speech_models = builtins.list(speech_models)
        self._chunk_size = upload_chunk_size
        self._headers = {
            "user-agent": f"audio-highlights/{__version__}",
            "accept": "application/json",
            **(headers or {}),
        }
        self._requests = anyio.Semaphore(max_concurrency)
        self._uploads = anyio.Semaphore(max_concurrent_uploads)
        self._http = HTTPSession(
            timeout=to_seconds(timeout),
            connect_timeout=to_seconds(connect_timeout),
            # The pool is larger than both limiters together, so a task that
            # got past a limiter never queues inside the pool.
            max_connections=max_concurrency + max_concurrent_uploads + 4,
            verify=verify,
            http_client=http_client,
            transport=transport,
        )
        self._paused_until = 0.0
        self._closed = False

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    @contextlib.asynccontextmanager
    async def embedded(cls, **engine_options: Any) -> AsyncIterator[AsyncClient]:
        """Open a client bound to an in-process offline engine (no port, no process to start).

        Needs the engine extra: ``pip install "audio-highlights[engine]"``.

        Example:
            ```python
            async with ah.AsyncClient.embedded() as client:
                t = await client.transcribe("examples/audio/wildfires.mp3")
            ```

        Args:
            **engine_options: Passed to :func:`audio_highlights.engine.open_engine`
                (``data_dir``, ``workers``, ``recognizer``, ...).

        Raises:
            UsageError: The engine extra is not installed.
        """
        try:
            from .engine import open_engine
        except ImportError as exc:  # pragma: no cover - depends on installed extras
            raise UsageError(
                'the embedded engine is not installed: pip install "audio-highlights[engine]"'
            ) from exc
        async with open_engine(**engine_options) as engine:
            client = cls(
                api_key=engine.settings.api_key,
                base_url=_EMBEDDED_BASE_URL,
                transport=asgi_transport(engine.app),
                # The engine deduplicates submits by Idempotency-Key.
                retry=RetrySettings(idempotent_submit=True),
                # Recognition takes a while; polling a local engine is cheap.
                polling=PollSettings(initial=0.2, multiplier=1.3, max_interval=1.0),
            )
            async with client:
                yield client

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (unless it was passed in as ``http_client``)."""
        if not self._closed:
            self._closed = True
            await self._http.aclose()

    @property
    def base_url(self) -> str:
        """The API root requests go to."""
        return self._base_url

    def __repr__(self) -> str:
        key = "set" if self._auth is not None else "none"
        return f"<AsyncClient base_url={self._base_url!r} api_key={key}>"

    # ------------------------------------------------------------------ requests

    async def _wait_out_rate_limit(self) -> None:
        delay = self._paused_until - anyio.current_time()
        if delay > 0:
            await anyio.sleep(delay)

    def _error_for(
        self, status: int, content: bytes, headers: Mapping[str, str], reason: str
    ) -> APIStatusError:
        try:
            body = _decode_json(content)
        except ValueError:
            body = None
        retry_after = parse_retry_after(headers)
        request_id = next((headers[h] for h in _REQUEST_ID_HEADERS if h in headers), None)
        if body is None and content:
            reason = f"{reason}: {_snippet(content)!r}" if reason else repr(_snippet(content))
        error = status_error(
            status, body, reason=reason, request_id=request_id, retry_after=retry_after
        )
        if isinstance(error, RateLimitError):
            # One 429 slows the whole client: every request waits it out.
            pause = min(
                retry_after if retry_after is not None else self._retry.initial,
                self._retry.max_retry_after,
            )
            self._paused_until = max(self._paused_until, anyio.current_time() + pause)
        return error

    async def _attempt(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None,
        json_body: Any,
        body: UploadBody | None,
        headers: Mapping[str, str],
        on_progress: ProgressCallback | None,
    ) -> _Reply:
        await self._wait_out_rate_limit()
        limiter = self._uploads if body is not None else self._requests
        async with limiter:
            if body is not None and body.inline is not None:
                raw = await self._send_inline(method, url, body.inline, headers, on_progress)
            else:
                chunks = _progress(body, on_progress) if body is not None else None
                try:
                    raw = await self._http.request(
                        method,
                        url,
                        auth=self._auth,
                        headers=headers,
                        params=params,
                        json=json_body,
                        content=chunks,
                    )
                finally:
                    if chunks is not None:
                        # Close the file now rather than at garbage collection,
                        # even when this attempt is being cancelled.
                        with anyio.CancelScope(shield=True):
                            await chunks.aclose()
        _log.debug("%s %s -> %d", method, url, raw.status_code)
        if raw.status_code >= 400:
            raise self._error_for(raw.status_code, raw.content, raw.headers, raw.reason)
        try:
            data = _decode_json(raw.content)
        except ValueError as exc:
            raise APIResponseError(
                f"{method} {url}: the response is not JSON: {_snippet(raw.content)!r}",
                status_code=raw.status_code,
                body=_snippet(raw.content),
            ) from exc
        return _Reply(data=data, headers=raw.headers)

    async def _send_inline(
        self,
        method: str,
        url: str,
        content: bytes,
        headers: Mapping[str, str],
        on_progress: ProgressCallback | None,
    ) -> RawResponse:
        if on_progress is not None:
            on_progress(0, len(content))
        raw = await self._http.request(
            method, url, auth=self._auth, headers=headers, content=content
        )
        if on_progress is not None:
            on_progress(len(content), len(content))
        return raw

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        body: UploadBody | None = None,
        headers: Mapping[str, str] | None = None,
        creates_job: bool = False,
        retry: RetrySettings | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> _Reply:
        if self._closed:
            raise UsageError("the client is closed")
        url = self._base_url + path
        all_headers = {**self._headers, **(headers or {})}
        if body is not None and body.size is not None:
            all_headers["content-length"] = str(body.size)
        if body is not None:
            all_headers["content-type"] = "application/octet-stream"
        settings = retry or self._retry
        if body is not None and not body.replayable:
            # A one-shot stream cannot be resent, so one attempt is all there is.
            settings = _NO_RETRY
        retrying = request_retrying(settings, creates_job=creates_job)
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._attempt(
                        method,
                        url,
                        params=params,
                        json_body=json_body,
                        body=body,
                        headers=all_headers,
                        on_progress=on_progress,
                    )
        except APIConnectionError as exc:
            if body is not None and not body.replayable:
                raise UploadError(
                    f"uploading {body.name} failed and a one-shot stream cannot be resent: {exc}"
                ) from exc
            raise
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover

    # ------------------------------------------------------------------ API

    async def upload(self, source: Source, *, on_progress: ProgressCallback | None = None) -> str:
        """Upload audio or video and return the ``upload_url`` to transcribe.

        The source is streamed in chunks (memory stays flat whatever its size):
        with ``Content-Length`` when its size is known, chunked otherwise.
        Files and bytes are resent from byte 0 if a retry is needed.

        Args:
            source: A path, bytes, a binary file object, or an async iterable
                of bytes.
            on_progress: Called as ``on_progress(bytes_sent, total_or_None)``
                after each chunk; it restarts at 0 on a retry.

        Returns:
            The URL to pass as ``audio_url``.

        Raises:
            SourceError: The source is unusable (checked before any request).
            UploadError: The source failed mid-way or could not be resent.
            APIStatusError: The API refused the upload.
            APIConnectionError: The API could not be reached.
        """
        body = await prepare_source(source, chunk_size=self._chunk_size)
        reply = await self._send("POST", "/v2/upload", body=body, on_progress=on_progress)
        url = reply.data.get("upload_url") if isinstance(reply.data, Mapping) else None
        if not isinstance(url, str) or not url:
            raise APIResponseError(
                f"the upload response has no upload_url: {str(reply.data)[:200]!r}",
                status_code=200,
                body=str(reply.data)[:200],
            )
        return url

    async def submit(
        self,
        audio_url: str,
        *,
        auto_highlights: bool = True,
        speech_models: Sequence[str] | None = None,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> Transcript:
        """Create a transcription job and return it (usually ``queued``).

        Args:
            audio_url: An http(s) URL of the audio, e.g. from :meth:`upload`.
            auto_highlights: Ask for key phrases.
            speech_models: Overrides the client's ``speech_models``.
            idempotency_key: Sent as ``Idempotency-Key``; a fresh one is made
                per call, so retries of this call share it.
            **fields: Any other request field of the API (``language_code``,
                ``webhook_url``, ``punctuate``, ...); ``None`` values are dropped.

        Raises:
            SourceError: ``audio_url`` is not an http(s) URL.
            APIStatusError: The API refused the request (e.g. a bad field).
            APIConnectionError: The API could not be reached.
        """
        if not is_url(audio_url):
            raise SourceError(f"audio_url must be an http(s) URL, got {audio_url!r}")
        payload: dict[str, Any] = {"audio_url": audio_url, "auto_highlights": auto_highlights}
        if speech_models is not None:
            payload["speech_models"] = builtins.list(speech_models)
        elif "speech_model" not in fields:
            payload["speech_models"] = builtins.list(self._speech_models)
        payload.update({k: v for k, v in fields.items() if v is not None})
        reply = await self._send(
            "POST",
            "/v2/transcript",
            json_body=payload,
            creates_job=True,
            headers={"idempotency-key": idempotency_key or uuid.uuid4().hex},
        )
        return self._transcript(reply, "POST /v2/transcript")

    async def get(self, transcript_id: str | Transcript) -> Transcript:
        """Fetch a transcript as it is now.

        Raises:
            NotFoundError: No such transcript.
        """
        reply = await self._send("GET", _transcript_path(transcript_id))
        return self._transcript(reply, "GET transcript")

    async def delete(self, transcript_id: str | Transcript) -> Transcript:
        """Delete a transcript's data on the server; returns it blanked.

        Raises:
            NotFoundError: No such transcript.
        """
        reply = await self._send("DELETE", _transcript_path(transcript_id))
        return self._transcript(reply, "DELETE transcript")

    async def list(
        self,
        *,
        status: TranscriptStatus | str | None = None,
        limit: int | None = None,
        created_on: str | None = None,
        before_id: str | None = None,
        after_id: str | None = None,
    ) -> AsyncIterator[Transcript]:
        """Iterate over transcripts, newest first, fetching page after page.

        Items are the list endpoint's summaries: ``id``, ``status``,
        ``audio_url`` and ``error`` typed; ``created``/``completed`` in ``raw``.
        Call :meth:`get` for a full transcript.

        Args:
            status: Only transcripts with this status.
            limit: Page size (1-200).
            created_on: Only those created on this date (``YYYY-MM-DD``).
            before_id: Only those created before this one.
            after_id: Only those created after this one.
        """
        params: dict[str, Any] = {
            k: v
            for k, v in {
                "status": str(status) if status is not None else None,
                "limit": limit,
                "created_on": created_on,
                "before_id": before_id,
                "after_id": after_id,
            }.items()
            if v is not None
        }
        seen: set[str] = set()
        while True:
            reply = await self._send("GET", "/v2/transcript", params=params)
            data = reply.data if isinstance(reply.data, Mapping) else {}
            items = data.get("transcripts")
            if not isinstance(items, builtins.list):
                raise APIResponseError(
                    "the transcript list has no 'transcripts' array",
                    status_code=200,
                    body=str(reply.data)[:200],
                )
            for item in items:
                if isinstance(item, Mapping):
                    yield Transcript._adopt(item)
            details = data.get("page_details")
            prev_url = (
                PageDetails.from_dict(details).prev_url if isinstance(details, Mapping) else None
            )
            if not items or not prev_url or prev_url in seen:
                return
            seen.add(prev_url)
            # Only the query of the server's link is used: the key is never
            # sent to a host other than base_url.
            params = dict(parse_qsl(urlsplit(prev_url).query))

    async def wait(
        self,
        transcript_id: str | Transcript,
        *,
        timeout: Seconds | _UseDefault | None = _DEFAULT,
        polling: PollSettings | None = None,
    ) -> Transcript:
        """Poll a job until it completes, with backoff and an overall deadline.

        Transient poll failures (429, 5xx, timeouts, network errors, garbled
        responses) are retried until the deadline; they never end the wait.

        Args:
            transcript_id: The job's id (or the transcript returned by :meth:`submit`).
            timeout: Deadline in seconds or a timedelta; ``None`` waits for ever.
                Defaults to ``polling.timeout``.
            polling: Overrides the client's poll policy for this call.

        Returns:
            The completed transcript.

        Raises:
            JobFailedError: The job ended with ``status: "error"``.
            JobTimeoutError: The deadline passed; the job keeps running and
                ``wait()`` on its id resumes.
            NotFoundError: No such transcript.
        """
        return await self._wait(transcript_id, known=None, timeout=timeout, polling=polling)

    async def _wait(
        self,
        transcript_id: str | Transcript,
        *,
        known: Transcript | None,
        timeout: Seconds | _UseDefault | None,
        polling: PollSettings | None,
    ) -> Transcript:
        settings = polling or self._poll
        limit = (
            settings.timeout
            if isinstance(timeout, _UseDefault)
            else (None if timeout is None else to_seconds(timeout))
        )
        path = _transcript_path(transcript_id)
        tid = _id_of(transcript_id)
        deadline = None if limit is None else anyio.current_time() + limit
        waiter = PollWait(settings, deadline)
        last: Transcript | None = None
        pending = known

        async def poll_once() -> Transcript:
            nonlocal last, pending
            if pending is not None:
                # The submit response already counts as the first look.
                last, pending = pending, None
                return last
            budget = (
                None if deadline is None else max(deadline - anyio.current_time(), _LAST_POLL_GRACE)
            )
            try:
                with anyio.fail_after(budget):
                    reply = await self._send("GET", path, retry=_NO_RETRY)
            except TimeoutError as exc:
                if isinstance(exc, APITimeoutError):
                    raise
                raise APITimeoutError(f"poll of {tid} hit the wait deadline") from exc
            except RateLimitError as exc:
                waiter.retry_after = exc.retry_after
                raise
            last = self._transcript(reply, "GET transcript")
            waiter.retry_after = parse_retry_after(reply.headers)
            return last

        retrying = AsyncRetrying(
            sleep=anyio.sleep,
            wait=waiter,
            stop=lambda _: deadline is not None and anyio.current_time() >= deadline,
            retry=(
                retry_if_result(lambda t: not t.status.is_terminal)
                | retry_if_exception(is_transient)
            ),
            retry_error_callback=lambda state: state,
            reraise=True,
        )
        result: Transcript | RetryCallState = await retrying(poll_once)
        if not isinstance(result, Transcript):
            cause = result.outcome.exception() if result.outcome is not None else None
            assert limit is not None
            raise JobTimeoutError(tid, last.status if last else None, limit) from cause
        if result.status is TranscriptStatus.ERROR:
            raise JobFailedError(result)
        return result

    async def transcribe(
        self,
        source: Source,
        *,
        timeout: Seconds | _UseDefault | None = _DEFAULT,
        on_progress: ProgressCallback | None = None,
        polling: PollSettings | None = None,
        **fields: Any,
    ) -> Transcript:
        """Upload (unless ``source`` is a URL), submit, and wait for the transcript.

        Args:
            source: A path, an http(s) URL, bytes, a binary file object, or an
                async iterable of bytes.
            timeout: Deadline of the wait for completion (see :meth:`wait`).
            on_progress: Upload progress callback (see :meth:`upload`).
            polling: Overrides the client's poll policy for this call.
            **fields: Request fields for :meth:`submit`; ``auto_highlights``
                defaults to ``True``.

        Returns:
            The completed transcript; key phrases in ``.highlights``.

        Raises:
            SourceError: The source is unusable (before any request).
            JobFailedError: The job ended in error.
            JobTimeoutError: The deadline passed (the job id is on the error).
        """
        audio_url = source if is_url(source) else await self.upload(source, on_progress=on_progress)
        assert isinstance(audio_url, str)
        job = await self.submit(audio_url, **fields)
        return await self._wait(job, known=job, timeout=timeout, polling=polling)

    def transcribe_many(
        self,
        sources: BatchSources,
        *,
        concurrency: int = 64,
        max_concurrent_uploads: int | None = None,
        fail_fast: bool = False,
        on_event: BatchProgress | None = None,
        timeout: Seconds | _UseDefault | None = _DEFAULT,
        polling: PollSettings | None = None,
        list_polling: bool = False,
        **fields: Any,
    ) -> contextlib.AbstractAsyncContextManager[BatchResults]:
        """Transcribe many sources concurrently; results arrive as each finishes.

        Sources are pulled lazily, so a generator of 100,000 paths never
        becomes 100,000 tasks. One failing item never stops the others: its
        error is in its result. Leaving the ``async with`` early cancels what
        is left; the client stays usable.

        Example:
            ```python
            async with client.transcribe_many(paths, concurrency=64) as results:
                async for r in results:
                    print(r.index, r.error or r.transcript.highlights[:3])
            ```

        Args:
            sources: An iterable or async iterable of what :meth:`transcribe`
                accepts (paths, URLs, bytes, file objects, ...).
            concurrency: Items in flight at once (uploading, submitted or polled).
            max_concurrent_uploads: Of those, how many may upload at once;
                defaults to ``concurrency`` (the client's own upload limit
                still applies).
            fail_fast: Cancel the rest on the first failed item and raise its
                error from the ``async with``.
            on_event: Called with a :class:`BatchEvent` as each item is
                uploaded, submitted, completed or failed; may be async.
            timeout: Deadline of each item's wait (see :meth:`wait`).
            polling: Overrides the client's poll policy for this batch.
            list_polling: Learn about completions from one shared sweep of
                the list endpoint instead of polling each job: a job seen
                finished is fetched once, and one the list has not shown for
                ``polling.max_interval`` is polled on its own. Sweeps start
                every ``polling.initial`` seconds and back off while nothing
                finishes, never costing more requests than per-job polls. Far
                fewer requests, and less lag, for big batches.
            **fields: Request fields for :meth:`submit`; ``auto_highlights``
                defaults to ``True``.

        Returns:
            An async context manager yielding a :class:`BatchResults`, an
            async iterator of :class:`BatchResult` in completion order.

        Raises:
            UsageError: ``sources`` is a single source, or a limit is below 1.
        """
        return run_batch(
            self,
            sources,
            concurrency=concurrency,
            max_concurrent_uploads=max_concurrent_uploads,
            fail_fast=fail_fast,
            on_event=on_event,
            timeout=timeout,
            polling=polling,
            fields=fields,
            list_polling=list_polling,
        )

    async def transcribe_all(
        self,
        sources: BatchSources,
        *,
        concurrency: int = 64,
        max_concurrent_uploads: int | None = None,
        fail_fast: bool = False,
        on_event: BatchProgress | None = None,
        timeout: Seconds | _UseDefault | None = _DEFAULT,
        polling: PollSettings | None = None,
        list_polling: bool = False,
        **fields: Any,
    ) -> builtins.list[BatchResult]:
        """Like :meth:`transcribe_many`, but wait for all and return results in input order.

        Returns:
            One :class:`BatchResult` per source, in the order of ``sources``.

        Raises:
            UsageError: ``sources`` is a single source, or a limit is below 1.
        """
        out: builtins.list[BatchResult] = []
        async with self.transcribe_many(
            sources,
            concurrency=concurrency,
            max_concurrent_uploads=max_concurrent_uploads,
            fail_fast=fail_fast,
            on_event=on_event,
            timeout=timeout,
            polling=polling,
            list_polling=list_polling,
            **fields,
        ) as results:
            async for result in results:
                out.append(result)
        out.sort(key=lambda r: r.index)
        return out

    @staticmethod
    def _transcript(reply: _Reply, what: str) -> Transcript:
        if not isinstance(reply.data, Mapping) or not reply.data.get("id"):
            raise APIResponseError(
                f"{what}: expected a transcript object, got {str(reply.data)[:200]!r}",
                status_code=200,
                body=str(reply.data)[:200],
            )
        # The decoded reply belongs to nobody else, so no defensive copy is needed.
        return Transcript._adopt(reply.data)


async def _progress(
    body: UploadBody, on_progress: ProgressCallback | None
) -> AsyncGenerator[bytes, None]:
    chunks = body.chunks()
    sent = 0
    try:
        if on_progress is not None:
            on_progress(0, body.size)
        async for chunk in chunks:
            yield chunk
            sent += len(chunk)
            if on_progress is not None:
                on_progress(sent, body.size)
    finally:
        await chunks.aclose()
