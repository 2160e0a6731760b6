"""Peak memory of decoding long audio: whole-file (before issue 14) versus chunked.

Usage: ``python benchmarks/engine_memory.py [--minutes 15 60 120]``

For each duration a WAV of quiet noise is written to a temporary directory, then
decoded in a fresh child process, once the way the engine did before issue 14
(every frame kept, then one concatenation: the whole file as float32, twice)
and once through ``iter_audio`` (chunks of ``CHUNK_SECONDS`` handed on and
dropped, as the recogniser now gets them). The child reports its peak RSS
(``ru_maxrss``). Prints a markdown table; the ratio column is chunked / whole.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

CHILD = r"""
import json, resource, sys
from pathlib import Path
import numpy as np
mode, path = sys.argv[1], Path(sys.argv[2])
if mode == "whole":
    import av
    container = av.open(str(path))
    resampler = av.AudioResampler(format="flt", layout="mono", rate=16000)
    chunks = []
    for frame in container.decode(container.streams.audio[0]):
        for out in resampler.resample(frame):
            chunks.append(out.to_ndarray().reshape(-1).astype(np.float32, copy=False))
    audio = np.concatenate(chunks)
    samples = len(audio)
else:
    from audio_highlights.engine._audio import iter_audio
    samples = 0
    for chunk in iter_audio(path):
        samples += len(chunk)
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"samples": samples, "peak_mib": peak_kib / 1024}))
"""


def write_wav(path: Path, minutes: float) -> None:
    block = bytes(range(0, 16)) * 2000  # 32,000 bytes: one second of faint noise
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        for _ in range(int(minutes * 60)):
            w.writeframesraw(block)


def peak(mode: str, path: Path) -> float:
    out = subprocess.run([sys.executable, "-c", CHILD, mode, str(path)],
                         capture_output=True, text=True, check=True)
    return float(json.loads(out.stdout)["peak_mib"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[15, 60, 120])
    args = parser.parse_args()
    print("| audio | whole-file peak RSS | chunked peak RSS | chunked / whole |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in args.minutes:
            path = Path(tmp) / f"{minutes:g}min.wav"
            write_wav(path, minutes)
            whole, chunked = peak("whole", path), peak("chunked", path)
            print(f"| {minutes:g} min | {whole:,.0f} MiB | {chunked:,.0f} MiB "
                  f"| {chunked / whole:.2f} |", flush=True)
            path.unlink()


if __name__ == "__main__":
    main()
