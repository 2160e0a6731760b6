"""Property tests of the key-phrase rules on realistic transcripts.

tests/test_keyphrases.py checks the rules on arbitrary (even overlapping) word lists; these
build transcripts as a recognizer would (ordered, non-overlapping words from an English-like
vocabulary with punctuation) and check what the hosted API promises of ``auto_highlights``:
``count`` equals the number of timestamps, every timestamp spans real words inside the audio,
results are rank-descending and capped, and the output is deterministic and shift-invariant.
"""

from __future__ import annotations

import importlib.util

import pytest

pytest.importorskip("numpy")
if importlib.util.find_spec("spacy") is None:  # not imported here: collection stays quick
    pytest.skip("needs spaCy (the engine extra)", allow_module_level=True)

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audio_highlights import Word
from audio_highlights.engine._keyphrases import extract_highlights

VOCAB = [
    "the",
    "a",
    "of",
    "to",
    "and",
    "in",
    "is",
    "was",
    "for",
    "on",
    "with",
    "air",
    "quality",
    "alerts",
    "wildfires",
    "smoke",
    "Canada",
    "river",
    "cleanup",
    "volunteers",
    "city",
    "council",
    "heat",
    "wave",
    "health",
    "officials",
    "people",
    "children",
    "water",
    "plastic",
    "bottles",
    "weekend",
    "record",
    "temperatures",
    "New",
    "York",
    "summer",
    "forecast",
    "um",
    "uh",
    "like",
    "really",
    "very",
    "good",
    "new",
    "old",
    "big",
    "data",
    "model",
    "engine",
    "transcript",
    "highlights",
    "phrase",
]
PUNCT = ("", "", "", "", ",", ".", "?", "!")

_word = st.tuples(
    st.sampled_from(VOCAB), st.sampled_from(PUNCT), st.integers(10, 900), st.integers(0, 400)
)


def build(items: list[tuple[str, str, int, int]], offset: int = 0) -> list[Word]:
    """Ordered, non-overlapping words: each lasts ``dur`` ms after a ``gap`` ms pause."""
    words: list[Word] = []
    t = offset
    for text, punct, dur, gap in items:
        t += gap
        words.append(Word(text=text + punct, start=t, end=t + dur, confidence=0.9))
        t += dur
    return words


SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.lists(_word, max_size=200), st.integers(1, 30))
def test_highlight_rules_hold(items: list[tuple[str, str, int, int]], max_results: int) -> None:
    words = build(items)
    result = extract_highlights(words, max_results=max_results)
    assert result.status == "success"
    assert len(result.results) <= max_results
    ranks = [h.rank for h in result.results]
    assert all(r is not None and 0 < r <= 1 for r in ranks), ranks
    assert ranks == sorted(ranks, reverse=True)  # type: ignore[type-var]
    starts = {w.start for w in words}
    ends = {w.end for w in words}
    audio_end = words[-1].end if words else 0
    texts = [h.text for h in result.results]
    assert len(texts) == len(set(texts))  # each phrase once
    for h in result.results:
        assert h.count == len(h.timestamps) >= 1
        for ts in h.timestamps:
            # A timestamp is a span of real words, inside the audio.
            assert ts.start in starts and ts.end in ends
            assert 0 <= ts.start < ts.end <= audio_end
        spans = [(ts.start, ts.end) for ts in h.timestamps]
        assert spans == sorted(spans) and len(spans) == len(set(spans))


# Three extractions per example; test_keyphrases.py's test_deterministic is the quick twin.
@pytest.mark.slow
@SETTINGS
@given(st.lists(_word, min_size=1, max_size=120), st.integers(1, 10_000_000))
def test_deterministic_and_shift_invariant(
    items: list[tuple[str, str, int, int]], offset: int
) -> None:
    first = extract_highlights(build(items)).results
    again = extract_highlights(build(items)).results
    assert first == again
    shifted = extract_highlights(build(items, offset=offset)).results
    assert [(h.text, h.count, h.rank) for h in shifted] == [
        (h.text, h.count, h.rank) for h in first
    ]
    for a, b in zip(first, shifted, strict=True):
        assert [(t.start + offset, t.end + offset) for t in a.timestamps] == [
            (t.start, t.end) for t in b.timestamps
        ]
