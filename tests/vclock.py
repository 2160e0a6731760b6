"""Virtual time for both backends: sleeps and deadlines pass at once, in order.

On Trio, ``trio.testing.MockClock(autojump_threshold=0)``. asyncio has no such clock, so
:class:`VirtualTimeLoop` is an event loop whose ``time()`` is virtual: whenever every task
is blocked and no I/O is ready, it jumps to the next timer instead of sleeping. anyio's
``current_time``, ``sleep``, ``fail_after`` and ``move_on_after`` all read the loop's
clock, so the SDK runs unchanged. Use it with in-memory transports only: while a real
socket or a thread is working, time would jump past deadlines.
"""

from __future__ import annotations

import asyncio
import selectors
from typing import Any

import trio.testing


class _JumpingSelector:
    def __init__(self, selector: selectors.BaseSelector, loop: VirtualTimeLoop) -> None:
        self._selector = selector
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[Any]:
        ready = self._selector.select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:
            # Nothing is scheduled: only real I/O (a thread finishing) can wake the loop.
            return self._selector.select(None)
        self._loop.virtual_now += timeout
        return []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._selector, name)


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An asyncio loop on virtual time (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.virtual_now = 0.0
        self._selector = _JumpingSelector(self._selector, self)  # type: ignore[has-type]

    def time(self) -> float:
        return self.virtual_now


def virtual_backend(name: str) -> tuple[str, dict[str, Any]]:
    """An ``anyio_backend`` value: ``name`` on virtual time (asyncio in debug mode)."""
    if name == "asyncio":
        return ("asyncio", {"loop_factory": VirtualTimeLoop, "debug": True})
    return ("trio", {"clock": trio.testing.MockClock(autojump_threshold=0)})
