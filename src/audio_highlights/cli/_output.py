"""How results are written: tables for people; JSON, JSON lines and CSV for programs."""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .._models import Transcript

__all__ = [
    "Outcome",
    "record",
    "write_csv",
    "write_json",
    "write_jsonl",
    "write_out_dir",
    "write_tables",
]

#: One input's result: its source and the transcript, or the failure's reason.
Outcome = tuple[str, "Transcript | str"]

_SHOWN_TIMES = 3


def mmss(ms: int) -> str:
    """Format milliseconds as ``mm:ss`` (``h:mm:ss`` past an hour)."""
    seconds = ms // 1000
    minutes, seconds = divmod(seconds, 60)
    if minutes >= 60:
        return f"{minutes // 60}:{minutes % 60:02d}:{seconds:02d}"
    return f"{minutes:02d}:{seconds:02d}"


def record(source: str, result: Transcript | str) -> dict[str, Any]:
    """The JSON object of one input: the transcript plus ``source``, or ``source`` + ``error``."""
    if isinstance(result, str):
        return {"source": source, "error": result}
    return {"source": source, **result.to_dict()}


def write_tables(outcomes: Sequence[Outcome], console: Console) -> None:
    """Print a table per successful input: phrase, count, rank, first timestamps."""
    for source, result in outcomes:
        if isinstance(result, str):
            continue
        duration = result.audio_duration
        title = source + (f"  ({mmss(int(duration * 1000))})" if duration is not None else "")
        if not result.highlights:
            console.print(Text(title, style="bold"))
            console.print("  (no highlights)\n")
            continue
        table = Table(title=title, title_justify="left", title_style="bold")
        table.add_column("phrase")
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


def write_json(outcomes: Sequence[Outcome], out: TextIO) -> None:
    """One JSON document: the record itself for a single input, else an array of records."""
    records = [record(s, r) for s, r in outcomes]
    json.dump(records[0] if len(records) == 1 else records, out, indent=2, ensure_ascii=False)
    out.write("\n")


def write_jsonl(outcome: Outcome, out: TextIO) -> None:
    """One record per line, written as each input finishes."""
    out.write(json.dumps(record(*outcome), ensure_ascii=False) + "\n")
    out.flush()


CSV_HEADER = ("source", "transcript_id", "phrase", "count", "rank", "timestamps_ms", "error")


def write_csv(outcomes: Sequence[Outcome], out: TextIO) -> None:
    """A row per phrase (``timestamps_ms``: ``start-end`` pairs joined by ``;``) or failure."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for source, result in outcomes:
        if isinstance(result, str):
            writer.writerow((source, "", "", "", "", "", result))
            continue
        for h in result.highlights:
            times = ";".join(f"{ts.start}-{ts.end}" for ts in h.timestamps)
            rank = "" if h.rank is None else h.rank
            writer.writerow((source, result.id, h.text, h.count, rank, times, ""))


def _file_name(source: str, taken: set[str]) -> str:
    stem = re.sub(r"[^\w.-]+", "_", os.path.basename(source.rstrip("/").split("?")[0]))
    stem = stem.strip("._") or "input"
    name, n = f"{stem}.json", 1
    while name in taken:
        n += 1
        name = f"{stem}-{n}.json"
    taken.add(name)
    return name


def write_out_dir(outcomes: Sequence[Outcome], directory: Path) -> list[Path]:
    """Write one JSON file per successful input into ``directory``; returns the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    taken: set[str] = set()
    written: list[Path] = []
    for source, result in outcomes:
        if isinstance(result, str):
            continue
        path = directory / _file_name(source, taken)
        path.write_text(
            json.dumps(record(source, result), indent=2, ensure_ascii=False) + "\n",
            encoding="utf-8",
        )
        written.append(path)
    return written
