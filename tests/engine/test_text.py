"""The worker's word shaping (numbers, punctuation, custom spelling, profanity, fillers)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

pytest.importorskip("num2words")
pytest.importorskip("better_profanity")

from audio_highlights.engine._text import (
    apply_custom_spelling,
    drop_audio_tags,
    drop_fillers,
    format_words,
    mask_profanity,
    spell_numbers,
)


def words(*texts: str) -> list[dict[str, Any]]:
    return [
        {"text": t, "start": 1000 * i, "end": 1000 * i + 900, "confidence": 0.9}
        for i, t in enumerate(texts)
    ]


def texts(ws: list[dict[str, Any]]) -> list[str]:
    return [w["text"] for w in ws]


@pytest.mark.parametrize(
    ("raw", "spoken"),
    [
        ("200", "two hundred"),
        ("200,000", "two hundred thousand"),
        ("3.5", "three point five"),
        ("21st", "twenty-first"),
        ("1990s", "nineteen nineties"),
        ("2024.", "twenty twenty-four."),
        ("10%", "ten percent"),
        ("$5", "five dollars"),
        ("$1", "one dollar"),
        ("$5.50", "five dollars fifty cents"),
        ("(42),", "(forty-two),"),
    ],
)
def test_numbers_spelled_out(raw: str, spoken: str) -> None:
    assert " ".join(texts(spell_numbers(words(raw), "en"))) == spoken


def test_spelled_number_shares_the_word_span() -> None:
    out = spell_numbers(words("collected", "200,000", "kilograms"), "en")
    assert texts(out) == ["collected", "two", "hundred", "thousand", "kilograms"]
    span = out[1:4]
    assert span[0]["start"] == 1000
    assert span[-1]["end"] == 1900
    assert all(a["end"] == b["start"] for a, b in itertools.pairwise(span))


def test_numbers_in_other_languages() -> None:
    assert texts(spell_numbers(words("200"), "es")) == ["doscientos"]
    assert texts(spell_numbers(words("COVID-19"), "en")) == ["COVID-19"]  # not a number


def test_format_words() -> None:
    ws = words("Hello,", "3.5", "kilos.", "Don't", "re-use")
    assert texts(format_words(ws, punctuate=False, format_text=True)) == [
        "Hello",
        "3.5",
        "kilos",
        "Don't",
        "re-use",
    ]
    assert texts(format_words(ws, punctuate=True, format_text=False))[0] == "hello,"


def test_custom_spelling() -> None:
    rules = [(("saturday",), "Caturday"), (("cs 50", "cs fifty"), "CS50")]
    out = apply_custom_spelling(words("On", "saturday,", "CS", "50", "starts."), rules)
    assert texts(out) == ["On", "Caturday,", "CS50", "starts."]
    assert (out[2]["start"], out[2]["end"]) == (2000, 3900)


def test_profanity_masked_like_the_hosted_api() -> None:
    out = mask_profanity(words("This", "damn", "Shit's,", "classic", "assessment."))
    assert texts(out) == ["This", "d***", "S***'s,", "classic", "assessment."]


def test_fillers_dropped_and_sentence_kept_capitalised() -> None:
    out = drop_fillers(words("Um,", "the", "printer", "broke.", "Uhh,", "this", "hmm", "works."))
    assert texts(out) == ["The", "printer", "broke.", "This", "works."]


def test_audio_tags_dropped() -> None:
    out = drop_audio_tags(words("[Music", "playing]", "Hello", "(laughs)", "there."))
    assert texts(out) == ["Hello", "there."]
