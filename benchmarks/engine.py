"""Benchmark the engine: WER, word-start error, DER, RTF and peak RSS, old beside new.

Usage: ``python benchmarks/engine.py [--recognizer whisper|pocketsphinx|both]
[--accuracy fast|accurate|both] [--threads N] [--verbose]``

Files: the shipped samples (``examples/audio``: one espeak-ng voice, each
sentence's onset known) and the synthetic conversations
(``examples/audio/conversations``: two and three espeak-ng/Festival voices, every
word's start, end and speaker known from the synthesiser itself).

Each (recognizer, accuracy) runs in a fresh child process, so its peak RSS is
its own; the first file is recognised once untimed, so the model load is
reported apart. Per file, in that one process and run:

- **today**: decode + recognition, word starts as the engine reported them
  before forced alignment (whisper's, shifted +120 ms);
- **new**: the same recognition, then forced alignment (the default job), and
  speaker labels on top (only when asked for, so timed apart).

Peak RSS "today" comes from a second child that only decodes and recognises
the same files; "new" is the first child's, with the aligner and the speaker
embedder loaded (the embedder only loads for jobs with speaker labels).

WER has numbers spelled out on both sides ("200" = "two hundred"). DER is
frame-based (10 ms) over the reference speech, with the best one-to-one
speaker mapping, missed speech, false alarm and confusion all counted; the
headline uses the usual 250 ms collar around reference boundaries, "no collar"
counts every frame. ``accurate`` is whisper's beam search (``beam_size=5``,
the engine's ``accuracy="accurate"``) instead of greedy decoding. The machine
is shared and noisy: compare the ratios within one run.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
AUDIO = ROOT / "examples" / "audio"
CONVERSATIONS = AUDIO / "conversations"
OLD_START_SHIFT_MS = 120  # what the engine added to every whisper start before alignment
COLLAR_MS = 250


def tokens(text: str) -> list[str]:
    from audio_highlights.engine._text import spoken_tokens

    return spoken_tokens(text)


def word_errors(ref: list[str], hyp: list[str]) -> int:
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def matched(ref: list[dict[str, Any]], hyp: list[dict[str, Any]]) -> list[tuple[dict, dict]]:
    """Reference and hypothesis words paired in order where their spoken text agrees."""
    a = [" ".join(tokens(w["text"])) for w in ref]
    b = [" ".join(tokens(w["text"])) for w in hyp]
    pairs = []
    for block in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_matching_blocks():
        pairs += [(ref[block.a + k], hyp[block.b + k]) for k in range(block.size)]
    return pairs


def onset_errors(ref: dict[str, Any], hyp: list[dict[str, Any]]) -> list[int]:
    """Shipped samples: only each sentence's first-word onset is known."""
    errors = []
    for sentence, onset in zip(ref["sentences"], ref["sentence_onsets_ms"], strict=True):
        first = tokens(sentence)[0]
        near = [
            w for w in hyp if tokens(w["text"])[:1] == [first] and abs(w["start"] - onset) < 1000
        ]
        if near:  # a sentence whose first word was not heard near its onset is skipped
            errors.append(min(abs(w["start"] - onset) for w in near))
    return errors


def _frames(words: list[dict[str, Any]], n: int) -> list[int]:
    # Same-speaker words less than 250 ms apart form one segment, as in an RTTM.
    out = [-1] * n
    ordered = sorted(words, key=lambda w: w["start"])
    for i, w in enumerate(ordered):
        end = w["end"]
        nxt = ordered[i + 1] if i + 1 < len(ordered) else None
        if nxt is not None and nxt["speaker"] == w["speaker"] and nxt["start"] - end < 250:
            end = nxt["start"]
        for f in range(w["start"] // 10, min(n, end // 10)):
            out[f] = ord(w["speaker"]) - ord("A")
    return out


def der(ref: list[dict[str, Any]], hyp: list[dict[str, Any]], collar_ms: int) -> dict[str, float]:
    n = max(w["end"] for w in ref + hyp) // 10 + 2
    r, h = _frames(ref, n), _frames(hyp, n)
    scored = [True] * n
    if collar_ms:
        c = collar_ms // 10
        for f in range(1, n):
            if r[f] != r[f - 1]:
                for g in range(max(0, f - c), min(n, f + c)):
                    scored[g] = False
    k_ref = max(r) + 1
    k_hyp = max(h) + 1
    size = max(k_ref, k_hyp, 1)
    speech = sum(1 for f in range(n) if scored[f] and r[f] >= 0)
    best = None
    for perm in itertools.permutations(range(size)):
        miss = fa = conf = 0
        for f in range(n):
            if not scored[f]:
                continue
            rf, hf = r[f], (perm[h[f]] if h[f] >= 0 else -1)
            if rf >= 0 and hf < 0:
                miss += 1
            elif rf < 0 and hf >= 0:
                fa += 1
            elif rf >= 0 and rf != hf:
                conf += 1
        if best is None or miss + fa + conf < sum(best):
            best = (miss, fa, conf)
    assert best is not None
    miss, fa, conf = best
    return {"der": (miss + fa + conf) / speech, "confusion": conf / speech}


def child_today(recognizer: str, accuracy: str, threads: int) -> None:
    """Only what the engine did before (decode + recognise), for its own peak RSS."""
    from audio_highlights.engine._asr import Decoding, recognize_audio
    from audio_highlights.engine._audio import decode_audio
    from audio_highlights.engine._model_files import whisper_base_dir
    from audio_highlights.engine._settings import EngineSettings

    model_dir = None
    if recognizer == "whisper":
        model_dir = str(whisper_base_dir(EngineSettings().models_dir))
    decoding = Decoding(beam_size=5 if accuracy == "accurate" else 1)
    paths = [AUDIO / n for n in json.loads((AUDIO / "references.json").read_text())]
    paths += [
        CONVERSATIONS / n for n in json.loads((CONVERSATIONS / "conversations.json").read_text())
    ]
    for path in paths:
        recognize_audio(decode_audio(path), recognizer, model_dir, threads, decoding)
    print(json.dumps({"rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def child(recognizer: str, accuracy: str, threads: int) -> None:
    from audio_highlights.engine._align import align_words
    from audio_highlights.engine._asr import Decoding, recognize_audio
    from audio_highlights.engine._audio import SAMPLE_RATE, decode_audio
    from audio_highlights.engine._diarize import diarize
    from audio_highlights.engine._model_files import whisper_base_dir
    from audio_highlights.engine._settings import EngineSettings

    shipped = json.loads((AUDIO / "references.json").read_text())
    convs = json.loads((CONVERSATIONS / "conversations.json").read_text())
    files = [(AUDIO / n, "shipped", r) for n, r in shipped.items()]
    files += [(CONVERSATIONS / n, "conversation", r) for n, r in convs.items()]
    began = time.perf_counter()
    model_dir = None
    if recognizer == "whisper":
        model_dir = str(whisper_base_dir(EngineSettings().models_dir))
    decoding = Decoding(beam_size=5 if accuracy == "accurate" else 1)
    warm = decode_audio(files[0][0])
    words, used = recognize_audio(warm, recognizer, model_dir, threads, decoding)
    if used == "whisper":
        align_words(warm, words)
    diarize(warm, words, cpu_threads=threads)
    load = time.perf_counter() - began
    rows = []
    for path, kind, ref in files:
        t0 = time.perf_counter()
        audio = decode_audio(path)
        t1 = time.perf_counter()
        words, used = recognize_audio(audio, recognizer, model_dir, threads, decoding)
        t2 = time.perf_counter()
        today = copy.deepcopy(words)
        if used == "whisper":
            for w in today:  # the old constant correction, as the engine applied it
                shifted = min(w["start"] + OLD_START_SHIFT_MS, max(w["start"], w["end"] - 20))
                w["start"] = shifted
            align_words(audio, words)
        t3 = time.perf_counter()
        row: dict[str, Any] = {
            "file": path.name,
            "kind": kind,
            "duration": len(audio) / SAMPLE_RATE,
            "decode": t1 - t0,
            "recognise": t2 - t1,
            "align": t3 - t2,
            "hyp": " ".join(w["text"] for w in words),
        }
        ref_tokens = tokens(ref["text"])
        row["errors"] = word_errors(ref_tokens, tokens(row["hyp"]))
        row["ref_words"] = len(ref_tokens)
        if kind == "shipped":
            row["start_today"] = onset_errors(ref, today)
            row["start_new"] = onset_errors(ref, words)
        else:
            truth = ref["words"]
            row["start_today"] = [abs(r["start"] - h["start"]) for r, h in matched(truth, today)]
            pairs = matched(truth, words)
            row["start_new"] = [abs(r["start"] - h["start"]) for r, h in pairs]
            row["end_new"] = [abs(r["end"] - h["end"]) for r, h in pairs]
            t4 = time.perf_counter()
            row["speakers_found"] = diarize(audio, words, cpu_threads=threads)
            row["diarize"] = time.perf_counter() - t4
            row["speakers"] = ref["speakers"]
            row["der"] = der(truth, words, COLLAR_MS)
            row["der_no_collar"] = der(truth, words, 0)
            expected = copy.deepcopy(words)
            diarize(audio, expected, speakers_expected=ref["speakers"], cpu_threads=threads)
            row["der_expected"] = der(truth, expected, COLLAR_MS)
        rows.append(row)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"load": load, "rows": rows, "rss_mb": rss_mb}))


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _ms(values: list[int]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.0f} / {_pct(values, 0.9):.0f}"


def _mean(rows: list[dict[str, Any]], key: str, sub: str) -> str:
    values = [r[key][sub] for r in rows]
    return f"{100 * statistics.mean(values):.1f} %" if values else "-"


def report(setting: str, result: dict[str, Any], verbose: bool) -> list[str]:
    rows = result["rows"]
    print(
        f"\n### {setting} (model load + warm-up {result['load']:.1f} s, "
        f"peak RSS {result['rss_mb']:.0f} MB)\n"
    )
    print(
        "| file | audio s | WER | start err today (med / p90 ms) | start err new | "
        "end err new | speakers (true / found) | DER | DER no collar | DER, count given | "
        "RTF today | RTF new | + speaker labels |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        today = (r["decode"] + r["recognise"]) / r["duration"]
        new = today + r["align"] / r["duration"]
        labels = new + r.get("diarize", 0.0) / r["duration"]
        cells = [
            r["file"],
            f"{r['duration']:.1f}",
            f"{100 * r['errors'] / r['ref_words']:.1f} %",
            _ms(r["start_today"]),
            _ms(r["start_new"]),
            _ms(r.get("end_new", [])),
        ]
        if r["kind"] == "conversation":
            cells += [
                f"{r['speakers']} / {r['speakers_found']}",
                f"{100 * r['der']['der']:.1f} %",
                f"{100 * r['der_no_collar']['der']:.1f} %",
                f"{100 * r['der_expected']['der']:.1f} %",
            ]
        else:
            cells += ["", "", "", ""]
        cells += [f"{today:.3f}", f"{new:.3f}", f"{labels:.3f}" if "diarize" in r else ""]
        print("| " + " | ".join(cells) + " |")
        if verbose:
            print(f"| | {r['hyp']} |" + " |" * 11)
    duration = sum(r["duration"] for r in rows)
    t_today = sum(r["decode"] + r["recognise"] for r in rows)
    t_new = t_today + sum(r["align"] for r in rows)
    conv = [r for r in rows if r["kind"] == "conversation"]
    t_conv = sum(r["decode"] + r["recognise"] + r["align"] for r in conv)
    d_conv = sum(r["duration"] for r in conv)
    labels = (t_conv + sum(r["diarize"] for r in conv)) / d_conv if conv else float("nan")
    two = [r for r in conv if r["speakers"] == 2]
    three = [r for r in conv if r["speakers"] == 3]
    errors = sum(r["errors"] for r in rows)
    ref_words = sum(r["ref_words"] for r in rows)
    conv_today = [e for r in conv for e in r["start_today"]]
    conv_new = [e for r in conv for e in r["start_new"]]
    onset_today = [e for r in rows if r["kind"] == "shipped" for e in r["start_today"]]
    onset_new = [e for r in rows if r["kind"] == "shipped" for e in r["start_new"]]
    return [
        f"| {setting} | {100 * errors / ref_words:.1f} % | {_ms(conv_today)} | {_ms(conv_new)} | "
        f"{_ms([e for r in conv for e in r['end_new']])} | {_ms(onset_today)} | {_ms(onset_new)} | "
        f"{_mean(two, 'der', 'der')} ({_mean(two, 'der', 'confusion')}) | "
        f"{_mean(three, 'der', 'der')} ({_mean(three, 'der', 'confusion')}) | "
        f"{_mean(two + three, 'der_expected', 'der')} | "
        f"{t_today / duration:.3f} | {t_new / duration:.3f} | **{t_new / t_today:.2f}x** | "
        f"{labels:.3f} | {result['rss_today_mb']:.0f} / {result['rss_mb']:.0f} |"
    ]


def run_child(stage: str, recognizer: str, accuracy: str, threads: int) -> dict[str, Any]:
    with tempfile.TemporaryFile() as out:
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                stage,
                "--recognizer",
                recognizer,
                "--accuracy",
                accuracy,
                "--threads",
                str(threads),
            ],
            stdout=out,
            check=True,
        )
        out.seek(0)
        result: dict[str, Any] = json.loads(out.read().decode().strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--recognizer", default="whisper", choices=("whisper", "pocketsphinx", "both")
    )
    parser.add_argument("--accuracy", default="both", choices=("fast", "accurate", "both"))
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--child", choices=("new", "today"), help=argparse.SUPPRESS)
    parser.add_argument("--verbose", action="store_true", help="print the hypotheses too")
    args = parser.parse_args()
    if args.child:
        run = child if args.child == "new" else child_today
        run(args.recognizer, args.accuracy, args.threads)
        return 0
    settings = []
    if args.recognizer in ("whisper", "both"):
        accuracies = ["fast", "accurate"] if args.accuracy == "both" else [args.accuracy]
        settings += [("whisper", a) for a in accuracies]
    if args.recognizer in ("pocketsphinx", "both"):
        settings.append(("pocketsphinx", "fast"))
    print(f"threads={args.threads}, cpus={os.cpu_count()}")
    summary = []
    for recognizer, accuracy in settings:
        name = f"whisper {accuracy}" if recognizer == "whisper" else "pocketsphinx"
        result = run_child("new", recognizer, accuracy, args.threads)
        result["rss_today_mb"] = run_child("today", recognizer, accuracy, args.threads)["rss_mb"]
        summary += report(name, result, args.verbose)
    print("\n### Summary (all files; start errors in ms, median / p90)\n")
    print(
        "| setting | WER | start err today (conversations) | start err new | end err new | "
        "onset err today (shipped) | onset err new | DER 2 voices (confusion) | "
        "DER 3 voices (confusion) | DER, count given | RTF today | RTF new (default job) | "
        "new / today | RTF + speaker labels (conversations) | peak RSS MB today / new |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print("\n".join(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
