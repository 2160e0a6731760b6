"""Typed request options of ``POST /v2/transcript`` (the spec's ``TranscriptOptionalParams``).

Every field defaults to ``None``, meaning "not sent: the server's default
applies". Values are checked when the options are built, so a wrong type or a
misspelt name fails before any request, as a :class:`UsageError`. Fields newer
than the SDK go in :attr:`TranscriptOptions.extra`, sent as they are.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, TypeVar

import attrs

from ._errors import UsageError

__all__ = [
    "CustomSpelling",
    "LanguageDetectionOptions",
    "RedactPiiAudioOptions",
    "SpeakerOptions",
    "TranscriptOptions",
    "merge_options",
]

_O = TypeVar("_O")

# bool is an int in Python; a flag passed where a number is expected is a mistake.
_KINDS: dict[type, tuple[tuple[type, ...], str]] = {
    bool: ((bool,), "a bool"),
    int: ((int,), "an int"),
    float: ((int, float), "a number"),
    str: ((str,), "a string"),
}


def _check(kind: type) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    accepted, described = _KINDS[kind]

    def check(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None:
            return
        if not isinstance(value, accepted) or (kind is not bool and isinstance(value, bool)):
            raise UsageError(f"{attribute.name} must be {described}, got {value!r}")

    return check


def _one_of(*choices: str) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def check(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None and value not in choices:
            raise UsageError(f"{attribute.name} must be one of {list(choices)}, got {value!r}")

    return check


def _opt(kind: type) -> Any:
    return attrs.field(default=None, validator=_check(kind))


def _strings(value: Sequence[str] | None) -> tuple[str, ...] | None:
    # Anything else is left as it is, for the validator to name the field.
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return value  # type: ignore[return-value]


def _check_strings(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not isinstance(value, tuple):
        raise UsageError(f"{attribute.name} must be a list of strings, got {value!r}")


def _strings_field() -> Any:
    return attrs.field(default=None, converter=_strings, validator=_check_strings)


def _nested(cls: type[_O], value: Any) -> _O | None:
    if value is None or isinstance(value, cls):
        return value
    if isinstance(value, Mapping):
        return cls(**value)
    raise UsageError(f"expected a {cls.__name__} or a mapping, got {value!r}")


def _to_json(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_to_json(v) for v in value]
    if attrs.has(type(value)):
        return value.to_dict()
    return value


def _set_fields(options: Any) -> dict[str, Any]:
    out = {}
    for a in attrs.fields(type(options)):
        value = getattr(options, a.name)
        if value is not None and a.name != "extra":
            out[a.name] = _to_json(value)
    return out


class _Payload:
    """``to_dict()`` for the option classes: the fields that are set, in JSON form."""

    def to_dict(self) -> dict[str, Any]:
        """Return the set fields as the API's JSON (unset ones are left out)."""
        return _set_fields(self)


@attrs.frozen(kw_only=True)
class CustomSpelling(_Payload):
    """One custom spelling rule: words or phrases to replace, and their replacement.

    Attributes:
        from_: Words or phrases to replace (sent as ``from``).
        to: The word or phrase to write instead.
    """

    from_: tuple[str, ...] = attrs.field(converter=_strings, validator=_check_strings)
    to: str = attrs.field(validator=_check(str))

    def to_dict(self) -> dict[str, Any]:
        """Return the API's JSON shape (``{"from": [...], "to": "..."}``)."""
        return {"from": list(self.from_), "to": self.to}


def _spelling(value: Any) -> CustomSpelling:
    if isinstance(value, Mapping) and "from" in value:
        # The API's own spelling of the field, which Python cannot take as a keyword.
        value = {("from_" if k == "from" else k): v for k, v in value.items()}
    converted = _nested(CustomSpelling, value)
    if converted is None:
        raise UsageError("custom_spelling must not contain None")
    return converted


def _spellings(value: Any) -> tuple[CustomSpelling, ...] | None:
    if value is None:
        return None
    if isinstance(value, (str, Mapping)) or not isinstance(value, Sequence):
        raise UsageError(f"custom_spelling must be a list of CustomSpelling, got {value!r}")
    return tuple(_spelling(v) for v in value)


@attrs.frozen(kw_only=True)
class SpeakerOptions(_Payload):
    """A range of possible speakers for speaker diarization.

    Attributes:
        min_speakers_expected: The fewest speakers expected (server default 1).
        max_speakers_expected: The most speakers expected (too high a value may hurt accuracy).
    """

    min_speakers_expected: int | None = _opt(int)
    max_speakers_expected: int | None = _opt(int)


@attrs.frozen(kw_only=True)
class LanguageDetectionOptions(_Payload):
    """Options of automatic language detection.

    Attributes:
        expected_languages: Languages expected in the audio (server default ``["all"]``).
        fallback_language: Used when the detected language is not expected
            (``"auto"``: the most confident expected one).
        code_switching: Whether to detect code switching.
        code_switching_confidence_threshold: Below this confidence (0..1), the
            language with the highest detection confidence is used throughout.
    """

    expected_languages: tuple[str, ...] | None = _strings_field()
    fallback_language: str | None = _opt(str)
    code_switching: bool | None = _opt(bool)
    code_switching_confidence_threshold: float | None = _opt(float)


@attrs.frozen(kw_only=True)
class RedactPiiAudioOptions(_Payload):
    """Options of the PII-redacted audio file.

    Attributes:
        return_redacted_no_speech_audio: Also return redacted audio for files without speech.
        override_audio_redaction_method: ``"silence"`` replaces PII with silence
            instead of a beep.
    """

    return_redacted_no_speech_audio: bool | None = _opt(bool)
    override_audio_redaction_method: Literal["silence"] | None = attrs.field(
        default=None, validator=_one_of("silence")
    )


def _language_detection_options(value: Any) -> LanguageDetectionOptions | None:
    return _nested(LanguageDetectionOptions, value)


def _speaker_options(value: Any) -> SpeakerOptions | None:
    return _nested(SpeakerOptions, value)


def _redact_pii_audio_options(value: Any) -> RedactPiiAudioOptions | None:
    return _nested(RedactPiiAudioOptions, value)


def _check_mapping(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not isinstance(value, Mapping):
        raise UsageError(f"{attribute.name} must be a mapping (a JSON object), got {value!r}")


@attrs.frozen(kw_only=True)
class TranscriptOptions(_Payload):
    """The request fields of a transcription job, typed (``POST /v2/transcript``).

    Pass it as ``options=`` to :meth:`AsyncClient.submit`, :meth:`AsyncClient.transcribe`
    or :meth:`AsyncClient.transcribe_many`, or pass the same names as keyword
    arguments there. Unset fields (``None``) are not sent. ``auto_highlights``
    is sent as ``True`` unless set, and ``speech_models`` defaults to the client's.

    Example:
        ```python
        options = ah.TranscriptOptions(speaker_labels=True, language_code="en_us")
        t = await client.transcribe("call.mp3", options=options)
        ```

    Attributes:
        speech_models: Speech models in priority order; the server routes the
            audio to the best available one.
        speech_model: Deprecated: replaced by ``speech_models``.
        language_code: The language of the audio (server default ``"en_us"``).
        language_codes: Language codes for code switching (one must be ``"en"``).
        language_detection: Detect the language automatically.
        language_detection_options: Options of language detection.
        language_confidence_threshold: Fail the job when the detected language's
            confidence is below this (0..1, server default 0).
        punctuate: Add punctuation (server default ``True``).
        format_text: Format text: casing, numbers (server default ``True``).
        disfluencies: Transcribe filler words such as "umm".
        filter_profanity: Filter profanity from the text.
        multichannel: Transcribe each audio channel separately.
        audio_start_from: Where to begin transcribing, in milliseconds.
        audio_end_at: Where to stop transcribing, in milliseconds.
        speech_threshold: Reject audio with less than this fraction of speech (0..1).
        keyterms_prompt: Domain-specific words or phrases (up to 6 words each)
            to improve accuracy: up to 200 for Universal-2, 1000 for Universal-3 Pro.
        prompt: Up to 1,500 words of context for the model (Universal-3 Pro only).
        temperature: Randomness of the model's output, 0..1 (Universal-3 Pro only).
        remove_audio_tags: ``"all"`` removes audio event tags from the text
            (Universal-3 Pro only).
        custom_spelling: Custom spelling rules.
        speaker_labels: Speaker diarization: label who said what
            (fills :attr:`Transcript.utterances`).
        speakers_expected: How many speakers to identify.
        speaker_options: A range of possible speakers.
        auto_highlights: Key Phrases (the SDK sends ``True`` unless set).
        auto_chapters: Deprecated: Auto Chapters.
        content_safety: Content Moderation.
        content_safety_confidence: Content Moderation's confidence threshold, 25..100.
        entity_detection: Entity Detection.
        iab_categories: Topic Detection.
        sentiment_analysis: Sentiment Analysis.
        summarization: Deprecated: Summarization.
        summary_model: Deprecated: ``"informative"``, ``"conversational"`` or ``"catchy"``.
        summary_type: Deprecated: ``"bullets"``, ``"bullets_verbose"``, ``"gist"``,
            ``"headline"`` or ``"paragraph"``.
        custom_topics: Deprecated, without effect.
        topics: Deprecated, without effect.
        redact_pii: Redact PII from the text.
        redact_pii_audio: Also make a copy of the audio with spoken PII beeped out.
        redact_pii_audio_options: Options of the redacted audio.
        redact_pii_audio_quality: The redacted audio's format, ``"mp3"`` or ``"wav"``.
        redact_pii_policies: The kinds of PII to redact (``"person_name"``,
            ``"phone_number"``, ... as in the API's ``PiiPolicy``).
        redact_pii_sub: What replaces PII: ``"entity_name"`` or ``"hash"``.
        webhook_url: Where the server posts the job's completion or failure.
        webhook_auth_header_name: Header sent with the webhook.
        webhook_auth_header_value: Its value.
        speech_understanding: Speech understanding tasks (translation, speaker
            identification, custom formatting), as the API's JSON object.
        extra: Fields this SDK does not know yet, sent as they are (over the typed
            ones). The escape hatch: names here are not checked.
    """

    speech_models: tuple[str, ...] | None = _strings_field()
    speech_model: str | None = _opt(str)
    language_code: str | None = _opt(str)
    language_codes: tuple[str, ...] | None = _strings_field()
    language_detection: bool | None = _opt(bool)
    language_detection_options: LanguageDetectionOptions | None = attrs.field(
        default=None, converter=_language_detection_options
    )
    language_confidence_threshold: float | None = _opt(float)
    punctuate: bool | None = _opt(bool)
    format_text: bool | None = _opt(bool)
    disfluencies: bool | None = _opt(bool)
    filter_profanity: bool | None = _opt(bool)
    multichannel: bool | None = _opt(bool)
    audio_start_from: int | None = _opt(int)
    audio_end_at: int | None = _opt(int)
    speech_threshold: float | None = _opt(float)
    keyterms_prompt: tuple[str, ...] | None = _strings_field()
    prompt: str | None = _opt(str)
    temperature: float | None = _opt(float)
    remove_audio_tags: Literal["all"] | None = attrs.field(default=None, validator=_one_of("all"))
    custom_spelling: tuple[CustomSpelling, ...] | None = attrs.field(
        default=None, converter=_spellings
    )
    speaker_labels: bool | None = _opt(bool)
    speakers_expected: int | None = _opt(int)
    speaker_options: SpeakerOptions | None = attrs.field(default=None, converter=_speaker_options)
    auto_highlights: bool | None = _opt(bool)
    auto_chapters: bool | None = _opt(bool)
    content_safety: bool | None = _opt(bool)
    content_safety_confidence: int | None = _opt(int)
    entity_detection: bool | None = _opt(bool)
    iab_categories: bool | None = _opt(bool)
    sentiment_analysis: bool | None = _opt(bool)
    summarization: bool | None = _opt(bool)
    summary_model: Literal["informative", "conversational", "catchy"] | None = attrs.field(
        default=None, validator=_one_of("informative", "conversational", "catchy")
    )
    summary_type: Literal["bullets", "bullets_verbose", "gist", "headline", "paragraph"] | None = (
        attrs.field(
            default=None,
            validator=_one_of("bullets", "bullets_verbose", "gist", "headline", "paragraph"),
        )
    )
    custom_topics: bool | None = _opt(bool)
    topics: tuple[str, ...] | None = _strings_field()
    redact_pii: bool | None = _opt(bool)
    redact_pii_audio: bool | None = _opt(bool)
    redact_pii_audio_options: RedactPiiAudioOptions | None = attrs.field(
        default=None, converter=_redact_pii_audio_options
    )
    redact_pii_audio_quality: Literal["mp3", "wav"] | None = attrs.field(
        default=None, validator=_one_of("mp3", "wav")
    )
    redact_pii_policies: tuple[str, ...] | None = _strings_field()
    redact_pii_sub: Literal["entity_name", "hash"] | None = attrs.field(
        default=None, validator=_one_of("entity_name", "hash")
    )
    webhook_url: str | None = _opt(str)
    webhook_auth_header_name: str | None = _opt(str)
    webhook_auth_header_value: str | None = attrs.field(
        default=None, validator=_check(str), repr=False
    )
    speech_understanding: Mapping[str, Any] | None = attrs.field(
        default=None, validator=_check_mapping
    )
    extra: Mapping[str, Any] = attrs.field(factory=dict, converter=dict)

    @extra.validator
    def _check_extra(self, _: attrs.Attribute[Any], value: dict[str, Any]) -> None:
        if "audio_url" in value:
            raise UsageError("audio_url is the job's first argument, not an extra field")

    def to_dict(self) -> dict[str, Any]:
        """Return the request fields that are set, as JSON, ``extra`` laid over them."""
        return {**super().to_dict(), **self.extra}


_FIELDS = frozenset(a.name for a in attrs.fields(TranscriptOptions))


def merge_options(
    options: TranscriptOptions | None, fields: Mapping[str, Any], *, hints: Iterable[str] = ()
) -> TranscriptOptions:
    """``options`` with keyword ``fields`` laid over it (``None`` values are ignored).

    ``hints`` are the caller's own keyword names, offered too when a name is misspelt.

    Raises:
        UsageError: A name is not a request field (with the closest known
            names), or a value has the wrong type.
    """
    if options is not None and not isinstance(options, TranscriptOptions):
        raise UsageError(f"options must be a TranscriptOptions, got {type(options).__name__}")
    unknown = sorted(set(fields) - _FIELDS)
    if unknown:
        name = unknown[0]
        close = difflib.get_close_matches(name, [*_FIELDS, *hints], n=3)
        hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise UsageError(
            f"{name!r} is not a request field of this SDK{hint} (a field newer than the SDK "
            f"goes in extra={{{name!r}: ...}})"
        )
    given = {k: v for k, v in fields.items() if v is not None}
    if not given:
        return options or TranscriptOptions()
    return attrs.evolve(options, **given) if options is not None else TranscriptOptions(**given)
