"""Request-field validation and the engine's word shaping, without running a recogniser."""

from __future__ import annotations

from typing import Any

import pytest

from audio_highlights.engine._params import (
    WHISPER_LANGUAGES,
    ParamError,
    check_params,
    job_options,
    whisper_language,
)
from audio_highlights.engine._settings import EngineSettings


def params(**fields: Any) -> dict[str, Any]:
    return check_params({"audio_url": "https://example.com/a.mp3", **fields})


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"language_detection": "yes"}, "language_detection"),
        ({"language_confidence_threshold": 1.5}, "language_confidence_threshold"),
        ({"language_code": 7}, "language_code"),
        ({"language_code": "xx"}, "language_code"),
        ({"language_detection_options": {"expected_languages": "en"}}, "expected_languages"),
        ({"language_detection_options": {"expected_languages": ["qq"]}}, "expected_languages"),
        ({"language_detection_options": {"fallback_language": "qq"}}, "fallback_language"),
        ({"language_detection_options": {"code_switching": True}}, "code_switching"),
        ({"audio_start_from": -1}, "audio_start_from"),
        ({"audio_start_from": 1.5}, "audio_start_from"),
        ({"audio_end_at": "10"}, "audio_end_at"),
        ({"audio_start_from": 5000, "audio_end_at": 4000}, "audio_end_at"),
        ({"word_boost": "aws"}, "word_boost"),
        ({"word_boost": ["one two three four five six seven"]}, "word_boost"),
        ({"boost_param": "max"}, "boost_param"),
        ({"keyterms_prompt": [1, 2]}, "keyterms_prompt"),
        ({"custom_spelling": {"from": ["a"], "to": "b"}}, "custom_spelling"),
        ({"custom_spelling": [{"from": "a", "to": "b"}]}, "custom_spelling[0].from"),
        ({"custom_spelling": [{"from": ["a"], "to": "two words"}]}, "custom_spelling[0].to"),
        ({"filter_profanity": 1}, "filter_profanity"),
        ({"disfluencies": "true"}, "disfluencies"),
        ({"speech_threshold": 2}, "speech_threshold"),
        ({"speech_threshold": True}, "speech_threshold"),
        ({"punctuate": "no"}, "punctuate"),
        ({"format_text": 0}, "format_text"),
        ({"speech_model": 5}, "speech_model"),
        ({"speech_models": "best"}, "speech_models"),
        ({"speaker_labels": "yes"}, "speaker_labels"),
        ({"speakers_expected": 0}, "speakers_expected"),
        ({"speaker_options": {"min_speakers_expected": "2"}}, "min_speakers_expected"),
        (
            {"speaker_options": {"min_speakers_expected": 3, "max_speakers_expected": 2}},
            "max_speakers_expected",
        ),
        ({"temperature": -0.1}, "temperature"),
        ({"remove_audio_tags": "some"}, "remove_audio_tags"),
        ({"redact_pii": True}, "redact_pii"),
        ({"summarization": True}, "summarization"),
        ({"multichannel": True}, "multichannel"),
        ({"speech_understanding": {"request": {}}}, "speech_understanding"),
        ({"language_codes": ["en", "es"]}, "language_codes"),
        ({"content_safety_confidence": 5}, "content_safety_confidence"),
        ({"webhook_url": "ftp://x/y"}, "webhook_url"),
    ],
)
def test_bad_field_is_named(fields: dict[str, Any], named: str) -> None:
    with pytest.raises(ParamError, match=named.replace("[", r"\[").replace("]", r"\]")):
        params(**fields)


def test_every_everyday_field_is_accepted_and_kept() -> None:
    fields = {
        "speech_models": ["universal-3-pro", "universal-2"],
        "speech_model": "best",
        "language_detection": True,
        "language_confidence_threshold": 0.5,
        "language_detection_options": {"expected_languages": ["en", "es"]},
        "audio_start_from": 1000,
        "audio_end_at": 9000,
        "word_boost": ["river cleanup"],
        "boost_param": "high",
        "keyterms_prompt": ["plastic bottles"],
        "custom_spelling": [{"from": ["saturday"], "to": "Caturday"}],
        "filter_profanity": True,
        "disfluencies": True,
        "speech_threshold": 0.2,
        "punctuate": False,
        "format_text": False,
        "speaker_labels": True,
        "speakers_expected": 2,
        "speaker_options": {"min_speakers_expected": 1, "max_speakers_expected": 3},
        "auto_highlights": True,
        "summarization": False,
        "summary_type": "bullets",
        "custom_topics": True,
    }
    got = params(**fields)
    assert {k: got[k] for k in fields} == fields
    assert got["_ignored_fields"] == []
    assert got["_warnings"] == []


def test_unknown_fields_are_listed_never_kept() -> None:
    got = params(
        auto_highlight=True,
        _upload="forged",
        speaker_label=None,
        speaker_options={"max_speakers": 2, "min_speakers_expected": 1},
    )
    assert got["_ignored_fields"] == [
        "_upload",
        "auto_highlight",
        "speaker_label",
        "speaker_options.max_speakers",
    ]
    assert "_upload" not in got
    assert "auto_highlight" not in got


def test_languages() -> None:
    assert len(WHISPER_LANGUAGES) == 99
    for code in ("en", "en_us", "en_uk", "en_au", "EN-US"):
        assert whisper_language(code) == "en"
    for code in sorted(WHISPER_LANGUAGES):
        assert params(language_code=code)["language_code"] == code
    assert job_options(params(language_code="pt")).whisper_language == "pt"
    assert job_options(params(language_detection=True)).whisper_language is None


def test_english_only_features_with_another_language() -> None:
    # The hosted API's answer, for a language given up front.
    with pytest.raises(ParamError, match="not available in this language: auto_highlights"):
        params(language_code="es", auto_highlights=True)
    with pytest.raises(ParamError, match="auto_highlights, disfluencies"):
        params(language_code="fr", auto_highlights=True, disfluencies=True)
    # With detection the language is not known yet: accepted.
    params(language_detection=True, auto_highlights=True)
    params(language_code="en_uk", auto_highlights=True)


def test_language_code_with_detection_is_a_warning() -> None:
    got = params(language_detection=True, language_code="en_us")
    assert "language_detection" in got["_warnings"][0]


def test_fallback_language_must_be_expected() -> None:
    with pytest.raises(ParamError, match="fallback_language"):
        params(
            language_detection=True,
            language_detection_options={"expected_languages": ["en"], "fallback_language": "es"},
        )
    got = job_options(
        params(
            language_detection=True,
            language_detection_options={
                "expected_languages": ["en", "es"],
                "fallback_language": "es",
            },
        )
    )
    assert got.expected_languages == ("en", "es")
    assert got.fallback_language == "es"


def test_accuracy_setting_and_speech_model_best() -> None:
    assert EngineSettings().accuracy == "fast"
    with pytest.raises(ValueError, match="accuracy"):
        EngineSettings(accuracy="perfect")
    assert not job_options(params()).accurate
    assert job_options(params(), accuracy="accurate").accurate
    assert job_options(params(speech_model="best")).accurate
    assert not job_options(params(speech_model="nano"), accuracy="accurate").accurate
    assert not job_options(params(speech_models=["universal-3-pro", "universal-2"])).accurate


def test_serve_accuracy_option() -> None:
    import click

    from audio_highlights.cli._serve import serve

    assert serve.make_context("serve", []).params["accuracy"] == "fast"
    assert serve.make_context("serve", ["--accuracy", "accurate"]).params["accuracy"] == "accurate"
    with pytest.raises(click.BadParameter):
        serve.make_context("serve", ["--accuracy", "best"])


def test_word_boost_and_keyterms_become_whisper_prompts() -> None:
    got = job_options(params(word_boost=["aws", "azure"], keyterms_prompt=["google cloud"]))
    assert got.hotwords == "google cloud, aws, azure"
    assert got.initial_prompt is None
    low = job_options(params(word_boost=["aws"], boost_param="low", prompt="A cloud talk."))
    assert low.hotwords is None
    assert low.initial_prompt == "A cloud talk. aws."
