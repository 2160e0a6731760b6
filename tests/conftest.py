"""Shared pytest fixtures."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run every ``@pytest.mark.anyio`` test on both asyncio and trio."""
    return str(request.param)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip ``@pytest.mark.chaos`` tests unless ``-m`` names chaos or AUDIO_HIGHLIGHTS_CHAOS=1.

    The chaos suite (``nox -s chaos``) runs for minutes; the default run keeps its fast twins.
    """
    import os

    if "chaos" in (config.getoption("-m") or "") or os.environ.get("AUDIO_HIGHLIGHTS_CHAOS") == "1":
        return
    skip = pytest.mark.skip(reason="chaos test: run with -m chaos or AUDIO_HIGHLIGHTS_CHAOS=1")
    for item in items:
        if item.get_closest_marker("chaos") is not None:
            item.add_marker(skip)
