"""A transcript's words left undecoded until read: exact where it cuts, whole decoding elsewhere."""

from __future__ import annotations

import json
import pickle
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import audio_highlights as ah
from audio_highlights._lazyjson import LazyObject, _Deferred, decode_deferring_words, lazy_object
from test_models import wildfires_json


def decoded(body: bytes) -> Any:
    return lazy_object(decode_deferring_words(body))


def deferred(obj: Any) -> bool:
    return isinstance(obj, LazyObject) and isinstance(obj._data.get("words"), _Deferred)


def test_a_real_transcript_defers_its_words_and_reads_them_back_exactly() -> None:
    body = wildfires_json()
    obj = decoded(body)
    assert deferred(obj)
    assert list(obj) == list(json.loads(body))  # key order kept
    assert obj["id"] == "w" and "words" in obj and len(obj) == len(json.loads(body))
    assert obj["words"] == json.loads(body)["words"]
    assert not deferred(obj)  # decoded once, then kept
    assert obj == json.loads(body) and dict(obj) == json.loads(body)
    assert "LazyObject(" in repr(obj)


def test_the_client_path_keeps_words_as_bytes_until_read() -> None:
    t = ah.Transcript.from_json(wildfires_json())
    assert deferred(t.raw)
    assert len(t.highlights) == 15 and t.text
    assert deferred(t.raw)  # highlights and text never decode the words
    copied = pickle.loads(pickle.dumps(t))  # e.g. to a worker process
    assert deferred(copied.raw) and copied == t
    assert len(t.words) == 861
    assert t.to_dict() == json.loads(wildfires_json())
    assert ah.Transcript.from_json(wildfires_json().decode()) == t  # str: decoded whole


@pytest.mark.parametrize(
    ("body", "cut"),
    [
        ({"id": "a", "words": []}, True),
        ({"id": "a", "words": [{"text": "x]y", "start": 1}, {"text": "[z"}]}, False),
        ({"id": "a", "words": [{"text": "]]", "start": 1}, {"text": "a ] b"}]}, True),
        ({"id": "a", "words": [{"text": 'say "hi"'}]}, False),  # escapes: whole
        ({"id": "a", "words": [{"text": "café"}]}, True),  # raw UTF-8 is fine
        ({"id": "a", "words": [{"text": "w", "extra": [1, 2]}]}, False),  # nested array
        ({"id": "a", "words": [{"text": "w", "extra": {"k": {"j": 1}}}]}, True),
        ({"id": "a", "utterances": [{"words": [{"text": "u"}]}], "words": [{"text": "t"}]}, False),
        ({"id": "a", "utterances": [{"words": [{"text": "u"}]}]}, False),
        ({"id": "a", "words": "\x00deferred words"}, False),  # the stand-in itself
        ({"id": "a", 'x"words': [1], "words": [2]}, False),
        ({"id": "a", "words": None}, False),
        ({"id": "a", "text": '"words": [1]', "words": [2]}, True),
    ],
)
def test_cuts_only_where_exact_and_equals_json_loads(body: dict[str, Any], cut: bool) -> None:
    for raw in (json.dumps(body, ensure_ascii=False), json.dumps(body, indent=2)):
        data = raw.encode()
        obj = decoded(data)
        assert deferred(obj) == (cut and "\\u" not in raw), raw
        assert dict(obj) == json.loads(data)
        assert ah.Transcript.from_json(data).to_dict() == (
            ah.Transcript.from_dict(json.loads(data)).to_dict()
        )


def test_a_body_that_is_not_json_outside_the_words_fails_at_once() -> None:
    body = b'{"id": "a", "words": [{"text": "w"}], "status": }'
    with pytest.raises(json.JSONDecodeError) as caught:
        ah.Transcript.from_json(body)
    assert caught.value.doc == body.decode()  # the error points into the body as sent


def test_words_that_are_not_json_fail_when_read() -> None:
    # Only the words are broken: the rest is usable, and reading them says why.
    t = ah.Transcript.from_json(b'{"id": "a", "status": "completed", "words": [{"text": ,}]}')
    assert t.status is ah.TranscriptStatus.COMPLETED
    with pytest.raises(json.JSONDecodeError):
        t.words  # noqa: B018


word_text = st.text(alphabet=st.sampled_from('ab ]["\\{}:,é\u2028\x00'), max_size=6)
word = st.fixed_dictionaries(
    {"text": word_text, "start": st.integers(0, 10**6)},
    optional={
        "speaker": st.none() | st.just("A"),
        "extra": st.lists(st.integers(), max_size=2) | st.dictionaries(word_text, word_text),
    },
)


@settings(max_examples=300, deadline=None)
@given(
    words=st.lists(word, max_size=8),
    utterance_words=st.none() | st.lists(word, max_size=3),
    utterances_first=st.booleans(),
    ascii_only=st.booleans(),
    indent=st.none() | st.just(1),
    text=word_text,
)
def test_any_transcript_decodes_as_json_loads_does(
    words: list[dict[str, Any]],
    utterance_words: list[dict[str, Any]] | None,
    utterances_first: bool,
    ascii_only: bool,
    indent: int | None,
    text: str,
) -> None:
    body: dict[str, Any] = {"id": "a", "text": text}
    utterances = (
        None if utterance_words is None else [{"speaker": "A", "words": utterance_words}]
    )
    if utterances is not None and utterances_first:
        body["utterances"] = utterances
    body["words"] = words
    if utterances is not None and not utterances_first:
        body["utterances"] = utterances
    data = json.dumps(body, ensure_ascii=ascii_only, indent=indent).encode()
    assert dict(decoded(data)) == json.loads(data)
    t = ah.Transcript.from_json(data)
    assert t.to_dict() == json.loads(data) | {"status": "queued"}
    assert t == ah.Transcript.from_dict(json.loads(data))
