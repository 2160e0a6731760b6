"""Every container the engine promises to read decodes to 16 kHz mono of the right length."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

av = pytest.importorskip("av")
np = pytest.importorskip("numpy")

from audio_highlights.engine._audio import SAMPLE_RATE, decode_audio  # noqa: E402

SECONDS = 1.5
RATE = 44_100
# container -> (file suffix, audio codec); mp4/webm are the video containers people upload.
FORMATS = {
    "wav": ("wav", "pcm_s16le"),
    "mp3": ("mp3", "mp3"),
    "m4a": ("m4a", "aac"),
    "mp4": ("mp4", "aac"),
    "ogg": ("ogg", "libopus"),
    "flac": ("flac", "flac"),
    "webm": ("webm", "libopus"),
}


def encode(path: Path, codec: str) -> None:
    """Write SECONDS of a stereo 440 Hz tone with PyAV."""
    t = np.arange(int(RATE * SECONDS)) / RATE
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    stereo = np.stack([tone, tone])
    with av.open(str(path), mode="w") as container:
        rate = 48_000 if codec == "libopus" else RATE
        stream = container.add_stream(codec, rate=rate)
        stream.layout = "stereo"
        resampler = av.AudioResampler(format=stream.format, layout="stereo", rate=rate)
        frame_size = 1024
        for start in range(0, stereo.shape[1], frame_size):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(stereo[:, start : start + frame_size]),
                format="fltp",
                layout="stereo",
            )
            frame.sample_rate = RATE
            frame.pts = start
            frame.time_base = Fraction(1, RATE)
            for out in resampler.resample(frame):
                for packet in stream.encode(out):
                    container.mux(packet)
        for out in resampler.resample(None):
            for packet in stream.encode(out):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_container_decodes(tmp_path: Path, name: str) -> None:
    suffix, codec = FORMATS[name]
    path = tmp_path / f"tone.{suffix}"
    try:
        encode(path, codec)
    except (av.FFmpegError, ValueError) as exc:  # pragma: no cover - depends on the wheel's codecs
        pytest.skip(f"this PyAV build cannot encode {codec}: {exc}")
    samples = decode_audio(path)
    assert samples.dtype == np.float32 and samples.ndim == 1
    # Encoders pad a little (priming samples, last frame); the length stays close.
    assert abs(len(samples) / SAMPLE_RATE - SECONDS) < 0.15
    assert 0.1 < float(np.abs(samples).max()) <= 1.0
