"""Live progress on stderr: a row per file in flight and an overall bar."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from .._batch import BatchEvent, BatchEventKind

__all__ = ["LiveProgress"]

_STATES = {
    BatchEventKind.UPLOADED: "uploaded, submitting",
    BatchEventKind.SUBMITTED: "transcribing",
}


class LiveProgress:
    """Shows the batch's events; does nothing when ``enabled`` is false (not a terminal).

    Args:
        names: Display name of each input, by index.
        console: Where to draw (stderr).
        enabled: Whether to draw at all.
    """

    def __init__(self, names: list[str], console: Console, *, enabled: bool) -> None:
        self._names = names
        self._console = console
        self._enabled = enabled
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._overall: TaskID | None = None
        self._rows: dict[int, TaskID] = {}
        self._failed = 0

    def __enter__(self) -> LiveProgress:
        if self._enabled:
            self._progress.start()
            self._overall = self._progress.add_task("all inputs", total=len(self._names))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._enabled:
            self._progress.stop()

    def on_event(self, event: BatchEvent) -> None:
        """Update the display for one batch event."""
        if not self._enabled or self._overall is None:
            return
        name = self._names[event.index]
        if event.kind in _STATES:
            state = _STATES[event.kind]
            row = self._rows.get(event.index)
            if row is None:
                # Rows exist only for files in flight: a batch of thousands
                # shows its workers, not thousands of lines.
                self._rows[event.index] = self._progress.add_task(f"{name}: {state}", total=None)
            else:
                self._progress.update(row, description=f"{name}: {state}")
            return
        row = self._rows.pop(event.index, None)
        if row is not None:
            self._progress.remove_task(row)
        if event.kind is BatchEventKind.FAILED:
            self._failed += 1
            self._console.print(Text.assemble(("failed ", "red"), name), highlight=False)
        else:
            self._console.print(Text.assemble(("done   ", "green"), name), highlight=False)
        failed = f", {self._failed} failed" if self._failed else ""
        self._progress.update(self._overall, advance=1, description=f"all inputs{failed}")
