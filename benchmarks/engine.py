"""Benchmark the engine's recognizers on examples/audio: real-time factor, peak RSS, WER.

Usage: ``python benchmarks/engine.py [--recognizer whisper|pocketsphinx|both] [--threads N]``

Each recognizer runs in a fresh child process so its peak RSS is its own. The
first file is transcribed twice and only the second run is timed, so the model
load is reported separately from the per-file RTF. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AUDIO = ROOT / "examples" / "audio"


def normalise(text: str) -> list[str]:
    text = text.lower().replace("-", " ")
    return re.sub(r"[^\w\s']", " ", text).split()


def word_errors(ref: list[str], hyp: list[str]) -> int:
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def child(recognizer: str, threads: int) -> None:
    from audio_highlights.engine._asr import recognize_file
    from audio_highlights.engine._model_files import whisper_base_dir
    from audio_highlights.engine._settings import EngineSettings

    refs = json.loads((AUDIO / "references.json").read_text())
    model_dir = None
    began = time.perf_counter()
    if recognizer == "whisper":
        model_dir = str(whisper_base_dir(EngineSettings().models_dir))
    first = next(iter(refs))
    recognize_file(str(AUDIO / first), recognizer, model_dir, threads)  # warm-up + model load
    load = time.perf_counter() - began
    rows = []
    for name, ref in refs.items():
        out = recognize_file(str(AUDIO / name), recognizer, model_dir, threads)
        hyp = " ".join(w["text"] for w in out["words"])
        ref_words = normalise(ref["text"])
        rows.append({
            "file": name,
            "duration": out["audio_duration"],
            "elapsed": out["elapsed"],
            "errors": word_errors(ref_words, normalise(hyp)),
            "ref_words": len(ref_words),
            "hyp": hyp,
        })
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"load": load, "rows": rows, "rss_mb": rss_mb}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recognizer", default="both",
                        choices=("whisper", "pocketsphinx", "both"))
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--verbose", action="store_true", help="print the hypotheses too")
    args = parser.parse_args()
    if args.child:
        child(args.recognizer, args.threads)
        return 0
    recognizers = ["whisper", "pocketsphinx"] if args.recognizer == "both" else [args.recognizer]
    print(f"threads={args.threads}, cpus={os.cpu_count()}\n")
    print("| recognizer | file | audio s | elapsed s | RTF | WER | peak RSS MB |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for recognizer in recognizers:
        with tempfile.TemporaryFile() as out:
            subprocess.run(
                [sys.executable, __file__, "--child", "--recognizer", recognizer,
                 "--threads", str(args.threads)], stdout=out, check=True,
            )
            out.seek(0)
            result = json.loads(out.read().decode().strip().splitlines()[-1])
        total_d = total_e = total_err = total_ref = 0.0
        for row in result["rows"]:
            total_d += row["duration"]
            total_e += row["elapsed"]
            total_err += row["errors"]
            total_ref += row["ref_words"]
            print(f"| {recognizer} | {row['file']} | {row['duration']:.1f} | "
                  f"{row['elapsed']:.2f} | {row['elapsed'] / row['duration']:.3f} | "
                  f"{100 * row['errors'] / row['ref_words']:.1f} % | |")
            if args.verbose:
                print(f"|  | {row['hyp']} | | | | | |")
        print(f"| **{recognizer}** | all (load {result['load']:.1f} s) | {total_d:.1f} | "
              f"{total_e:.2f} | {total_e / total_d:.3f} | {100 * total_err / total_ref:.1f} % | "
              f"{result['rss_mb']:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
