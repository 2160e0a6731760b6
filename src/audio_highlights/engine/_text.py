"""Shape recognised words the way a request asked (runs in the worker).

Each step takes and returns a list of word dicts (``text``, ``start``, ``end``,
``confidence`` in ms), in this order: filler words, audio tags, numbers,
punctuation and case, custom spelling, profanity. Steps that split a word (a
number spelled out as several words) share its time span out by length; steps
that join words (a custom spelling of a phrase) span them all.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from ._params import JobOptions

__all__ = [
    "apply_custom_spelling",
    "drop_audio_tags",
    "drop_fillers",
    "format_words",
    "mask_profanity",
    "shape_words",
    "spell_numbers",
    "spoken_tokens",
]

Words = list[dict[str, Any]]

# AssemblyAI's documented filler words (removed unless disfluencies is true), with
# repeated letters collapsed so whisper's "Umm" or "Hmmm" match too.
_FILLERS = frozenset({"um", "uh", "hm", "mhm", "uh-huh", "ah", "huh", "m"})
_REPEATS = re.compile(r"(.)\1+")
_EDGE_PUNCT = re.compile(r"^[^\w]+|[^\w]+$")
_SENTENCE_END = (".", "?", "!")


def _core(text: str) -> str:
    return _EDGE_PUNCT.sub("", text).lower()


def drop_fillers(words: Words) -> Words:
    """Remove filler words; a sentence that started with one starts with the next word."""
    out: Words = []
    capitalise = False
    for i, word in enumerate(words):
        if _REPEATS.sub(r"\1", _core(word["text"])) in _FILLERS:
            at_start = i == 0 or words[i - 1]["text"].endswith(_SENTENCE_END)
            capitalise = capitalise or (at_start and word["text"][:1].isupper())
            continue
        if capitalise:
            word = {**word, "text": word["text"][:1].upper() + word["text"][1:]}
            capitalise = False
        out.append(word)
    return out


def drop_audio_tags(words: Words) -> Words:
    """Remove bracketed audio tags such as ``[Music]`` or ``(laughs)``."""
    out: Words = []
    inside = None
    for word in words:
        text = word["text"]
        if inside is None and text[:1] in "[(":
            inside = "]" if text[0] == "[" else ")"
        if inside is not None:
            if inside in text:
                inside = None
            continue
        out.append(word)
    return out


def _split(word: dict[str, Any], texts: list[str]) -> Words:
    """Share ``word``'s span among ``texts`` in proportion to their lengths."""
    if len(texts) == 1:
        return [{**word, "text": texts[0]}]
    total = sum(len(t) for t in texts)
    span = word["end"] - word["start"]
    out: Words = []
    at = 0
    for text in texts:
        start = word["start"] + round(span * at / total)
        at += len(text)
        out.append(
            {**word, "text": text, "start": start, "end": word["start"] + round(span * at / total)}
        )
    return out


_NUMBER = re.compile(
    r"^(?P<pre>[^\w$€£]*)(?P<cur>[$€£])?(?P<num>\d{1,3}(?:,\d{3})+|\d+)(?P<frac>\.\d+)?"
    r"(?P<suf>st|nd|rd|th|s|%)?(?P<post>[^\w]*)$"
)
_DIGITS = re.compile(r"\d+")
_CURRENCIES = {"$": ("USD", "dollar"), "€": ("EUR", "euro"), "£": ("GBP", "pound")}


def _words_of(spoken: str) -> list[str]:
    # num2words writes "one thousand, two hundred and thirty-four"
    return spoken.replace(",", " ").split()


def _spoken_number(match: re.Match[str], language: str) -> str | None:
    from num2words import num2words  # type: ignore[import-untyped,unused-ignore]

    digits = match["num"].replace(",", "")
    frac, suffix, currency = match["frac"], match["suf"], match["cur"]
    english = language == "en"
    try:
        if currency:
            if not english or suffix:
                return None
            code, unit = _CURRENCIES[currency]
            if frac:  # "five dollars, fifty cents"
                amount = Decimal(digits + frac)
                return str(num2words(amount, lang="en", to="currency", currency=code))
            return f"{num2words(int(digits))} {unit}{'' if int(digits) == 1 else 's'}"
        value = Decimal(digits + (frac or "")) if frac else int(digits)
        if suffix in ("st", "nd", "rd", "th"):
            return str(num2words(int(digits), lang=language, to="ordinal")) if not frac else None
        is_year = english and not frac and "," not in match["num"] and 1100 <= int(digits) <= 2099
        spoken = str(
            num2words(int(digits), lang="en", to="year")
            if is_year
            else num2words(value, lang=language)
        )
        if suffix == "s":
            if not english:
                return None
            spoken = spoken[:-1] + "ies" if spoken.endswith("y") else spoken + "s"
        elif suffix == "%":
            if not english:
                return None
            spoken += " percent"
        return spoken
    except (NotImplementedError, OverflowError, InvalidOperation, ValueError, KeyError):
        # num2words has no rules for this language (or this kind of number)
        return None


def spell_numbers(words: Words, language: str) -> Words:
    """Spell out numbers ("200,000" -> "two hundred thousand") with num2words.

    Ordinals, years, decimals, percentages and currency amounts are handled in
    English; other languages get cardinals and ordinals where num2words knows
    them, and keep their digits otherwise.
    """
    out: Words = []
    for word in words:
        text = word["text"]
        if not any(c.isdigit() for c in text):
            out.append(word)
            continue
        match = _NUMBER.match(text)
        spoken = _spoken_number(match, language) if match else None
        if match is None or spoken is None:
            out.append(word)
            continue
        texts = _words_of(spoken)
        texts[0] = match["pre"] + texts[0]
        texts[-1] += match["post"]
        out.extend(_split(word, texts))
    return out


_TOKEN_SPLIT = re.compile(r"[\s\-\u2013\u2014/]+")  # spaces, hyphens, dashes, slashes
_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?|\d+")


def spoken_tokens(text: str) -> list[str]:
    """English text as the lowercase words a speaker says, numbers spelled out.

    What the forced aligner and the benchmarks' WER compare: ``"$20,"`` is
    "twenty dollars", ``"21st"`` "twenty first", ``"well-known"`` "well known";
    punctuation goes and ``&`` is "and".
    """
    tokens: list[str] = []
    for part in _TOKEN_SPLIT.split(text):
        if part == "&":
            tokens.append("and")
            continue
        match = _NUMBER.match(part)
        spoken = _spoken_number(match, "en") if match else None
        tokens += _TOKEN.findall((spoken or part).lower().replace("-", " "))
    out: list[str] = []
    for token in tokens:
        if token.isdigit():  # digits glued to letters ("covid19"): said one by one
            out += [_ONES[int(d)] for d in token]
        else:
            out.append(token)
    return out


_ONES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

# Punctuation, except inside numbers ("3.5", "200,000") and word-internal ' and -.
_PUNCT = re.compile(r"(?<!\d)[^\w\s'-]+|[^\w\s'-]+(?!\d)")


def format_words(words: Words, *, punctuate: bool, format_text: bool) -> Words:
    """Drop punctuation (``punctuate=False``) and casing (``format_text=False``)."""
    out: Words = []
    for word in words:
        text = word["text"]
        if not punctuate:
            text = _PUNCT.sub("", text)
        if not format_text:
            text = text.lower()
        if text:
            out.append({**word, "text": text})
    return out


def apply_custom_spelling(words: Words, rules: Iterable[tuple[tuple[str, ...], str]]) -> Words:
    """Replace words or phrases, matched case-insensitively without punctuation.

    A phrase becomes one word spanning the phrase; the punctuation around the
    matched words is kept.
    """
    phrases: list[tuple[list[str], str]] = []
    for sources, target in rules:
        for source in sources:
            phrases.append(([_core(part) for part in source.split()], target))
    # longest phrases first, so "new york city" wins over "new york"
    phrases.sort(key=lambda p: -len(p[0]))
    cores = [_core(w["text"]) for w in words]
    out: Words = []
    i = 0
    while i < len(words):
        for phrase, target in phrases:
            n = len(phrase)
            if cores[i : i + n] == phrase:
                first, last = words[i], words[i + n - 1]
                lead = re.match(r"^[^\w]*", first["text"])
                trail = re.search(r"[^\w]*$", last["text"])
                text = (lead[0] if lead else "") + target + (trail[0] if trail else "")
                confidence = min(w["confidence"] for w in words[i : i + n])
                out.append({**first, "text": text, "end": last["end"], "confidence": confidence})
                i += n
                break
        else:
            out.append(words[i])
            i += 1
    return out


@functools.lru_cache(maxsize=4096)
def _is_profane(word: str) -> bool:
    from better_profanity import profanity  # type: ignore[import-untyped,unused-ignore]

    # better_profanity loads its word list on first use (once per worker)
    return bool(profanity.contains_profanity(word))


_WORD_PARTS = re.compile(r"^(?P<pre>[^\w]*)(?P<base>[\w-]+?)(?P<rest>(?:'\w*)?[^\w]*)$")


def mask_profanity(words: Words) -> Words:
    """Mask profane words as AssemblyAI does: first letter, then one ``*`` per letter.

    Case, apostrophes and surrounding punctuation are kept (``"Shit's,"`` ->
    ``"S***'s,"``). The word list is better-profanity's (English).
    """
    out: Words = []
    for word in words:
        match = _WORD_PARTS.match(word["text"])
        if match is None or not _is_profane(match["base"].lower()):
            out.append(word)
            continue
        base = match["base"]
        masked = base[0] + "*" * (len(base) - 1)
        out.append({**word, "text": match["pre"] + masked + match["rest"]})
    return out


def shape_words(words: Words, options: JobOptions, language: str) -> Words:
    """Apply every step ``options`` asks for to whisper's ``words`` in ``language``."""
    if not options.disfluencies and language == "en":
        words = drop_fillers(words)
    if options.remove_audio_tags:
        words = drop_audio_tags(words)
    if not options.format_text:
        words = spell_numbers(words, language)
    words = format_words(words, punctuate=options.punctuate, format_text=options.format_text)
    if options.custom_spelling:
        words = apply_custom_spelling(words, options.custom_spelling)
    if options.filter_profanity and language == "en":
        words = mask_profanity(words)
    return words
