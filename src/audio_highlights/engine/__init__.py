"""The offline engine: an AssemblyAI-compatible server that runs on this machine.

Install it with ``pip install "audio-highlights[engine]"``. Names are loaded on
first use, so ``from audio_highlights.engine import extract_highlights`` does
not pull in the server or the speech recogniser.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._cache import EngineRunning, cache_entries, clear_cache
    from ._engine import Engine, open_engine
    from ._keyphrases import extract_highlights
    from ._language import LanguageModelUnavailable
    from ._serve import run_server
    from ._settings import EngineSettings, default_data_dir

__all__ = [
    "Engine",
    "EngineRunning",
    "EngineSettings",
    "LanguageModelUnavailable",
    "cache_entries",
    "clear_cache",
    "default_data_dir",
    "extract_highlights",
    "open_engine",
    "run_server",
]

# public name -> private module that defines it
_LAZY = {
    "Engine": "._engine",
    "EngineRunning": "._cache",
    "EngineSettings": "._settings",
    "LanguageModelUnavailable": "._language",
    "cache_entries": "._cache",
    "clear_cache": "._cache",
    "default_data_dir": "._settings",
    "extract_highlights": "._keyphrases",
    "open_engine": "._engine",
    "run_server": "._serve",
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
