"""What the command tells a person on stderr while it works.

On a terminal: a row per input in flight saying where it is (uploading,
submitting, queued on the server, processing), its audio length once known
and its elapsed time; an overall bar counting the inputs done, failed and
still waiting for a slot; and a line the moment an input is done or fails
(with the reason). Elsewhere (a pipe, a log file): only the failures, each as
it happens.
"""

from __future__ import annotations

import time
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

from .. import BatchEvent, BatchEventKind, TranscriptStatus
from ._output import mmss

__all__ = ["LiveProgress"]

_STATES = {
    BatchEventKind.UPLOADING: "uploading",
    BatchEventKind.UPLOADED: "submitting",
}
_JOB_STATES = {
    TranscriptStatus.QUEUED: "queued",
    TranscriptStatus.PROCESSING: "processing",
}


_BAR_WIDTH = 24
# What a row's other columns take: the spinner, the (overall row's) bar, the elapsed
# time and one space between each two of the five; the count's width varies.
_OTHER_COLUMNS = 1 + _BAR_WIDTH + len("0:00:00") + 4
_LONGEST_STATE = max(len(s) for s in (*_STATES.values(), *_JOB_STATES.values()))


def _fit(name: str, room: int) -> str:
    """``name`` in at most ``room`` characters, cut at the start: the file name stays."""
    if len(name) <= room:
        return name
    return "…" + name[len(name) - room + 1 :]


class _Bar(ProgressColumn):
    """A bar only where there is a total to measure against (the overall row)."""

    def __init__(self) -> None:
        super().__init__()
        self._bar = BarColumn(bar_width=_BAR_WIDTH)

    def render(self, task: Task) -> RenderableType:
        return Text("") if task.total is None else self._bar.render(task)


class _Count(ProgressColumn):
    """``done/total`` where there is a total; nothing on an input's own row."""

    def render(self, task: Task) -> Text:
        if task.total is None:
            return Text("")
        return Text(f"{int(task.completed)}/{int(task.total)}", style="progress.download")


def _state(event: BatchEvent) -> str | None:
    if event.kind in _STATES:
        return _STATES[event.kind]
    if event.kind in (BatchEventKind.SUBMITTED, BatchEventKind.STATUS):
        # A job the server has not reported on reads as queued.
        return _JOB_STATES.get(event.status or TranscriptStatus.QUEUED, str(event.status))
    return None


class LiveProgress:
    """Progress of the command's inputs on ``console`` (stderr).

    Args:
        names: Display name of each input, by index.
        console: Where to draw (stderr).
        live: Draw live rows and bars (stderr is a terminal and progress is wanted);
            otherwise only failures are printed, one line each. Kept as ``live``.
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
        self.live = live
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
            expand=True,
        )
        self._started = False
        self._overall: TaskID | None = None
        self._rows: dict[int, TaskID] = {}
        self._states: dict[int, str] = {}
        self._lengths: dict[int, float] = {}
        self._since: dict[int, float] = {}
        self.done = 0
        self.failed = 0

    def __enter__(self) -> LiveProgress:
        if self.live:
            self._overall = self._progress.add_task(self._summary(), total=len(self._names))
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

    def audio_length(self, index: int, seconds: float) -> None:
        """Show input ``index``'s audio length from now on."""
        self._lengths[index] = seconds
        row = self._rows.get(index)
        if row is not None:
            self._progress.update(row, description=self._describe(index))

    def on_event(self, event: BatchEvent) -> None:
        """Show the state of an input in flight (a batch event)."""
        state = _state(event)
        if not self.live or state is None:
            return
        self._states[event.index] = state
        row = self._rows.get(event.index)
        if row is None:
            # Rows exist only for inputs in flight: a batch of thousands
            # shows what is being worked on, not thousands of lines.
            self._rows[event.index] = self._progress.add_task(
                self._describe(event.index), total=None
            )
            self._since[event.index] = time.monotonic()
            self._refresh_summary()
        else:
            self._progress.update(row, description=self._describe(event.index))

    def finished(
        self, index: int, failure: str | None, *, audio_duration: float | None = None
    ) -> None:
        """Report at once that input ``index`` is done, or failed and why."""
        name = self._names[index]
        row = self._rows.pop(index, None)
        if row is not None:
            self._progress.remove_task(row)
        since = self._since.pop(index, None)
        self._states.pop(index, None)
        if failure is None:
            self.done += 1
            if self.live:
                facts = []
                if audio_duration is not None:
                    facts.append(f"{mmss(int(audio_duration * 1000))} of audio")
                if since is not None:
                    facts.append(f"in {time.monotonic() - since:.1f} s")
                about = f"  ({', '.join(facts)})" if facts else ""
                line = Text.assemble(("done   ", "green"), name, (about, "dim"))
                self._console.print(line, highlight=False, soft_wrap=True)
        else:
            self.failed += 1
            if self.live:
                line = Text.assemble(("failed ", "red"), name, ": ", failure)
            else:
                line = Text(f"audio-highlights: {name}: {failure}")
            self._console.print(line, highlight=False, soft_wrap=True)
        if self._overall is not None:
            self._progress.update(self._overall, advance=1)
            self._refresh_summary()

    def _describe(self, index: int) -> str:
        length = self._lengths.get(index)
        about = f"  ({mmss(int(length * 1000))})" if length is not None else ""
        # A long path is cut at its start, so that the file name, the length and the
        # state (what the row is for) always show, on a narrow terminal too.
        count = 2 * len(str(len(self._names))) + 1  # "12/34"
        room = self._console.width - _OTHER_COLUMNS - count - len(about) - 2 - _LONGEST_STATE
        name = _fit(self._names[index], max(room, 12))
        return f"{name}{about}: {self._states.get(index, '')}"

    def _summary(self) -> str:
        waiting = len(self._names) - self.done - self.failed - len(self._rows)
        parts = [f"{self.done} done"]
        if self.failed:
            parts.append(f"{self.failed} failed")
        if waiting > 0:
            parts.append(f"{waiting} waiting")
        return "all inputs: " + ", ".join(parts)

    def _refresh_summary(self) -> None:
        if self._overall is not None:
            self._progress.update(self._overall, description=self._summary())
