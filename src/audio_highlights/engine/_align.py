"""Word timings you can cut audio on: forced alignment of the recognised words.

Whisper's word times come from cross-attention and are contiguous: a word after
a pause starts inside the pause, and mid-phrase words drift by tens of ms. Here
each stretch of speech (words between pauses, up to about 20 s) is aligned with
pocketsphinx against the words whisper heard, which puts every start and end on
the acoustic boundary (10 ms frames). Where alignment cannot run or disagrees
wildly with whisper, the word keeps whisper's times, snapped past the longest
pause inside it (frame energy): a start moves to the pause's end, an end to its
start.

Runs in the worker process, on the decoded audio (16 kHz float32) and words
with ms times; only ``start``/``end`` change.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ._audio import SAMPLE_RATE
from ._text import spoken_tokens

__all__ = ["align_words", "frame_db", "load_aligner", "snap_to_energy"]

logger = logging.getLogger("audio_highlights.engine")

FRAME_MS = 10
_FRAME = SAMPLE_RATE * FRAME_MS // 1000
# Chunks end at a pause this long, or after a sentence once they are this long,
# and never grow past the cap (alignment cost and drift grow with length).
_CHUNK_GAP_MS = 200
_CHUNK_SENTENCE_MS = 4000
_CHUNK_MAX_MS = 20_000
# An aligned boundary this far from whisper's is a failed alignment, not a fix.
_MAX_MOVE_MS = 1000
_MIN_WORD_MS = 20
# A silence shorter than this inside a word is a stop closure, not a pause.
_MIN_PAUSE_MS = 40
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*$")
_FILLER = re.compile(r"^(<s>|</s>|<sil>|\[.*\]|\+\+.*\+\+)$")

_decoders: dict[str, Any] = {}


def frame_db(audio: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """Energy of each 10 ms frame in dB (full scale)."""
    n = len(audio) // _FRAME
    frames = audio[: n * _FRAME].astype(np.float64).reshape(n, _FRAME)
    result: npt.NDArray[np.float64] = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-10)
    return result


def _silence_threshold(db: npt.NDArray[np.float64]) -> float:
    if db.size == 0:
        return 0.0
    peak = float(np.percentile(db, 95))
    floor = max(float(np.percentile(db, 10)), peak - 60)
    return floor + 0.3 * (peak - floor)


def snap_to_energy(
    words: Sequence[dict[str, Any]], db: npt.NDArray[np.float64], threshold: float
) -> None:
    """Move each word's start (or end) past the longest pause inside it, in place.

    A pause in the first half of the word means the word really starts after
    it; one in the second half means it ended before it.
    """
    quiet = db < threshold
    for word in words:
        first, last = word["start"] // FRAME_MS, min(word["end"] // FRAME_MS, len(quiet))
        best_len, best_at, run = 0, 0, 0
        for i in range(first, last):
            run = run + 1 if quiet[i] else 0
            if run > best_len:
                best_len, best_at = run, i - run + 1
        if best_len * FRAME_MS < _MIN_PAUSE_MS:
            continue
        pause_start, pause_end = best_at * FRAME_MS, (best_at + best_len) * FRAME_MS
        if pause_start + pause_end < word["start"] + word["end"]:
            if word["end"] - pause_end >= _MIN_WORD_MS:
                word["start"] = pause_end
        elif pause_start - word["start"] >= _MIN_WORD_MS:
            word["end"] = pause_start


def load_aligner() -> None:
    """Load the aligner's acoustic model and dictionary now (about 0.2 s), not on the first job.

    A failure is logged; alignment then falls back to snapping on frame energy.
    """
    _try_decoder()


def _try_decoder() -> Any | None:
    try:
        return _decoder()
    except (ImportError, OSError, RuntimeError, ValueError) as exc:
        logger.warning("forced alignment unavailable (%s); snapping on frame energy", exc)
        return None


def _decoder() -> Any:
    decoder = _decoders.get("align")
    if decoder is None:
        from pocketsphinx import Decoder  # type: ignore[import-untyped,unused-ignore]

        # Narrower beams and 2 Gaussians per frame (default 4): alignment only
        # follows one word sequence, and this is ~25 % faster at 1-2 ms of
        # median start error (measured on examples/audio/conversations).
        decoder = Decoder(
            samprate=SAMPLE_RATE,
            loglevel="FATAL",
            lm=None,
            beam=1e-20,
            pbeam=1e-20,
            wbeam=1e-15,
            topn=2,
        )
        _decoders["align"] = decoder
    return decoder


# Rough letter-to-phone rules for words the dictionary lacks (names, coinages):
# good enough to give the aligner the right number of roughly right sounds.
_GRAPHEMES = (
    ("tch", "CH"),
    ("sch", "S K"),
    ("ch", "CH"),
    ("sh", "SH"),
    ("th", "TH"),
    ("ph", "F"),
    ("wh", "W"),
    ("ck", "K"),
    ("ng", "NG"),
    ("qu", "K W"),
    ("ee", "IY"),
    ("ea", "IY"),
    ("oo", "UW"),
    ("ou", "AW"),
    ("ow", "OW"),
    ("oa", "OW"),
    ("ai", "EY"),
    ("ay", "EY"),
    ("ie", "IY"),
    ("ei", "EY"),
    ("au", "AO"),
    ("aw", "AO"),
    ("oi", "OY"),
    ("oy", "OY"),
    ("a", "AE"),
    ("b", "B"),
    ("c", "K"),
    ("d", "D"),
    ("e", "EH"),
    ("f", "F"),
    ("g", "G"),
    ("h", "HH"),
    ("i", "IH"),
    ("j", "JH"),
    ("k", "K"),
    ("l", "L"),
    ("m", "M"),
    ("n", "N"),
    ("o", "AA"),
    ("p", "P"),
    ("q", "K"),
    ("r", "R"),
    ("s", "S"),
    ("t", "T"),
    ("u", "AH"),
    ("v", "V"),
    ("w", "W"),
    ("x", "K S"),
    ("y", "IY"),
    ("z", "Z"),
)


def _guess_phones(word: str) -> str:
    letters = re.sub(r"[^a-z]", "", word)
    if len(letters) > 3 and letters.endswith("e") and letters[-2] not in "aeiou":
        letters = letters[:-1]  # silent final e
    phones: list[str] = []
    i = 0
    while i < len(letters):
        for graph, phone in _GRAPHEMES:
            if letters.startswith(graph, i):
                if not phones or phones[-1] != phone:
                    phones.append(phone)
                i += len(graph)
                break
        else:
            i += 1
    return " ".join(phones) or "AH"


def _pronounceable(decoder: Any, token: str) -> str:
    """``token`` itself if the dictionary knows it, else a word it now knows."""
    if decoder.lookup_word(token) is not None:
        return token
    pieces: list[str] = []
    stem = token[:-2] if token.endswith("'s") else token
    # Compounds of known words ("wildfire" + "smoke") keep dictionary quality.
    for cut in range(len(stem) - 2, 1, -1):
        head, tail = stem[:cut], stem[cut:]
        if decoder.lookup_word(head) is not None and decoder.lookup_word(tail) is not None:
            pieces = [decoder.lookup_word(head), decoder.lookup_word(tail)]
            break
    phones = " ".join(pieces) if pieces else _guess_phones(stem)
    if stem != token:
        phones += " Z"
    decoder.add_word(token, phones, True)
    return token


def _chunks(words: Sequence[dict[str, Any]]) -> list[list[int]]:
    chunks: list[list[int]] = []
    for i, word in enumerate(words):
        if chunks:
            prev = words[i - 1]
            first = words[chunks[-1][0]]
            length = prev["end"] - first["start"]
            if not (
                word["start"] - prev["end"] >= _CHUNK_GAP_MS
                or (length >= _CHUNK_SENTENCE_MS and _SENTENCE_END.search(prev["text"]))
                or word["end"] - first["start"] > _CHUNK_MAX_MS
            ):
                chunks[-1].append(i)
                continue
        chunks.append([i])
    return chunks


def _quietest(db: npt.NDArray[np.float64], lo_ms: int, hi_ms: int) -> int:
    lo, hi = max(0, lo_ms // FRAME_MS), min(len(db), hi_ms // FRAME_MS)
    if hi <= lo:
        return max(0, lo_ms)
    return (lo + int(np.argmin(db[lo:hi]))) * FRAME_MS


def _align_chunk(
    decoder: Any,
    audio: npt.NDArray[np.float32],
    offset_ms: int,
    tokens: list[list[str]],
) -> list[tuple[int, int] | None] | None:
    """Aligned (start, end) ms per word of the chunk (``None``: word has no tokens)."""
    flat = [t for word_tokens in tokens for t in word_tokens]
    if not flat:
        return None
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2").tobytes()
    decoder.set_align_text(" ".join(flat))
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    segs = [
        (seg.start_frame * FRAME_MS, (seg.end_frame + 1) * FRAME_MS)
        for seg in decoder.seg() or ()
        if not _FILLER.match(seg.word)
    ]
    if len(segs) != len(flat):
        return None
    out: list[tuple[int, int] | None] = []
    k = 0
    for word_tokens in tokens:
        if not word_tokens:
            out.append(None)
            continue
        first, last = segs[k], segs[k + len(word_tokens) - 1]
        out.append((first[0] + offset_ms, last[1] + offset_ms))
        k += len(word_tokens)
    return out


def align_words(
    audio: npt.NDArray[np.float32], words: list[dict[str, Any]], *, forced: bool = True
) -> dict[str, int]:
    """Refine every word's ``start``/``end`` (ms) on ``audio``, in place.

    Args:
        audio: 16 kHz mono samples.
        words: Words with ms times, in time order.
        forced: Use forced alignment (its dictionary and acoustic model are
            English); ``False`` only snaps on frame energy.

    Returns:
        ``{"aligned": n, "snapped": m}``: words placed by forced alignment, and
        words that kept whisper's times snapped past the longest pause inside.
    """
    stats = {"aligned": 0, "snapped": 0}
    if not words:
        return stats
    db = frame_db(audio)
    threshold = _silence_threshold(db)
    duration_ms = len(audio) * 1000 // SAMPLE_RATE
    decoder = _try_decoder() if forced else None
    chunks = _chunks(words)
    # Cut between chunks at the quietest frame between their facing words' middles.
    cuts = [0]
    for left, right in itertools.pairwise(chunks):
        a, b = words[left[-1]], words[right[0]]
        cuts.append(_quietest(db, (a["start"] + a["end"]) // 2, (b["start"] + b["end"]) // 2))
    cuts.append(duration_ms)
    for n, chunk in enumerate(chunks):
        chunk_words = [words[i] for i in chunk]
        placed: list[tuple[int, int] | None] | None = None
        if decoder is not None:
            lo, hi = cuts[n], max(cuts[n + 1], cuts[n] + FRAME_MS)
            try:
                tokens = [
                    [_pronounceable(decoder, t) for t in spoken_tokens(w["text"])]
                    for w in chunk_words
                ]
                placed = _align_chunk(
                    decoder, audio[lo * SAMPLE_RATE // 1000 : hi * SAMPLE_RATE // 1000], lo, tokens
                )
            except RuntimeError as exc:
                logger.debug("alignment of %d words failed: %s", len(chunk_words), exc)
        fallback = []
        for i, word in enumerate(chunk_words):
            span = placed[i] if placed is not None else None
            if (
                span is None
                or abs(span[0] - word["start"]) > _MAX_MOVE_MS
                or abs(span[1] - word["end"]) > _MAX_MOVE_MS
            ):
                fallback.append(word)
                continue
            word["start"], word["end"] = span
            stats["aligned"] += 1
        snap_to_energy(fallback, db, threshold)
        stats["snapped"] += len(fallback)
    _tidy(words)
    return stats


def _tidy(words: list[dict[str, Any]]) -> None:
    # Keep times ordered and non-overlapping, each word at least 10 ms long.
    prev_end = 0
    for word in words:
        word["start"] = max(int(word["start"]), prev_end)
        word["end"] = max(int(word["end"]), word["start"] + FRAME_MS)
        prev_end = word["end"]
