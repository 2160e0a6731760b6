"""One job's work inside a recognition worker process.

The parent (:class:`~._runner.Runner`) finds the audio file, then hands a
:class:`JobRequest` to a worker, which runs :func:`run_job`: recognise the
speech, shape the words the way the request asked, and compute the features
that need them (key phrases). Everything heavy happens here, in the worker, so
the server's event loop only moves bytes. The reply is the transcript's result
fields as plain, JSON-ready values.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from attrs import frozen

from ._align import align_words
from ._asr import recognize_audio
from ._audio import SAMPLE_RATE, decode_audio

__all__ = ["JobRequest", "run_job"]

logger = logging.getLogger("audio_highlights.engine")

_PUNCT = re.compile(r"[^\w\s'-]+")


@frozen(kw_only=True)
class JobRequest:
    """What a worker needs to run one job (crosses the process boundary by pickle).

    Attributes:
        path: The audio file (an upload, or a finished download).
        params: The job's validated request fields.
        recognizer: ``"whisper"`` or ``"pocketsphinx"``.
        model_dir: The faster-whisper model directory (``None`` for pocketsphinx).
        cpu_threads: Threads the recogniser may use.
    """

    path: str
    params: Mapping[str, Any]
    recognizer: str
    model_dir: str | None
    cpu_threads: int


def _apply_format(words: list[dict[str, Any]], punctuate: bool, format_text: bool) -> None:
    for word in words:
        text = word["text"]
        if not punctuate:
            text = _PUNCT.sub("", text)
        if not format_text:
            text = text.lower()
        word["text"] = text


def _highlights(words: list[dict[str, Any]]) -> dict[str, Any]:
    from .._models import Word

    try:
        from ._keyphrases import extract_highlights
    except ImportError:
        return {"status": "unavailable", "results": []}
    try:
        result = extract_highlights([Word.from_dict(w) for w in words])
        out: dict[str, Any] = result.to_dict()
    except Exception:
        logger.exception("key phrase extraction failed")
        return {"status": "unavailable", "results": []}
    return out


def _speaker_range(params: Mapping[str, Any], duration_s: float) -> tuple[int | None, int | None]:
    options = params.get("speaker_options") or {}
    low = options.get("min_speakers_expected")
    high = options.get("max_speakers_expected")
    if high is None:
        # The hosted API's documented default ceiling: none up to 2 minutes,
        # 10 up to 10 minutes, 30 beyond.
        high = None if duration_s <= 120 else 10 if duration_s <= 600 else 30
    return low, high


def _label_speakers(
    audio: npt.NDArray[np.float32],
    words: list[dict[str, Any]],
    params: Mapping[str, Any],
    cpu_threads: int,
) -> list[dict[str, Any]]:
    from ._diarize import diarize, utterances

    low, high = _speaker_range(params, len(audio) / SAMPLE_RATE)
    diarize(
        audio,
        words,
        speakers_expected=params.get("speakers_expected"),
        min_speakers=low,
        max_speakers=high,
        cpu_threads=cpu_threads,
    )
    return utterances(words)


def run_job(request: JobRequest) -> dict[str, Any]:
    """Recognise ``request.path`` and build the transcript's result fields.

    Stages: decode, recognise, align the words on the audio (whisper's own
    times are refined by forced alignment), format, then, when asked for,
    speaker labels and key phrases.

    Returns:
        ``text``, ``words``, ``confidence``, ``audio_duration``, ``language_code``,
        ``speech_model_used`` and, when asked for, ``utterances`` and
        ``auto_highlights_result``.

    Raises:
        AudioDecodeError: The file holds no decodable audio.
        RecognizerUnavailable: No recognizer can be loaded.
    """
    params = request.params
    audio = decode_audio(Path(request.path))
    words, used = recognize_audio(audio, request.recognizer, request.model_dir, request.cpu_threads)
    if used == "whisper":
        align_words(audio, words)
    _apply_format(
        words, params.get("punctuate") is not False, params.get("format_text") is not False
    )
    for word in words:
        word["speaker"] = None
    result: dict[str, Any] = {}
    if params.get("speaker_labels"):
        result["utterances"] = _label_speakers(audio, words, params, request.cpu_threads)
    confidences = [w["confidence"] for w in words]
    result.update(
        {
            "text": " ".join(w["text"] for w in words),
            "words": words,
            "confidence": round(sum(confidences) / len(confidences), 4) if words else None,
            "audio_duration": round(len(audio) / SAMPLE_RATE),
            "language_code": "en_us",
            "speech_model_used": "whisper-base" if used == "whisper" else "pocketsphinx",
        }
    )
    if params.get("auto_highlights"):
        result["auto_highlights_result"] = _highlights(words)
    return result
