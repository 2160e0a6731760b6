"""Speech recognition, run inside worker processes.

Each worker process loads its model once and keeps it in a module-level cache,
so a pool of ``workers`` processes costs ``workers`` model loads in all.
Results cross the process boundary as plain dicts (picklable, JSON-ready).
"""

from __future__ import annotations

import logging
import re
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from attrs import frozen

from ._audio import SAMPLE_RATE, decode_audio

__all__ = [
    "Decoding",
    "RecognizerUnavailable",
    "detect_language",
    "load_recognizer",
    "recognize_audio",
    "recognize_file",
    "speech_fraction",
]

logger = logging.getLogger("audio_highlights.engine")

_models: dict[tuple[str, str], Any] = {}


class RecognizerUnavailable(RuntimeError):
    """The requested recognizer cannot be loaded in this environment."""


@frozen(kw_only=True)
class Decoding:
    """How whisper decodes one job (pocketsphinx has no such options).

    Attributes:
        language: Whisper's language code (``"en"``, ``"es"`` ...).
        beam_size: 1 for greedy decoding (``accuracy="fast"``), 5 for beam search.
        hotwords: Words whisper is shown before every 30 s window (word boost, key terms).
        initial_prompt: Text whisper is shown before the first window only.
        temperature: The first sampling temperature (0: deterministic).
    """

    language: str = "en"
    beam_size: int = 1
    hotwords: str | None = None
    initial_prompt: str | None = None
    temperature: float = 0.0


def _whisper_model(model_dir: str, cpu_threads: int) -> Any:
    key = ("whisper", model_dir)
    model = _models.get(key)
    if model is None:
        try:
            from faster_whisper import WhisperModel  # type: ignore[import-untyped,unused-ignore]

            model = WhisperModel(
                model_dir, device="cpu", compute_type="int8", cpu_threads=cpu_threads
            )
        except (ImportError, OSError, RuntimeError, ValueError) as exc:
            message = f"faster-whisper could not load {model_dir}: {exc}"
            raise RecognizerUnavailable(message) from exc
        _models[key] = model
    return model


def _sphinx_decoder() -> Any:
    key = ("pocketsphinx", "")
    decoder = _models.get(key)
    if decoder is None:
        try:
            from pocketsphinx import Decoder  # type: ignore[import-untyped,unused-ignore]

            decoder = Decoder(samprate=SAMPLE_RATE, loglevel="FATAL")
        except (ImportError, OSError, RuntimeError, ValueError) as exc:
            raise RecognizerUnavailable(f"pocketsphinx could not load: {exc}") from exc
        _models[key] = decoder
    return decoder


def _join_pieces(raw: list[tuple[str, float, float, float]]) -> list[dict[str, Any]]:
    """Turn whisper word pieces into words, in ms (``_align`` refines the times).

    Whisper marks a new word with a leading space; a piece without one (``",000"``
    after ``"200"``) continues the previous word.
    """
    words: list[dict[str, Any]] = []
    for text, start, end, prob in raw:
        stripped = text.strip()
        if not stripped:
            continue
        start_ms, end_ms = round(start * 1000), round(end * 1000)
        if words and not text[:1].isspace():
            prev = words[-1]
            prev["text"] += stripped
            prev["end"] = max(prev["end"], end_ms)
            prev["confidence"] = min(prev["confidence"], prob)
            continue
        words.append({"text": stripped, "start": start_ms, "end": end_ms, "confidence": prob})
    for word in words:
        word["confidence"] = round(float(word["confidence"]), 4)
    return words


def _temperatures(first: float) -> list[float]:
    # whisper's fallback ladder (0.0, 0.2 ... 1.0), started at the requested temperature
    return [first, *(t / 10 for t in range(2, 11, 2) if t / 10 > first)]


def _run_whisper(
    audio: npt.NDArray[np.float32], model_dir: str, cpu_threads: int, decoding: Decoding
) -> list[dict[str, Any]]:
    model = _whisper_model(model_dir, cpu_threads)
    segments, _info = model.transcribe(
        audio,
        language=decoding.language,
        beam_size=decoding.beam_size,
        hotwords=decoding.hotwords,
        initial_prompt=decoding.initial_prompt,
        temperature=_temperatures(decoding.temperature),
        word_timestamps=True,
        vad_filter=True,
    )
    raw: list[tuple[str, float, float, float]] = []
    for segment in segments:
        for w in segment.words or ():
            raw.append((w.word, float(w.start), float(w.end), float(w.probability)))
    return _join_pieces(raw)


_SPHINX_FILLER = re.compile(r"^(<s>|</s>|<sil>|\[.*\]|\+\+.*\+\+)$")
_SPHINX_ALT = re.compile(r"\(\d+\)$")


def _run_sphinx(audio: npt.NDArray[np.float32]) -> list[dict[str, Any]]:
    decoder = _sphinx_decoder()
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2").tobytes()
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    frame_ms = 10
    logmath = decoder.get_logmath()
    words: list[dict[str, Any]] = []
    for seg in decoder.seg():
        if _SPHINX_FILLER.match(seg.word):
            continue
        text = _SPHINX_ALT.sub("", seg.word)
        confidence = min(1.0, max(0.0, float(logmath.exp(seg.prob))))
        words.append(
            {
                "text": text,
                "start": seg.start_frame * frame_ms,
                "end": (seg.end_frame + 1) * frame_ms,
                "confidence": round(confidence, 4),
            }
        )
    return words


def load_recognizer(recognizer: str, model_dir: str | None, cpu_threads: int) -> str:
    """Load the recognizer's model into this process's cache (a worker's warm-up).

    Returns:
        The recognizer that will run: ``"whisper"``, or ``"pocketsphinx"`` when
        whisper cannot load (with the same warning a job would give).
    """
    if recognizer == "whisper" and model_dir is not None:
        try:
            _whisper_model(model_dir, cpu_threads)
        except RecognizerUnavailable as exc:
            _warn_fallback(exc)
        else:
            return "whisper"
    _sphinx_decoder()
    return "pocketsphinx"


def _warn_fallback(exc: RecognizerUnavailable) -> None:
    message = f"{exc}; falling back to pocketsphinx"
    logger.warning(message)
    warnings.warn(message, RuntimeWarning, stacklevel=2)


def detect_language(
    audio: npt.NDArray[np.float32], model_dir: str, cpu_threads: int
) -> list[tuple[str, float]]:
    """Whisper's language probabilities for ``audio``'s first 30 s of speech, best first.

    Raises:
        RecognizerUnavailable: Whisper cannot be loaded.
    """
    model = _whisper_model(model_dir, cpu_threads)
    _language, _probability, ranked = model.detect_language(audio, vad_filter=True)
    return [(str(code), float(p)) for code, p in ranked]


# Silero VAD as faster-whisper ships it, tuned to measure speech rather than to
# cut chunks for recognition: short pauses count as silence, little padding.
_SPEECH_VAD = {"min_silence_duration_ms": 200, "speech_pad_ms": 30}


def speech_fraction(audio: npt.NDArray[np.float32]) -> float:
    """The fraction of ``audio`` that is speech, 0..1 (Silero VAD)."""
    if len(audio) == 0:
        return 0.0
    from faster_whisper.vad import (  # type: ignore[import-untyped,unused-ignore]
        VadOptions,
        get_speech_timestamps,
    )

    spans = get_speech_timestamps(audio, VadOptions(**_SPEECH_VAD))
    speech = sum(int(s["end"]) - int(s["start"]) for s in spans)
    return min(1.0, speech / len(audio))


def recognize_audio(
    audio: npt.NDArray[np.float32],
    recognizer: str,
    model_dir: str | None,
    cpu_threads: int,
    decoding: Decoding | None = None,
) -> tuple[list[dict[str, Any]], str]:
    """Recognise the speech in 16 kHz mono ``audio`` (runs in a worker process).

    Falls back from whisper to pocketsphinx, with a warning, when whisper cannot load.

    Returns:
        The words (``text``/``start``/``end``/``confidence``, ms ints from the start
        of ``audio``) and the recognizer that produced them.

    Raises:
        RecognizerUnavailable: No recognizer can be loaded.
    """
    decoding = decoding or Decoding()
    if recognizer == "whisper" and model_dir is not None:
        try:
            return _run_whisper(audio, model_dir, cpu_threads, decoding), "whisper"
        except RecognizerUnavailable as exc:
            _warn_fallback(exc)
    return _run_sphinx(audio), "pocketsphinx"


def recognize_file(
    path: str,
    recognizer: str,
    model_dir: str | None,
    cpu_threads: int,
    decoding: Decoding | None = None,
) -> dict[str, Any]:
    """Decode ``path`` and recognise its speech (see :func:`recognize_audio`).

    Returns:
        ``{"words", "audio_duration", "recognizer", "elapsed"}``.

    Raises:
        AudioDecodeError: The file holds no decodable audio.
        RecognizerUnavailable: No recognizer can be loaded.
    """
    began = time.perf_counter()
    audio = decode_audio(Path(path))
    words, used = recognize_audio(audio, recognizer, model_dir, cpu_threads, decoding)
    return {
        "words": words,
        "audio_duration": round(len(audio) / SAMPLE_RATE, 3),
        "recognizer": used,
        "elapsed": time.perf_counter() - began,
    }
