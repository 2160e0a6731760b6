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


_BACKENDS = ("asyncio", "trio")


def _backend_twin(item: pytest.Item) -> tuple[str, str] | None:
    """``(backend, test id without it)`` for a test parametrized by ``anyio_backend``."""
    callspec = getattr(item, "callspec", None)
    param = callspec.params.get("anyio_backend") if callspec is not None else None
    backend = param[0] if isinstance(param, tuple) else param
    if backend not in _BACKENDS:
        return None
    name, _, ids = item.nodeid.partition("[")
    parts = ids.removesuffix("]").split("-")
    parts.remove(backend)
    return backend, f"{name}[{'-'.join(parts)}]"


@pytest.hookimpl(tryfirst=True)  # before ``-m`` selects on the marks added here
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the quick selection's leftovers and skip the chaos tests unless asked for.

    The quick selection (``-m "not slow"``) runs each async test on one backend: half
    of them on asyncio and half on Trio, chosen by a hash of the test's id so that the
    choice is the same in every run and every xdist worker. The other backend's twin is
    marked ``slow``: the full run (and CI) runs every test on both.

    ``@pytest.mark.chaos`` tests are skipped unless ``-m`` names chaos or
    AUDIO_HIGHLIGHTS_CHAOS=1: the chaos suite (``nox -s chaos``) runs for minutes; the
    default run keeps its fast twins.
    """
    import os
    import zlib

    twins: dict[str, list[tuple[str, pytest.Item]]] = {}
    for item in items:
        twin = _backend_twin(item)
        if twin is not None:
            twins.setdefault(twin[1], []).append((twin[0], item))
    for base, runs in twins.items():
        if len(runs) < 2:
            continue  # a test that runs on one backend only runs there
        keep = _BACKENDS[zlib.crc32(base.encode()) % 2]
        for backend, item in runs:
            if backend != keep:
                item.add_marker(pytest.mark.slow)

    if "chaos" in (config.getoption("-m") or "") or os.environ.get("AUDIO_HIGHLIGHTS_CHAOS") == "1":
        return
    skip = pytest.mark.skip(reason="chaos test: run with -m chaos or AUDIO_HIGHLIGHTS_CHAOS=1")
    for item in items:
        if item.get_closest_marker("chaos") is not None:
            item.add_marker(skip)
