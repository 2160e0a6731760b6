"""Every everyday request field, against the real engine (``serve``, whisper) on short clips.

All jobs are submitted at once by one module fixture and awaited together, so
the engine's worker never idles between tests; each test then checks one field. Those
are ``slow``; the quick selection checks that the engine accepts every job's fields.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("faster_whisper")
pytest.importorskip("uvicorn")
pytest.importorskip("av")
httpx2 = pytest.importorskip("httpx2")

from .conftest import AUDIO, Server  # noqa: E402
from .test_http import upload, wait  # noqa: E402

slow = pytest.mark.slow

RIVER = "river_cleanup.mp3"  # "...river banks on Saturday morning. The river cleanup collected..."
PRINTER = "printer.mp3"  # "Um, the printer broke again. Uh, this damn thing is a piece of shit."
SPANISH = "economia_es.mp3"  # "Buenos días a todos. Hoy vamos a hablar de la economía de España..."

JOBS: dict[str, tuple[str, dict[str, Any]]] = {
    "plain": (
        RIVER,
        {
            "speech_models": ["universal-3-pro", "universal-2"],
            "speaker_labels": True,
            "speakers_expected": 2,
            "speaker_options": {"min_speakers_expected": 1, "max_speakers_expected": 3},
            "auto_higlights": True,  # misspelled on purpose
        },
    ),
    "word_boost": (RIVER, {"word_boost": ["river cleanup"], "boost_param": "high"}),
    "keyterms": (RIVER, {"keyterms_prompt": ["river cleanup"]}),
    "formatting": (
        RIVER,
        {
            "punctuate": False,
            "format_text": False,
            "custom_spelling": [{"from": ["saturday"], "to": "Caturday"}],
        },
    ),
    "cut": (RIVER, {"audio_start_from": 4800, "audio_end_at": 9500}),
    "too_little_speech": (RIVER, {"speech_threshold": 0.99}),
    "past_the_end": (PRINTER, {"audio_start_from": 60_000}),
    "profanity": (PRINTER, {"filter_profanity": True}),
    "disfluencies": (PRINTER, {"disfluencies": True}),
    "detected": (SPANISH, {"language_detection": True, "auto_highlights": True}),
    "spanish": (SPANISH, {"language_code": "es"}),
    "unsure": (SPANISH, {"language_detection": True, "language_confidence_threshold": 0.99}),
}


@pytest.mark.anyio
async def test_every_job_of_this_module_is_accepted_at_submit(tmp_path: Path) -> None:
    """Each field set below passes the engine's checks (so the slow tests cannot fail on a 400)."""
    from audio_highlights.engine import open_engine

    async with (
        open_engine(data_dir=tmp_path, workers=1, recognizer="pocketsphinx") as engine,
        httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=engine.app), base_url="http://engine", timeout=30
        ) as c,
    ):
        url = (await c.post("/v2/upload", content=b"audio bytes")).json()["upload_url"]
        for key, (_, fields) in JOBS.items():
            r = await c.post("/v2/transcript", json={"audio_url": url, **fields})
            assert r.status_code == 200, (key, r.text)
            assert r.json()["status"] == "queued"
            expected = ["auto_higlights"] if key == "plain" else []
            assert (r.json()["ignored_fields"] or []) == expected, (key, r.json())


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[Any]:
    with httpx2.Client(base_url=server.url, timeout=60) as c:
        yield c


@pytest.fixture(scope="module")
def jobs(client: Any) -> dict[str, dict[str, Any]]:
    urls = {name: upload(client, (AUDIO / name).read_bytes()) for name in {RIVER, PRINTER, SPANISH}}
    submitted = {}
    for key, (clip, fields) in JOBS.items():
        r = client.post("/v2/transcript", json={"audio_url": urls[clip], **fields})
        assert r.status_code == 200, r.text
        submitted[key] = r
    done: dict[str, dict[str, Any]] = {"submitted:plain": submitted["plain"].json()}
    done["submitted:plain"]["_headers"] = dict(submitted["plain"].headers)
    for key, r in submitted.items():
        done[key] = wait(client, r.json()["id"], timeout=300)
    return done


def completed(jobs: dict[str, dict[str, Any]], key: str) -> dict[str, Any]:
    body = jobs[key]
    assert body["status"] == "completed", body["error"]
    return body


@slow
def test_speech_models_named_and_speaker_fields_kept(jobs: dict[str, dict[str, Any]]) -> None:
    body = completed(jobs, "plain")
    assert body["speech_models"] == ["universal-3-pro", "universal-2"]
    assert body["speech_model_used"] == "whisper-base"
    assert body["speaker_labels"] is True
    assert body["speakers_expected"] == 2


@slow
def test_unknown_fields_are_listed(jobs: dict[str, dict[str, Any]]) -> None:
    assert jobs["submitted:plain"]["ignored_fields"] == ["auto_higlights"]
    assert jobs["submitted:plain"]["_headers"]["x-ignored-fields"] == "auto_higlights"
    assert completed(jobs, "plain")["ignored_fields"] == ["auto_higlights"]
    assert completed(jobs, "plain")["auto_highlights_result"] is None


@slow
def test_word_boost(jobs: dict[str, dict[str, Any]]) -> None:
    # whisper-base hears "river clea" here unless it is told the term.
    assert "river clea " in completed(jobs, "plain")["text"]
    body = completed(jobs, "word_boost")
    assert "river cleanup" in body["text"]
    assert body["word_boost"] == ["river cleanup"]
    assert body["boost_param"] == "high"


@slow
def test_keyterms_prompt(jobs: dict[str, dict[str, Any]]) -> None:
    body = completed(jobs, "keyterms")
    assert "river cleanup" in body["text"]
    assert body["keyterms_prompt"] == ["river cleanup"]


@slow
def test_format_text_false_spells_numbers(jobs: dict[str, dict[str, Any]]) -> None:
    body = completed(jobs, "formatting")
    assert "200" in completed(jobs, "plain")["text"]
    assert "collected two hundred" in body["text"]
    assert "Volunteers" not in body["text"]
    assert body["format_text"] is False


@slow
def test_punctuate_false(jobs: dict[str, dict[str, Any]]) -> None:
    assert "." in completed(jobs, "plain")["text"]
    body = completed(jobs, "formatting")
    assert not any(c in body["text"] for c in ".,?!")
    assert body["punctuate"] is False


@slow
def test_custom_spelling(jobs: dict[str, dict[str, Any]]) -> None:
    body = completed(jobs, "formatting")
    # applied last, so the replacement keeps its case in lowercased text
    assert "on Caturday morning" in body["text"]
    assert body["custom_spelling"] == [{"from": ["saturday"], "to": "Caturday"}]


@slow
def test_audio_start_from_and_end_at(
    jobs: dict[str, dict[str, Any]], references: dict[str, Any]
) -> None:
    body = completed(jobs, "cut")
    second_sentence = references[RIVER]["sentence_onsets_ms"][1]
    text = body["text"].lower()
    assert "volunteers" not in text
    assert "plastic bottles" in text
    assert "nets" not in text
    # times are on the file's own timeline, as the hosted API reports them
    assert 4800 <= body["words"][0]["start"] <= second_sentence + 500
    assert all(4800 <= w["start"] <= w["end"] <= 9500 for w in body["words"])
    assert (body["audio_start_from"], body["audio_end_at"]) == (4800, 9500)
    assert body["audio_duration"] == round(references[RIVER]["duration_s"])


@slow
def test_audio_start_from_past_the_end(jobs: dict[str, dict[str, Any]]) -> None:
    body = jobs["past_the_end"]
    assert body["status"] == "error"
    assert body["error"].startswith("audio_start_from 60000 is past the end of the audio (")


@slow
def test_speech_threshold(jobs: dict[str, dict[str, Any]]) -> None:
    body = jobs["too_little_speech"]
    assert body["status"] == "error"
    assert body["text"] is None
    assert body["error"].startswith("Audio speech threshold 0.")
    assert body["error"].endswith("is below the requested speech threshold value 0.99")


@slow
def test_filter_profanity(jobs: dict[str, dict[str, Any]]) -> None:
    body = completed(jobs, "profanity")
    assert "piece of s***." in body["text"]
    assert "d*** thing" in body["text"]
    assert "shit" not in body["text"].lower()
    assert body["filter_profanity"] is True


@slow
def test_disfluencies(jobs: dict[str, dict[str, Any]]) -> None:
    kept = completed(jobs, "disfluencies")["text"].lower()
    assert "um" in kept.split(", ")[0]
    assert "uh," in kept
    dropped = completed(jobs, "profanity")["text"]  # disfluencies off (the default)
    assert dropped.startswith("The printer broke again. This")


@slow
def test_language_detection(jobs: dict[str, dict[str, Any]]) -> None:
    body = completed(jobs, "detected")
    assert body["language_detection"] is True
    assert body["language_code"] == "es"
    assert 0.5 < body["language_confidence"] <= 1
    assert "economía" in body["text"]


@slow
def test_key_phrases_omitted_for_another_detected_language(
    jobs: dict[str, dict[str, Any]],
) -> None:
    # The hosted API completes and omits a feature the detected language lacks.
    body = completed(jobs, "detected")
    assert body["auto_highlights_result"] is None
    assert any("auto_highlights" in w for w in body["warnings"])


@slow
def test_language_code(jobs: dict[str, dict[str, Any]]) -> None:
    body = completed(jobs, "spanish")
    assert body["language_code"] == "es"
    assert body["language_confidence"] is None
    assert "Hoy vamos a hablar" in body["text"]


@slow
def test_language_confidence_threshold(jobs: dict[str, dict[str, Any]]) -> None:
    body = jobs["unsure"]
    assert body["status"] == "error"
    assert body["error"].startswith("detected language 'es', confidence 0.")
    assert body["error"].endswith("is below the requested confidence threshold value of '0.99'")
