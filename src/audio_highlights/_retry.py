"""Retry and backoff policies, built on tenacity.

The policy of resending a failed HTTP request (:func:`request_retrying`), and
what counts as worth resending. It sleeps with :func:`anyio.sleep`, so it works
under Trio as well as asyncio, and is built with ``reraise=True`` so a
:class:`tenacity.RetryError` never reaches the caller. The interval between
polls of a job is the polling layer's (``_polling.PollSchedule``).
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Mapping

import anyio
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from ._errors import APIConnectionError, APIResponseError, APIStatusError, ResponseTooLargeError
from ._http import NotSentError
from ._settings import RetrySettings, grown

__all__ = ["backoff", "is_transient", "may_have_created", "parse_retry_after", "request_retrying"]

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Read how long the server asked us to wait, in seconds.

    Understands ``retry-after-ms`` (milliseconds) and ``Retry-After`` as
    seconds or as an HTTP date. Returns ``None`` when absent or unreadable.
    """
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def is_transient(exc: BaseException) -> bool:
    """Whether a failed request is worth retrying at all (ignoring idempotency)."""
    if isinstance(exc, APIStatusError):
        return exc.status_code in RETRY_STATUSES
    if isinstance(exc, ResponseTooLargeError):
        return False  # the same request would get the same body
    # A garbled or cut-short body (a proxy or a dropped connection mangled the
    # answer) says nothing about the request itself, so it is worth another try.
    return isinstance(exc, (APIConnectionError, APIResponseError))


def may_have_created(exc: BaseException) -> bool:
    """Whether a failed submit is worth another try but may have created its job.

    Not so when the connection never opened or the rate limiter turned the
    request away: then the server cannot have acted on it.
    """
    if not is_transient(exc) or isinstance(exc, NotSentError):
        return False
    return not (isinstance(exc, APIStatusError) and exc.status_code == 429)


def _may_resend(exc: BaseException, *, creates_job: bool, settings: RetrySettings) -> bool:
    if not is_transient(exc):
        return False
    if not creates_job or settings.idempotent_submit:
        return True
    # Otherwise a submit is resent here only when the server cannot have
    # created the job; the request layer reconciles the other failures.
    return not may_have_created(exc)


def backoff(settings: RetrySettings, retry: int) -> float:
    """The full-jitter delay before retry number ``retry`` (1-based)."""
    bound = grown(settings.initial, settings.multiplier, retry - 1, settings.max_backoff)
    return random.uniform(0.0, bound)


class _BackoffWait:
    """Full-jitter exponential backoff, overridden by a server's Retry-After."""

    def __init__(self, settings: RetrySettings) -> None:
        self._settings = settings

    def __call__(self, state: RetryCallState) -> float:
        s = self._settings
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, APIStatusError) and exc.retry_after is not None:
            return min(exc.retry_after, s.max_retry_after)
        return backoff(s, state.attempt_number)


def request_retrying(settings: RetrySettings, *, creates_job: bool = False) -> AsyncRetrying:
    """A tenacity controller for resending one request.

    Args:
        settings: Retry limits and backoff.
        creates_job: The request is a submit; see :class:`RetrySettings`.
    """
    return AsyncRetrying(
        stop=stop_after_attempt(settings.max_retries + 1),
        wait=_BackoffWait(settings),
        retry=retry_if_exception(
            lambda exc: _may_resend(exc, creates_job=creates_job, settings=settings)
        ),
        sleep=anyio.sleep,
        reraise=True,
    )
