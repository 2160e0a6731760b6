"""Lenient parsing and round-tripping of the API's JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import audio_highlights as ah

EXAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "examples"


def test_wildfires_example_parses_and_sorts_by_rank() -> None:
    spec = json.loads((EXAMPLES / "wildfires_v2_reconstructed_words.json").read_text())
    t = ah.Transcript.from_dict(
        {
            "id": "w",
            "status": "completed",
            "words": spec["words"],
            "auto_highlights_result": spec["expected_auto_highlights_result"],
            "text": spec["text"],
        }
    )
    assert len(t.words) == 861
    assert len(t.highlights) == 15
    ranks = [h.rank for h in t.highlights]
    assert ranks == sorted(ranks, reverse=True)
    for h in t.highlights:
        assert h.count == len(h.timestamps)
    assert ah.Transcript.from_dict(t.to_dict()) == t


def test_missing_and_odd_fields_are_tolerated() -> None:
    t = ah.Transcript.from_dict(
        {
            "id": "a",
            "status": "completed",
            "words": [{"text": "hi", "start": 1, "end": 2, "speaker": None}, "junk"],
            "auto_highlights_result": {
                "status": "success",
                "results": [
                    {"text": "b", "count": 1, "timestamps": [{"start": 1, "end": 2}]},
                    {"text": "a", "count": 2, "rank": 0.5, "timestamps": []},
                ],
            },
            "brand_new_field": {"nested": [1, 2]},
            "audio_duration": 12,
        }
    )
    assert t.words == [ah.Word(text="hi", start=1, end=2)]
    assert [h.text for h in t.highlights] == ["a", "b"]  # missing rank sorts last
    assert t.highlights[1].rank is None
    assert t.raw["brand_new_field"] == {"nested": [1, 2]}
    assert t.audio_duration == 12.0
    assert t.to_dict()["brand_new_field"] == {"nested": [1, 2]}
    assert "rank" not in t.to_dict()["auto_highlights_result"]["results"][1]


def test_null_and_unavailable_highlights() -> None:
    assert ah.Transcript.from_dict({"id": "a", "status": "queued"}).highlights == []
    t = ah.Transcript.from_dict(
        {"id": "a", "status": "completed", "auto_highlights_result": None, "error": None}
    )
    assert t.auto_highlights_result is None and t.highlights == [] and t.error is None
    t = ah.Transcript.from_dict(
        {"id": "a", "status": "completed", "auto_highlights_result": {"status": "unavailable"}}
    )
    assert t.auto_highlights_result == ah.AutoHighlightsResult(status="unavailable", results=[])


def test_unknown_status_is_kept_and_not_terminal() -> None:
    t = ah.Transcript.from_dict({"id": "a", "status": "paused"})
    assert t.status.value == "paused" and not t.status.is_terminal
    assert t.to_dict()["status"] == "paused"
    assert ah.TranscriptStatus("completed") is ah.TranscriptStatus.COMPLETED
    assert str(ah.TranscriptStatus.ERROR) == "error"


def test_highlight_count_defaults_to_timestamps() -> None:
    h = ah.Highlight.from_dict({"text": "x", "timestamps": [{"start": 1, "end": 2}] * 3})
    assert h.count == 3


json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
keys = st.sampled_from(
    [
        "id",
        "status",
        "text",
        "words",
        "audio_duration",
        "confidence",
        "error",
        "auto_highlights_result",
        "language_code",
        "audio_url",
        "auto_highlights",
        "other",
    ]
)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(st.dictionaries(keys, json_values, max_size=10))
def test_any_json_object_parses_and_round_trips(data: dict[str, object]) -> None:
    t = ah.Transcript.from_dict(data)
    again = ah.Transcript.from_dict(json.loads(json.dumps(t.to_dict())))
    assert again == t
    assert all(
        a.rank is None or b.rank is None or a.rank >= b.rank
        for a, b in zip(t.highlights, t.highlights[1:], strict=False)
    )


def wildfires_json() -> bytes:
    spec = json.loads((EXAMPLES / "wildfires_v2_reconstructed_words.json").read_text())
    body = {
        "id": "w",
        "status": "completed",
        "text": spec["text"],
        "words": spec["words"],  # each word has an extra "_timing" key
        "auto_highlights_result": spec["expected_auto_highlights_result"],
        "utterances": [{"text": "Smoke", "start": 250, "end": 650, "speaker": "A", "words": []}],
    }
    return json.dumps(body).encode()


def test_words_are_built_on_first_access_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from audio_highlights import _models

    built: list[str] = []
    real_words, real_segments = _models._words, _models._segments

    def words(value: object) -> list[ah.Word]:
        built.append("words")
        return real_words(value)

    def segments(value: object) -> list[ah.Segment]:
        built.append("utterances")
        return real_segments(value)

    monkeypatch.setattr(_models, "_words", words)
    monkeypatch.setattr(_models, "_segments", segments)
    t = ah.Transcript.from_json(wildfires_json())
    assert t.status is ah.TranscriptStatus.COMPLETED and t.id == "w" and t.text
    assert len(t.highlights) == 15
    assert built == []  # highlights, status, text and id never pay for the words
    first = t.words
    assert len(first) == 861 and first[0] == ah.Word(text="Smoke", start=250, end=650,
                                                     confidence=1.0)
    assert t.words is first  # built once
    assert t.utterances[0].speaker == "A"
    assert built[:2] == ["words", "utterances"]  # (then the utterance's own words)
    calls = len(built)
    assert t.words is first and len(t.utterances) == 1 and len(built) == calls


def test_lazy_words_keep_the_raw_json_and_round_trip() -> None:
    body = wildfires_json()
    t = ah.Transcript.from_json(body)
    # Untouched, unknown per-word keys included, before and after the words are built.
    assert t.to_dict()["words"] == json.loads(body)["words"]
    assert len(t.words) == 861
    assert t.to_dict()["words"] == json.loads(body)["words"]
    assert t.to_dict()["words"][0]["_timing"] == "exact"
    again = ah.Transcript.from_dict(t.to_dict())
    assert again == t and hash(again) == hash(t)
    assert ah.Transcript.from_json(body) == t  # equal whether or not the words were built
    different = json.loads(body)
    different["words"][5]["text"] = "changed"
    assert ah.Transcript.from_dict(different) != t
    assert "Word(" not in repr(t) and "_timing" not in repr(t)  # no words in the repr


def test_typed_words_given_to_the_constructor_win() -> None:
    t = ah.Transcript(id="a", status=ah.TranscriptStatus.COMPLETED,
                      words=[ah.Word(text="hi", start=1, end=2)],
                      raw={"words": [{"text": "other", "start": 0, "end": 0}]})
    assert t.words == [ah.Word(text="hi", start=1, end=2)]
    assert t.to_dict()["words"] == [
        {"text": "hi", "start": 1, "end": 2, "confidence": None, "speaker": None}
    ]
    assert ah.Transcript.from_dict(t.to_dict()) == t
    assert t != ah.Transcript(id="a", status=ah.TranscriptStatus.COMPLETED)
    assert t.__eq__("a") is NotImplemented


def test_odd_words_take_the_lenient_path() -> None:
    t = ah.Transcript.from_dict({"id": "a", "status": "completed", "words": [
        {"text": "a", "start": 1.6, "end": True, "confidence": 1},
        {"text": 5, "start": None, "end": 3, "speaker": 7},
        "junk",
        {"text": "b", "start": 1, "end": 2, "confidence": 0.5, "speaker": "A", "channel": "1"},
    ]})
    assert t.words == [
        ah.Word(text="a", start=2, end=0, confidence=1.0),
        ah.Word(text="", start=0, end=3),
        ah.Word(text="b", start=1, end=2, confidence=0.5, speaker="A", channel="1"),
    ]
    assert isinstance(t.words[0].confidence, float)


def test_from_json_refuses_what_is_not_a_transcript_object() -> None:
    with pytest.raises(TypeError):
        ah.Transcript.from_json(b"[1, 2]")
    with pytest.raises(json.JSONDecodeError):
        ah.Transcript.from_json("{not json")
