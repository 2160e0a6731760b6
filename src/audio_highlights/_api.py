"""The request layer: every request the SDK makes goes through one :class:`Requester`.

It owns what all requests share: the limiters, the client-wide pause after a
429, the retry loop, and the mapping of responses to the SDK's errors (each
naming the method and URL that failed). On top of :meth:`Requester.send`, the
one place where a request is sent and its response read, sit the API's
endpoints: upload, submit, get, delete, the paged list, and the derived views
of a completed transcript (sentences, paragraphs, subtitles, word search).

It knows nothing of waiting for jobs (``_polling``) or of batches
(``_batch``); :class:`~audio_highlights.AsyncClient` is a facade over it.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from typing import Any, Final, Literal
from urllib.parse import parse_qsl, quote, urlsplit

import anyio
import attrs

from ._errors import (
    APIConnectionError,
    APIResponseError,
    APIStatusError,
    AudioHighlightsError,
    RateLimitError,
    SourceError,
    UploadError,
    UsageError,
    status_error,
)
from ._http import AsyncBaseTransport, AsyncHTTPClient, HTTPSession, KeyAuth, RawResponse
from ._lazyjson import decode_deferring_words
from ._models import PageDetails, Segment, Transcript, WordSearchMatch
from ._options import TranscriptOptions
from ._reconcile import ReconcileStats, SubmitLedger, look_for
from ._redact import Redactor, unwatch, watch
from ._retry import backoff, may_have_created, parse_retry_after, request_retrying
from ._settings import RetrySettings
from ._sources import ProgressCallback, Source, UploadBody, is_url, prepare_source
from ._version import __version__

__all__ = [
    "LIST_PAGE_LIMIT",
    "NO_RETRY",
    "Reply",
    "Requester",
    "SubtitleFormat",
    "endpoint",
    "transcript_id",
]

#: The logger of the SDK's requests and polls (``DEBUG``: one line a response).
log = logging.getLogger("audio_highlights")

#: One attempt only: for polls, which have their own schedule.
NO_RETRY: Final = RetrySettings(max_retries=0)
#: The list endpoint's largest page.
LIST_PAGE_LIMIT: Final = 200
#: What :meth:`Requester.subtitles` can produce.
SubtitleFormat = Literal["srt", "vtt"]

_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-amzn-requestid")
_SUBMIT_PATH: Final = "/v2/transcript"
# Fields of a transcript written by the server and quoted in messages.
_SERVER_TEXT_FIELDS = ("error", "audio_url")


@attrs.frozen
class Reply:
    """A successful response: its decoded body and its headers.

    Attributes:
        data: The decoded JSON (``None`` for an empty body), or the text for
            a text request.
        headers: Response headers, names lower-cased.
    """

    data: Any
    headers: Mapping[str, str]


def endpoint(base_url: str | None, api_key: str | None, *, default: str) -> tuple[str, str | None]:
    """The API root and key to use: as given, else from the environment.

    ``ASSEMBLYAI_BASE_URL`` and ``ASSEMBLYAI_API_KEY`` are read, as the
    official SDK does.

    Raises:
        UsageError: The URL is not http(s) with a host, or has a query or
            fragment; or the hosted API would be called without a key.
    """
    url = base_url or os.environ.get("ASSEMBLYAI_BASE_URL") or default
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"base_url must be an http(s) URL with a host, got {url!r}")
    if parts.query or parts.fragment:
        raise UsageError(f"base_url must not have a query or fragment, got {url!r}")
    key = api_key if api_key is not None else os.environ.get("ASSEMBLYAI_API_KEY")
    if not key and parts.hostname.endswith("assemblyai.com"):
        raise UsageError(
            "no API key for the hosted API: pass api_key= or set ASSEMBLYAI_API_KEY "
            "(or use AsyncClient.embedded() to run offline)"
        )
    return url.rstrip("/"), key or None


def transcript_id(ref: str | Transcript) -> str:
    """The id of ``ref`` (an id, or a transcript).

    Raises:
        UsageError: The id is not a non-empty string.
    """
    tid = ref.id if isinstance(ref, Transcript) else ref
    if not isinstance(tid, str) or not tid.strip():
        raise UsageError(f"a transcript id must be a non-empty string, got {tid!r}")
    return tid


def _transcript_path(ref: str | Transcript, view: str = "") -> str:
    # Quoting every character keeps an id like "../upload" inside its path segment.
    return "/v2/transcript/" + quote(transcript_id(ref), safe="") + view


def _decode_json(content: bytes, decode: Callable[[bytes], Any] | None = None) -> Any:
    if not content.strip():
        return None
    return (decode or json.loads)(content)


def _snippet(content: bytes) -> str:
    return content[:200].decode("utf-8", "replace")


class Requester:
    """Sends the SDK's requests to one API root, sharing limits, the 429 pause and retries.

    Args:
        base_url: The API root, already checked.
        api_key: Sent as ``authorization``; ``None`` sends none.
        headers: Extra headers of every request.
        retry: The default retry policy.
        max_concurrency: Requests in flight at once (uploads not included).
        max_concurrent_uploads: Uploads in flight at once.
        chunk_size: Bytes read and sent per upload chunk.
        speech_models: Sent as ``speech_models`` unless a submit names its own.
        timeout: Read/write timeout of one HTTP request, seconds.
        connect_timeout: Timeout to open a connection, seconds.
        request_timeout: Deadline of one whole HTTP request, seconds (``None``: none).
        max_response_size: Largest response body read, bytes.
        verify: TLS verification.
        http_client: A pool to borrow instead of creating one.
        transport: The transport of the pool created here.

    Raises:
        UsageError: A limit is out of range, or ``http_client``/``transport``
            is not httpx2's.
    """

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None,
        headers: Mapping[str, str],
        retry: RetrySettings,
        max_concurrency: int,
        max_concurrent_uploads: int,
        chunk_size: int,
        speech_models: Sequence[str],
        timeout: float,
        connect_timeout: float,
        verify: bool | str,
        http_client: AsyncHTTPClient | None,
        transport: AsyncBaseTransport | None,
        request_timeout: float | None = None,
        max_response_size: int = 64 * 1024 * 1024,
    ) -> None:
        if max_concurrency < 1 or max_concurrent_uploads < 1:
            raise UsageError("max_concurrency and max_concurrent_uploads must be at least 1")
        if chunk_size < 1024:
            raise UsageError("upload_chunk_size must be at least 1024 bytes")
        if request_timeout is not None and not request_timeout > 0:
            raise UsageError(f"request_timeout must be above 0 s, got {request_timeout!r}")
        if isinstance(max_response_size, bool) or not (
            isinstance(max_response_size, int) and max_response_size >= 1024
        ):
            raise UsageError(
                "max_response_size must be an int of at least 1024 bytes, "
                f"got {max_response_size!r}"
            )
        self.base_url = base_url
        self.retry = retry
        self.redactor = Redactor(api_key)
        self._http = HTTPSession(
            timeout=timeout,
            connect_timeout=connect_timeout,
            # The pool is larger than both limiters together, so a task that
            # got past a limiter never queues inside the pool.
            max_connections=max_concurrency + max_concurrent_uploads + 4,
            verify=verify,
            http_client=http_client,
            transport=transport,
            request_timeout=request_timeout,
            max_response_size=max_response_size,
            redactor=self.redactor,
        )
        self._auth = KeyAuth(api_key) if api_key else None
        # Log records of the HTTP stack show response headers: mask the key
        # there for as long as this client is open.
        self._watched = api_key
        watch(api_key)
        self._headers = {
            "user-agent": f"audio-highlights/{__version__}",
            "accept": "application/json",
            **headers,
        }
        self._requests = anyio.Semaphore(max_concurrency)
        self._uploads = anyio.Semaphore(max_concurrent_uploads)
        self._chunk_size = chunk_size
        self._speech_models = list(speech_models)
        self._paused_until = 0.0
        self._closed = False
        self._ledger = SubmitLedger()
        #: What submit reconciliation has cost so far.
        self.reconcile_stats = ReconcileStats()

    @property
    def has_key(self) -> bool:
        """Whether requests carry an API key."""
        return self._auth is not None

    async def aclose(self) -> None:
        """Refuse further requests and close the pool (unless it was borrowed)."""
        if not self._closed:
            self._closed = True
            unwatch(self._watched)
            self._watched = None
            await self._http.aclose()

    # ------------------------------------------------------------------ sending

    async def send(
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
        text: bool = False,
        decode: Callable[[bytes], Any] | None = None,
    ) -> Reply:
        """Send one request, retried per policy, and return its decoded response.

        Args:
            method: HTTP method.
            path: Path under the API root.
            params: Query parameters.
            json_body: Sent as JSON.
            body: Sent as the raw body (an upload).
            headers: Extra headers.
            creates_job: The request creates a job (see :class:`RetrySettings`).
            retry: Overrides the retry policy.
            on_progress: Upload progress callback.
            text: The response is text, not JSON.
            decode: Decodes the JSON body, instead of ``json.loads``.

        Raises:
            UsageError: The client is closed.
            APIStatusError: The API answered with an error (after retries).
            APIResponseError: The response is not the expected JSON.
            APIConnectionError: No response (after retries).
            UploadError: A one-shot upload failed and cannot be resent.
        """
        if self._closed:
            raise UsageError("the client is closed")
        url = self.base_url + path
        all_headers = {**self._headers, **(headers or {})}
        if body is not None:
            all_headers["content-type"] = "application/octet-stream"
            if body.size is not None:
                all_headers["content-length"] = str(body.size)
        settings = retry or self.retry
        if body is not None and not body.replayable:
            # A one-shot stream cannot be resent, so one attempt is all there is.
            settings = NO_RETRY
        try:
            # Most requests succeed at once: the retry loop is only set up
            # after a failure, which it then sees as its own first attempt.
            try:
                raw = await self._attempt(
                    method, url, params, json_body, body, all_headers, on_progress
                )
                return self._read(method, url, raw, text=text, decode=decode)
            except Exception as exc:  # noqa: BLE001 - handed to the retry loop below
                first: Exception | None = exc
            async for attempt in request_retrying(settings, creates_job=creates_job):
                with attempt:
                    if first is not None:
                        failure, first = first, None
                        raise failure
                    raw = await self._attempt(
                        method, url, params, json_body, body, all_headers, on_progress
                    )
                    return self._read(method, url, raw, text=text, decode=decode)
        except APIConnectionError as exc:
            if body is not None and not body.replayable:
                raise UploadError(
                    f"uploading {body.name} failed and a one-shot stream cannot be resent: {exc}"
                ) from exc
            raise
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover

    async def _attempt(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        json_body: Any,
        body: UploadBody | None,
        headers: Mapping[str, str],
        on_progress: ProgressCallback | None,
    ) -> RawResponse:
        delay = self._paused_until - anyio.current_time()
        if delay > 0:
            await anyio.sleep(delay)
        limiter = self._uploads if body is not None else self._requests
        async with limiter:
            if body is not None and body.inline is not None:
                return await self._send_inline(method, url, body.inline, headers, on_progress)
            chunks = _progress(body, on_progress) if body is not None else None
            try:
                return await self._http.request(
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

    def _read(
        self,
        method: str,
        url: str,
        raw: RawResponse,
        *,
        text: bool,
        decode: Callable[[bytes], Any] | None = None,
    ) -> Reply:
        log.debug("%s %s -> %d", method, url, raw.status_code)
        if raw.status_code >= 300:
            # Redirects are never followed (they would carry the key along).
            raise self._error_for(method, url, self._masked(raw))
        if text:
            return Reply(data=raw.content.decode("utf-8", "replace"), headers=raw.headers)
        try:
            data = _decode_json(raw.content, decode)
        except ValueError as exc:
            failure = exc
        else:
            return Reply(data=data, headers=raw.headers)
        # Raised outside the ``except`` so that the original error, which
        # quotes the body, is not kept as the context.
        snippet = self.redactor.text(_snippet(raw.content))
        raise APIResponseError(
            f"the response is not JSON: {snippet!r}",
            status_code=raw.status_code,
            body=snippet,
            method=method,
            url=url,
        ) from self._masked_cause(failure)

    def _masked_cause(self, exc: ValueError) -> ValueError:
        # The decoder's error keeps the whole body (``doc``, ``object``).
        r = self.redactor
        if isinstance(exc, json.JSONDecodeError) and r.text(exc.doc) != exc.doc:
            doc = r.text(exc.doc)
            return json.JSONDecodeError(exc.msg, doc, min(exc.pos, len(doc)))
        if isinstance(exc, UnicodeDecodeError) and r.content(exc.object) != exc.object:
            body = r.content(exc.object)
            end = min(exc.end, len(body))
            return UnicodeDecodeError(exc.encoding, body, min(exc.start, end), end, exc.reason)
        return exc

    def _masked(self, raw: RawResponse) -> RawResponse:
        # An error response is only ever shown, never used as data: mask it whole.
        if not self.redactor:
            return raw
        return RawResponse(
            status_code=raw.status_code,
            headers=self.redactor.headers(raw.headers),
            content=self.redactor.content(raw.content),
            reason=self.redactor.text(raw.reason),
        )

    def shape_error(self, what: str, data: Any, *, method: str, path: str) -> APIResponseError:
        """An :class:`APIResponseError` for a 200 whose JSON is not what ``what`` expected."""
        shown = self.redactor.text(str(data)[:200])
        return APIResponseError(
            f"{what}, got {shown!r}",
            status_code=200,
            body=shown,
            method=method,
            url=self.base_url + path,
        )

    def _error_for(self, method: str, url: str, raw: RawResponse) -> APIStatusError:
        try:
            body = _decode_json(raw.content)
        except ValueError:
            body = None
        reason = raw.reason
        if body is None and raw.content:
            snippet = repr(_snippet(raw.content))
            reason = f"{reason}: {snippet}" if reason else snippet
        headers = raw.headers
        retry_after = parse_retry_after(headers)
        error = status_error(
            raw.status_code,
            body,
            reason=reason,
            request_id=next((headers[h] for h in _REQUEST_ID_HEADERS if h in headers), None),
            retry_after=retry_after,
            method=method,
            url=url,
            location=headers.get("location"),
        )
        if isinstance(error, RateLimitError):
            # One 429 slows the whole client: every request waits it out.
            pause = min(
                retry_after if retry_after is not None else self.retry.initial,
                self.retry.max_retry_after,
            )
            self._paused_until = max(self._paused_until, anyio.current_time() + pause)
        return error

    def _transcript(self, reply: Reply, method: str, path: str) -> Transcript:
        if not isinstance(reply.data, Mapping) or not reply.data.get("id"):
            raise self.shape_error(
                "expected a transcript object", reply.data, method=method, path=path
            )
        # The decoded reply belongs to nobody else, so no defensive copy is needed.
        return Transcript._adopt(self._mask_server_text(reply.data))

    def _mask_server_text(self, item: Any) -> Any:
        # A job's ``error`` is the server's message (it becomes JobFailedError's)
        # and may quote the audio_url; the audio_url of an upload is made up by
        # the server. Both are shown (messages, the CLI), so a key a server put
        # there is masked. Nothing the SDK sends again comes from these fields.
        if self.redactor:
            for name in _SERVER_TEXT_FIELDS:
                value = item.get(name)
                if isinstance(value, str):
                    masked = self.redactor.text(value)
                    if masked != value:
                        item[name] = masked
        return item

    async def _transcript_call(
        self, method: str, path: str, retry: RetrySettings | None = None
    ) -> tuple[Transcript, Reply]:
        reply = await self.send(method, path, retry=retry, decode=decode_deferring_words)
        return self._transcript(reply, method, path), reply

    # ------------------------------------------------------------------ endpoints

    async def upload(self, source: Source, *, on_progress: ProgressCallback | None = None) -> str:
        """``POST /v2/upload``: stream ``source`` and return its ``upload_url``."""
        body = await prepare_source(source, chunk_size=self._chunk_size)
        reply = await self.send("POST", "/v2/upload", body=body, on_progress=on_progress)
        url = reply.data.get("upload_url") if isinstance(reply.data, Mapping) else None
        if not isinstance(url, str) or not url:
            raise self.shape_error(
                "the upload response has no upload_url",
                reply.data,
                method="POST",
                path="/v2/upload",
            )
        return url

    async def audio_url(
        self, source: Source, *, on_progress: ProgressCallback | None = None
    ) -> str:
        """``source`` itself if it is an http(s) URL, else the ``upload_url`` of uploading it."""
        if is_url(source):
            assert isinstance(source, str)
            return source
        return await self.upload(source, on_progress=on_progress)

    def _not_a_url(self, audio_url: object) -> str:
        if not isinstance(audio_url, str):
            # A file or bytes handed to submit() by mistake: naming the type
            # keeps a megabyte of audio out of the message.
            return (
                f"audio_url must be an http(s) URL, got {type(audio_url).__name__}: "
                "submit() takes the URL of audio; upload() a file or bytes first, "
                "or pass it to transcribe()"
            )
        shown = self.redactor.text(audio_url)
        if len(shown) > 100:
            shown = shown[:100] + "..."
        return f"audio_url must be an http(s) URL, got {shown!r}"

    async def submit(
        self, audio_url: str, options: TranscriptOptions, *, idempotency_key: str | None = None
    ) -> Transcript:
        """``POST /v2/transcript``: create a job (``auto_highlights`` on unless set)."""
        if not is_url(audio_url):
            raise SourceError(self._not_a_url(audio_url))
        payload: dict[str, Any] = {"audio_url": audio_url, "auto_highlights": True}
        fields = options.to_dict()
        if "speech_models" not in fields and "speech_model" not in fields:
            payload["speech_models"] = list(self._speech_models)
        payload.update(fields)
        headers = {"idempotency-key": idempotency_key or uuid.uuid4().hex}
        if self.retry.idempotent_submit or not self.retry.reconcile_submit:
            return await self._submit_once(payload, headers)
        return await self._submit_reconciled(payload, headers)

    async def _submit_once(
        self, payload: Mapping[str, Any], headers: Mapping[str, str]
    ) -> Transcript:
        sent_at = anyio.current_time()
        reply = await self.send(
            "POST", _SUBMIT_PATH, json_body=payload, creates_job=True, headers=headers
        )
        job = self._transcript(reply, "POST", _SUBMIT_PATH)
        self._ledger.record(job.id, sent_at=sent_at)
        return job

    async def _submit_reconciled(
        self, payload: Mapping[str, Any], headers: Mapping[str, str]
    ) -> Transcript:
        # See _reconcile: a submit that may have created its job is resent only
        # once a look through the list has proven the job absent.
        started = anyio.current_time()
        bound = self._ledger.bound(before=started)
        audio_url = self.redactor.text(payload["audio_url"])  # as the list shows it
        failures = 0
        while True:
            try:
                return await self._submit_once(payload, headers)
            except AudioHighlightsError as exc:
                if not may_have_created(exc):
                    raise
                failure = exc
            failed_at = anyio.current_time()
            failures += 1
            stats = self.reconcile_stats
            stats.ambiguous += 1
            log.debug("submit of %s may have created its job (%s): looking", audio_url, failure)
            try:
                found = await self._look_for_job(audio_url, started, bound, failed_at)
            except AudioHighlightsError as exc:
                undecided: AudioHighlightsError | None = exc
            else:
                undecided = None
            if undecided is not None:
                # Resending could duplicate the job: the submit's own error it is.
                stats.undecided += 1
                log.debug("submit of %s: could not tell (%s)", audio_url, undecided)
                _note(failure, f"the job may exist; looking for it failed: {undecided}")
                raise failure
            if found is not None:
                stats.adopted += 1
                # Sent by one of the attempts, so no later than the first.
                self._ledger.record(found.id, sent_at=started)
                log.debug("submit of %s had created %s: adopted", audio_url, found.id)
                return found
            if failures > self.retry.max_retries:
                _note(failure, "no job was created (it is not in the list)")
                raise failure
            stats.resubmitted += 1
            await anyio.sleep(backoff(self.retry, failures))

    async def _look_for_job(
        self, audio_url: str, started: float, bound: str | None, failed_at: float
    ) -> Transcript | None:
        """The job a failed submit created, ``None`` if it provably did not; else raise."""
        while True:
            looked_at = anyio.current_time()
            pages = self.pages({"limit": LIST_PAGE_LIMIT})
            try:
                lookup = await look_for(
                    pages,
                    audio_url,
                    since=started,
                    bound=bound,
                    ledger=self._ledger,
                    failed_at=failed_at,
                )
            finally:
                await pages.aclose()
            self.reconcile_stats.looks += 1
            self.reconcile_stats.pages += lookup.pages
            if lookup.found is not None:
                job_id = str(lookup.found["id"])
                try:
                    return await self.get(job_id)
                except AudioHighlightsError as exc:
                    raise _Undecided(
                        f"job {job_id} is listed but could not be read: {exc}"
                    ) from exc
            if not lookup.complete:
                raise _Undecided(
                    f"not among the {lookup.pages * LIST_PAGE_LIMIT} newest jobs, "
                    "and the list did not reach the time of the submit"
                )
            if lookup.witnessed or looked_at - failed_at >= self.retry.list_lag:
                return None
            # The list may not show the job yet: look again once it must.
            await anyio.sleep(max(0.0, failed_at + self.retry.list_lag - anyio.current_time()))

    async def get(self, ref: str | Transcript) -> Transcript:
        """``GET /v2/transcript/{id}``."""
        transcript, _ = await self._transcript_call("GET", _transcript_path(ref))
        return transcript

    async def poll(self, ref: str | Transcript) -> tuple[Transcript, float | None]:
        """One ``GET /v2/transcript/{id}``, never retried; with the ``Retry-After`` it carried."""
        transcript, reply = await self._transcript_call("GET", _transcript_path(ref), NO_RETRY)
        return transcript, parse_retry_after(reply.headers)

    async def delete(self, ref: str | Transcript) -> Transcript:
        """``DELETE /v2/transcript/{id}``."""
        transcript, _ = await self._transcript_call("DELETE", _transcript_path(ref))
        return transcript

    async def pages(
        self, params: Mapping[str, Any], *, retry: RetrySettings | None = None
    ) -> AsyncGenerator[list[Mapping[str, Any]], None]:
        """``GET /v2/transcript`` page after page (newest first), following ``prev_url``.

        Yields each page's items; ends at an empty page, a page without
        ``prev_url``, or a ``prev_url`` seen before (a server looping).
        ``retry`` overrides the retry policy of each page.

        Raises:
            APIResponseError: A page has no ``transcripts`` array.
        """
        seen: set[str] = set()
        query = dict(params)
        while True:
            reply = await self.send("GET", "/v2/transcript", params=query, retry=retry)
            data = reply.data if isinstance(reply.data, Mapping) else {}
            items = data.get("transcripts")
            if not isinstance(items, list):
                raise self.shape_error(
                    "the transcript list has no 'transcripts' array",
                    reply.data,
                    method="GET",
                    path="/v2/transcript",
                )
            yield [self._mask_server_text(item) for item in items if isinstance(item, dict)]
            details = data.get("page_details")
            prev_url = (
                PageDetails.from_dict(details).prev_url if isinstance(details, Mapping) else None
            )
            if not items or not prev_url or prev_url in seen:
                return
            seen.add(prev_url)
            # Only the query of the server's link is used: the key is never
            # sent to a host other than base_url.
            query = dict(parse_qsl(urlsplit(prev_url).query))

    def transcripts(
        self,
        params: Mapping[str, Any],
        *,
        limit: int | None = None,
        page_size: int | None = None,
    ) -> AsyncGenerator[Transcript, None]:
        """The items of :meth:`pages`, one by one, as (summary) transcripts.

        Args:
            params: The list's filters.
            limit: At most this many in all; no page is fetched past them.
            page_size: Items per page (the ``limit`` query parameter); defaults
                to ``limit`` (up to 200) when that is set, else the server's.

        Raises:
            UsageError: ``limit`` is below 1 or ``page_size`` outside 1-200,
                before any request.
        """
        if limit is not None and limit < 1:
            raise UsageError(f"limit must be at least 1, got {limit!r}")
        if page_size is not None and not 1 <= page_size <= LIST_PAGE_LIMIT:
            raise UsageError(f"page_size must be from 1 to {LIST_PAGE_LIMIT}, got {page_size!r}")
        if page_size is None and limit is not None:
            page_size = min(limit, LIST_PAGE_LIMIT)
        query = dict(params) if page_size is None else {**params, "limit": page_size}
        return self._transcripts(query, limit)

    async def _transcripts(
        self, params: Mapping[str, Any], limit: int | None
    ) -> AsyncGenerator[Transcript, None]:
        left = limit
        pages = self.pages(params)
        try:
            async for items in pages:
                for item in items:
                    # Freshly decoded, owned by nobody else: no copy needed.
                    yield Transcript._adopt(item)
                    if left is not None:
                        left -= 1
                        if left == 0:
                            return
        finally:
            await pages.aclose()

    async def _view(
        self, ref: str | Transcript, view: str, key: str, params: Mapping[str, Any] | None = None
    ) -> list[Any]:
        path = _transcript_path(ref, view)
        reply = await self.send("GET", path, params=params)
        items = reply.data.get(key) if isinstance(reply.data, Mapping) else None
        if not isinstance(items, list):
            raise self.shape_error(
                f"expected an object with a {key!r} array", reply.data, method="GET", path=path
            )
        return [item for item in items if isinstance(item, Mapping)]

    async def segments(
        self, ref: str | Transcript, kind: Literal["sentences", "paragraphs"]
    ) -> list[Segment]:
        """``GET /v2/transcript/{id}/sentences`` or ``/paragraphs``."""
        return [Segment.from_dict(item) for item in await self._view(ref, "/" + kind, kind)]

    async def subtitles(
        self, ref: str | Transcript, fmt: SubtitleFormat, chars_per_caption: int | None
    ) -> str:
        """``GET /v2/transcript/{id}/{srt|vtt}``: the captions as text."""
        if fmt not in ("srt", "vtt"):
            raise UsageError(f"subtitle format must be 'srt' or 'vtt', got {fmt!r}")
        params = None
        if chars_per_caption is not None:
            if isinstance(chars_per_caption, bool) or not isinstance(chars_per_caption, int):
                raise UsageError(f"chars_per_caption must be an int, got {chars_per_caption!r}")
            if chars_per_caption < 1:
                raise UsageError(f"chars_per_caption must be at least 1, got {chars_per_caption}")
            params = {"chars_per_caption": chars_per_caption}
        reply = await self.send("GET", _transcript_path(ref, "/" + fmt), params=params, text=True)
        text: str = reply.data
        return text

    async def word_search(
        self, ref: str | Transcript, words: Sequence[str]
    ) -> list[WordSearchMatch]:
        """``GET /v2/transcript/{id}/word-search``: where each word or phrase occurs."""
        if isinstance(words, str):
            words = [words]
        terms = [w.strip() for w in words if isinstance(w, str) and w.strip()]
        if not terms or len(terms) != len(words):
            raise UsageError(f"words must be a non-empty list of non-empty strings, got {words!r}")
        if any("," in t for t in terms):
            # The API takes the terms comma-separated (style=form, explode=false).
            raise UsageError(f"a search term cannot contain a comma, got {words!r}")
        items = await self._view(ref, "/word-search", "matches", {"words": ",".join(terms)})
        return [WordSearchMatch.from_dict(item) for item in items]


def _note(error: BaseException, note: str) -> None:
    add_note = getattr(error, "add_note", None)  # Python 3.11+
    if add_note is not None:
        add_note(note)


class _Undecided(AudioHighlightsError):
    """Internal: a look through the list could not tell whether the job exists."""


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
