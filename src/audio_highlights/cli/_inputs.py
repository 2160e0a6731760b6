"""Turn the command's arguments into sources: URLs as given, globs expanded here.

Shells on Windows pass ``*.mp3`` through unexpanded, so the command expands
patterns itself (``**`` included); a pattern that matches nothing is reported
as a failed input rather than silently dropped.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence

import attrs

from .._sources import is_url

__all__ = ["Input", "expand_inputs"]

_GLOB_CHARS = frozenset("*?[")


@attrs.frozen
class Input:
    """One input of the command.

    Attributes:
        source: The path or URL to transcribe.
        problem: Why it cannot be transcribed (a pattern matched nothing), or ``None``.
    """

    source: str
    problem: str | None = None


def expand_inputs(arguments: Sequence[str]) -> list[Input]:
    """Expand each argument: URLs and existing paths as they are, patterns to sorted matches."""
    out: list[Input] = []
    for argument in arguments:
        if is_url(argument):
            out.append(Input(argument))
            continue
        path = os.path.expanduser(argument)
        if os.path.exists(path) or not _GLOB_CHARS.intersection(argument):
            out.append(Input(path))
            continue
        matches = sorted(m for m in glob.glob(path, recursive=True) if os.path.isfile(m))
        if not matches:
            out.append(Input(argument, problem="no file matches this pattern"))
        out.extend(Input(m) for m in matches)
    return out
