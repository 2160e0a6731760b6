"""Key-phrase quality and speed: our extractor beside YAKE and RAKE.

F1@5 and F1@10 against all gold keys of each set in ``../shared/data/keyphrases``
(lowercase, Porter-stemmed exact match), plus our throughput in words/second.

Usage::

    pip install -e ".[engine]" yake nltk
    python benchmarks/keyphrases.py [--sets Inspec,SemEval2017] [--limit N] [--no-baselines]

YAKE's English stopword list is used for RAKE, as in the reference notes.
``nltk`` supplies only the Porter stemmer (no NLTK data is downloaded).
"""

from __future__ import annotations

import argparse
import importlib.resources
import json
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from nltk.stem.porter import PorterStemmer

from audio_highlights import Word
from audio_highlights.engine._keyphrases import extract_highlights

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT.parent / "shared" / "data" / "keyphrases"

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--sets",
        default=",".join(sorted(p.name for p in DATA_DIR.iterdir() if (p / "data.jsonl").exists())),
    )
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--no-baselines", action="store_true")
    args = parser.parse_args()

    rake = make_rake(yake_stopwords()) if not args.no_baselines else None
    rows = []
    for name in args.sets.split(","):
        docs = load(name, args.limit)
        words_per_doc = [as_words(str(d["text"])) for d in docs]
        word_map = {id(d): w for d, w in zip(docs, words_per_doc, strict=True)}

        def ours(doc: dict[str, object], _m: dict[int, list[Word]] = word_map) -> list[str]:
            result = extract_highlights(_m[id(doc)])
            return [h.text for h in result.results]

        # Throughput: extraction only, best of three passes.
        total_words = sum(len(w) for w in words_per_doc)
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            for w in words_per_doc:
                extract_highlights(w)
            best = min(best, time.perf_counter() - t0)
        row = {
            "set": name,
            "docs": len(docs),
            "ours": evaluate(ours, docs),
            "wps": total_words / best,
        }
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
    if not args.no_baselines:
        header += " YAKE F1@5 | YAKE F1@10 | RAKE F1@5 | RAKE F1@10 |"
        sep += "---:|---:|---:|---:|"
    header += " ours words/s |"
    sep += "---:|"
    print(header)
    print(sep)
    for r in rows:
        o = r["ours"]
        line = f"| {r['set']} | {r['docs']} | {o[0]:.1f} | {o[1]:.1f} |"  # type: ignore[index]
        if not args.no_baselines:
            y, k = r["yake"], r["rake"]
            line += f" {y[0]:.1f} | {y[1]:.1f} | {k[0]:.1f} | {k[1]:.1f} |"  # type: ignore[index]
        line += f" {r['wps']:,.0f} |"
        print(line)


if __name__ == "__main__":
    main()
