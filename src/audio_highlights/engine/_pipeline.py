"""One job's work inside a recognition worker process.

The parent (:class:`~._runner.Runner`) finds the audio file, then hands a
:class:`JobRequest` to a worker, which runs :func:`run_job` as a pipeline of
stages: decode, cut (``audio_start_from``/``audio_end_at``), check the amount of
speech (``speech_threshold``), choose the language (given, or detected), recognise,
align the words on the audio (:mod:`._align`), shape them (:mod:`._text`), label
speakers (:mod:`._diarize`), move them onto the file's timeline, and compute the
features that need them (key phrases).

The audio is decoded and recognised in chunks of about five minutes
(:func:`~._audio.iter_audio`), so a worker's memory stays flat however long the
recording: the speech check, language detection, recognition and alignment
work chunk by chunk. Only speaker labels compare voices across the whole clip,
so a job that asks for them keeps the clip's samples (at most
``max_audio_duration`` of them). Everything heavy happens here, in the
worker, so the server's event loop only moves bytes. The reply is the
transcript's result fields as plain, JSON-ready values.

Before its first job a worker runs :func:`warm_up` (the parent sends a
:class:`WarmUp` when the engine starts), so no job pays for loading models.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from attrs import frozen

from . import _audio
from ._align import align_words, load_aligner
from ._asr import Decoding, detect_language, load_recognizer, recognize_audio, speech_fraction
from ._audio import SAMPLE_RATE
from ._params import JobOptions, job_options
from ._text import shape_words

__all__ = ["JobFailed", "JobRequest", "WarmUp", "run_job", "warm_up"]

logger = logging.getLogger("audio_highlights.engine")


class JobFailed(RuntimeError):
    """The job ends in ``error`` with this message (too little speech, unsure language ...)."""


@frozen(kw_only=True)
class JobRequest:
    """What a worker needs to run one job (crosses the process boundary by pickle).

    Attributes:
        path: The audio file (an upload, or a finished download).
        params: The job's validated request fields.
        recognizer: ``"whisper"`` or ``"pocketsphinx"``.
        model_dir: The faster-whisper model directory (``None`` for pocketsphinx).
        cpu_threads: Threads the recogniser may use.
        accuracy: The engine's ``accuracy`` setting (``"fast"`` or ``"accurate"``).
        max_audio_duration: Longest audio accepted, in seconds (``None``: no limit).
        spacy_model: The spaCy pipeline for key phrases (``None``: the bundled one).
    """

    path: str
    params: Mapping[str, Any]
    recognizer: str
    model_dir: str | None
    cpu_threads: int
    accuracy: str = "fast"
    max_audio_duration: float | None = None
    spacy_model: str | None = None


@frozen(kw_only=True)
class WarmUp:
    """Load a worker's models before its first job.

    Attributes:
        recognizer: ``"whisper"`` or ``"pocketsphinx"``.
        model_dir: The faster-whisper model directory (``None`` for pocketsphinx).
        cpu_threads: Threads the recogniser may use.
        spacy_model: The spaCy pipeline for key phrases (``None``: the bundled one).
    """

    recognizer: str
    model_dir: str | None
    cpu_threads: int
    spacy_model: str | None = None


def warm_up(request: WarmUp) -> str:
    """Load the recogniser, the word aligner and the key-phrase pipeline into this worker process.

    (The speaker embedder loads on the first job with speaker labels: most jobs
    never need it.) A key-phrase pipeline that cannot load is logged, not
    raised: jobs still transcribe, and their key phrases come back ``unavailable``.

    Returns:
        The recognizer that will run (``"pocketsphinx"`` if whisper cannot load).
    """
    from ._language import LanguageModelUnavailable, load_pipeline

    try:
        load_pipeline(request.spacy_model)
    except LanguageModelUnavailable as exc:
        logger.error("key phrases will be unavailable: %s", exc)
    used = load_recognizer(request.recognizer, request.model_dir, request.cpu_threads)
    if used == "whisper":
        load_aligner()
    return used


Audio = npt.NDArray[np.float32]


class _Recording:
    """The job's file, decoded chunk by chunk each time :meth:`clip` is iterated."""

    def __init__(self, request: JobRequest, options: JobOptions) -> None:
        self._request = request
        self._start = options.start_ms * SAMPLE_RATE // 1000
        self._end = None if options.end_ms is None else options.end_ms * SAMPLE_RATE // 1000
        #: Samples in the whole file (known once :meth:`clip` has run to its end).
        self.samples = 0

    def clip(self) -> Iterator[Audio]:
        """The chunks of the clip (``audio_start_from``..``audio_end_at``), in order.

        Yields one empty chunk if the clip is empty. The file is decoded to its
        end, so that :attr:`samples` is the whole file's length.

        Raises:
            JobFailed: ``audio_start_from`` is past the end of the audio.
        """
        position = 0
        empty = True
        for chunk in _audio.iter_audio(
            Path(self._request.path),
            max_duration=self._request.max_audio_duration,
            chunk_seconds=_audio.CHUNK_SECONDS,
        ):
            low, high = position, position + len(chunk)
            position = high
            start = max(self._start, low)
            end = high if self._end is None else min(self._end, high)
            if start < end:
                empty = False
                yield chunk[start - low : end - low]
        self.samples = position
        if self._start and self._start >= position:
            length_ms = position * 1000 // SAMPLE_RATE
            raise JobFailed(
                f"audio_start_from {self._start * 1000 // SAMPLE_RATE} is past the end of "
                f"the audio ({length_ms} ms)"
            )
        if empty:
            yield np.zeros(0, dtype=np.float32)


def _check_speech(recording: _Recording, options: JobOptions) -> None:
    if options.speech_threshold is None or options.speech_threshold <= 0:
        return
    # A pass of its own (decoding is cheap beside recognition): a job below the
    # threshold fails before anything is recognised.
    speech = total = 0.0
    for chunk in recording.clip():
        speech += speech_fraction(chunk) * len(chunk)
        total += len(chunk)
    fraction = speech / total if total else 0.0
    if fraction < options.speech_threshold:
        # The hosted API's message, word for word.
        raise JobFailed(
            f"Audio speech threshold {fraction:.4f} is below the requested speech "
            f"threshold value {float(options.speech_threshold)}"
        )


def _choose_language(
    audio: Audio, request: JobRequest, options: JobOptions
) -> tuple[str, str, float | None]:
    """``(language_code to report, whisper's code, language_confidence)``."""
    if options.whisper_language is not None:
        assert options.language is not None
        if options.whisper_language != "en" and request.recognizer != "whisper":
            raise JobFailed("the pocketsphinx recognizer only transcribes English")
        return options.language, options.whisper_language, None
    if request.recognizer != "whisper" or request.model_dir is None:
        return "en", "en", None
    ranked = detect_language(audio, request.model_dir, request.cpu_threads)
    code, confidence = ranked[0]
    expected = options.expected_languages
    if expected and code not in expected:
        allowed = [(c, p) for c, p in ranked if c in expected]
        if options.fallback_language is not None:
            code = options.fallback_language
            confidence = dict(ranked).get(code, 0.0)
        elif allowed:
            code, confidence = allowed[0]
    threshold = options.confidence_threshold
    if confidence < threshold:
        # The hosted API's message, word for word.
        raise JobFailed(
            f"detected language '{code}', confidence {confidence:.4f}, is below the "
            f"requested confidence threshold value of '{threshold}'"
        )
    return code, code, round(confidence, 4)


# whisper-base writes filler words more often when its prompt has some.
_FILLER_PROMPT = "Umm, let me think, uh, hmm... Okay, so, um, here's what I mean."


def _decoding(options: JobOptions, language: str) -> Decoding:
    prompt = options.initial_prompt
    if options.disfluencies and language == "en":
        prompt = f"{prompt} {_FILLER_PROMPT}" if prompt else _FILLER_PROMPT
    return Decoding(
        language=language,
        beam_size=5 if options.accurate else 1,
        hotwords=options.hotwords,
        initial_prompt=prompt,
        temperature=options.temperature,
    )


def _to_file_time(words: list[dict[str, Any]], offset_ms: int) -> None:
    # Recognition saw the cut audio; report times on the file's own timeline,
    # the way the hosted API reports them with audio_start_from.
    if offset_ms:
        for word in words:
            word["start"] += offset_ms
            word["end"] += offset_ms


def _highlights(words: list[dict[str, Any]], spacy_model: str | None) -> dict[str, Any]:
    from .._models import Word

    try:
        from ._keyphrases import extract_highlights
        from ._language import LanguageModelUnavailable
    except ImportError:
        return {"status": "unavailable", "results": []}
    try:
        result = extract_highlights([Word.from_dict(w) for w in words], spacy_model=spacy_model)
        out: dict[str, Any] = result.to_dict()
    except LanguageModelUnavailable as exc:
        logger.error("key phrases unavailable: %s", exc)
        return {"status": "unavailable", "results": []}
    except Exception:
        logger.exception("key phrase extraction failed")
        return {"status": "unavailable", "results": []}
    return out


def _speaker_range(options: JobOptions, duration_s: float) -> tuple[int | None, int | None]:
    high = options.max_speakers
    if high is None:
        # The hosted API's documented default ceiling: none up to 2 minutes,
        # 10 up to 10 minutes, 30 beyond.
        high = None if duration_s <= 120 else 10 if duration_s <= 600 else 30
    return options.min_speakers, high


def _label_speakers(
    audio: Audio, words: list[dict[str, Any]], options: JobOptions, cpu_threads: int
) -> None:
    from ._diarize import diarize

    low, high = _speaker_range(options, len(audio) / SAMPLE_RATE)
    diarize(
        audio,
        words,
        speakers_expected=options.speakers_expected,
        min_speakers=low,
        max_speakers=high,
        cpu_threads=cpu_threads,
    )


def run_job(request: JobRequest) -> dict[str, Any]:
    """Recognise ``request.path`` and build the transcript's result fields.

    Stages: decode, cut, check the speech, choose the language, recognise, align
    the words on the audio (whisper's own times are refined by forced alignment),
    shape them, label speakers, move them onto the file's timeline, then key phrases.

    Returns:
        ``text``, ``words``, ``confidence``, ``audio_duration``, ``language_code``,
        ``language_confidence``, ``speech_model_used``, ``warnings`` and, when asked
        for, ``utterances`` and ``auto_highlights_result``.

    Raises:
        AudioDecodeError: The file holds no decodable audio (or is of a refused format).
        AudioTooLong: The audio is longer than ``request.max_audio_duration``.
        RecognizerUnavailable: No recognizer can be loaded.
        JobFailed: The request's conditions are not met (speech threshold,
            language confidence threshold).
    """
    options = job_options(request.params, accuracy=request.accuracy)
    recording = _Recording(request, options)
    _check_speech(recording, options)
    words: list[dict[str, Any]] = []
    kept: list[Audio] = []
    clip_samples = 0
    used = request.recognizer
    chosen: tuple[str, str, float | None] | None = None
    for chunk in recording.clip():
        if chosen is None:
            # Whisper detects the language from the first 30 s of speech.
            chosen = _choose_language(chunk, request, options)
            decoding = _decoding(options, chosen[1])
        # A whisper that cannot load falls back once, not once per chunk.
        chunk_words, used = recognize_audio(
            chunk, used, request.model_dir, request.cpu_threads, decoding
        )
        if used == "whisper":
            # pocketsphinx's dictionary and acoustic model are English
            align_words(chunk, chunk_words, forced=chosen[1] == "en")
        _to_file_time(chunk_words, round(clip_samples * 1000 / SAMPLE_RATE))
        words.extend(chunk_words)
        clip_samples += len(chunk)
        if options.speaker_labels:
            kept.append(chunk)
    assert chosen is not None  # clip() yields at least one chunk
    language_code, language, confidence = chosen
    words = shape_words(words, options, language)
    for word in words:
        word["speaker"] = None
    if options.speaker_labels:
        clip = kept[0] if len(kept) == 1 else np.concatenate(kept)
        _label_speakers(clip, words, options, request.cpu_threads)
    _to_file_time(words, options.start_ms)
    confidences = [w["confidence"] for w in words]
    warnings: list[str] = []
    result: dict[str, Any] = {
        "text": " ".join(w["text"] for w in words),
        "words": words,
        "confidence": round(sum(confidences) / len(confidences), 4) if words else None,
        "audio_duration": round(recording.samples / SAMPLE_RATE),
        "language_code": language_code,
        "language_confidence": confidence,
        "speech_model_used": "whisper-base" if used == "whisper" else "pocketsphinx",
        "warnings": warnings,
    }
    if options.speaker_labels:
        from ._diarize import utterances

        result["utterances"] = utterances(words)
    if options.auto_highlights:
        if language == "en":
            result["auto_highlights_result"] = _highlights(words, request.spacy_model)
        else:
            # Documented hosted behaviour for a detected language a feature does
            # not support: the transcript completes and the feature is omitted.
            result["auto_highlights_result"] = None
            warnings.append(
                f"auto_highlights was omitted: key phrases need English, the detected "
                f"language is '{language_code}'"
            )
    if options.filter_profanity and language != "en":
        warnings.append(
            f"filter_profanity was not applied: its word list is English, the detected "
            f"language is '{language_code}'"
        )
    return result
