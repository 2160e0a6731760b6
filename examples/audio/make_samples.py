"""Regenerate the sample recordings in this folder (needs espeak-ng and PyAV).

Each sentence is synthesised separately and joined with 400 ms of silence, so
the onset of every sentence's first word is known exactly; ``references.json``
records the texts and those onsets (used to measure word-timing bias).

``CLIPS`` are short clips for the engine's request-field tests (filler words and
profanity, a Spanish recording); they are not benchmark material, so they are
not in ``references.json``.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import wave
from pathlib import Path

import av
import numpy as np

HERE = Path(__file__).parent
RATE = 22050
GAP = 0.4

SAMPLES = {
    "wildfires.mp3": [
        "Smoke from hundreds of Canadian wildfires is triggering air quality alerts "
        "across the northern United States.",
        "Health officials warn that fine particulate matter can reach deep into the lungs.",
        "People with asthma and heart disease should stay indoors and run air purifiers.",
        "Wildfire smoke could affect air quality for several more days.",
    ],
    "heatwave.m4a": [
        "The heat wave in southern Europe pushed electricity demand to record levels.",
        "City councils opened cooling centers for older residents and outdoor workers.",
        "Climate scientists expect longer heat waves and drier summers in the coming decades.",
    ],
    "river_cleanup.mp3": [
        "Volunteers removed plastic waste from the river banks on Saturday morning.",
        "The river cleanup collected two hundred kilograms of plastic bottles and fishing nets.",
    ],
}


# name: (espeak-ng voice, words per minute, text)
CLIPS = {
    "printer.mp3": (
        "en-us", 160, "Um, the printer broke again. Uh, this damn thing is a piece of shit."
    ),
    "economia_es.mp3": (
        "es", 140,
        "Buenos días a todos. Hoy vamos a hablar de la economía de España "
        "y del precio de la vivienda.",
    ),
}


def synth(text: str, out: Path, voice: str = "en-us", rate: int = 160) -> np.ndarray:
    subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(rate), "-w", str(out), text], check=True
    )
    with wave.open(str(out)) as w:
        assert w.getframerate() == RATE
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return data.astype(np.float32) / 32768


def onset(audio: np.ndarray) -> int:
    loud = np.flatnonzero(np.abs(audio) > 0.02)
    return int(loud[0]) if loud.size else 0


def encode(audio: np.ndarray, path: Path, rate: int = RATE, bit_rate: int = 48000) -> None:
    codec = "libmp3lame" if path.suffix == ".mp3" else "aac"
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=rate, layout="mono")
        stream.bit_rate = bit_rate
        pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = rate
        # The encoders want their own sample format and frame size.
        resampler = av.AudioResampler(
            format=stream.codec_context.format, layout="mono", rate=rate,
            frame_size=stream.codec_context.frame_size or None,
        )
        for chunk in [*resampler.resample(frame), *resampler.resample(None)]:
            for packet in stream.encode(chunk):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def main() -> None:
    refs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, sentences in SAMPLES.items():
            parts, onsets, pos = [], [], 0
            for i, sentence in enumerate(sentences):
                audio = synth(sentence, Path(tmp) / f"{i}.wav")
                onsets.append(round((pos + onset(audio)) * 1000 / RATE))
                parts.append(audio)
                gap = np.zeros(int(GAP * RATE), np.float32)
                parts.append(gap)
                pos += len(audio) + len(gap)
            joined = np.concatenate(parts)
            encode(joined, HERE / name)
            refs[name] = {
                "text": " ".join(sentences),
                "sentences": sentences,
                "sentence_onsets_ms": onsets,
                "duration_s": round(len(joined) / RATE, 2),
                "voice": "espeak-ng en-us, 160 wpm",
            }
        for name, (voice, rate, text) in CLIPS.items():
            encode(synth(text, Path(tmp) / "clip.wav", voice, rate), HERE / name)
    (HERE / "references.json").write_text(json.dumps(refs, indent=2) + "\n")


if __name__ == "__main__":
    main()
