"""How results are written: tables for people; JSON, JSON lines and CSV for programs.

Each format is written as early as its shape allows: a table or a JSON line
as soon as its input finishes, CSV rows in input order as soon as every
earlier input is done, a ``--json`` array once all are.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

import attrs
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .. import Transcript

__all__ = [
    "CSV_HEADER",
    "Failure",
    "Outcome",
    "ResultWriter",
    "mmss",
    "out_dir_names",
    "record",
]


@attrs.frozen
class Failure:
    """Why one input produced no transcript.

    Attributes:
        type: The SDK's error class (``SourceError``, ``JobFailedError``...).
        message: What went wrong, in words.
    """

    type: str
    message: str

    def __str__(self) -> str:
        return f"{self.type}: {self.message}"


#: One input's result: its source and the transcript, or why it failed.
Outcome = tuple[str, "Transcript | Failure"]

_SHOWN_TIMES = 3

CSV_HEADER = (
    "source",
    "transcript_id",
    "phrase",
    "count",
    "rank",
    "timestamps_ms",
    "error_type",
    "error",
)


def mmss(ms: int) -> str:
    """Format milliseconds as ``mm:ss`` (``h:mm:ss`` past an hour)."""
    seconds = ms // 1000
    minutes, seconds = divmod(seconds, 60)
    if minutes >= 60:
        return f"{minutes // 60}:{minutes % 60:02d}:{seconds:02d}"
    return f"{minutes:02d}:{seconds:02d}"


def record(source: str, result: Transcript | Failure) -> dict[str, Any]:
    """The JSON object of one input: ``source`` plus the transcript, or plus ``error``.

    ``error`` is an object: ``{"type": "JobFailedError", "message": "..."}``.
    """
    if isinstance(result, Failure):
        return {"source": source, "error": {"type": result.type, "message": result.message}}
    return {"source": source, **result.to_dict()}


def _print_table(source: str, result: Transcript, console: Console) -> None:
    duration = result.audio_duration
    title = source + (f"  ({mmss(int(duration * 1000))})" if duration is not None else "")
    # The title is a line of its own, never wrapped into the table's width:
    # a long path stays one piece that can be copied.
    console.print(Text(title, style="bold"), soft_wrap=True)
    if not result.highlights:
        console.print("  (no highlights)\n")
        return
    table = Table()
    table.add_column("phrase", min_width=12, overflow="fold")
    table.add_column("count", justify="right")
    table.add_column("rank", justify="right")
    table.add_column("at")
    for h in result.highlights:
        at = ", ".join(mmss(ts.start) for ts in h.timestamps[:_SHOWN_TIMES])
        if len(h.timestamps) > _SHOWN_TIMES:
            at += ", ..."
        rank = f"{h.rank:.2f}" if h.rank is not None else "-"
        table.add_row(Text(h.text), str(h.count), rank, at)
    console.print(table)
    console.print()


def _csv_rows(source: str, result: Transcript | Failure) -> list[tuple[Any, ...]]:
    if isinstance(result, Failure):
        return [(source, "", "", "", "", "", result.type, result.message)]
    if not result.highlights:
        # One row all the same: every input is accounted for in the CSV.
        return [(source, result.id, "", "", "", "", "", "")]
    rows: list[tuple[Any, ...]] = []
    for h in result.highlights:
        times = ";".join(f"{ts.start}-{ts.end}" for ts in h.timestamps)
        rank = "" if h.rank is None else h.rank
        rows.append((source, result.id, h.text, h.count, rank, times, "", ""))
    return rows


def out_dir_names(sources: Sequence[str]) -> list[str]:
    """The ``--out`` file name of each input, fixed up front so it never depends on timing."""
    taken: set[str] = set()
    names = []
    for source in sources:
        stem = re.sub(r"[^\w.-]+", "_", os.path.basename(source.rstrip("/").split("?")[0]))
        stem = stem.strip("._") or "input"
        name, n = f"{stem}.json", 1
        while name in taken:
            n += 1
            name = f"{stem}-{n}.json"
        taken.add(name)
        names.append(name)
    return names


#: Runs a function that writes to stdout while live progress is out of its way.
Emit = Callable[[Callable[[], None]], None]


class ResultWriter:
    """Writes the outcome of each input in the chosen format, as early as the format allows.

    Args:
        sources: Every input's source, by index.
        fmt: ``None`` (tables), ``"json"``, ``"jsonl"`` or ``"csv"``.
        console: The stdout console (tables).
        stream: The stdout text stream (JSON, JSON lines, CSV).
        out_dir: Where ``--out`` writes one JSON file per successful input, or ``None``.
        emit: Runs each write to stdout while live progress is out of the way.
        on_saved: Called with each file written into ``out_dir``.
    """

    def __init__(
        self,
        sources: Sequence[str],
        *,
        fmt: str | None,
        console: Console,
        stream: TextIO,
        out_dir: Path | None,
        emit: Emit,
        on_saved: Callable[[Path], None],
    ) -> None:
        self._sources = sources
        self._fmt = fmt
        self._console = console
        self._stream = stream
        self._out_dir = out_dir
        self._names = out_dir_names(sources) if out_dir is not None else []
        self._emit = emit
        self._on_saved = on_saved
        self._outcomes: dict[int, Outcome] = {}
        self._csv = csv.writer(stream, lineterminator="\n")
        self._csv_next = 0
        self._csv_started = False

    def add(self, index: int, result: Transcript | Failure) -> None:
        """Record input ``index``'s result and write what can be written now."""
        source = self._sources[index]
        self._outcomes[index] = (source, result)
        if self._out_dir is not None and isinstance(result, Transcript):
            self._save(index, source, result)
        if self._fmt is None and isinstance(result, Transcript):
            self._emit(lambda: _print_table(source, result, self._console))
        elif self._fmt == "jsonl":
            self._emit(lambda: self._line(record(source, result)))
        elif self._fmt == "csv":
            self._emit(self._csv_ready)

    def finish(self) -> list[Outcome]:
        """Write what waited for every input (the ``--json`` array); return all outcomes."""
        outcomes = [self._outcomes[i] for i in sorted(self._outcomes)]
        if self._fmt == "json":
            records = [record(s, r) for s, r in outcomes]

            def write() -> None:
                json.dump(records, self._stream, indent=2, ensure_ascii=False)
                self._stream.write("\n")
                self._stream.flush()

            self._emit(write)
        elif self._fmt == "csv" and not self._outcomes:
            self._emit(self._csv_ready)
        return outcomes

    def _line(self, obj: dict[str, Any]) -> None:
        self._stream.write(json.dumps(obj, ensure_ascii=False) + "\n")
        self._stream.flush()

    def _csv_ready(self) -> None:
        # Rows keep the inputs' order whatever order they finish in.
        if not self._csv_started:
            self._csv.writerow(CSV_HEADER)
            self._csv_started = True
        while self._csv_next in self._outcomes:
            self._csv.writerows(_csv_rows(*self._outcomes[self._csv_next]))
            self._csv_next += 1
        self._stream.flush()

    def _save(self, index: int, source: str, result: Transcript) -> None:
        assert self._out_dir is not None
        self._out_dir.mkdir(parents=True, exist_ok=True)
        path = self._out_dir / self._names[index]
        path.write_text(
            json.dumps(record(source, result), indent=2, ensure_ascii=False) + "\n",
            encoding="utf-8",
        )
        self._on_saved(path)
