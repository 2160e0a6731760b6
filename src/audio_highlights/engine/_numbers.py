"""Numbers written as digits, said as words ("200" -> "two hundred").

The forced aligner needs the words as they were spoken, and whisper writes
numbers, money, percentages and ordinals as digits.
"""

from __future__ import annotations

import re

__all__ = ["spell_number", "spoken_tokens"]

_ONES = (
    *("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"),
    *("eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen"),
    *("eighteen", "nineteen"),
)
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))
_ORDINAL_WORDS = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}
_NUMBER = re.compile(
    r"^(?P<cur>[$£€])?(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<frac>\d+))?"
    r"(?P<suffix>%|st|nd|rd|th|s|'s|k)?$",
    re.IGNORECASE,
)
_CURRENCY = {"$": "dollars", "£": "pounds", "€": "euros"}


def _below_thousand(n: int) -> list[str]:
    words: list[str] = []
    if n >= 100:
        words += [_ONES[n // 100], "hundred"]
        n %= 100
    if n >= 20:
        words.append(_TENS[n // 10])
        n %= 10
        if n:
            words.append(_ONES[n])
    elif n or not words:
        words.append(_ONES[n])
    return words


def _cardinal(n: int) -> list[str]:
    if n == 0:
        return ["zero"]
    words: list[str] = []
    for size, name in _SCALES:
        if n >= size:
            words += [*_cardinal(n // size), name]
            n %= size
    if n:
        words += _below_thousand(n)
    return words


def _year(n: int) -> list[str]:
    # 1990 is said "nineteen ninety", 2005 "two thousand five".
    high, low = divmod(n, 100)
    if 2000 <= n < 2010 or (low == 0 and n % 1000 == 0):
        return _cardinal(n)
    tail = ["hundred"] if low == 0 else (["oh", _ONES[low]] if low < 10 else _below_thousand(low))
    return [*_below_thousand(high), *tail]


def _ordinal(words: list[str]) -> list[str]:
    last = words[-1]
    if last in _ORDINAL_WORDS:
        last = _ORDINAL_WORDS[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return [*words[:-1], last]


def spell_number(token: str) -> list[str] | None:
    """The spoken words of a written number, or ``None`` if ``token`` is not one.

    Handles integers (with thousands commas), decimals, ordinals (``21st``),
    decades (``1990s``), percentages and ``$``/``£``/``€`` amounts; four-digit
    numbers without commas read as years.
    """
    match = _NUMBER.match(token)
    if match is None:
        return None
    digits = match["int"].replace(",", "")
    if len(digits) > 15:
        return [_ONES[int(d)] for d in digits]
    n = int(digits)
    suffix = (match["suffix"] or "").lower()
    plain = "," not in match["int"] and match["frac"] is None and not match["cur"]
    words = _year(n) if plain and 1100 <= n <= 2099 and suffix != "%" else _cardinal(n)
    if match["frac"] is not None:
        words += ["point", *(_ONES[int(d)] for d in match["frac"])]
    if suffix in ("st", "nd", "rd", "th"):
        words = _ordinal(words)
    elif suffix in ("s", "'s"):
        words = [
            *words[:-1],
            words[-1][:-1] + "ies" if words[-1].endswith("y") else words[-1] + "s",
        ]
    elif suffix == "k":
        words.append("thousand")
    elif suffix == "%":
        words.append("percent")
    if match["cur"]:
        words.append(_CURRENCY[match["cur"]])
    return words


_SPLIT = re.compile(r"[\s\-\u2013\u2014/]+")  # spaces, hyphens, en and em dashes, slashes
_EDGE = re.compile(r"^[^\w$£€]+|[^\w%]+$")


def spoken_tokens(text: str) -> list[str]:
    """Lowercase word tokens as they would be spoken, numbers spelled out.

    Hyphens and slashes split words; punctuation at the edges goes; ``&`` is
    "and".
    """
    tokens: list[str] = []
    for part in _SPLIT.split(text):
        if part == "&":
            tokens.append("and")
            continue
        part = _EDGE.sub("", part)
        if not part:
            continue
        spelled = spell_number(part)
        if spelled is not None:
            tokens += spelled
            continue
        for piece in re.findall(r"[a-z]+(?:'[a-z]+)?|\d+", part.lower()):
            tokens += spell_number(piece) or [piece]
    return tokens
