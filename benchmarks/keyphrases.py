"""Key-phrase fidelity, quality and cost: our extractor beside the previous one, YAKE and RAKE.

Three tables, each with every method measured in the same run:

1. **Fidelity** to AssemblyAI: for each real Key Phrases output in
   ``../shared/reference/examples``, exact F1@15 against the service's list,
   mean |rank error| on the phrases both return, and how many of those have
   the service's count (and timestamps). A pooled row sums them.
2. **Cost**: spaCy's load time in a fresh process, words/second, and key
   phrases' time as a share of whisper-base recognition of the same audio
   (``examples/audio``).
3. **Benchmark sets**: F1@5 and F1@10 against all gold keys of each set in
   ``../shared/data/keyphrases`` (lowercase, Porter-stemmed exact match), with
   throughput in words/second.

The previous extractor (part-of-speech lexicon + SingleRank + calibrated
shares) is loaded from git history: the parent of the commit that removed its
lexicon, or ``--previous REV``.

Usage::

    pip install -e ".[engine]" yake nltk
    python benchmarks/keyphrases.py [--sets Inspec,SemEval2017] [--limit N]
        [--no-baselines] [--no-previous] [--no-cost] [--previous REV]

YAKE's English stopword list is used for RAKE, as in the reference notes.
``nltk`` supplies only the Porter stemmer (no NLTK data is downloaded).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.resources
import json
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from nltk.stem.porter import PorterStemmer

from audio_highlights import Highlight, Word
from audio_highlights.engine._keyphrases import extract_highlights

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT.parent / "shared" / "data" / "keyphrases"
EXAMPLES = REPO_ROOT.parent / "shared" / "reference" / "examples"
AUDIO = REPO_ROOT / "examples" / "audio"
EXAMPLE_FILES = (
    "wildfires_v2_reconstructed_words.json",
    "support_call_keyphrases.json",
    "tiny_keyphrases.json",
)
ENGINE = "src/audio_highlights/engine"
Extractor = Callable[[list[Word]], list[Highlight]]

_stemmer = PorterStemmer()
_stem_cache: dict[str, str] = {}
_TOKEN = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")


def normalise(phrase: str) -> str:
    out = []
    for tok in _TOKEN.findall(phrase.lower()):
        stem = _stem_cache.get(tok)
        if stem is None:
            stem = _stemmer.stem(tok)
            _stem_cache[tok] = stem
        out.append(stem)
    return " ".join(out)


def load(name: str, limit: int | None) -> list[dict[str, object]]:
    path = DATA_DIR / name / "data.jsonl"
    with path.open(encoding="utf-8") as fh:
        docs = [json.loads(line) for line in fh if line.strip()]
    return docs[:limit] if limit else docs


def as_words(text: str) -> list[Word]:
    # Fake timings: 300 ms a word.
    return [Word(text=t, start=i * 300, end=i * 300 + 250) for i, t in enumerate(text.split())]


def f1_at(predicted: list[str], gold: set[str], k: int) -> float:
    seen: list[str] = []
    for p in predicted:
        n = normalise(p)
        if n and n not in seen:
            seen.append(n)
        if len(seen) == k:
            break
    if not seen or not gold:
        return 0.0
    hits = sum(1 for p in seen if p in gold)
    if hits == 0:
        return 0.0
    precision = hits / len(seen)
    recall = hits / len(gold)
    return 2 * precision * recall / (precision + recall)


# ---- RAKE, written here with YAKE's English stopword list -------------------


def yake_stopwords() -> set[str]:
    res = importlib.resources.files("yake") / "core" / "StopwordsList" / "stopwords_en.txt"
    return {w.strip().lower() for w in res.read_text(encoding="utf-8", errors="ignore").split()}


def make_rake(stop: set[str]) -> Callable[[str], list[str]]:
    splitter = re.compile(r"[^\w'-]+|(?<!\w)['-]|['-](?!\w)")
    sentence = re.compile(r"[.!?,;:\t\"()\u2019\u2018\u201c\u201d]|\s-\s")

    def rake(text: str) -> list[str]:
        phrases: list[list[str]] = []
        for part in sentence.split(text):
            current: list[str] = []
            for tok in splitter.split(part.lower()):
                if not tok:
                    continue
                if tok in stop or tok.isdigit():
                    if current:
                        phrases.append(current)
                    current = []
                else:
                    current.append(tok)
            if current:
                phrases.append(current)
        freq: dict[str, int] = {}
        degree: dict[str, int] = {}
        for ph in phrases:
            for w in ph:
                freq[w] = freq.get(w, 0) + 1
                degree[w] = degree.get(w, 0) + len(ph)
        scored: dict[str, float] = {}
        for ph in phrases:
            key = " ".join(ph)
            scored[key] = sum(degree[w] / freq[w] for w in ph)
        return sorted(scored, key=lambda k: -scored[k])

    return rake


def evaluate(
    extract: Callable[[dict[str, object]], list[str]], docs: Iterable[dict[str, object]]
) -> tuple[float, float]:
    f5 = f10 = 0.0
    n = 0
    for doc in docs:
        gold = {normalise(str(k)) for k in doc["keyphrases"]}  # type: ignore[attr-defined]
        gold.discard("")
        predicted = extract(doc)
        f5 += f1_at(predicted, gold, 5)
        f10 += f1_at(predicted, gold, 10)
        n += 1
    return 100 * f5 / max(n, 1), 100 * f10 / max(n, 1)


# ---- the previous extractor, from git history --------------------------------


def git(*args: str) -> bytes:
    return subprocess.run(
        ["git", "-C", str(REPO_ROOT), *args], check=True, capture_output=True
    ).stdout


def load_previous(rev: str | None) -> tuple[str, Extractor]:
    """Import the lexicon-based extractor as it was at ``rev`` into a temporary package."""
    if rev is None:
        removed = git("rev-list", "-1", "HEAD", "--", f"{ENGINE}/data/lexicon.txt.gz").decode()
        rev = f"{removed.strip()}^"
    rev = git("rev-parse", "--short", rev).decode().strip()
    root = Path(tempfile.mkdtemp(prefix="previous-keyphrases-"))
    package = root / "previous_keyphrases"
    (package / "data").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    for name in ("_keyphrases.py", "_lexicon.py", "data/lexicon.txt.gz"):
        data = git("show", f"{rev}:{ENGINE}/{name}")
        if name == "_keyphrases.py":
            data = data.replace(b"from .._models import", b"from audio_highlights._models import")
        (package / name).write_bytes(data)
    sys.path.insert(0, str(root))
    module = importlib.import_module("previous_keyphrases._keyphrases")
    return rev, lambda words: list(module.extract_highlights(words).results)


def ours_extract(words: list[Word]) -> list[Highlight]:
    return list(extract_highlights(words).results)


# ---- fidelity to the service's real outputs ----------------------------------


def load_example(name: str) -> tuple[list[Word], list[dict[str, Any]]]:
    data = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    expected = data.get("auto_highlights_result") or data["expected_auto_highlights_result"]
    return [Word.from_dict(w) for w in data["words"]], list(expected["results"])


def compare(
    predicted: list[Highlight] | list[str], expected: list[dict[str, Any]]
) -> dict[str, Any]:
    """Exact-text agreement of one top-15 list with the service's."""
    want = {h["text"]: h for h in expected}
    got: dict[str, Highlight | None] = {}
    for p in predicted[:15]:
        if isinstance(p, Highlight):
            got.setdefault(p.text, p)
        else:
            got.setdefault(p, None)
    shared = [t for t in got if t in want]
    rank_errors = [
        abs((h.rank or 0.0) - want[t]["rank"]) for t in shared if (h := got[t]) is not None
    ]
    counts = [
        (
            h.count == want[t]["count"],
            [ts.to_dict() for ts in h.timestamps] == want[t]["timestamps"],
        )
        for t in shared
        if (h := got[t]) is not None
    ]
    return {
        "hits": len(shared),
        "predicted": len(got),
        "gold": len(want),
        "rank_errors": rank_errors,
        "counts": sum(c for c, _ in counts),
        "stamps": sum(s for _, s in counts),
        "scored": len(counts),
    }


def f1(hits: int, predicted: int, gold: int) -> float:
    if not hits:
        return 0.0
    precision, recall = hits / predicted, hits / gold
    return 2 * precision * recall / (precision + recall)


def fidelity_row(label: str, method: str, r: dict[str, Any]) -> str:
    f = f1(r["hits"], r["predicted"], r["gold"])
    if r["scored"]:
        err = f"{sum(r['rank_errors']) / len(r['rank_errors']):.3f}"
        counts = f"{r['counts']}/{r['scored']}"
        stamps = f"{r['stamps']}/{r['scored']}"
    else:
        err = counts = stamps = "n/a"
    return (
        f"| {label} | {method} | {r['hits']}/{r['gold']} of {r['predicted']} | {f:.2f} "
        f"| {err} | {counts} | {stamps} |"
    )


def fidelity(methods: dict[str, Callable[[list[Word]], list[Highlight] | list[str]]]) -> None:
    print("Fidelity to AssemblyAI's Key Phrases (exact text, top 15)\n")
    print(
        "| example | method | shared | F1@15 | mean abs rank error | count equal "
        "| timestamps equal |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    pooled: dict[str, dict[str, Any]] = {}
    for name in EXAMPLE_FILES:
        words, expected = load_example(name)
        for method, run in methods.items():
            r = compare(run(words), expected)
            print(fidelity_row(name.split("_")[0], method, r))
            acc = pooled.setdefault(method, {k: [] if k == "rank_errors" else 0 for k in r})
            for k, v in r.items():
                acc[k] += v
    for method, r in pooled.items():
        print(fidelity_row("**pooled**", method, r))
    print()


# ---- cost ------------------------------------------------------------------------

_COST_CHILD = """
import json, sys, time
t0 = time.perf_counter()
from audio_highlights.engine._language import load_pipeline
load_pipeline()
load_s = time.perf_counter() - t0
from audio_highlights.engine._asr import recognize_file
from audio_highlights.engine._model_files import whisper_base_dir
from audio_highlights.engine._keyphrases import extract_highlights
from audio_highlights import Word
from pathlib import Path
model = str(whisper_base_dir(Path(sys.argv[1])))
files = sys.argv[2:]
recognize_file(files[0], "whisper", model, 2)  # model load, not timed
rows = []
for path in files:
    t = time.perf_counter()
    raw = recognize_file(path, "whisper", model, 2)
    asr = time.perf_counter() - t
    words = [Word.from_dict(w) for w in raw["words"]]
    t = time.perf_counter()
    extract_highlights(words)
    kp = time.perf_counter() - t
    rows.append([Path(path).name, raw["audio_duration"], len(words), asr, kp])
print(json.dumps({"load_s": load_s, "rows": rows}))
"""


def cost() -> None:
    cache = Path(tempfile.gettempdir()) / "audio-highlights-bench-models"
    files = sorted(str(p) for p in AUDIO.iterdir() if p.suffix in {".mp3", ".m4a"})
    out = subprocess.run(
        [sys.executable, "-c", _COST_CHILD, str(cache), *files],
        check=True,
        capture_output=True,
        text=True,
    )
    data = json.loads(out.stdout.strip().splitlines()[-1])
    words, _ = load_example(EXAMPLE_FILES[0])
    extract_highlights(words)  # load
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        extract_highlights(words)
        best = min(best, time.perf_counter() - t)
    print("Cost (one process, this machine)\n")
    print(
        f"spaCy import + hash check + load, fresh process: {data['load_s']:.2f} s; "
        f"wildfires reference words ({len(words)} words, 281 s of audio): {best * 1000:.0f} ms, "
        f"{len(words) / best:,.0f} words/s, {100 * best / (0.06 * 281):.1f} % of whisper-base "
        "at 0.06 real-time\n"
    )
    print("| audio | duration s | words | recognition s | key phrases s | share |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, duration, n, asr, kp in data["rows"]:
        print(f"| {name} | {duration:.1f} | {n} | {asr:.2f} | {kp:.3f} | {100 * kp / asr:.1f} % |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--sets",
        default=",".join(sorted(p.name for p in DATA_DIR.iterdir() if (p / "data.jsonl").exists())),
    )
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--no-baselines", action="store_true")
    parser.add_argument("--no-previous", action="store_true")
    parser.add_argument("--no-cost", action="store_true")
    parser.add_argument("--previous", metavar="REV", help="git revision of the previous extractor")
    args = parser.parse_args()

    previous: Extractor | None = None
    methods: dict[str, Callable[[list[Word]], list[Highlight] | list[str]]] = {"ours": ours_extract}
    if not args.no_previous:
        rev, previous = load_previous(args.previous)
        methods[f"previous ({rev})"] = previous
        print(f"previous extractor: {rev}\n")
    if not args.no_baselines:
        import yake

        top15 = yake.KeywordExtractor(lan="en", n=3, top=15)

        def yake15(words: list[Word]) -> list[str]:
            found = top15.extract_keywords(" ".join(w.text for w in words))
            return [k for k, _ in sorted(found, key=lambda x: x[1])]

        methods["YAKE"] = yake15
    if EXAMPLES.is_dir():
        fidelity(methods)
    if not args.no_cost:
        cost()

    rake = make_rake(yake_stopwords()) if not args.no_baselines else None
    rows = []
    for name in args.sets.split(","):
        docs = load(name, args.limit)
        words_per_doc = [as_words(str(d["text"])) for d in docs]
        word_map = {id(d): w for d, w in zip(docs, words_per_doc, strict=True)}

        def ours(doc: dict[str, object], _m: dict[int, list[Word]] = word_map) -> list[str]:
            result = extract_highlights(_m[id(doc)])
            return [h.text for h in result.results]

        # Throughput: the scoring pass itself, timed.
        total_words = sum(len(w) for w in words_per_doc)
        t0 = time.perf_counter()
        scores = evaluate(ours, docs)
        row: dict[str, Any] = {
            "set": name,
            "docs": len(docs),
            "ours": scores,
            "wps": total_words / (time.perf_counter() - t0),
        }
        if previous is not None:

            def prev(doc: dict[str, object], _m: dict[int, list[Word]] = word_map) -> list[str]:
                assert previous is not None
                return [h.text for h in previous(_m[id(doc)])]

            t0 = time.perf_counter()
            row["previous"] = evaluate(prev, docs)
            row["prev_wps"] = total_words / (time.perf_counter() - t0)
        if not args.no_baselines:
            import yake

            kw = yake.KeywordExtractor(lan="en", n=3, top=20)

            def run_yake(d: dict[str, object], _kw: object = kw) -> list[str]:
                found = _kw.extract_keywords(str(d["text"]))  # type: ignore[attr-defined]
                return [k for k, _ in sorted(found, key=lambda x: x[1])]

            row["yake"] = evaluate(run_yake, docs)
            assert rake is not None
            row["rake"] = evaluate(lambda d, _r=rake: _r(str(d["text"])), docs)
        rows.append(row)

    header = "| set | docs | ours F1@5 | ours F1@10 |"
    sep = "|---|---:|---:|---:|"
    if previous is not None:
        header += " previous F1@5 | previous F1@10 |"
        sep += "---:|---:|"
    if not args.no_baselines:
        header += " YAKE F1@5 | YAKE F1@10 | RAKE F1@5 | RAKE F1@10 |"
        sep += "---:|---:|---:|---:|"
    header += " ours words/s |"
    sep += "---:|"
    if previous is not None:
        header += " previous words/s |"
        sep += "---:|"
    print("Benchmark sets (F1 x 100, lowercase Porter-stemmed exact match)\n")
    print(header)
    print(sep)
    for r in rows:
        o = r["ours"]
        line = f"| {r['set']} | {r['docs']} | {o[0]:.1f} | {o[1]:.1f} |"
        if previous is not None:
            pv = r["previous"]
            line += f" {pv[0]:.1f} | {pv[1]:.1f} |"
        if not args.no_baselines:
            y, k = r["yake"], r["rake"]
            line += f" {y[0]:.1f} | {y[1]:.1f} | {k[0]:.1f} | {k[1]:.1f} |"
        line += f" {r['wps']:,.0f} |"
        if previous is not None:
            line += f" {r['prev_wps']:,.0f} |"
        print(line)


if __name__ == "__main__":
    main()
