"""Decode audio and video containers to 16 kHz mono float32 with PyAV, in bounded chunks.

Only demuxers for real audio and video files are used: nothing that reads other
files or URLs named inside the input (``concat`` lists, HLS/DASH playlists,
image sequences, ``tee``...), and only the ``file`` protocol. A file's duration
is checked against the limit from its metadata before anything is decoded, and
again, by counting samples, while decoding (metadata can lie).

:func:`iter_audio` yields the samples in chunks of about :data:`CHUNK_SECONDS`,
cut at the quietest 20 ms near each boundary, so the recogniser's memory stays
flat however long the recording is.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "CHUNK_SECONDS",
    "SAMPLE_RATE",
    "AudioDecodeError",
    "AudioTooLong",
    "decode_audio",
    "iter_audio",
]

SAMPLE_RATE = 16_000
#: Audio handed to the recogniser at a time (5 minutes: 19 MB of float32).
CHUNK_SECONDS = 300.0
_CUT_SEARCH_SECONDS = 5.0  # how far back from a chunk's end to look for a quiet cut
_CUT_WINDOW = 320  # 20 ms

# Demuxers of real audio/video files (FFmpeg names; "mov,mp4,m4a,..." counts as one).
_DEMUXERS = ",".join(
    (
        "aac", "ac3", "aiff", "amr", "ape", "asf", "au", "avi", "caf", "dts", "eac3",
        "flac", "flv", "matroska", "webm", "mov", "mp4", "m4a", "3gp", "3g2", "mj2",
        "mp3", "mpeg", "mpegts", "ogg", "tta", "w64", "wav", "wv",
    )
)  # fmt: skip
_OPEN_OPTIONS = {"format_whitelist": _DEMUXERS, "protocol_whitelist": "file"}


class AudioDecodeError(ValueError):
    """The file holds no decodable audio."""


class AudioTooLong(AudioDecodeError):
    """The audio is longer than the engine accepts (``max_audio_duration``)."""


def _clock(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def _too_long(seconds: float, limit: float, where: str) -> AudioTooLong:
    return AudioTooLong(
        f"the audio is {where} {_clock(seconds)} long; this engine accepts at most "
        f"{_clock(limit)} (max_audio_duration)"
    )


def _declared_seconds(container: Any, stream: Any) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return float(container.duration) / 1_000_000
    return None


def _quiet_cut(samples: npt.NDArray[np.float32], low: int, high: int) -> int:
    """The middle of the quietest 20 ms window of ``samples[low:high]``."""
    span = samples[low:high]
    frames = len(span) // _CUT_WINDOW
    if frames == 0:
        return high
    energy = np.square(span[: frames * _CUT_WINDOW].reshape(frames, _CUT_WINDOW)).sum(axis=1)
    return low + int(np.argmin(energy)) * _CUT_WINDOW + _CUT_WINDOW // 2


def iter_audio(
    path: Path, *, max_duration: float | None = None, chunk_seconds: float = CHUNK_SECONDS
) -> Iterator[npt.NDArray[np.float32]]:
    """Yield the first audio stream of ``path`` as 16 kHz mono float32 chunks.

    Each chunk holds at most ``chunk_seconds`` of audio; together they are the
    whole stream, in order, with nothing dropped or repeated.

    Raises:
        AudioDecodeError: The file is empty, not an audio or video file of an
            allowed format, or has no audio stream.
        AudioTooLong: The audio is longer than ``max_duration`` seconds (from its
            metadata, or found while decoding).
    """
    import av  # type: ignore[import-untyped,unused-ignore]

    if path.stat().st_size == 0:
        raise AudioDecodeError("the uploaded file is empty")
    try:
        container = av.open(str(path), mode="r", options=_OPEN_OPTIONS)
    except (av.FFmpegError, OSError, ValueError) as exc:
        # The message names no server path (job errors are shown to API callers).
        detail = getattr(exc, "strerror", None) or type(exc).__name__
        raise AudioDecodeError(
            "the file is not a decodable audio or video file, or its format is not accepted "
            f"(playlists and concat lists are not) ({detail})"
        ) from exc
    try:
        if not container.streams.audio:
            raise AudioDecodeError("the file has no audio stream")
        stream = container.streams.audio[0]
        declared = _declared_seconds(container, stream)
        if max_duration is not None and declared is not None and declared > max_duration:
            raise _too_long(declared, max_duration, "declared as")
        yield from _chunks(av, container, stream, max_duration, chunk_seconds)
    finally:
        container.close()


def _chunks(
    av: Any, container: Any, stream: Any, max_duration: float | None, chunk_seconds: float
) -> Iterator[npt.NDArray[np.float32]]:
    target = max(_CUT_WINDOW * 4, int(chunk_seconds * SAMPLE_RATE))
    search = min(int(_CUT_SEARCH_SECONDS * SAMPLE_RATE), target // 4)
    limit = None if max_duration is None else int(max_duration * SAMPLE_RATE)
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    pending: list[npt.NDArray[np.float32]] = []
    held = total = 0
    decoded_any = False

    def frames() -> Iterator[npt.NDArray[np.float32]]:
        nonlocal decoded_any
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    decoded_any = True
                    yield out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
        except (av.FFmpegError, ValueError) as exc:
            if not decoded_any:
                detail = getattr(exc, "strerror", None) or type(exc).__name__
                raise AudioDecodeError(f"the audio could not be decoded ({detail})") from exc
            # A truncated tail still leaves usable audio; keep what decoded.
        for out in resampler.resample(None):
            yield out.to_ndarray().reshape(-1).astype(np.float32, copy=False)

    for samples in frames():
        if not len(samples):
            continue
        total += len(samples)
        if limit is not None and total > limit:
            raise _too_long(total / SAMPLE_RATE, limit / SAMPLE_RATE, "at least")
        pending.append(samples)
        held += len(samples)
        if held >= target:
            joined = np.concatenate(pending)
            cut = _quiet_cut(joined, target - search, target)
            yield joined[:cut]
            rest = joined[cut:].copy()
            pending, held = [rest], len(rest)
    if held:
        yield np.concatenate(pending)
    elif total == 0:
        raise AudioDecodeError("the file contains no audio samples")


def decode_audio(path: Path, *, max_duration: float | None = None) -> npt.NDArray[np.float32]:
    """Read the first audio stream of ``path`` whole (see :func:`iter_audio`).

    Raises:
        AudioDecodeError: As :func:`iter_audio`.
        AudioTooLong: As :func:`iter_audio`.
    """
    chunks = list(iter_audio(path, max_duration=max_duration, chunk_seconds=3600.0))
    return chunks[0] if len(chunks) == 1 else np.concatenate(chunks)
