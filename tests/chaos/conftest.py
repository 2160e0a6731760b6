"""The chaos suite measures the SDK under load at its real speed: asyncio without debug mode."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    # Debug mode's bookkeeping (coroutine origins, slow-callback timing) would slow the
    # loop enough to change what these timing-driven runs exercise.
    return str(request.param)
