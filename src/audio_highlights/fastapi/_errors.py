"""The SDK's errors as HTTP answers: a caller's mistake is a 4xx, a failing API a 5xx.

Without these handlers every :class:`~audio_highlights.AudioHighlightsError`
that escapes a route becomes a bare ``500 Internal Server Error``, although
most of them are the caller's doing (audio that cannot be decoded, a URL the
API refuses, an unknown transcript id).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .. import (
    APIConnectionError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    AudioHighlightsError,
    AuthenticationError,
    BadRequestError,
    JobFailedError,
    JobTimeoutError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RedirectError,
    ResponseTooLargeError,
    ServerError,
    SourceError,
    UploadError,
    UsageError,
)

__all__ = ["ERROR_STATUS", "error_response", "install_exception_handlers"]

_log = logging.getLogger("audio_highlights.fastapi")

#: The HTTP status each SDK error class is answered with. An error takes the
#: status of the nearest class in its MRO, so a subclass is covered by its parent.
ERROR_STATUS: Mapping[type[AudioHighlightsError], int] = MappingProxyType(
    {
        # The caller's audio or request was at fault.
        SourceError: 422,
        JobFailedError: 422,
        NotFoundError: 404,
        BadRequestError: 400,
        # The API, or this service's account with it, failed: the caller can only retry.
        UploadError: 502,
        AuthenticationError: 502,
        PermissionDeniedError: 502,
        RateLimitError: 503,
        ServerError: 502,
        RedirectError: 502,
        APIStatusError: 502,
        ResponseTooLargeError: 502,
        APIResponseError: 502,
        APIConnectionError: 502,
        APITimeoutError: 504,
        JobTimeoutError: 504,
        # The service called the SDK wrongly: its own bug.
        UsageError: 500,
        AudioHighlightsError: 500,
    }
)

# 4xx answers of the API that say the same thing to the service's own caller.
_PASSED_ON = frozenset({400, 413, 415, 422})


def _classify(exc: AudioHighlightsError) -> tuple[str, int]:
    """The public class an error is reported as, and its status."""
    for cls in type(exc).__mro__:
        status = ERROR_STATUS.get(cls)
        if status is not None:
            if cls is BadRequestError and isinstance(exc, APIStatusError):
                status = exc.status_code if exc.status_code in _PASSED_ON else 400
            # Internal subclasses (connection markers and the like) are reported
            # under the public class that maps them.
            return cls.__name__, status
    return "AudioHighlightsError", 500  # pragma: no cover - the root is in the table


# How the SDK's messages go on after the request they name: a status error
# (``-> 404: ...``), a bad response (``: not JSON``), a connection failure
# (``failed: ConnectError: ...``), a deadline (`` did not complete ...``).
_AFTER_REQUEST = (" -> ", ": ", " failed: ", " ")


def _detail(exc: AudioHighlightsError) -> str:
    """The SDK's message without the upstream request it names.

    ``GET http://10.0.0.5:8000/v2/transcript/x -> 404: ...``: the API's address
    (an internal host, the engine's) is the service's own business; the
    operator's log keeps it.
    """
    text = str(exc)
    method, url = getattr(exc, "method", ""), getattr(exc, "url", "")
    request = f"{method} {url}"
    if method and url and text.startswith(request):
        rest = text[len(request) :]
        for separator in _AFTER_REQUEST:
            if rest.startswith(separator):
                return rest[len(separator) :]
    return text


def error_response(exc: AudioHighlightsError) -> JSONResponse:
    """The JSON answer for ``exc``, as :func:`install_exception_handlers` sends it.

    The body is ``{"detail": <the SDK's message>, "type": <error class>}`` (the
    message without the upstream request's method and URL, which are logged) plus
    ``transcript_id`` when the error concerns one job and ``request_id`` when the
    API sent one; ``detail`` is where FastAPI puts its own errors. A rate limit
    carries ``Retry-After``.

    Args:
        exc: The error to answer.
    """
    name, status = _classify(exc)
    body: dict[str, Any] = {"detail": _detail(exc), "type": name}
    transcript_id = getattr(exc, "transcript_id", None)
    if isinstance(transcript_id, str):
        body["transcript_id"] = transcript_id
    headers: dict[str, str] = {}
    if isinstance(exc, APIStatusError):
        if exc.request_id:
            body["request_id"] = exc.request_id
        if isinstance(exc, RateLimitError) and exc.retry_after is not None:
            headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    return JSONResponse(body, status_code=status, headers=headers)


def _handle(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AudioHighlightsError)
    response = error_response(exc)
    if response.status_code >= 500:
        # The caller gets the message; the operator gets the traceback.
        _log.warning(
            "%s %s answered %d: %s",
            request.method,
            request.url.path,
            response.status_code,
            exc,
            exc_info=response.status_code == 500,
        )
    return response


def install_exception_handlers(app: Starlette) -> None:
    """Answer every :class:`~audio_highlights.AudioHighlightsError` a route raises as JSON.

    Call it once on the application (FastAPI or Starlette). Each error gets
    the status of :data:`ERROR_STATUS`: 422 for audio that is empty or
    cannot be transcribed, 404 for an unknown transcript, 400 for a request
    the API refuses (such as a URL it may not fetch), 502 when the API fails
    or refuses this service's key, 503 when it rate-limits, 504 when it or a
    job's wait times out, and 500 for a wrong call of the SDK.

    Example:
        ```python
        app = FastAPI()
        install_exception_handlers(app)
        ```

    Args:
        app: The application.
    """
    app.add_exception_handler(AudioHighlightsError, _handle)
