"""Regenerate ``data/lexicon.txt.gz``, the part-of-speech table the extractor reads.

Run it by hand (``python -m audio_highlights.engine._lexicon_build``) with
``lemminflect`` installed; the SDK never imports this module. The source is
lemminflect's ``lemma_lu.csv.gz`` (MIT licence, derived from the public AGID and
SPECIALIST lexicons), which lists each English word form with its possible
universal POS tags. Only the tag sets are kept, as bit masks.
"""

from __future__ import annotations

import gzip
import importlib.resources
from collections import defaultdict
from pathlib import Path

NOUN = 1
VERB = 2
ADJ = 4
ADV = 8

_TAGS = {"noun": NOUN, "verb": VERB, "adj": ADJ, "adv": ADV, "aux": VERB}


def build(out: Path) -> int:
    """Write the table to ``out`` and return how many words it holds.

    Args:
        out: Destination ``.txt.gz`` path.

    Returns:
        The number of word forms written.
    """
    source = importlib.resources.files("lemminflect") / "resources" / "lemma_lu.csv.gz"
    masks: dict[str, int] = defaultdict(int)
    with gzip.open(str(source), "rt", encoding="utf-8") as fh:
        for line in fh:
            parts = line.rstrip("\n").split(",")
            if len(parts) < 2 or not parts[0].isascii():
                continue
            word = parts[0].lower()
            masks[word] |= _TAGS.get(parts[1], 0)
    # Unknown words default to nouns at run time, so plain nouns need no entry;
    # dropping them keeps the shipped file small.
    groups: dict[int, list[str]] = defaultdict(list)
    for word, mask in masks.items():
        if mask and mask != NOUN and " " not in word:
            groups[mask].append(word)
    lines = [f"{mask}\t{' '.join(sorted(words))}" for mask, words in sorted(groups.items())]
    payload = ("\n".join(lines) + "\n").encode("utf-8")
    # mtime=0 keeps the file byte-identical between rebuilds.
    out.write_bytes(gzip.compress(payload, compresslevel=9, mtime=0))
    return sum(len(words) for words in groups.values())


if __name__ == "__main__":
    target = Path(__file__).with_name("data") / "lexicon.txt.gz"
    print(build(target), "words ->", target)
