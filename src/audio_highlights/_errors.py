"""The SDK's one exception tree.

Everything the SDK raises on purpose derives from :class:`AudioHighlightsError`::

    AudioHighlightsError
    ├── UsageError (ValueError)                the SDK was called wrongly (bad base_url, option, id)
    ├── UploadError                            the audio could not be sent
    │   └── SourceError (ValueError)           bad local input, caught before any request
    ├── APIConnectionError                     no HTTP response (DNS, refused, reset)
    │   └── APITimeoutError (TimeoutError)     connect/read/write timeout, or request_timeout
    ├── APIResponseError                       a response that is not the API's JSON
    │   └── ResponseTooLargeError              a body over max_response_size
    ├── APIStatusError                         the API answered 3xx/4xx/5xx
    │   ├── RedirectError                      3xx (redirects are never followed)
    │   ├── BadRequestError                    400 (and other 4xx)
    │   ├── AuthenticationError                401
    │   ├── PermissionDeniedError              403
    │   ├── NotFoundError                      404, or 400 "... not found"
    │   ├── RateLimitError                     429 (after retries)
    │   └── ServerError                        5xx (after retries)
    ├── JobFailedError                         the job ended with status "error"
    └── JobTimeoutError (TimeoutError)         wait() hit its deadline; job still runs

Every exception raised because of another one chains it (``raise ... from``),
so the original ``httpx2`` error stays reachable in ``__cause__``. Messages
carry the server's ``error`` text and its request id where there is one, and
never the API key: text from a server has the client's key masked as ``***``
before it reaches an exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._models import Transcript, TranscriptStatus

__all__ = [
    "APIConnectionError",
    "APIResponseError",
    "APIStatusError",
    "APITimeoutError",
    "AudioHighlightsError",
    "AuthenticationError",
    "BadRequestError",
    "JobFailedError",
    "JobTimeoutError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RedirectError",
    "ResponseTooLargeError",
    "ServerError",
    "SourceError",
    "UploadError",
    "UsageError",
]


class AudioHighlightsError(Exception):
    """Root of every error this SDK raises on purpose."""


class UsageError(AudioHighlightsError, ValueError):
    """The SDK was called wrongly: a base URL that is not http(s), no API key, a bad option or id.

    Raised before any network request is made.
    """


class UploadError(AudioHighlightsError):
    """The audio could not be uploaded (its source failed mid-way or could not be resent)."""


class SourceError(UploadError, ValueError):
    """Bad local input: a missing, empty, unreadable file, a directory, an unsupported type.

    Raised before any network request is made.
    """


class APIConnectionError(AudioHighlightsError):
    """No HTTP response arrived: the connection failed, was reset, or the protocol broke.

    Attributes:
        method: HTTP method of the failed request.
        url: URL of the failed request.
    """

    def __init__(self, message: str, *, method: str = "", url: str = "") -> None:
        super().__init__(message)
        self.method = method
        self.url = url


class APITimeoutError(APIConnectionError, TimeoutError):
    """A connect, read, write or pool timeout expired."""


class APIResponseError(AudioHighlightsError):
    """The server answered, but not with the JSON the API defines (HTML, truncated JSON, ...).

    Attributes:
        status_code: HTTP status of the response.
        body: Start of the response body, for diagnosis.
        method: HTTP method of the request it answered.
        url: URL of the request it answered.
    """

    def __init__(
        self, message: str, *, status_code: int, body: str = "", method: str = "", url: str = ""
    ) -> None:
        super().__init__(f"{method} {url}: {message}" if method else message)
        self.status_code = status_code
        self.body = body
        self.method = method
        self.url = url


class ResponseTooLargeError(APIResponseError):
    """The response body was larger than the client's ``max_response_size``.

    Not retried: the same request would get the same body. Reading stops at
    the limit, so memory stays bounded whatever the server sends.

    Attributes:
        limit: The limit that was exceeded, in bytes.
    """

    def __init__(
        self, message: str, *, status_code: int, limit: int, method: str = "", url: str = ""
    ) -> None:
        super().__init__(message, status_code=status_code, method=method, url=url)
        self.limit = limit


class APIStatusError(AudioHighlightsError):
    """The API answered with an HTTP error status (or a redirect).

    Its message names the request that failed: ``GET https://.../v2/transcript/abc
    -> 404: Transcript not found (request id ...)``.

    Attributes:
        status_code: The HTTP status.
        message: The server's ``error`` text, or the reason phrase.
        request_id: The server's request id header, when it sent one.
        body: The decoded JSON body, or ``None`` when it was not JSON.
        retry_after: Seconds the server asked to wait, when it said.
        method: HTTP method of the failed request.
        url: URL of the failed request (no query string).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        request_id: str | None = None,
        body: Any = None,
        retry_after: float | None = None,
        method: str = "",
        url: str = "",
    ) -> None:
        self.status_code = status_code
        self.message = message
        self.request_id = request_id
        self.body = body
        self.retry_after = retry_after
        self.method = method
        self.url = url
        text = f"{status_code}: {message}"
        if method:
            text = f"{method} {url} -> {text}"
        if request_id:
            text += f" (request id {request_id})"
        super().__init__(text)


class RedirectError(APIStatusError):
    """3xx: the server redirected the request, and the SDK does not follow redirects.

    Following one would send the API key to wherever the server points; a
    redirect usually means ``base_url`` is wrong (``http`` for ``https``, a
    missing path prefix, a moved host).

    Attributes:
        location: The ``Location`` header, or ``None`` when there was none.
    """

    def __init__(self, message: str, *, location: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.location = location


class BadRequestError(APIStatusError):
    """400, or another 4xx the SDK has no narrower class for: the request was invalid."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing or wrong."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not do this (account, region or feature)."""


class NotFoundError(APIStatusError):
    """404, or a 400 saying the transcript id was not found."""


class RateLimitError(APIStatusError):
    """429: too many requests, still after the SDK's retries."""


class ServerError(APIStatusError):
    """5xx: the server failed, still after the SDK's retries."""


class JobFailedError(AudioHighlightsError):
    """The transcription job ended with ``status: "error"``.

    Attributes:
        transcript_id: The failed job.
        message: The server's error text.
        transcript: The final transcript object.
    """

    def __init__(self, transcript: Transcript) -> None:
        self.transcript_id = transcript.id
        self.message = transcript.error or "the job failed without a message"
        self.transcript = transcript
        super().__init__(f"transcript {transcript.id} failed: {self.message}")


class JobTimeoutError(AudioHighlightsError, TimeoutError):
    """``wait()`` reached its deadline before the job finished.

    The job keeps running on the server: ``await client.wait(err.transcript_id)``
    picks it up again.

    Attributes:
        transcript_id: The job that was being waited for.
        last_status: The last status seen, or ``None`` if no poll succeeded.
        timeout: The deadline that expired, in seconds.
    """

    def __init__(
        self, transcript_id: str, last_status: TranscriptStatus | None, timeout: float
    ) -> None:
        self.transcript_id = transcript_id
        self.last_status = last_status
        self.timeout = timeout
        seen = last_status.value if last_status is not None else "unknown"
        super().__init__(
            f"transcript {transcript_id} not finished after {timeout:g} s "
            f"(last status: {seen}); it keeps running, wait() on its id to resume"
        )


_NOT_FOUND_MARKERS = ("not found", "does not exist")


def status_error(
    status_code: int,
    body: Any,
    *,
    reason: str = "",
    request_id: str | None = None,
    retry_after: float | None = None,
    method: str = "",
    url: str = "",
    location: str | None = None,
) -> APIStatusError:
    """Build the :class:`APIStatusError` subclass that fits an error response."""
    cls: type[APIStatusError]
    extra: dict[str, Any] = {}
    if 300 <= status_code < 400:
        where = f"to {location!r}" if location else "without a Location"
        message = (
            f"redirected {where}; redirects are not followed, as they would carry the API key "
            "elsewhere: check base_url (https, host, path)"
        )
        cls, extra = RedirectError, {"location": location}
    else:
        err = body.get("error") if isinstance(body, Mapping) else None
        message = (err if isinstance(err, str) else "") or reason or "error"
        cls = _status_class(status_code, message)
    return cls(
        message,
        status_code=status_code,
        request_id=request_id,
        body=body,
        retry_after=retry_after,
        method=method,
        url=url,
        **extra,
    )


def _status_class(status_code: int, message: str) -> type[APIStatusError]:
    if status_code == 401:
        return AuthenticationError
    if status_code == 403:
        return PermissionDeniedError
    if status_code == 404 or (
        status_code == 400 and any(m in message.lower() for m in _NOT_FOUND_MARKERS)
    ):
        return NotFoundError
    if status_code == 429:
        return RateLimitError
    if status_code >= 500:
        return ServerError
    if 400 <= status_code < 500:
        return BadRequestError
    return APIStatusError
