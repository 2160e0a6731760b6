"""Shared pytest fixtures."""

from __future__ import annotations

import pytest


@pytest.fixture(
    params=[
        pytest.param(("asyncio", {"debug": True}), id="asyncio"),
        pytest.param(("trio", {}), id="trio"),
    ]
)
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, object]]:
    """Run every ``@pytest.mark.anyio`` test on asyncio (in debug mode, as anyio's own
    tests do: unawaited coroutines and calls from the wrong thread are reported) and Trio."""
    return request.param  # type: ignore[no-any-return]


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
