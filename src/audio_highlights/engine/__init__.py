"""The offline engine: an AssemblyAI-compatible server that runs on this machine.

Install it with ``pip install "audio-highlights[engine]"``. Names are loaded on
first use, so ``from audio_highlights.engine import extract_highlights`` does
not pull in the server or the speech recogniser.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._keyphrases import extract_highlights

__all__ = ["extract_highlights"]

# public name -> private module that defines it
_LAZY = {
    "extract_highlights": "._keyphrases",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
