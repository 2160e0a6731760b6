"""Keeping the API key out of everything the SDK shows.

A server may echo the key it was sent: in an error message, an HTML page, a
header, a request id, an ``upload_url``. Text from a server passes through a
:class:`Redactor` before it reaches an exception or a log record, so the key
shows as ``***``. The HTTP stack's own DEBUG logging (httpcore2 logs every
response's headers) is covered by :class:`RedactingFilter`, which
:func:`watch` installs on its loggers for as long as a client with that key
is open.

Keys shorter than :data:`MIN_SECRET_LENGTH` are not searched for: replacing
every ``"k"`` in a message would garble it, and a key that short protects
nothing. The hosted API's keys are 32 characters.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import quote

__all__ = ["MIN_SECRET_LENGTH", "MASK", "RedactingFilter", "Redactor", "unwatch", "watch"]

#: What a key is replaced with.
MASK: Final = "***"
#: Shorter keys are not searched for in text.
MIN_SECRET_LENGTH: Final = 8

# The loggers whose records can carry server text. Filters on a logger do not
# apply to its children's records, so each module's logger is named.
_LOGGERS: Final = (
    "audio_highlights",
    "httpx2",
    "httpcore2",
    "httpcore2.connection",
    "httpcore2.http11",
    "httpcore2.http2",
    "httpcore2.proxy",
    "httpcore2.socks",
    "hpack",
    "hpack.hpack",
    "hpack.table",
)


def _forms(key: str | None) -> tuple[str, ...]:
    if not key or len(key) < MIN_SECRET_LENGTH:
        return ()
    # The percent-encoded form too, for a key echoed inside a URL.
    return tuple(sorted({key, quote(key, safe="")}, key=len, reverse=True))


class Redactor:
    """Replaces one API key with ``***`` in text that came from a server.

    Args:
        key: The key; ``None`` (or one too short to search for) redacts nothing.
    """

    __slots__ = ("__forms",)

    def __init__(self, key: str | None) -> None:
        self.__forms = _forms(key)

    def __repr__(self) -> str:
        return "Redactor(key='***')"

    def __bool__(self) -> bool:
        return bool(self.__forms)

    def text(self, value: str) -> str:
        """``value`` with every occurrence of the key masked."""
        for form in self.__forms:
            if form in value:
                value = value.replace(form, MASK)
        return value

    def content(self, value: bytes) -> bytes:
        """A raw body with every occurrence of the key masked."""
        for form in self.__forms:
            raw = form.encode("utf-8")
            if raw in value:
                value = value.replace(raw, MASK.encode())
        return value

    def headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """Headers with the key masked in every value."""
        return {name: self.text(value) for name, value in headers.items()}

    def data(self, value: Any) -> Any:
        """Decoded JSON with the key masked in every string (keys of objects too)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.data(item) for item in value]
        if isinstance(value, dict):
            return {self.data(k): self.data(v) for k, v in value.items()}
        return value


_lock = threading.Lock()
_watched: Counter[str] = Counter()


class RedactingFilter(logging.Filter):
    """A logging filter that masks the keys of open clients in every record.

    Installed by the SDK on the ``audio_highlights``, ``httpx2``, ``httpcore2``
    (each of its modules) and ``hpack`` loggers. To protect records of other
    loggers too, add it to a handler: ``handler.addFilter(RedactingFilter())``.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message if it shows a watched key; never drop it."""
        with _lock:
            keys = list(_watched)
        if not keys:
            return True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is the logging module's to report
            return True
        masked = message
        for key in keys:
            for form in _forms(key):
                masked = masked.replace(form, MASK)
        if masked != message:
            record.msg, record.args = masked, None
        return True


_FILTER: Final = RedactingFilter()


def watch(key: str | None) -> None:
    """Mask ``key`` in log records from now on, until as many :func:`unwatch` calls."""
    if not _forms(key):
        return
    assert key is not None
    with _lock:
        first = not _watched
        _watched[key] += 1
    if first:
        for name in _LOGGERS:
            logger = logging.getLogger(name)
            if _FILTER not in logger.filters:
                logger.addFilter(_FILTER)


def unwatch(key: str | None) -> None:
    """Undo one :func:`watch` of ``key``."""
    if not _forms(key):
        return
    assert key is not None
    with _lock:
        _watched[key] -= 1
        if _watched[key] <= 0:
            del _watched[key]
