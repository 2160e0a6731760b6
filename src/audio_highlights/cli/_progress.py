"""What the command tells a person on stderr while it works.

On a terminal: a row per input in flight with its state and elapsed time, an
overall bar, and a line the moment an input is done or fails (with the
reason). Elsewhere (a pipe, a log file): only the failures, each as it happens.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import TracebackType

from rich.console import Console, RenderableType
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Column
from rich.text import Text

from .. import BatchEvent, BatchEventKind

__all__ = ["LiveProgress"]

_STATES = {
    BatchEventKind.UPLOADED: "uploaded, submitting",
    BatchEventKind.SUBMITTED: "transcribing",
}


class _Bar(ProgressColumn):
    """A bar only where there is a total to measure against (the overall row)."""

    def __init__(self) -> None:
        super().__init__()
        self._bar = BarColumn(bar_width=30)

    def render(self, task: Task) -> RenderableType:
        return Text("") if task.total is None else self._bar.render(task)


class _Count(ProgressColumn):
    """``done/total`` where there is a total; nothing on a file's own row."""

    def render(self, task: Task) -> Text:
        if task.total is None:
            return Text("")
        return Text(f"{int(task.completed)}/{int(task.total)}", style="progress.download")


class LiveProgress:
    """Progress of the command's inputs on ``console`` (stderr).

    Args:
        names: Display name of each input, by index.
        console: Where to draw (stderr).
        live: Draw live rows and bars (stderr is a terminal and progress is wanted);
            otherwise only failures are printed, one line each.
        stdout_is_terminal: Whether stdout shares the screen, so that results
            written to it must wait for the live rows to step aside.
    """

    def __init__(
        self,
        names: Sequence[str],
        console: Console,
        *,
        live: bool,
        stdout_is_terminal: bool = False,
    ) -> None:
        self._names = names
        self._console = console
        self._live = live
        self._stdout_is_terminal = stdout_is_terminal
        self._progress = Progress(
            SpinnerColumn(),
            # The names take the room left, so the bars do not move as rows come and go.
            TextColumn(
                "{task.description}",
                markup=False,
                table_column=Column(ratio=1, no_wrap=True, overflow="ellipsis"),
            ),
            _Bar(),
            _Count(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._started = False
        self._overall: TaskID | None = None
        self._rows: dict[int, TaskID] = {}
        self.done = 0
        self.failed = 0

    def __enter__(self) -> LiveProgress:
        if self._live:
            self._overall = self._progress.add_task("all inputs", total=len(self._names))
            self._progress.start()
            self._started = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._started:
            self._started = False
            self._progress.stop()

    def emit(self, write: Callable[[], None]) -> None:
        """Run ``write`` (output on stdout) with the live rows out of its way."""
        if not (self._started and self._stdout_is_terminal):
            write()
            return
        # Both streams draw on one screen: the rows are taken down, the
        # result printed where they were, and the rows drawn again below it.
        self._progress.stop()
        try:
            write()
        finally:
            self._progress.start()

    def on_event(self, event: BatchEvent) -> None:
        """Show the state of an input in flight (a batch event)."""
        state = _STATES.get(event.kind)
        if not self._live or state is None:
            return
        description = f"{self._names[event.index]}: {state}"
        row = self._rows.get(event.index)
        if row is None:
            # Rows exist only for inputs in flight: a batch of thousands
            # shows what is being worked on, not thousands of lines.
            self._rows[event.index] = self._progress.add_task(description, total=None)
        else:
            self._progress.update(row, description=description)

    def finished(self, index: int, failure: str | None) -> None:
        """Report at once that input ``index`` is done, or failed and why."""
        name = self._names[index]
        row = self._rows.pop(index, None)
        if row is not None:
            self._progress.remove_task(row)
        if failure is None:
            self.done += 1
            if self._live:
                self._console.print(Text.assemble(("done   ", "green"), name), highlight=False)
        else:
            self.failed += 1
            if self._live:
                line = Text.assemble(("failed ", "red"), name, ": ", failure)
            else:
                line = Text(f"audio-highlights: {name}: {failure}")
            self._console.print(line, highlight=False, soft_wrap=True)
        if self._overall is not None:
            failed = f", {self.failed} failed" if self.failed else ""
            self._progress.update(self._overall, advance=1, description=f"all inputs{failed}")
