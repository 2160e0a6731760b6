"""The asynchronous client: configuration and lifecycle, over the request and polling layers."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Final

import attrs

from ._api import Requester, endpoint
from ._batch import BatchMethods
from ._errors import UsageError
from ._http import AsyncBaseTransport, AsyncHTTPClient, asgi_transport
from ._models import Transcript, TranscriptStatus
from ._options import TranscriptOptions, merge_options
from ._polling import Poller, StatusCallback, StatusWatch
from ._settings import DEFAULT, PollSettings, RetrySettings, Seconds, UseDefault, to_seconds
from ._sources import ProgressCallback, Source
from ._views import TranscriptViews

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_SPEECH_MODELS", "AsyncClient"]

#: The hosted API, used when neither ``base_url`` nor ``ASSEMBLYAI_BASE_URL`` is set.
DEFAULT_BASE_URL: Final = "https://api.assemblyai.com"
#: Sent as ``speech_models`` unless the caller passes its own: the hosted API
#: rejects a submit without it, and this is the pair its docs use.
DEFAULT_SPEECH_MODELS: Final = ("universal-3-pro", "universal-2")

_EMBEDDED_BASE_URL = "http://embedded.audio-highlights"


# Methods taking ``**fields`` have a positional-only ``self``, so that the
# blocking Client can derive its methods from them with a typed ParamSpec.
class AsyncClient(BatchMethods, TranscriptViews):
    """An asynchronous client for the AssemblyAI v2 transcription API.

    One client owns one connection pool; share it across tasks. All methods
    are safe to call concurrently and to cancel at any point: the pool stays
    usable. Use it as an async context manager, or call :meth:`aclose`.

    Example:
        ```python
        async with ah.AsyncClient() as client:  # the key from ASSEMBLYAI_API_KEY
            t = await client.transcribe("call.mp3")
            for h in t.highlights:
                print(h.text, h.count, h.rank)
        ```

    Args:
        api_key: The API key. Defaults to ``ASSEMBLYAI_API_KEY``. Required for
            the hosted API; a self-hosted engine may need none.
        base_url: The API's root. Defaults to ``ASSEMBLYAI_BASE_URL``, else
            ``https://api.assemblyai.com``. Must be http(s).
        timeout: Read/write timeout of each network operation of a request.
        connect_timeout: Timeout to open a connection.
        request_timeout: Deadline of one whole HTTP request (connect, send and
            every read), so a server that trickles its answer ends in
            :class:`APITimeoutError`; each retry gets a new one. For an upload
            it starts once the body is sent. ``None`` disables it.
        max_response_size: Largest response body the client reads, in bytes;
            a larger one is :class:`ResponseTooLargeError`.
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
        UsageError: ``base_url`` is not an http(s) URL, no API key is available
            for the hosted API, ``http_client`` is not an ``httpx2.AsyncClient``,
            or an option is out of range.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: Seconds = 60.0,
        connect_timeout: Seconds = 10.0,
        request_timeout: Seconds | None = 120.0,
        max_response_size: int = 64 * 1024 * 1024,
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
        url, key = endpoint(base_url, api_key, default=DEFAULT_BASE_URL)
        retry = retry or RetrySettings()
        if max_retries is not None:
            retry = attrs.evolve(retry, max_retries=max_retries)
        self._api = Requester(
            base_url=url,
            api_key=key,
            headers=headers or {},
            retry=retry,
            max_concurrency=max_concurrency,
            max_concurrent_uploads=max_concurrent_uploads,
            chunk_size=upload_chunk_size,
            speech_models=speech_models,
            timeout=to_seconds(timeout),
            connect_timeout=to_seconds(connect_timeout),
            request_timeout=None if request_timeout is None else to_seconds(request_timeout),
            max_response_size=max_response_size,
            verify=verify,
            http_client=http_client,
            transport=transport,
        )
        del key
        self._poller = Poller(self._api, polling or PollSettings())

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

        Jobs and uploads last as long as the client, in a temporary directory,
        unless ``data_dir`` (or ``AUDIO_HIGHLIGHTS_DATA_DIR``) says where to keep them.

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
        async with open_engine(**{"temporary": None, **engine_options}) as engine:
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
        await self._api.aclose()

    @property
    def base_url(self) -> str:
        """The API root requests go to."""
        return self._api.base_url

    def __repr__(self) -> str:
        key = "set" if self._api.has_key else "none"
        return f"<AsyncClient base_url={self.base_url!r} api_key={key}>"

    async def upload(self, source: Source, *, on_progress: ProgressCallback | None = None) -> str:
        """Upload audio or video and return the ``upload_url`` to transcribe.

        The source is streamed in chunks (memory stays flat whatever its size),
        sized when its size is known, chunked otherwise. Files and bytes are
        resent from byte 0 if a retry is needed.

        Args:
            source: A path, bytes, a binary file object, or an async iterable of bytes.
            on_progress: Called as ``on_progress(bytes_sent, total_or_None)``
                after each chunk; it restarts at 0 on a retry.

        Raises:
            SourceError: The source is unusable (checked before any request).
            UploadError: The source failed mid-way or could not be resent.
        """
        return await self._api.upload(source, on_progress=on_progress)

    async def audio_url_for(
        self, source: Source, *, on_progress: ProgressCallback | None = None
    ) -> str:
        """The ``audio_url`` to submit for ``source``: itself if an http(s) URL, else uploaded.

        Raises:
            SourceError: The source is unusable (checked before any request).
        """
        return await self._api.audio_url(source, on_progress=on_progress)

    async def submit(
        self,
        /,
        audio_url: str,
        *,
        options: TranscriptOptions | None = None,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> Transcript:
        """Create a transcription job and return it (usually ``queued``).

        Args:
            audio_url: An http(s) URL of the audio, e.g. from :meth:`upload`.
            options: The job's request fields, typed.
            idempotency_key: Sent as ``Idempotency-Key``; a fresh one is made
                per call, so retries of this call share it.
            **fields: Request fields by name, laid over ``options`` (any field of
                :class:`TranscriptOptions`; ``None`` values are dropped).
                ``auto_highlights`` defaults to ``True``, ``speech_models`` to
                the client's. A field newer than the SDK goes in ``extra={...}``.

        Raises:
            UsageError: A field name is unknown or a value has the wrong type.
            SourceError: ``audio_url`` is not an http(s) URL.
            APIStatusError: The API refused the request (e.g. a bad field).
        """
        merged = merge_options(options, fields)
        return await self._api.submit(audio_url, merged, idempotency_key=idempotency_key)

    async def get(self, transcript_id: str | Transcript) -> Transcript:
        """Fetch a transcript as it is now.

        Raises:
            NotFoundError: No such transcript.
        """
        return await self._api.get(transcript_id)

    async def delete(self, transcript_id: str | Transcript) -> Transcript:
        """Delete a transcript's data on the server; returns it blanked.

        Raises:
            NotFoundError: No such transcript.
        """
        return await self._api.delete(transcript_id)

    def list(
        self,
        *,
        status: TranscriptStatus | str | None = None,
        limit: int | None = None,
        page_size: int | None = None,
        created_on: str | None = None,
        before_id: str | None = None,
        after_id: str | None = None,
    ) -> AsyncIterator[Transcript]:
        """Iterate over transcripts, newest first, fetching page after page.

        Items are the list's summaries (``id``, ``status``, ``audio_url``,
        ``error``; the rest in ``raw``): :meth:`get` fetches a full transcript.

        Args:
            status: Only transcripts with this status.
            limit: At most this many in all (default: every one); no page past them is fetched.
            page_size: Per request, 1-200 (default: ``limit`` up to 200, else the server's).
            created_on: Only those created on this date (``YYYY-MM-DD``).
            before_id: Only those created before this one.
            after_id: Only those created after this one.

        Raises:
            UsageError: ``limit`` below 1 or ``page_size`` outside 1-200 (nothing is sent).
        """
        query = {"status": status and str(status), "created_on": created_on}
        query.update(before_id=before_id, after_id=after_id)
        filters = {k: v for k, v in query.items() if v is not None}
        return self._api.transcripts(filters, limit=limit, page_size=page_size)

    async def wait(
        self,
        transcript_id: str | Transcript,
        *,
        timeout: Seconds | UseDefault | None = DEFAULT,
        polling: PollSettings | None = None,
        on_status: StatusCallback | None = None,
    ) -> Transcript:
        """Poll a job until it completes, with backoff and an overall deadline.

        Transient poll failures (429, 5xx, timeouts, network errors, garbled
        responses) are retried until the deadline; they never end the wait.

        Args:
            transcript_id: The job's id (or the transcript returned by :meth:`submit`).
            timeout: Deadline in seconds or a timedelta; ``None`` waits for ever.
                Defaults to ``polling.timeout``.
            polling: Overrides the client's poll policy for this call.
            on_status: Called with the transcript each time its status changes
                (the first poll included), so a UI can show progress; may be async.

        Raises:
            JobFailedError: The job ended with ``status: "error"``.
            JobTimeoutError: The deadline passed; the job keeps running and
                ``wait()`` on its id resumes.
            NotFoundError: No such transcript.
        """
        watch = StatusWatch(on_status)
        return await self._poller.wait(transcript_id, timeout=timeout, polling=polling, watch=watch)

    async def transcribe(
        self,
        /,
        source: Source,
        *,
        options: TranscriptOptions | None = None,
        timeout: Seconds | UseDefault | None = DEFAULT,
        on_progress: ProgressCallback | None = None,
        polling: PollSettings | None = None,
        on_status: StatusCallback | None = None,
        **fields: Any,
    ) -> Transcript:
        """Upload (unless ``source`` is a URL), submit, and wait for the transcript.

        Args:
            source: A path, an http(s) URL, bytes, a binary file object, or an
                async iterable of bytes.
            options: The job's request fields, typed (see :meth:`submit`).
            timeout: Deadline of the wait for completion (see :meth:`wait`).
            on_progress: Upload progress callback (see :meth:`upload`).
            polling: Overrides the client's poll policy for this call.
            on_status: Status callback (see :meth:`wait`), from ``queued`` on.
            **fields: Request fields by name (see :meth:`submit`).

        Raises:
            UsageError: A field name is unknown (before any request).
            SourceError: The source is unusable (before any request).
            JobFailedError: The job ended in error.
            JobTimeoutError: The deadline passed (the job id is on the error).
        """
        merged = merge_options(options, fields)
        job = await self._api.submit(
            await self._api.audio_url(source, on_progress=on_progress), merged
        )
        watch = StatusWatch(on_status)
        return await self._poller.wait(
            job, known=job, timeout=timeout, polling=polling, watch=watch
        )
