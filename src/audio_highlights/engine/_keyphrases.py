"""Offline key phrases: the output of AssemblyAI's ``auto_highlights_result``, computed locally.

Candidates are maximal noun-phrase chunks (``(ADJ|NOUN)* NOUN+``, at most six
words) found with a packaged part-of-speech table. Words are scored with a
position-biased co-occurrence graph (the SingleRank/PositionRank family); a
phrase scores the sum of its words' scores, weighted by how often it occurs
and by its length. ``count``, ``timestamps`` and ``text`` follow the service's
observed rules (see ``docs/keyphrases.md``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

from .._models import AutoHighlightsResult, Highlight, Timestamp, Word
from . import _lexicon

__all__ = ["extract_highlights"]

# Token classes used by the chunker.
_BREAK: Final = 0
_NOUN: Final = 1
_ADJ: Final = 2
_PART: Final = 3  # a participle: a modifier inside a phrase, never its first word
_AMBIG: Final = 4  # noun or verb: decided from the word before it

_MAX_WORDS: Final = 6
_WINDOW: Final = 6
_DAMPING: Final = 0.85
_ITERATIONS: Final = 30
_DENSE_LIMIT: Final = 600
# A single common word is discounted, a single name (a word seen capitalised
# mid-sentence) favoured: alone, "smoke" or "results" rarely names a topic,
# while "Sprint" or "Obama" does. The service's phrases are mostly two or three
# words, and so are the benchmark sets' gold keys, names aside.
_SINGLE_WORD: Final = 0.52
_SINGLE_NAME: Final = 1.3
# Further discount for a single word that is a generic noun ("results",
# "method", "way"): alone it names no topic, though it may head one.
_GENERIC_SINGLE: Final = 0.3
_LONG_PHRASE: Final = 0.85
# Share of the total candidate score that the top phrases carry in the
# service's own responses (observed 0.85-0.91); ranks are calibrated to it.
_TOP_MASS: Final = 0.88
# How many times the last returned phrase's rank the best one's is, at most
# (the service's top 15 run from about 0.09 down to 0.04-0.05).
_HEAD_SPREAD: Final = 1.8
_POSITION_SHARE: Final = 0.5

_EDGE_PUNCT: Final = "\"'`.,;:!?()[]{}<>*_~|/\\\u2018\u2019\u201c\u201d\u2026\u2013\u2014-"
_OPENERS: Final = frozenset("\"'`([{<\u2018\u201c")
_CLOSERS: Final = frozenset(',.;:!?)]}>"\u201d\u2019\u2026\u2013\u2014')
_SENTENCE_END: Final = frozenset(".!?\u2026")
_ABBREV: Final = re.compile(r"^(?:[A-Za-z]\.){2,}$")
_ABBREV_EDGE: Final = "\"'()[]{},;:!?\u201c\u201d"

# raw word -> (normalised form, class, capitalised, breaks before, breaks after,
# ends a sentence). Words repeat heavily, so caching skips most string work.
_Array = npt.NDArray[np.float64]
_TokenInfo = tuple[str, int, bool, bool, bool, bool]
_CACHE: dict[str, _TokenInfo] = {}
_CACHE_LIMIT: Final = 200_000


def _classify(raw: str) -> _TokenInfo:
    table = _lexicon.pos_table()
    stripped = raw.strip()
    core = stripped.strip(_EDGE_PUNCT).replace("\u2019", "'")
    tail = stripped[len(stripped.rstrip(_EDGE_PUNCT)) :]
    if _ABBREV.match(stripped.strip(_ABBREV_EDGE)):
        # "U.S." keeps its dots and does not end a sentence.
        core = stripped.strip(_ABBREV_EDGE)
        tail = tail.replace(".", "")
    before = bool(stripped) and stripped[0] in _OPENERS
    after = any(ch in _CLOSERS for ch in tail)
    ends_sentence = any(ch in _SENTENCE_END for ch in tail)
    norm = core.lower()
    capital = core[:1].isupper()
    if not norm or not any(ch.isalpha() for ch in norm) or norm in _lexicon.STOPWORDS:
        return norm, _BREAK, capital, before, after, ends_sentence
    if len(norm) == 1 and not capital:
        # A lone lowercase letter is a symbol or a spelled-out letter ("integer
        # r", "the letter b"), not part of a name; capitals ("Plan B", "X")
        # stay.
        return norm, _BREAK, capital, before, after, ends_sentence
    if "'" in norm:
        if (
            norm.endswith("'s")
            and norm[:-2] not in _lexicon.STOPWORDS
            and norm not in _lexicon.VERB_CUES
        ):
            # A possessive closes its phrase: "Utah's" + "new anti-spam act".
            return norm, _NOUN, capital, before, True, ends_sentence
        return norm, _BREAK, capital, before, after, ends_sentence
    lookup = norm if "-" not in norm else norm.rsplit("-", 1)[1]
    mask = table.get(lookup, _lexicon.NOUN)
    if norm in _lexicon.MODIFIERS:
        mask = _lexicon.ADJ
    if mask & _lexicon.NOUN:
        cls = _AMBIG if mask & _lexicon.VERB else _NOUN
    elif mask & _lexicon.ADJ:
        # An "-ing" word that is also a verb ("preexisting", "existing") is a
        # participle: it may modify inside a phrase but never starts one. The
        # service returns "health conditions" for "have preexisting health
        # conditions". ("-ed" forms stay adjectives: "integrated circuit"; making
        # them participles too lowered F1 on all three benchmark sets.)
        cls = _PART if mask & _lexicon.VERB and norm.endswith("ing") else _ADJ
        if norm in _lexicon.GENERIC_ADJECTIVES:
            # Evaluative adjectives ("effective", "current", "standard") are
            # not part of what a phrase names: "effective student leadership"
            # is about "student leadership". Like participles, they may sit
            # inside a phrase but never start one.
            cls = _PART
    elif mask & _lexicon.VERB and (norm.endswith("ing") or norm.endswith("ed")):
        cls = _PART
    elif "-" in norm:
        # Compounds such as "well-known" or "anti-spam" modify nouns.
        cls = _ADJ
    else:
        cls = _BREAK
    return norm, cls, capital, before, after, ends_sentence


def _surface(raw: str) -> str:
    stripped = raw.strip()
    kept = stripped.strip(_ABBREV_EDGE)
    return kept if _ABBREV.match(kept) else stripped.strip(_EDGE_PUNCT)


def _head_norm(raw: str) -> str:
    return raw.strip().strip(_EDGE_PUNCT).lower()


def _tokenise(words: Sequence[Word]) -> tuple[list[str], list[int], list[int], set[str]]:
    """Return each word's normalised form, resolved class and segment number, plus names.

    Segments split at punctuation; a phrase occurrence never spans two. Names
    are the normalised words seen capitalised mid-sentence.
    """
    cache = _CACHE
    table = _lexicon.pos_table()
    if len(cache) > _CACHE_LIMIT:
        cache.clear()
    norms: list[str] = []
    classes: list[int] = []
    segments: list[int] = []
    names: set[str] = set()
    segment = 0
    sentence_start = True
    prev_norm = ""
    prev_cls = _BREAK
    prev_capital = False
    prev_name = False  # the previous word was capitalised mid-sentence
    last = len(words) - 1
    for idx, word in enumerate(words):
        raw = word.text
        info = cache.get(raw)
        if info is None:
            info = _classify(raw)
            cache[raw] = info
        norm, cls, capital, before, after, ends_sentence = info
        if before:
            segment += 1
        if (
            # "a large number of ...", "a host of ...": a quantity noun before
            # "of" only measures what follows, so it is no phrase's head.
            cls != _BREAK
            and norm in _lexicon.QUANTITY_NOUNS
            and not after
            and idx < last
            and _head_norm(words[idx + 1].text) == "of"
        ):
            cls = _BREAK
        if cls == _BREAK:
            # Stopwords separate occurrences too: "air and quality" never counts
            # as "air quality".
            segment += 1
        elif capital and not sentence_start:
            names.add(norm)
            if prev_cls != _BREAK and not prev_capital and prev_norm not in _lexicon.NAME_PARTICLES:
                # A capitalised word right after a lowercase one starts a new
                # unit: an unpunctuated title ("... response Practical needs"),
                # or a name after a common noun ("wildfires Canada"). Name
                # particles are lowercase inside a name ("Peter de Carlo").
                segment += 1
                cls = _NOUN if cls == _AMBIG else cls
            else:
                cls = _NOUN  # a proper name mid-sentence, whatever the table says
        elif (
            # "we studied ...", "they used ...": an "-ed" verb form right after
            # a pronoun or modal is the verb, not a modifier.
            cls in (_ADJ, _PART)
            and prev_norm in _lexicon.VERB_CUES
            and norm.endswith("ed")
            and table.get(norm, 0) & _lexicon.VERB
        ):
            cls = _BREAK
        elif cls == _AMBIG:
            if prev_norm in _lexicon.VERB_CUES or (
                prev_name and prev_cls == _NOUN and norm.endswith("s") and not norm.endswith("ss")
            ):
                # After a pronoun or modal, or as a lowercase "-s" form right
                # after a name ("New York City runs late"), it is the verb.
                cls = _BREAK
            elif (
                prev_cls == _NOUN
                and norm.endswith("s")
                and idx < last
                and _head_norm(words[idx + 1].text) in _lexicon.OBJECT_CUES
            ):
                # "the model offers a ...", "the suit attempts to ...": a noun/verb
                # "-s" form between a noun and a determiner, object pronoun or
                # "to" is the verb.
                cls = _BREAK
            elif (
                prev_cls == _NOUN
                and not norm.endswith("s")
                and prev_norm.endswith("s")
                and not prev_norm.endswith("ss")
            ):
                # "weather systems change": a plural noun rarely modifies, so a
                # bare noun/verb word after one is the verb.
                cls = _BREAK
            else:
                cls = _NOUN
        elif (
            cls == _PART
            and prev_cls == _NOUN
            and not table.get(prev_norm, _lexicon.NOUN) & _lexicon.ADJ
        ):
            # "verification using ...": a participle after a noun opens a clause
            # (after an adjective it modifies: "wide ranging consequences").
            segment += 1
        norms.append(norm)
        classes.append(cls)
        segments.append(segment)
        if cls == _BREAK:
            segment += 1
        if after:
            segment += 1
        prev_name = capital and not sentence_start
        sentence_start = ends_sentence or (not norm and sentence_start)
        prev_norm = norm
        prev_cls = cls if not after else _BREAK
        prev_capital = capital
    return norms, classes, segments, names


def _chunks(classes: list[int], segments: list[int]) -> list[tuple[int, int]]:
    """Find maximal noun-phrase chunks as ``(start, stop)`` index pairs."""
    spans: list[tuple[int, int]] = []
    n = len(classes)
    i = 0
    while i < n:
        if classes[i] == _BREAK:
            i += 1
            continue
        j = i
        seg = segments[i]
        while j < n and classes[j] != _BREAK and segments[j] == seg:
            j += 1
        start = i
        while start < j:
            # No participle first; the last word must be a noun.
            while start < j and classes[start] == _PART:
                start += 1
            stop = min(j, start + _MAX_WORDS)
            while stop > start and classes[stop - 1] != _NOUN:
                stop -= 1
            if stop == start:
                start += 1
                continue
            spans.append((start, stop))
            start = stop
        i = j
    return spans


def _word_scores(ids: list[int], positions: list[int], n_nodes: int) -> _Array:
    """Score words with a position-biased PageRank over a co-occurrence graph."""
    id_arr = np.asarray(ids, dtype=np.int64)
    pos_arr = np.asarray(positions, dtype=np.float64)
    # Earlier words weigh more (PositionRank), softened so a long transcript's
    # later topics still count.
    early = 1.0 / (pos_arr + 1.0)
    early *= _POSITION_SHARE / float(early.sum())
    raw_bias = np.bincount(
        id_arr, weights=early + (1.0 - _POSITION_SHARE) / len(ids), minlength=n_nodes
    )
    bias: _Array = raw_bias / raw_bias.sum()
    src_parts: list[npt.NDArray[np.int64]] = []
    dst_parts: list[npt.NDArray[np.int64]] = []
    for k in range(1, _WINDOW):
        if k >= len(ids):
            break
        near = (pos_arr[k:] - pos_arr[:-k]) < _WINDOW
        a = id_arr[:-k][near]
        b = id_arr[k:][near]
        src_parts += [a, b]
        dst_parts += [b, a]
    if not src_parts:
        return bias
    src = np.concatenate(src_parts)
    dst = np.concatenate(dst_parts)
    keep = src != dst
    src = src[keep]
    dst = dst[keep]
    if src.size == 0:
        return bias
    if n_nodes <= _DENSE_LIMIT:
        # Small graphs: a dense matrix product beats scatter-adds per iteration.
        matrix = np.bincount(dst * n_nodes + src, minlength=n_nodes * n_nodes).astype(np.float64)
        matrix = matrix.reshape(n_nodes, n_nodes)
        out_weight = matrix.sum(axis=0)
        out_weight[out_weight == 0] = 1.0
        matrix *= _DAMPING / out_weight
        teleport = (1.0 - _DAMPING) * bias
        scores = bias
        for _ in range(_ITERATIONS):
            scores = teleport + matrix @ scores
        return scores
    out_count = np.bincount(src, minlength=n_nodes).astype(np.float64)
    edge_share = _DAMPING / out_count[src]
    teleport = (1.0 - _DAMPING) * bias
    scores = bias
    for _ in range(_ITERATIONS):
        scores = teleport + np.bincount(dst, weights=scores[src] * edge_share, minlength=n_nodes)
    return scores


def _phrase_score(key: tuple[str, ...], scores: list[float], freq: int, names: set[str]) -> float:
    """Score a phrase from its words' scores and how often it stands as a chunk."""
    size = len(scores)
    if size == 1:
        word = key[0]
        shape = _SINGLE_NAME if word in names else _SINGLE_WORD
        if word in _lexicon.GENERIC_NOUNS:
            shape *= _GENERIC_SINGLE
    else:
        # Very long chunks are discounted too.
        shape = _LONG_PHRASE if size >= 4 else 1.0
    return sum(scores) * (1.0 + math.log(freq)) * shape


def _calibrated_shares(scores: _Array, top: int) -> _Array:
    """Turn scores into shares of the total over all candidates, shaped like the service's ranks.

    The service's returned phrases all rank 0.04-0.09 (the best about twice the
    last) yet hold 0.85-0.91 of the total, so its scores are flat among the top
    phrases and fall away steeply below them. Scores are therefore divided by
    the ``top``-th best and raised to one power above that line and another
    below it: the upper power makes the best score ``_HEAD_SPREAD`` times the
    ``top``-th, the lower one (found by bisection) leaves the top phrases
    ``_TOP_MASS`` of the total. Both pieces increase and meet at 1, so the
    order of ``scores`` is kept exactly.
    """
    ordered = np.sort(scores)[::-1]
    line = float(ordered[min(top, scores.size) - 1])
    if line <= 0.0:
        plain: _Array = scores / float(scores.sum())
        return plain
    base = scores / line
    spread = float(ordered[0]) / line
    head_power = math.log(_HEAD_SPREAD) / math.log(spread) if spread > _HEAD_SPREAD else 1.0
    if scores.size <= top:
        # A short transcript has no tail to carry the rest of the mass, but
        # its phrases still get the service's flat head (no rank rounds to 0).
        head: _Array = np.power(base, head_power)
        return head / float(head.sum())
    head_mass = float(np.power(ordered[:top] / line, head_power).sum())
    tail = ordered[top:] / line
    lo, hi = 0.0, 64.0
    # 20 halvings pin the power far finer than 2-decimal ranks can show.
    for _ in range(20):
        mid = (lo + hi) / 2.0
        mass = head_mass / (head_mass + float(np.power(tail, mid).sum()))
        if mass < _TOP_MASS:
            lo = mid
        else:
            hi = mid
    weights = np.where(base >= 1.0, np.power(base, head_power), np.power(base, hi))
    shares: _Array = weights / float(weights.sum())
    return shares


def extract_highlights(words: Sequence[Word], *, max_results: int = 15) -> AutoHighlightsResult:
    """Extract key phrases from a transcript's words, as AssemblyAI's Key Phrases model does.

    Args:
        words: The transcript's words in spoken order, punctuation attached
            (``"Canada,"``) and times in milliseconds.
        max_results: The most phrases to return; the service returns 15.

    Returns:
        A ``"success"`` result whose ``results`` are sorted by rank, highest
        first. Each phrase's ``count`` counts every case-insensitive occurrence
        of its word sequence, including those inside longer phrases, with one
        timestamp per occurrence. Empty or speechless input gives no results.
    """
    if not words or max_results <= 0:
        return AutoHighlightsResult(status="success", results=[])
    norms, classes, segments, names = _tokenise(words)
    spans = _chunks(classes, segments)
    if not spans:
        return AutoHighlightsResult(status="success", results=[])

    table = _lexicon.pos_table()
    # Candidates in order of first appearance, keyed by their lowercase words.
    candidates: dict[tuple[str, ...], int] = {}
    chunk_freq: dict[tuple[str, ...], int] = {}
    node_of: dict[str, int] = {}
    ids: list[int] = []
    positions: list[int] = []
    for start, stop in spans:
        key = tuple(norms[start:stop])
        for pos in range(start, stop):
            ids.append(node_of.setdefault(norms[pos], len(node_of)))
            positions.append(pos)
        if stop - start == 1 and key[0] not in names and table.get(key[0], 0) & _lexicon.ADJ:
            # Alone, a word that can be an adjective ("old", "northern") names
            # no topic; the service's single-word phrases are nouns.
            continue
        if key not in candidates:
            candidates[key] = start
            chunk_freq[key] = 1
        else:
            chunk_freq[key] += 1
    if not candidates:
        return AutoHighlightsResult(status="success", results=[])
    word_scores = _word_scores(ids, positions, len(node_of))

    keys = list(candidates)
    word_list = word_scores.tolist()
    phrase_scores = np.fromiter(
        (
            _phrase_score(key, [word_list[node_of[w]] for w in key], chunk_freq[key], names)
            for key in keys
        ),
        dtype=np.float64,
        count=len(keys),
    )
    shares = _calibrated_shares(phrase_scores, max_results)
    # Keys are in order of first appearance, so a stable sort breaks ties by it.
    order = np.argsort(-phrase_scores, kind="stable")[:max_results].tolist()

    starts_of: dict[str, list[int]] = {}
    for pos, norm in enumerate(norms):
        if classes[pos] != _BREAK:
            starts_of.setdefault(norm, []).append(pos)
    results: list[Highlight] = []
    for i in order:
        key = keys[i]
        size = len(key)
        hits = [
            p
            for p in starts_of.get(key[0], ())
            if p + size <= len(norms)
            and segments[p] == segments[p + size - 1]
            and tuple(norms[p : p + size]) == key
        ]
        first = hits[0]
        text = " ".join(_surface(words[p].text) for p in range(first, first + size))
        stamps = sorted(
            (Timestamp(start=words[p].start, end=words[p + size - 1].end) for p in hits),
            key=lambda ts: (ts.start, ts.end),
        )
        rank = round(float(shares[i]), 2)
        results.append(Highlight(text=text, count=len(hits), rank=rank, timestamps=stamps))
    return AutoHighlightsResult(status="success", results=results)
