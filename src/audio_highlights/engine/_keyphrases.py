"""Offline key phrases: AssemblyAI's ``auto_highlights_result``, ranked the way the service ranks.

The service's ranks are reproduced by TextRank's phrase scoring as pytextrank
2.0 implemented it, run over spaCy's English pipeline (see
``docs/keyphrases.md``): a PageRank over a lemma co-occurrence graph, noun
chunks and named entities as candidates, and pytextrank's occurrence score.
spaCy reads the transcript text built from the words (joined by spaces, so no
token crosses a word); each phrase it yields is then found in the words
themselves, which gives ``count``, ``timestamps`` and the ``text`` shown by the
service's text-match rule.
"""

from __future__ import annotations

import bisect
import math
import os
import re
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Final

import numpy as np
import numpy.typing as npt

from .._models import AutoHighlightsResult, Highlight, Timestamp, Word
from ._language import load_pipeline

if TYPE_CHECKING:
    from spacy.tokens import Doc, Span

__all__ = ["extract_highlights"]

_Array = npt.NDArray[np.float64]

# Graph nodes are (lemma, part of speech) pairs of these parts of speech.
_GRAPH_POS: Final = frozenset({"ADJ", "NOUN", "PROPN", "VERB"})
# Two kept tokens at most this many tokens apart in one sentence are linked.
_WINDOW: Final = 3
_DAMPING: Final = 0.85
_MAX_ITERATIONS: Final = 500
_TOLERANCE: Final = 1e-12
# Stripped from both ends of a candidate's text.
_EDGE_POS: Final = frozenset({"DET", "PRON", "NUM", "PART", "PUNCT", "SYM", "SPACE"})
# Speech disfluencies. The service transcribes without them by default, so
# spaCy never sees them here either: they form no phrase and sit in no window.
_FILLERS: Final = frozenset(
    {"um", "umm", "uh", "uhh", "uhm", "er", "erm", "hmm", "hm", "mm", "mhm", "mm-hmm", "uh-huh"}
)
_EDGE_PUNCT: Final = "\"'`.,;:!?()[]{}<>*_~|/\\\u2018\u2019\u201c\u201d\u2026\u2013\u2014-"
_SENTENCE_END: Final = frozenset(".!?\u2026")
_POSSESSIVE: Final = re.compile("^['\u2019]s?")
# spaCy needs about 3 MB per 1,000 characters while parsing; longer transcripts
# are parsed in pieces that end at a sentence end (or, lacking one, anywhere).
_SEGMENT_CHARS: Final = 20_000
# A spaCy pipeline is not documented as safe to call from several threads at once.
_PARSE_LOCK: Final = threading.Lock()


def _lower(text: str) -> str:
    # Offsets into the lowercase text must stay valid in the original.
    low = text.lower()
    return low if len(low) == len(text) else text


class _Transcript:
    """The words as one lowercase string, for the service's text-match rule."""

    def __init__(self, words: Sequence[Word]) -> None:
        self.index: list[int] = []  # word index of each non-blank word
        self.starts: list[int] = []  # offset of each non-blank word in the string
        parts: list[str] = []
        offset = 0
        for i, word in enumerate(words):
            text = word.text.strip()
            if not text:
                continue
            self.index.append(i)
            self.starts.append(offset)
            parts.append(text)
            offset += len(text) + 1
        self.original = " ".join(parts)
        self.lowered = " ".join(_lower(p) for p in parts)

    def _slot(self, pos: int) -> int:
        return bisect.bisect_right(self.starts, pos) - 1

    def _word_end(self, slot: int) -> int:
        return self.starts[slot + 1] - 1 if slot + 1 < len(self.starts) else len(self.lowered)

    def occurrences(self, phrase: str) -> Iterator[tuple[int, int, int, int]]:
        """Yield ``(first word, last word, start, end)`` of each whole-word match of ``phrase``.

        A match covers whole words, save for punctuation before its first
        word and punctuation or a possessive ending after its last one
        (``"Canada,"`` and ``"Canada's"`` match ``canada``; ``"Canadas"`` does not).
        """
        low = self.lowered
        pos = low.find(phrase)
        while pos >= 0:
            end = pos + len(phrase)
            first = self._slot(pos)
            last = self._slot(end - 1)
            head = low[self.starts[first] : pos]
            tail = _POSSESSIVE.sub("", low[end : self._word_end(last)], count=1)
            if not any(ch.isalnum() for ch in head) and not any(ch.isalnum() for ch in tail):
                yield self.index[first], self.index[last], pos, end
            pos = low.find(phrase, pos + 1)


def _pieces(words: Sequence[Word]) -> list[str]:
    """Return the words as spaCy reads them: stripped, blanks and fillers left out."""
    texts: list[str] = []
    for word in words:
        text = word.text.strip()
        if not text:
            continue
        core = text.strip(_EDGE_PUNCT).lower()
        if core in _FILLERS:
            # Keep a sentence end the filler carried ("uh."), nothing else.
            tail = text[len(text.rstrip(_EDGE_PUNCT)) :]
            ends = [ch for ch in tail if ch in _SENTENCE_END]
            if not ends:
                continue
            text = ends[0]
        texts.append(text)
    return texts


def _segments(texts: list[str]) -> Iterator[tuple[int, int]]:
    """Split piece indices into ``(start, stop)`` runs of about ``_SEGMENT_CHARS`` characters."""
    start = 0
    size = 0
    for i, text in enumerate(texts):
        size += len(text) + 1
        if (size >= _SEGMENT_CHARS and text[-1] in _SENTENCE_END) or size >= 2 * _SEGMENT_CHARS:
            yield start, i + 1
            start, size = i + 1, 0
    if start < len(texts):
        yield start, len(texts)


class _Candidate:
    """One occurrence of a noun chunk or entity, as pytextrank 2.0 scored it."""

    __slots__ = ("key", "nodes", "non_nodes", "phrase", "scrubbed", "size")

    def __init__(self, span: Span, node_of: dict[tuple[str, str], int], lowered: str) -> None:
        nodes: list[int] = []
        keys: set[tuple[str, str]] = set()
        non_nodes = 0
        for token in span:
            if token.pos_ in _GRAPH_POS:
                key = (token.lemma_, token.pos_)
                nodes.append(node_of[key])
                keys.add(key)
            else:
                non_nodes += 1
        self.key = frozenset(keys)
        self.nodes = nodes
        self.non_nodes = non_nodes
        self.size = len(span)
        # pytextrank's own label of the occurrence (its default scrubber).
        self.scrubbed = span.text.lower().replace("'", "")
        tokens = list(span)
        lo, hi = 0, len(tokens)
        while lo < hi and tokens[lo].pos_ in _EDGE_POS:
            lo += 1
        while hi > lo and tokens[hi - 1].pos_ in _EDGE_POS:
            hi -= 1
        if lo == hi:
            self.phrase = ""
        else:
            start = tokens[lo].idx
            stop = tokens[hi - 1].idx + len(tokens[hi - 1].text)
            self.phrase = lowered[start:stop]

    def score(self, ranks: _Array) -> float:
        # pytextrank 2.0 counts one token too many in a chunk's length.
        length = self.size + 1
        total = float(sum(ranks[n] for n in self.nodes))
        discount = length / (length + 2.0 * self.non_nodes + 1.0)
        return math.sqrt(total / (length + self.non_nodes)) * discount


def _pagerank(size: int, pairs: list[int]) -> _Array:
    """Plain PageRank over the undirected co-occurrence graph given as node-id ``pairs``.

    Each co-occurrence adds 1 to its edge's weight; a node linked to itself has
    one self-edge. Nodes without edges spread their score evenly, as in
    NetworkX's ``pagerank``, which pytextrank called.
    """
    if size == 1 or not pairs:
        return np.full(size, 1.0 / size)
    flat = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    a = flat.min(axis=1)
    b = flat.max(axis=1)
    codes, weights = np.unique(a * size + b, return_counts=True)
    lo, hi = np.divmod(codes, size)
    loop = lo == hi
    src = np.concatenate([lo, hi[~loop]])
    dst = np.concatenate([hi, lo[~loop]])
    weight = np.concatenate([weights, weights[~loop]]).astype(np.float64)
    out = np.bincount(src, weights=weight, minlength=size)
    share = weight / out[src]
    dangling = out == 0
    ranks: _Array = np.full(size, 1.0 / size)
    for _ in range(_MAX_ITERATIONS):
        spread = np.bincount(dst, weights=ranks[src] * share, minlength=size)
        new = _DAMPING * (spread + ranks[dangling].sum() / size) + (1.0 - _DAMPING) / size
        delta = float(np.abs(new - ranks).sum())
        ranks = new
        if delta < _TOLERANCE:
            break
    return ranks


def _parse(words: Sequence[Word], model: str | os.PathLike[str] | None) -> list[tuple[Doc, str]]:
    texts = _pieces(words)
    if not any(ch.isalpha() for text in texts for ch in text):
        return []
    nlp = load_pipeline(model)
    docs: list[tuple[Doc, str]] = []
    with _PARSE_LOCK:
        for start, stop in _segments(texts):
            text = " ".join(texts[start:stop])
            docs.append((nlp(text), " ".join(_lower(t) for t in texts[start:stop])))
    return docs


def _candidates(docs: list[tuple[Doc, str]]) -> tuple[list[_Candidate], _Array]:
    node_of: dict[tuple[str, str], int] = {}
    pairs: list[int] = []
    for doc, _ in docs:
        for sent in doc.sents:
            seen: list[tuple[int, int]] = []  # (token index, node) of kept tokens so far
            for token in sent:
                if token.pos_ not in _GRAPH_POS:
                    continue
                node = node_of.setdefault((token.lemma_, token.pos_), len(node_of))
                for pos, other in reversed(seen):
                    if token.i - pos > _WINDOW:
                        break
                    pairs += (node, other)
                seen.append((token.i, node))
    if not node_of:
        return [], np.zeros(0)
    ranks = _pagerank(len(node_of), pairs)
    # pytextrank collected every noun chunk first, then every entity.
    found = [
        _Candidate(span, node_of, lowered) for doc, lowered in docs for span in doc.noun_chunks
    ]
    found += [_Candidate(span, node_of, lowered) for doc, lowered in docs for span in doc.ents]
    return found, ranks


def _ranked(found: list[_Candidate], ranks: _Array) -> list[tuple[float, _Candidate]]:
    """Best occurrence per lemma set, in pytextrank 2.0's order (score, then first seen)."""
    best: dict[frozenset[tuple[str, str]], tuple[float, _Candidate]] = {}
    for cand in found:
        score = cand.score(ranks)
        held = best.get(cand.key)
        if held is None or score > held[0]:
            best[cand.key] = (score, cand)
    # pytextrank keyed its result by the best occurrence's label, so a later
    # lemma set with the same label replaced an earlier one in its place.
    by_label: dict[str, tuple[float, _Candidate]] = {}
    for score, cand in best.values():
        by_label[cand.scrubbed] = (score, cand)
    return sorted(by_label.values(), key=lambda item: -item[0])


def extract_highlights(
    words: Sequence[Word],
    *,
    max_results: int = 15,
    spacy_model: str | os.PathLike[str] | None = None,
) -> AutoHighlightsResult:
    """Extract key phrases from a transcript's words, as AssemblyAI's Key Phrases model does.

    The first call in a process loads spaCy's English pipeline (about a
    second); later calls reuse it.

    Args:
        words: The transcript's words in spoken order, punctuation attached
            (``"Canada,"``) and times in milliseconds.
        max_results: The most phrases to return; the service returns 15.
        spacy_model: ``None`` (default) for the bundled, hash-verified
            ``en_core_web_sm`` 3.8; or an installed spaCy model package's name
            or a model directory, loaded as data.

    Returns:
        A ``"success"`` result whose ``results`` are sorted by rank, highest
        first. Each phrase's ``count`` counts every case-insensitive occurrence
        of its word sequence, including those inside longer phrases, with one
        timestamp per occurrence. Empty or speechless input gives no results.

    Raises:
        LanguageModelUnavailable: The spaCy pipeline is missing, fails its
            hash check, or cannot be loaded (the message names the fix).
    """
    if not words or max_results <= 0:
        return AutoHighlightsResult(status="success", results=[])
    docs = _parse(words, spacy_model)
    found, ranks = _candidates(docs)
    transcript = _Transcript(words)
    results: list[Highlight] = []
    shown: set[str] = set()
    for score, cand in _ranked(found, ranks):
        phrase = cand.phrase
        if not any(ch.isalpha() for ch in phrase) or phrase in shown:
            continue
        shown.add(phrase)
        hits = list(transcript.occurrences(phrase))
        if not hits:
            continue
        # The service shows the phrase as it was first said.
        _, _, start, end = hits[0]
        stamps = sorted(
            (Timestamp(start=words[i].start, end=words[j].end) for i, j, _, _ in hits),
            key=lambda ts: (ts.start, ts.end),
        )
        text = transcript.original[start:end]
        results.append(
            Highlight(text=text, count=len(hits), rank=round(score, 2), timestamps=stamps)
        )
        if len(results) == max_results:
            break
    return AutoHighlightsResult(status="success", results=results)
