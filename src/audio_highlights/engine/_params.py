"""The request fields of ``POST /v2/transcript``: schema, validation and the engine's policy.

Every field of AssemblyAI's ``TranscriptParams`` (and the few older ones its SDKs
still send, such as ``word_boost``) falls in one of four groups:

* **works**: the engine does what the field asks (see :data:`WORKING_FIELDS`);
* **unsupported**: asking for the feature is a 400 that names the field
  (``redact_pii: true``, ``summarization: true`` ...); leaving it off is fine;
* **inert**: options of a feature that is off (``summary_type`` without
  ``summarization``), or fields the hosted API documents as doing nothing
  (``custom_topics``); accepted after a type check, as the hosted API does;
* **unknown**: any other name, at the top level or inside an object field
  (``speaker_options.max_speakers``). AssemblyAI documents no policy for these,
  so the engine accepts the request and lists the names in the transcript's
  ``ignored_fields`` (and the ``X-Ignored-Fields`` response header), so a
  misspelled field is never silently dropped.

A value of the wrong type is always a 400 naming the field. ``null`` means "not
given". :func:`check_params` returns the fields to store with the job;
:func:`job_options` turns them into the typed :class:`JobOptions` the worker uses.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from attrs import frozen

__all__ = [
    "ENGLISH_ONLY_FEATURES",
    "WHISPER_LANGUAGES",
    "WORKING_FIELDS",
    "JobOptions",
    "ParamError",
    "check_params",
    "job_options",
    "whisper_language",
]

# The 99 languages whisper-base's tokenizer has a token for; AssemblyAI's
# TranscriptLanguageCode enum is exactly these plus three English variants.
_WHISPER_CODES = (
    "af am ar as az ba be bg bn bo br bs ca cs cy da de el en es et eu fa fi fo fr gl gu ha "
    "haw he hi hr ht hu hy id is it ja jw ka kk km kn ko la lb ln lo lt lv mg mi mk ml mn mr "
    "ms mt my ne nl nn no oc pa pl ps pt ro ru sa sd si sk sl sn so sq sr su sv sw ta te tg th "
    "tk tl tr tt uk ur uz vi yi yo zh"
)
WHISPER_LANGUAGES = frozenset(_WHISPER_CODES.split())
_ENGLISH_VARIANTS = frozenset({"en_us", "en_uk", "en_au"})

# Features that exist for English only: key phrases and filler words (as on the
# hosted API), and profanity filtering (the engine's word list is English).
ENGLISH_ONLY_FEATURES = ("auto_highlights", "disfluencies", "filter_profanity")

_BOOST_PARAMS = ("low", "default", "high")
_MAX_TERMS = 1000
_MAX_WORDS_PER_TERM = 6

Check = Callable[[str, Any], None]


class ParamError(ValueError):
    """A request field is invalid or asks for something the engine cannot do (HTTP 400)."""


def whisper_language(code: str, field: str = "language_code") -> str:
    """Whisper's code for an AssemblyAI ``language_code`` (``"en_uk"`` -> ``"en"``).

    Args:
        code: The language code a request gave.
        field: The request field it came from, for the error message.

    Raises:
        ParamError: Whisper does not know the language.
    """
    lowered = code.strip().lower().replace("-", "_")
    if lowered in _ENGLISH_VARIANTS:
        return "en"
    if lowered in WHISPER_LANGUAGES:
        return lowered
    raise ParamError(
        f"{field} {code!r} is not supported; use one of en, en_us, en_uk, en_au or "
        "another code whisper knows (es, fr, de, pt, ...)"
    )


# ---- type checks --------------------------------------------------------------------


def _bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ParamError(f"{name} must be a boolean")


def _string(name: str, value: Any) -> None:
    if not isinstance(value, str):
        raise ParamError(f"{name} must be a string")


def _number(low: float, high: float) -> Check:
    def check(name: str, value: Any) -> None:
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or not low <= value <= high
        ):
            raise ParamError(f"{name} must be a number from {low:g} to {high:g}")

    return check


def _integer(low: int, high: int | None = None) -> Check:
    def check(name: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParamError(f"{name} must be an integer")
        if value < low or (high is not None and value > high):
            bound = f"from {low} to {high}" if high is not None else f"at least {low}"
            raise ParamError(f"{name} must be {bound}")

    return check


def _choice(*choices: str) -> Check:
    def check(name: str, value: Any) -> None:
        if value not in choices:
            raise ParamError(f"{name} must be one of {', '.join(choices)}")

    return check


def _strings(name: str, value: Any) -> None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ParamError(f"{name} must be a list of strings")


def _terms(name: str, value: Any) -> None:
    _strings(name, value)
    if len(value) > _MAX_TERMS:
        raise ParamError(f"{name} accepts at most {_MAX_TERMS} entries")
    for term in value:
        if len(term.split()) > _MAX_WORDS_PER_TERM:
            raise ParamError(
                f"{name} entries have at most {_MAX_WORDS_PER_TERM} words; {term!r} has more"
            )


def _language(name: str, value: Any) -> None:
    _string(name, value)
    whisper_language(value)


def _custom_spelling(name: str, value: Any) -> None:
    if not isinstance(value, list):
        raise ParamError(f"{name} must be a list of {{'from': [...], 'to': ...}} objects")
    for i, entry in enumerate(value):
        where = f"{name}[{i}]"
        if not isinstance(entry, dict) or "from" not in entry or "to" not in entry:
            raise ParamError(f"{where} must be an object with 'from' and 'to'")
        source, target = entry["from"], entry["to"]
        if not isinstance(source, list) or not source:
            raise ParamError(f"{where}.from must be a non-empty list of strings")
        if not all(isinstance(s, str) and s.split() for s in source):
            raise ParamError(f"{where}.from must hold non-empty strings")
        if not isinstance(target, str) or len(target.split()) != 1:
            # AssemblyAI: "the to key must only contain one word"
            raise ParamError(f"{where}.to must be a single word")


def _object(fields: Mapping[str, Check]) -> Check:
    def check(name: str, value: Any) -> None:
        if not isinstance(value, dict):
            raise ParamError(f"{name} must be an object")
        for key, item in value.items():
            inner = fields.get(key)
            if inner is not None and item is not None:
                inner(f"{name}.{key}", item)

    return check


def _anything(name: str, value: Any) -> None:
    pass


def _url(name: str, value: Any) -> None:
    _string(name, value)
    try:
        scheme = urlsplit(value).scheme
    except ValueError as exc:  # urlsplit refuses some malformed URLs ("http://[::1")
        raise ParamError(f"{name} is not a valid URL ({exc})") from exc
    if scheme not in ("http", "https"):
        raise ParamError(f"{name} must be an http or https URL")


_LANGUAGE_DETECTION_OPTIONS: dict[str, Check] = {
    "expected_languages": _strings,
    "fallback_language": _string,
    "code_switching": _bool,
    "code_switching_confidence_threshold": _number(0, 1),
}
_SPEAKER_OPTIONS: dict[str, Check] = {
    "min_speakers_expected": _integer(1),
    "max_speakers_expected": _integer(1),
}
_KEYTERMS_OPTIONS: dict[str, Check] = {"keyterms_match_strength": _choice("high", "standard")}
# Object fields, with the keys each may hold; other keys are unknown fields too.
_OBJECTS: dict[str, dict[str, Check]] = {
    "language_detection_options": _LANGUAGE_DETECTION_OPTIONS,
    "speaker_options": _SPEAKER_OPTIONS,
    "keyterms_prompt_options": _KEYTERMS_OPTIONS,
}

# Fields the engine implements, with their type checks.
_WORKING: dict[str, Check] = {
    "audio_url": _string,
    "speech_model": _string,
    "speech_models": _strings,
    "language_code": _language,
    "language_detection": _bool,
    "language_confidence_threshold": _number(0, 1),
    "language_detection_options": _object(_LANGUAGE_DETECTION_OPTIONS),
    "punctuate": _bool,
    "format_text": _bool,
    "disfluencies": _bool,
    "filter_profanity": _bool,
    "custom_spelling": _custom_spelling,
    "word_boost": _terms,
    "boost_param": _choice(*_BOOST_PARAMS),
    "keyterms_prompt": _terms,
    "keyterms_prompt_options": _object(_KEYTERMS_OPTIONS),
    "prompt": _string,
    "temperature": _number(0, 1),
    "remove_audio_tags": _choice("all"),
    "audio_start_from": _integer(0),
    "audio_end_at": _integer(1),
    "speech_threshold": _number(0, 1),
    "auto_highlights": _bool,
    "speaker_labels": _bool,
    "speakers_expected": _integer(1),
    "speaker_options": _object(_SPEAKER_OPTIONS),
    "webhook_url": _url,
    "webhook_auth_header_name": _string,
    "webhook_auth_header_value": _string,
}
WORKING_FIELDS = frozenset(_WORKING)

# Features the engine cannot do: true is a 400.
_UNSUPPORTED_FLAGS = (
    "auto_chapters",
    "content_safety",
    "dual_channel",
    "entity_detection",
    "iab_categories",
    "multichannel",
    "redact_pii",
    "redact_pii_audio",
    "sentiment_analysis",
    "summarization",
)
# Requests the engine cannot do: any value but null or empty is a 400.
_UNSUPPORTED_VALUES = ("speech_understanding", "domain", "language_codes")

# Options of features that are off, and documented no-ops: type-checked, accepted.
_INERT: dict[str, Check] = {
    "content_safety_confidence": _integer(25, 100),
    "redact_pii_policies": _strings,
    "redact_pii_sub": _string,
    "redact_pii_audio_quality": _string,
    "redact_pii_audio_options": _object({}),
    "redact_pii_return_unredacted": _bool,
    "summary_model": _string,
    "summary_type": _string,
    "custom_topics": _bool,
    "topics": _strings,
    "language_detection_results": _anything,
}
_KNOWN = frozenset(_WORKING) | frozenset(_UNSUPPORTED_FLAGS) | frozenset(_UNSUPPORTED_VALUES)
_KNOWN |= frozenset(_INERT)


def _unsupported(name: str) -> ParamError:
    return ParamError(f"{name} is not supported by the audio-highlights engine")


def _check_types(body: Mapping[str, Any]) -> None:
    for name, check in (*_WORKING.items(), *_INERT.items()):
        value = body.get(name)
        if value is not None:
            check(name, value)
    for name in _UNSUPPORTED_FLAGS:
        value = body.get(name)
        if value is not None:
            _bool(name, value)
            if value:
                raise _unsupported(name)
    for name in _UNSUPPORTED_VALUES:
        if body.get(name) not in (None, False, [], {}, ""):
            raise _unsupported(name)


def _check_combinations(body: Mapping[str, Any], warnings: list[str]) -> None:
    start, end = body.get("audio_start_from"), body.get("audio_end_at")
    if start is not None and end is not None and end <= start:
        raise ParamError("audio_end_at must be greater than audio_start_from")
    options = body.get("speaker_options") or {}
    low, high = options.get("min_speakers_expected"), options.get("max_speakers_expected")
    if low is not None and high is not None and high < low:
        raise ParamError(
            "speaker_options.max_speakers_expected must be at least min_speakers_expected"
        )
    detection = body.get("language_detection_options") or {}
    if detection.get("code_switching"):
        raise _unsupported("language_detection_options.code_switching")
    expected = detection.get("expected_languages") or []
    for code in expected:
        if code != "all":
            whisper_language(code, "language_detection_options.expected_languages")
    fallback = detection.get("fallback_language")
    if fallback is not None and fallback != "auto":
        whisper_language(fallback, "language_detection_options.fallback_language")
        if expected and "all" not in expected and fallback not in expected:
            raise ParamError(
                "language_detection_options.fallback_language must be 'auto' or one of "
                "expected_languages"
            )
    language = body.get("language_code")
    if body.get("language_detection"):
        if language is not None:
            warnings.append(
                f"language_code {language!r} was not used: language_detection chose the language"
            )
    elif language is not None and whisper_language(language) != "en":
        # The hosted API's answer when a feature does not exist for a language.
        missing = [name for name in ENGLISH_ONLY_FEATURES if body.get(name)]
        if missing:
            raise ParamError(
                f"The following models are not available in this language: {', '.join(missing)}"
            )


def check_params(body: Any) -> dict[str, Any]:
    """Validate a ``POST /v2/transcript`` body.

    Returns:
        The job's parameters: every known field that was given (not ``null``),
        plus ``_ignored_fields`` (unknown names, sorted; ``speaker_options.x`` for
        an unknown key of an object field) and ``_warnings``.

    Raises:
        ParamError: The body is not an object, a field has the wrong type or value,
            or asks for something the engine cannot do.
    """
    if not isinstance(body, dict):
        raise ParamError("the request body must be a JSON object")
    audio_url = body.get("audio_url")
    if audio_url is None:
        raise ParamError("audio_url is required")
    if not isinstance(audio_url, str) or not audio_url.strip():
        raise ParamError("audio_url must be a non-empty string")
    _check_types(body)
    warnings: list[str] = []
    _check_combinations(body, warnings)
    params = {name: value for name, value in body.items() if name in _KNOWN and value is not None}
    ignored = [name for name in body if name not in _KNOWN]
    for name, keys in _OBJECTS.items():
        ignored += [f"{name}.{key}" for key in body.get(name) or {} if key not in keys]
    params["_ignored_fields"] = sorted(ignored)
    params["_warnings"] = warnings
    return params


@frozen(kw_only=True)
class JobOptions:
    """A job's request fields, typed, with the engine's defaults filled in.

    Attributes:
        language: The AssemblyAI ``language_code`` to report (``None``: detect it).
        whisper_language: Whisper's code for ``language`` (``None``: detect it).
        confidence_threshold: Fail the job when detection is less sure than this.
        expected_languages: Whisper codes detection may choose from (empty: any).
        fallback_language: Whisper code used when the detected language is not expected
            (``None``: the most likely expected one).
        accurate: Beam search rather than greedy decoding.
        hotwords: Shown to whisper before every window (word boost, key terms).
        initial_prompt: Shown to whisper before the first window (prompt, low boosts).
        temperature: Whisper's first sampling temperature.
        start_ms: Where to start recognising (``audio_start_from``).
        end_ms: Where to stop (``audio_end_at``; ``None``: the end).
        speech_threshold: Fail the job when less of the audio than this is speech.
        punctuate: Keep punctuation.
        format_text: Keep casing and digits (``False``: lowercase, numbers spelled out).
        disfluencies: Keep filler words ("um", "uh").
        filter_profanity: Mask profanity ("s***").
        custom_spelling: ``(from words, to)`` replacements, lowercased sources.
        remove_audio_tags: Drop bracketed audio tags ("[Music]").
        auto_highlights: Compute key phrases.
        speaker_labels: Label speakers.
        speakers_expected: The exact number of speakers, if known.
        min_speakers: At least this many speakers.
        max_speakers: At most this many speakers.
    """

    language: str | None = "en_us"
    whisper_language: str | None = "en"
    confidence_threshold: float = 0.0
    expected_languages: tuple[str, ...] = ()
    fallback_language: str | None = None
    accurate: bool = False
    hotwords: str | None = None
    initial_prompt: str | None = None
    temperature: float = 0.0
    start_ms: int = 0
    end_ms: int | None = None
    speech_threshold: float | None = None
    punctuate: bool = True
    format_text: bool = True
    disfluencies: bool = False
    filter_profanity: bool = False
    custom_spelling: tuple[tuple[tuple[str, ...], str], ...] = ()
    remove_audio_tags: bool = False
    auto_highlights: bool = False
    speaker_labels: bool = False
    speakers_expected: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None


def _accurate(params: Mapping[str, Any], default: str) -> bool:
    # The hosted API's legacy model names: "best" is its accurate class, "nano"
    # its lightweight one; newer names leave the engine's own setting in charge.
    model = params.get("speech_model")
    if model == "best":
        return True
    if model == "nano":
        return False
    return default == "accurate"


def _prompts(params: Mapping[str, Any]) -> tuple[str | None, str | None]:
    boosted = list(params.get("word_boost") or ())
    keyterms = list(params.get("keyterms_prompt") or ())
    # Whisper has no boost weight. Hotwords are shown before every 30 s window,
    # the initial prompt only before the first: "low" boosts get the weaker one.
    weak = params.get("boost_param") == "low"
    hot = keyterms + ([] if weak else boosted)
    first = [params["prompt"]] if params.get("prompt") else []
    if weak and boosted:
        first.append(", ".join(boosted) + ".")
    return (", ".join(hot) or None), (" ".join(first) or None)


def job_options(params: Mapping[str, Any], *, accuracy: str = "fast") -> JobOptions:
    """The typed options of a job whose ``params`` passed :func:`check_params`.

    Args:
        params: The stored request fields.
        accuracy: The engine's ``accuracy`` setting (``"fast"`` or ``"accurate"``).
    """
    detect = bool(params.get("language_detection"))
    language = None if detect else str(params.get("language_code") or "en_us")
    detection = params.get("language_detection_options") or {}
    expected = tuple(
        whisper_language(code)
        for code in detection.get("expected_languages") or ()
        if code != "all"
    )
    fallback = detection.get("fallback_language")
    hotwords, initial_prompt = _prompts(params)
    speakers = params.get("speaker_options") or {}
    return JobOptions(
        language=language,
        whisper_language=None if language is None else whisper_language(language),
        confidence_threshold=float(params.get("language_confidence_threshold") or 0.0),
        expected_languages=expected,
        fallback_language=None if fallback in (None, "auto") else whisper_language(fallback),
        accurate=_accurate(params, accuracy),
        hotwords=hotwords,
        initial_prompt=initial_prompt,
        temperature=float(params.get("temperature") or 0.0),
        start_ms=int(params.get("audio_start_from") or 0),
        end_ms=params.get("audio_end_at"),
        speech_threshold=params.get("speech_threshold"),
        punctuate=params.get("punctuate") is not False,
        format_text=params.get("format_text") is not False,
        disfluencies=bool(params.get("disfluencies")),
        filter_profanity=bool(params.get("filter_profanity")),
        custom_spelling=tuple(
            (tuple(source.lower() for source in entry["from"]), entry["to"])
            for entry in params.get("custom_spelling") or ()
        ),
        remove_audio_tags=params.get("remove_audio_tags") == "all",
        auto_highlights=bool(params.get("auto_highlights")),
        speaker_labels=bool(params.get("speaker_labels")),
        speakers_expected=params.get("speakers_expected"),
        min_speakers=speakers.get("min_speakers_expected"),
        max_speakers=speakers.get("max_speakers_expected"),
    )
