"""Derived views of a completed transcript: sentences, paragraphs, subtitles, word search."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["paragraphs", "sentences", "subtitles", "word_search"]

_SENTENCE_END = re.compile(r"[.!?][\"')\]]*$")
# A pause this long between sentences starts a new paragraph.
_PARAGRAPH_GAP_MS = 1500
_MAX_SENTENCES_PER_PARAGRAPH = 6
_WORD_CHARS = re.compile(r"[^\w']+")


def _group(words: Sequence[Mapping[str, Any]], ends: Any) -> list[list[Mapping[str, Any]]]:
    groups: list[list[Mapping[str, Any]]] = []
    current: list[Mapping[str, Any]] = []
    for i, word in enumerate(words):
        current.append(word)
        nxt = words[i + 1] if i + 1 < len(words) else None
        if nxt is None or ends(current, word, nxt):
            groups.append(current)
            current = []
    return groups


def _block(words: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    confidences = [float(w.get("confidence") or 0.0) for w in words]
    speakers = Counter(w.get("speaker") for w in words if w.get("speaker") is not None)
    return {
        "text": " ".join(str(w["text"]) for w in words),
        "start": words[0]["start"],
        "end": words[-1]["end"],
        "confidence": round(sum(confidences) / len(confidences), 4),
        "words": [dict(w) for w in words],
        # With speaker labels, the voice that said most of the block's words.
        "speaker": speakers.most_common(1)[0][0] if speakers else None,
    }


def _sentence_groups(words: Sequence[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    return _group(words, lambda cur, w, nxt: bool(_SENTENCE_END.search(str(w["text"]))))


def sentences(transcript: Mapping[str, Any]) -> dict[str, Any]:
    """The ``/sentences`` response: words split at sentence-final punctuation."""
    words = transcript.get("words") or []
    return {
        "id": transcript["id"],
        "confidence": transcript.get("confidence"),
        "audio_duration": transcript.get("audio_duration"),
        "sentences": [_block(g) for g in _sentence_groups(words)],
    }


def paragraphs(transcript: Mapping[str, Any]) -> dict[str, Any]:
    """The ``/paragraphs`` response: sentences joined until a long pause or six sentences."""
    words = transcript.get("words") or []
    groups = _sentence_groups(words)
    paras: list[list[Mapping[str, Any]]] = []
    count = 0
    for i, group in enumerate(groups):
        if (
            not paras
            or count >= _MAX_SENTENCES_PER_PARAGRAPH
            or group[0]["start"] - groups[i - 1][-1]["end"] >= _PARAGRAPH_GAP_MS
        ):
            paras.append([])
            count = 0
        paras[-1].extend(group)
        count += 1
    out = [_block(p) for p in paras]
    for para in out:
        del para["speaker"]
    return {
        "id": transcript["id"],
        "confidence": transcript.get("confidence"),
        "audio_duration": transcript.get("audio_duration"),
        "paragraphs": out,
    }


def _clock(ms: int, sep: str) -> str:
    hours, rest = divmod(int(ms), 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{sep}{millis:03d}"


def subtitles(transcript: Mapping[str, Any], fmt: str, chars_per_caption: int) -> str:
    """SRT or WebVTT captions of at most ``chars_per_caption`` characters each."""
    captions: list[list[Mapping[str, Any]]] = []
    for sentence in _sentence_groups(transcript.get("words") or []):
        current: list[Mapping[str, Any]] = []
        length = 0
        for word in sentence:
            extra = len(str(word["text"])) + (1 if current else 0)
            if current and length + extra > chars_per_caption:
                captions.append(current)
                current, length, extra = [], 0, len(str(word["text"]))
            current.append(word)
            length += extra
        if current:
            captions.append(current)
    sep = "," if fmt == "srt" else "."
    lines = [] if fmt == "srt" else ["WEBVTT", ""]
    for n, caption in enumerate(captions, 1):
        if fmt == "srt":
            lines.append(str(n))
        start, end = _clock(caption[0]["start"], sep), _clock(caption[-1]["end"], sep)
        lines.append(f"{start} --> {end}")
        lines.append(" ".join(str(w["text"]) for w in caption))
        lines.append("")
    return "\n".join(lines)


def _norm(text: str) -> str:
    return _WORD_CHARS.sub("", text.lower())


def word_search(transcript: Mapping[str, Any], terms: Sequence[str]) -> dict[str, Any]:
    """The ``/word-search`` response: where each term (a word or phrase) occurs."""
    words = transcript.get("words") or []
    normed = [_norm(str(w["text"])) for w in words]
    matches = []
    total = 0
    for term in terms:
        parts = [p for p in (_norm(t) for t in term.split()) if p]
        if not parts:
            continue
        timestamps, indexes = [], []
        for i in range(len(normed) - len(parts) + 1):
            if normed[i : i + len(parts)] == parts:
                timestamps.append([words[i]["start"], words[i + len(parts) - 1]["end"]])
                indexes.append(i)
        total += len(indexes)
        matches.append(
            {"text": term, "count": len(indexes), "timestamps": timestamps, "indexes": indexes}
        )
    return {"id": transcript["id"], "total_count": total, "matches": matches}
