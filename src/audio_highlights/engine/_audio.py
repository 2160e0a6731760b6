"""Decode any audio or video container to 16 kHz mono float32 with PyAV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = ["SAMPLE_RATE", "AudioDecodeError", "decode_audio"]

SAMPLE_RATE = 16_000


class AudioDecodeError(ValueError):
    """The file holds no decodable audio."""


def decode_audio(path: Path) -> npt.NDArray[np.float32]:
    """Read the first audio stream of ``path`` as 16 kHz mono float32 samples.

    Raises:
        AudioDecodeError: The file is empty, not a media file, or has no audio stream.
    """
    import av  # type: ignore[import-untyped,unused-ignore]

    if path.stat().st_size == 0:
        raise AudioDecodeError("the uploaded file is empty")
    try:
        container = av.open(str(path), mode="r")
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise AudioDecodeError(f"the file is not a decodable audio or video file ({exc})") from exc
    chunks: list[npt.NDArray[np.float32]] = []
    try:
        if not container.streams.audio:
            raise AudioDecodeError("the file has no audio stream")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1).astype(np.float32, copy=False))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1).astype(np.float32, copy=False))
        except (av.FFmpegError, ValueError) as exc:
            if not chunks:
                raise AudioDecodeError(f"the audio could not be decoded ({exc})") from exc
            # A truncated tail still leaves usable audio; keep what decoded.
    finally:
        container.close()
    if not chunks:
        raise AudioDecodeError("the file contains no audio samples")
    return np.concatenate(chunks)
