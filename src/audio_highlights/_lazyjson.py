"""Decoding a transcript's JSON with its words left as text until they are read.

The words are most of a completed transcript: 74 of the 82 KB of an 861-word
answer, and nearly all of an hour of speech. Decoding them is most of what
``json.loads`` costs, and the objects it makes (a dict a word) are most of what
a kept transcript weighs and what the garbage collector walks, though many
callers never read them. So the top-level ``words`` array is cut out of the
text before decoding, kept as bytes, and decoded when first read.

The cut is made only where it is exact without a JSON parser: a flat array (no
``[`` inside) with no escape sequences, so that every ``"`` opens or closes a
string and the first ``]`` outside a string closes the array. Anything else
is decoded as a whole, as before.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any, Final

__all__ = ["LazyObject", "decode_deferring_words", "lazy_object"]

_WORDS_ARRAY: Final = re.compile(rb'"words"\s*:\s*\[')
# Stands in for the array while the rest is decoded; a body that contains it
# is decoded as a whole, so it can never be mistaken for the server's value.
_STAND_IN: Final = b'"\\u0000deferred words"'
_STAND_IN_VALUE: Final = "\x00deferred words"
# A "]" inside a word's text sends the scan on to the next one; past this
# many the body is decoded as a whole instead.
_MAX_RESCANS: Final = 8


class _Deferred:
    """A JSON value kept as its text."""

    __slots__ = ("text",)

    def __init__(self, text: bytes) -> None:
        self.text = text


def _flat_array_end(content: bytes | bytearray, start: int) -> int | None:
    """The end (exclusive) of the array opening at ``start``, if the scan can bound it exactly."""
    pos = start + 1
    quotes = 0
    for _ in range(_MAX_RESCANS):
        close = content.find(b"]", pos)
        if close < 0:
            return None
        # Only the bytes since the last "]" are new: those before it passed already.
        if content.find(b"\\", pos, close) >= 0 or content.find(b"[", pos, close) >= 0:
            return None
        quotes += content.count(b'"', pos, close)
        if quotes % 2 == 0:
            return close + 1
        pos = close + 1  # that "]" was inside a string
    return None


def decode_deferring_words(content: bytes | bytearray) -> Any:
    """``json.loads(content)``, with a top-level ``words`` array left undecoded.

    The array, when it can be cut out exactly, comes back as a placeholder:
    pass the object to :func:`lazy_object`, which decodes it on first read.

    Raises:
        ValueError: ``content`` is not JSON (the part outside the words).
    """
    found = _WORDS_ARRAY.search(content)
    if found is None or _STAND_IN in content:
        return json.loads(content)
    start = found.end() - 1
    end = _flat_array_end(content, start)
    if end is None:
        return json.loads(content)
    try:
        data = json.loads(b"".join((content[:start], _STAND_IN, content[end:])))
    except ValueError:
        data = None  # decoded whole below, for the error's own position
    # The array found first may belong to a nested object (an utterance's
    # words); only a stand-in that landed at the top level is the transcript's.
    if type(data) is not dict or data.get("words") != _STAND_IN_VALUE:
        return json.loads(content)
    data["words"] = _Deferred(bytes(content[start:end]))
    return data


class LazyObject(Mapping[str, Any]):
    """A decoded JSON object whose deferred values are decoded on first read, once.

    Read-only, like every model's ``raw``; ``dict(obj)`` gives a plain dict
    with everything decoded.
    """

    __slots__ = ("_data",)

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getitem__(self, key: str) -> Any:
        value = self._data[key]
        if type(value) is _Deferred:
            # Racing readers decode equal values; the last one is kept.
            value = self._data[key] = json.loads(value.text)
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict(self)!r})"


def lazy_object(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """``data``, wrapped in a :class:`LazyObject` if it holds a deferred value."""
    if type(data) is dict and type(data.get("words")) is _Deferred:
        return LazyObject(data)
    return data
