"""Parse benchmark: what turning a completed transcript's JSON into a ``Transcript`` costs.

The body is AssemblyAI's real wildfires response (861 words, from
``../shared/reference/examples/``), and a 9,000-word one (about an hour of
speech) built by repeating its words with shifted timings. Each row is the best
of ``--repeat`` rounds (the least disturbed by other work on the machine), in
microseconds per call; ``over loads`` is what the SDK adds to ``json.loads``.

Rows:

- ``json.loads``: decoding alone, the floor;
- ``Transcript.from_json``: what the SDK does with every response (decode, then
  adopt the object: the words stay JSON until first read);
- ``... + .highlights``: reading the key phrases, what most callers do;
- ``... + .words``: building every word as well;
- ``Transcript.from_dict(obj)``: parsing an object the caller keeps (it is
  deep-copied first, so that later changes to it do not show through).

Run from the repository root::

    .venv/bin/python benchmarks/parse.py
    .venv/bin/python benchmarks/parse.py --baseline main~3   # the same rows for an older SDK
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import timeit
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT.parent / "shared" / "reference" / "examples"


def wildfires(words: int | None = None) -> dict[str, Any]:
    """The wildfires transcript as the API returns it, optionally stretched to ``words`` words."""
    spec = json.loads((EXAMPLES / "wildfires_v2_reconstructed_words.json").read_text())
    api = json.loads((EXAMPLES / "wildfires_v2_apispec.json").read_text())
    base = [
        {
            "text": w["text"],
            "start": w["start"],
            "end": w["end"],
            "confidence": float(w.get("confidence") or 0.97),
            "speaker": w.get("speaker"),
        }
        for w in spec["words"]
    ]
    out = []
    span = base[-1]["end"] + 500
    while len(out) < (words or len(base)):
        shift = span * (len(out) // len(base))
        for w in base:
            out.append({**w, "start": w["start"] + shift, "end": w["end"] + shift})
            if len(out) == (words or len(base)):
                break
    return {
        "id": "5551722-f677-48a2-b2a2-37a4ff9b5bd7",
        "status": "completed",
        "audio_url": "https://assembly.ai/wildfires.mp3",
        "text": " ".join(w["text"] for w in out),
        "words": out,
        "utterances": None,
        "confidence": 0.93,
        "audio_duration": round(out[-1]["end"] / 1000),
        "language_code": "en_us",
        "auto_highlights": True,
        "auto_highlights_result": api["auto_highlights_result"],
        "entities": api["entities"],
        "speech_models": ["universal-3-pro", "universal-2"],
        "punctuate": True,
        "format_text": True,
        "webhook_url": None,
        "error": None,
    }


def measure(repeat: int) -> list[dict[str, Any]]:
    import audio_highlights as ah

    rows = []
    for n in (861, 9000):
        rows += measure_one(ah.Transcript, n, repeat)
    return rows


def measure_one(cls: Any, n: int, repeat: int) -> list[dict[str, Any]]:
    """The rows of one body size, for the SDK's ``Transcript`` class ``cls``."""
    body = json.dumps(wildfires(n)).encode()
    obj = json.loads(body)
    number = 10 if n < 5000 else 1

    from_json = getattr(cls, "from_json", None)
    if from_json is None:  # an SDK from before from_json: what its client did

        def from_json(b: bytes) -> Any:
            return cls._adopt(json.loads(b))

    cases = {
        "json.loads": lambda: json.loads(body),
        "Transcript.from_json": lambda: from_json(body),
        "Transcript.from_json + .highlights": lambda: from_json(body).highlights,
        "Transcript.from_json + .words": lambda: from_json(body).words,
        "Transcript.from_dict(obj)": lambda: cls.from_dict(obj),
        "Transcript.from_dict(obj) + .words": lambda: cls.from_dict(obj).words,
    }
    # Rounds interleave the cases, so a busy spell of the machine hits all of
    # them alike; each case keeps its best round.
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(repeat):
        for case, fn in cases.items():
            best[case] = min(best[case], timeit.timeit(fn, number=number) / number * 1e6)
    loads = best["json.loads"]
    return [
        {
            "words": n,
            "kb": len(body) / 1024,
            "case": case,
            "us": us,
            "over": us - loads,
            "per_word": (us - loads) / n,
        }
        for case, us in best.items()
    ]


def baseline(ref: str, repeat: int) -> list[dict[str, Any]]:
    """The same rows, measured with the SDK of git ``ref`` (a temporary worktree)."""
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "sdk"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), ref],
            check=True,
            capture_output=True,
        )
        try:
            code = (
                f"import sys, json; sys.path.insert(0, {str(tree / 'src')!r}); "
                f"sys.path.insert(1, {str(ROOT / 'benchmarks')!r}); import parse; "
                f"print(json.dumps(parse.measure({repeat})))"
            )
            out = subprocess.run(
                [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=tmp
            )
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                check=True,
                capture_output=True,
            )
    rows: list[dict[str, Any]] = json.loads(out.stdout.strip().splitlines()[-1])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--baseline", metavar="REF", help="also measure the SDK at this git ref")
    args = parser.parse_args()
    runs = [("this tree", measure(args.repeat))]
    if args.baseline:
        runs.append((args.baseline, baseline(args.baseline, args.repeat)))
    print(
        "| SDK | words | body KB | case | µs per call | over json.loads | µs per word over loads |"
    )
    print("|---|---:|---:|---|---:|---:|---:|")
    for label, rows in runs:
        for r in rows:
            per_word = "" if r["case"] == "json.loads" else f"{r['per_word']:.2f}"
            over = "" if r["case"] == "json.loads" else f"{r['over']:,.0f}"
            print(
                f"| {label} | {r['words']:,} | {r['kb']:.0f} | {r['case']} | {r['us']:,.0f} "
                f"| {over} | {per_word} |"
            )


if __name__ == "__main__":
    main()
