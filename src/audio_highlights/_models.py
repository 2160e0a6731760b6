"""Typed, immutable views of the AssemblyAI v2 transcript JSON.

Parsing is lenient on purpose: the hosted API adds fields over time, marks some
deprecated fields required that it no longer sends, and has been seen omitting
`rank`. So every parser keeps what it does not know (``raw``), turns a missing
optional field into ``None`` and only fails on JSON that is not an object at all.
"""

from __future__ import annotations

import copy
import enum
import json
from collections.abc import Callable, Mapping
from typing import Any

from attrs import field, frozen

from ._lazyjson import decode_deferring_words, lazy_object

__all__ = [
    "AutoHighlightsResult",
    "Highlight",
    "PageDetails",
    "Segment",
    "Timestamp",
    "Transcript",
    "TranscriptStatus",
    "Word",
    "WordSearchMatch",
]


class TranscriptStatus(str, enum.Enum):
    """Where a transcription job is in its life.

    The hosted API knows four states. A value the SDK has not heard of yet
    still parses (as a pseudo-member that is neither terminal nor known), so a
    new server state never breaks a poll loop.
    """

    QUEUED = "queued"
    """Accepted and waiting for a worker."""
    PROCESSING = "processing"
    """Being transcribed."""
    COMPLETED = "completed"
    """Finished; ``text``, ``words`` and the requested features are filled."""
    ERROR = "error"
    """Failed; ``Transcript.error`` says why."""

    @classmethod
    def _missing_(cls, value: object) -> TranscriptStatus | None:
        if not isinstance(value, str):
            return None
        # A pseudo-member keeps the enum type for unknown future states.
        member = str.__new__(cls, value)
        member._name_ = value.upper()
        member._value_ = value
        return member

    @property
    def is_terminal(self) -> bool:
        """Whether the job will not change any more (``completed`` or ``error``)."""
        return self in (TranscriptStatus.COMPLETED, TranscriptStatus.ERROR)

    def __str__(self) -> str:
        return self.value


def _opt_int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return round(value)
    return None


def _opt_float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    return None


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _opt_bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


_IMMUTABLE = (str, int, float, bool, type(None))


def _copy_json(value: Any) -> Any:
    """A deep copy of decoded JSON, several times faster than :func:`copy.deepcopy` on it.

    Anything that is not a JSON dict, list or scalar goes to :func:`copy.deepcopy`.
    """
    kind = type(value)
    if kind is dict:
        return {k: v if type(v) in _IMMUTABLE else _copy_json(v) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _IMMUTABLE else _copy_json(v) for v in value]
    if kind in _IMMUTABLE:
        return value
    return copy.deepcopy(value)


def _items(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else []


@frozen
class Timestamp:
    """One occurrence of a key phrase in the audio, in milliseconds.

    Attributes:
        start: When the first word of the occurrence starts (ms).
        end: When the last word of the occurrence ends (ms).
    """

    start: int
    end: int

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Timestamp:
        """Parse ``{"start": ms, "end": ms}``; a missing bound becomes 0."""
        return cls(start=_opt_int(data.get("start")) or 0, end=_opt_int(data.get("end")) or 0)

    def to_dict(self) -> dict[str, Any]:
        """Return the API's JSON shape."""
        return {"start": self.start, "end": self.end}


def _timestamps(value: Any) -> list[Timestamp]:
    # Every transcript's key phrases have a few dozen of these.
    out: list[Timestamp] = []
    for ts in _items(value):
        if type(ts) is dict:
            start, end = ts.get("start"), ts.get("end")
            if type(start) is int and type(end) is int:
                out.append(Timestamp(start, end))
                continue
        if isinstance(ts, Mapping):
            out.append(Timestamp.from_dict(ts))
    return out


def _timed_text(data: Mapping[str, Any]) -> dict[str, Any]:
    # What words, sentences, paragraphs and utterances all carry.
    return {
        "text": _opt_str(data.get("text")) or "",
        "start": _opt_int(data.get("start")) or 0,
        "end": _opt_int(data.get("end")) or 0,
        "confidence": _opt_float(data.get("confidence")),
        "speaker": _opt_str(data.get("speaker")),
        "channel": _opt_str(data.get("channel")),
    }


def _timed_text_json(span: Word | Segment) -> dict[str, Any]:
    out: dict[str, Any] = {
        "text": span.text,
        "start": span.start,
        "end": span.end,
        "confidence": span.confidence,
        "speaker": span.speaker,
    }
    if span.channel is not None:
        out["channel"] = span.channel
    return out


@frozen
class Word:
    """A recognised word with its timing.

    Attributes:
        text: The word as transcribed, punctuation attached (``"Canada,"``).
        start: Start time in milliseconds.
        end: End time in milliseconds.
        confidence: Recognition confidence in 0..1, if the server gave one.
        speaker: Speaker label when speaker labels were requested.
        channel: Audio channel for multichannel transcripts.
    """

    text: str
    start: int
    end: int
    confidence: float | None = None
    speaker: str | None = None
    channel: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Word:
        """Parse one entry of ``words``, tolerating missing fields."""
        return cls(**_timed_text(data))

    def to_dict(self) -> dict[str, Any]:
        """Return the API's JSON shape (``speaker`` is always present, as in the spec)."""
        return _timed_text_json(self)


def _words(value: Any) -> list[Word]:
    if not isinstance(value, (list, tuple)):
        return []
    # The hot loop of parsing a transcript (9,000 words an hour of speech).
    # Words of the usual shape go straight to the constructor; any other
    # shape takes the lenient path.
    words: list[Word] = []
    append = words.append
    for w in value:
        if type(w) is dict:
            text, start, end = w.get("text"), w.get("start"), w.get("end")
            confidence, speaker, channel = w.get("confidence"), w.get("speaker"), w.get("channel")
            if (
                type(text) is str
                and type(start) is int
                and type(end) is int
                and (confidence is None or type(confidence) is float)
                and (speaker is None or type(speaker) is str)
                and (channel is None or type(channel) is str)
            ):
                append(Word(text, start, end, confidence, speaker, channel))
                continue
        if isinstance(w, Mapping):
            append(Word.from_dict(w))
    return words


def _segments(value: Any) -> list[Segment]:
    return [Segment.from_dict(u) for u in _items(value) if isinstance(u, Mapping)]


@frozen
class Segment:
    """A stretch of a transcript: a sentence, a paragraph, or a speaker's utterance.

    Returned by :meth:`AsyncClient.sentences` and :meth:`AsyncClient.paragraphs`,
    and found in :attr:`Transcript.utterances`.

    Attributes:
        text: What was said in it.
        start: Start time in milliseconds.
        end: End time in milliseconds.
        confidence: Recognition confidence in 0..1, if the server gave one.
        words: Its words, with their timings.
        speaker: Speaker label (``"A"``, ``"B"``, ...) when speaker labels were
            requested; always ``None`` for paragraphs.
        channel: Audio channel, for multichannel transcripts.
        translated_texts: Translations keyed by language code (utterances of a
            transcript with translation), else ``None``.
    """

    text: str
    start: int
    end: int
    confidence: float | None = None
    words: list[Word] = field(factory=list)
    speaker: str | None = None
    channel: str | None = None
    translated_texts: dict[str, str] | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Segment:
        """Parse a ``TranscriptSentence``, ``TranscriptParagraph`` or ``TranscriptUtterance``."""
        translated = data.get("translated_texts")
        return cls(
            **_timed_text(data),
            words=_words(data.get("words")),
            translated_texts=(
                {str(k): str(v) for k, v in translated.items()}
                if isinstance(translated, Mapping)
                else None
            ),
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the API's JSON shape (``channel``/``translated_texts`` only when set)."""
        out = _timed_text_json(self)
        out["words"] = [w.to_dict() for w in self.words]
        if self.translated_texts is not None:
            out["translated_texts"] = dict(self.translated_texts)
        return out


@frozen
class WordSearchMatch:
    """Where one searched word or phrase occurs, from :meth:`AsyncClient.word_search`.

    Attributes:
        text: The word or phrase searched for.
        count: How many times it occurs.
        timestamps: One entry per occurrence (ms), in time order.
        indexes: Position of each occurrence's first word in :attr:`Transcript.words`.
    """

    text: str
    count: int
    timestamps: list[Timestamp] = field(factory=list)
    indexes: list[int] = field(factory=list)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WordSearchMatch:
        """Parse one entry of the word-search ``matches`` (timestamps are ``[start, end]``)."""
        timestamps = [
            Timestamp(start=_opt_int(ts[0]) or 0, end=_opt_int(ts[1]) or 0)
            for ts in _items(data.get("timestamps"))
            if isinstance(ts, (list, tuple)) and len(ts) >= 2
        ]
        indexes = [i for i in (_opt_int(x) for x in _items(data.get("indexes"))) if i is not None]
        count = _opt_int(data.get("count"))
        return cls(
            text=_opt_str(data.get("text")) or "",
            count=len(timestamps) if count is None else count,
            timestamps=timestamps,
            indexes=indexes,
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the API's JSON shape."""
        return {
            "text": self.text,
            "count": self.count,
            "timestamps": [[ts.start, ts.end] for ts in self.timestamps],
            "indexes": list(self.indexes),
        }


@frozen
class Highlight:
    """A key phrase: what was said, how often, how relevant, and when.

    Attributes:
        text: Surface form of the phrase's first occurrence.
        count: How many times the exact word sequence occurs (case-insensitive),
            including inside longer phrases.
        rank: Relevance in 0..1 (a share of the total over all candidates);
            ``None`` when the server omitted it.
        timestamps: One entry per counted occurrence, in time order.
    """

    text: str
    count: int
    rank: float | None
    timestamps: list[Timestamp] = field(factory=list)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Highlight:
        """Parse one entry of ``auto_highlights_result.results``."""
        timestamps = _timestamps(data.get("timestamps"))
        count = _opt_int(data.get("count"))
        return cls(
            text=_opt_str(data.get("text")) or "",
            count=len(timestamps) if count is None else count,
            rank=_opt_float(data.get("rank")),
            timestamps=timestamps,
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the API's JSON shape (``rank`` omitted when unknown)."""
        out: dict[str, Any] = {
            "count": self.count,
            "rank": self.rank,
            "text": self.text,
            "timestamps": [ts.to_dict() for ts in self.timestamps],
        }
        if self.rank is None:
            del out["rank"]
        return out


def _rank_key(highlight: Highlight) -> float:
    return -1.0 if highlight.rank is None else highlight.rank


@frozen
class AutoHighlightsResult:
    """The Key Phrases model's output for one transcript.

    Attributes:
        status: ``"success"``, or ``"unavailable"`` when the model failed.
        results: The key phrases, most relevant first.
    """

    status: str
    results: list[Highlight] = field(factory=list)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AutoHighlightsResult:
        """Parse ``auto_highlights_result``; results are sorted rank-descending."""
        results = [
            Highlight.from_dict(h) for h in _items(data.get("results")) if isinstance(h, Mapping)
        ]
        # The spec calls the list "temporally-sequential" but the service
        # returns it by rank; sorting here makes both shapes look the same.
        results.sort(key=_rank_key, reverse=True)
        return cls(status=_opt_str(data.get("status")) or "unavailable", results=results)

    def to_dict(self) -> dict[str, Any]:
        """Return the API's JSON shape."""
        return {"status": self.status, "results": [h.to_dict() for h in self.results]}


@frozen
class PageDetails:
    """Paging links of ``GET /v2/transcript``.

    Attributes:
        limit: Page size asked for.
        result_count: How many items this page holds.
        current_url: This page.
        prev_url: The page of older transcripts, or ``None`` at the end.
        next_url: The page of newer transcripts, or ``None``.
    """

    limit: int | None
    result_count: int | None
    current_url: str | None
    prev_url: str | None
    next_url: str | None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PageDetails:
        """Parse ``page_details``."""
        return cls(
            limit=_opt_int(data.get("limit")),
            result_count=_opt_int(data.get("result_count")),
            current_url=_opt_str(data.get("current_url")),
            prev_url=_opt_str(data.get("prev_url")),
            next_url=_opt_str(data.get("next_url")),
        )


# Typed fields of Transcript and the JSON keys they come from; everything
# else stays only in ``raw``.
_TRANSCRIPT_SCALARS: dict[str, Any] = {
    "audio_url": _opt_str,
    "text": _opt_str,
    "audio_duration": _opt_float,
    "confidence": _opt_float,
    "language_code": _opt_str,
    "error": _opt_str,
    "auto_highlights": _opt_bool,
    "webhook_url": _opt_str,
}


@frozen(eq=False)
class Transcript:
    """A transcription job and, once completed, its result.

    Only the fields this SDK works with are typed; every field the server sent
    is kept in :attr:`raw`, so nothing is lost and :meth:`to_dict` gives the
    original JSON back.

    The large arrays (:attr:`words`, :attr:`utterances`) are turned into typed
    objects on first access, once. Parsed from a response body (by the client,
    or :meth:`from_json` on bytes), the words are not even decoded until then:
    they stay the bytes they came in, so a transcript of an hour of speech
    parses in a small part of the cost of ``json.loads``, weighs about its size
    in bytes, and a caller who reads only :attr:`highlights`, :attr:`text` or
    :attr:`status` never pays for its words.

    Two transcripts are equal when their typed fields are (``raw`` aside);
    the hash is that of ``(id, status)``, so equal transcripts hash alike.

    Attributes:
        id: The job id.
        status: Where the job is.
        audio_url: The audio the job transcribes.
        text: The transcript text (``None`` until completed).
        audio_duration: Length of the audio in seconds.
        confidence: Overall recognition confidence in 0..1.
        language_code: Language of the transcript.
        error: The server's message when ``status`` is ``error``.
        auto_highlights: Whether key phrases were requested.
        auto_highlights_result: Key phrases, when requested and available.
        webhook_url: Where the server posts completion, if set.
        raw: The JSON object as received, unknown fields included; read-only
            (``dict(raw)`` or :meth:`to_dict` for a dict). Words not yet read
            are decoded when ``raw["words"]`` is first looked up.
    """

    id: str
    status: TranscriptStatus
    audio_url: str | None = None
    text: str | None = None
    # ``None``: built from ``raw`` on first access (see the ``words`` property).
    _words: list[Word] | None = field(default=None, alias="words", repr=False)
    _utterances: list[Segment] | None = field(default=None, alias="utterances", repr=False)
    audio_duration: float | None = None
    confidence: float | None = None
    language_code: str | None = None
    error: str | None = None
    auto_highlights: bool | None = None
    auto_highlights_result: AutoHighlightsResult | None = None
    webhook_url: str | None = None
    raw: Mapping[str, Any] = field(factory=dict, repr=False)
    # The arrays built from ``raw`` so far, by field name. Private and
    # mutable on purpose: filling it changes no observable value.
    _built: dict[str, list[Any]] = field(factory=dict, init=False, repr=False)

    @property
    def words(self) -> list[Word]:
        """Recognised words with ms timings (empty until completed); built on first access.

        Raises:
            ValueError: The server's words, decoded only now, are not valid JSON.
        """
        if self._words is not None:
            return self._words
        return self._lazy("words", _words)

    @property
    def utterances(self) -> list[Segment]:
        """Turn-by-turn utterances (``speaker_labels``/``multichannel``); built on first access."""
        if self._utterances is not None:
            return self._utterances
        return self._lazy("utterances", _segments)

    def _lazy(self, name: str, build: Callable[[Any], list[Any]]) -> list[Any]:
        built = self._built.get(name)
        if built is None:
            # Two tasks racing here build equal lists; the last one is kept.
            built = self._built[name] = build(self.raw.get(name))
        return built

    @property
    def highlights(self) -> list[Highlight]:
        """Key phrases, most relevant first; empty when none are available."""
        if self.auto_highlights_result is None:
            return []
        return list(self.auto_highlights_result.results)

    def _key(self) -> tuple[Any, ...]:
        return (
            self.id,
            self.status,
            self.audio_url,
            self.text,
            self.audio_duration,
            self.confidence,
            self.language_code,
            self.error,
            self.auto_highlights,
            self.auto_highlights_result,
            self.webhook_url,
            self.words,
            self.utterances,
        )

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Transcript)
        return self is other or self._key() == other._key()

    def __hash__(self) -> int:
        return hash((self.id, self.status))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Transcript:
        """Build a transcript from the API's JSON object, keeping unknown fields.

        ``data`` is deep-copied, so the caller may change it afterwards; to
        parse a response body without that copy, use :meth:`from_json`.

        Raises:
            TypeError: ``data`` is not a mapping.
        """
        if not isinstance(data, Mapping):
            raise TypeError(f"a transcript must be a JSON object, got {type(data).__name__}")
        # The caller keeps ``data`` and may change it later; ``raw`` must not follow.
        return cls._adopt(_copy_json(dict(data)))

    @classmethod
    def from_json(cls, content: str | bytes | bytearray) -> Transcript:
        """Parse a transcript from JSON text, such as a saved ``GET /v2/transcript/{id}`` body.

        The decoded object becomes :attr:`raw` as it is, with no copy. From
        bytes, the words are decoded only when first read (see the class), so
        it costs a fraction of ``json.loads(content)``; from ``str``, about as
        much.

        Raises:
            ValueError: ``content`` is not JSON.
            TypeError: It is JSON, but not an object.
        """
        data = json.loads(content) if isinstance(content, str) else decode_deferring_words(content)
        if not isinstance(data, dict):
            raise TypeError(f"a transcript must be a JSON object, got {type(data).__name__}")
        return cls._adopt(data)

    @classmethod
    def _adopt(cls, data: Mapping[str, Any]) -> Transcript:
        """Like :meth:`from_dict`, taking ownership of ``data`` (freshly decoded JSON)."""
        status_value = data.get("status")
        try:
            status = TranscriptStatus(status_value)
        except ValueError:
            # No usable status at all: the most honest reading is "not done".
            status = TranscriptStatus.QUEUED
        highlights = data.get("auto_highlights_result")
        scalars = {name: parse(data.get(name)) for name, parse in _TRANSCRIPT_SCALARS.items()}
        return cls(
            id=str(data.get("id") or ""),
            status=status,
            auto_highlights_result=(
                AutoHighlightsResult.from_dict(highlights)
                if isinstance(highlights, Mapping)
                else None
            ),
            raw=lazy_object(data),
            **scalars,
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the transcript as API JSON: :attr:`raw` with the typed fields laid over it.

        Arrays that came from :attr:`raw` are returned as they were received;
        ``Transcript.from_dict(t.to_dict()) == t`` holds for every transcript.
        """
        out: dict[str, Any] = _copy_json(dict(self.raw))
        out["id"] = self.id
        out["status"] = self.status.value
        for name in _TRANSCRIPT_SCALARS:
            value = getattr(self, name)
            if value is not None or name in out:
                out[name] = value
        if self._words:
            out["words"] = [w.to_dict() for w in self._words]
        if self._utterances:
            out["utterances"] = [u.to_dict() for u in self._utterances]
        if self.auto_highlights_result is not None:
            out["auto_highlights_result"] = self.auto_highlights_result.to_dict()
        return out
