"""The SQLite job store.

One connection, guarded by a lock and always used from worker threads (callers
go through :func:`anyio.to_thread.run_sync`), in WAL mode so a kill -9 loses at
most the transaction in flight and never corrupts what was committed.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from attrs import evolve, frozen

__all__ = ["Job", "Store", "utcnow"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    created TEXT NOT NULL,
    completed TEXT,
    audio_url TEXT NOT NULL,
    params TEXT NOT NULL,
    result TEXT,
    error TEXT,
    idempotency_key TEXT UNIQUE
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, seq);
"""


def utcnow() -> str:
    """Current UTC time in the API's format (ISO 8601, no zone, microseconds)."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None).isoformat(timespec="microseconds")


@frozen
class Job:
    """One row of the store.

    Attributes:
        seq: Insertion order (for listing and paging).
        id: The transcript id.
        status: ``queued``, ``processing``, ``completed`` or ``error``.
        created: Creation time.
        completed: Completion time, if finished.
        audio_url: The audio the job transcribes.
        params: The accepted request parameters.
        result: Result fields (text, words, ...) once finished.
        error: Error message for failed jobs.
    """

    seq: int
    id: str
    status: str
    created: str
    completed: str | None
    audio_url: str
    params: Mapping[str, Any]
    result: Mapping[str, Any] | None
    error: str | None


def _job(row: sqlite3.Row) -> Job:
    return Job(
        seq=row["seq"],
        id=row["id"],
        status=row["status"],
        created=row["created"],
        completed=row["completed"],
        audio_url=row["audio_url"],
        params=json.loads(row["params"]),
        result=None if row["result"] is None else json.loads(row["result"]),
        error=row["error"],
    )


class Store:
    """Jobs and their results, persisted in SQLite. Every method blocks: call it in a thread."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=10000")
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()

    def requeue_interrupted(self) -> int:
        """Put jobs a previous run left ``processing`` back in the queue; return how many."""
        with self._lock:
            cur = self._db.execute("UPDATE jobs SET status='queued' WHERE status='processing'")
            return cur.rowcount

    def create(
        self, job_id: str, audio_url: str, params: Mapping[str, Any], idempotency_key: str | None
    ) -> tuple[Job, bool]:
        """Insert a queued job, or return the one already made for ``idempotency_key``.

        Returns:
            The job and whether it was created by this call.
        """
        with self._lock:
            if idempotency_key is not None:
                row = self._db.execute(
                    "SELECT * FROM jobs WHERE idempotency_key=?", (idempotency_key,)
                ).fetchone()
                if row is not None:
                    return _job(row), False
            self._db.execute(
                "INSERT INTO jobs (id, status, created, audio_url, params, idempotency_key)"
                " VALUES (?, 'queued', ?, ?, ?, ?)",
                (job_id, utcnow(), audio_url, json.dumps(dict(params)), idempotency_key),
            )
            row = self._db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
            return _job(row), True

    def get(self, job_id: str) -> Job | None:
        """Return the job with ``job_id``, if any."""
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
        return None if row is None else _job(row)

    def claim_next(self) -> Job | None:
        """Move the oldest queued job to ``processing`` and return it."""
        with self._lock:
            # BEGIN IMMEDIATE takes the write lock first, so two engines sharing a
            # data dir never claim the same job. (No RETURNING: SQLite < 3.35.)
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT * FROM jobs WHERE status='queued' ORDER BY seq LIMIT 1"
                ).fetchone()
                if row is not None:
                    self._db.execute(
                        "UPDATE jobs SET status='processing' WHERE seq=?", (row["seq"],)
                    )
                self._db.execute("COMMIT")
            except sqlite3.Error:
                self._db.execute("ROLLBACK")
                raise
        if row is None:
            return None
        return evolve(_job(row), status="processing")

    def finish(
        self, job_id: str, status: str, result: Mapping[str, Any] | None, error: str | None
    ) -> None:
        """Record a finished job (``completed`` or ``error``)."""
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET status=?, result=?, error=?, completed=? WHERE id=?",
                (
                    status,
                    None if result is None else json.dumps(dict(result)),
                    error,
                    utcnow() if status == "completed" else None,
                    job_id,
                ),
            )

    def update_result(self, job_id: str, fields: Mapping[str, Any]) -> None:
        """Merge ``fields`` into a finished job's result."""
        with self._lock:
            row = self._db.execute("SELECT result FROM jobs WHERE id=?", (job_id,)).fetchone()
            if row is None:
                return
            result = json.loads(row["result"]) if row["result"] else {}
            result.update(fields)
            self._db.execute("UPDATE jobs SET result=? WHERE id=?", (json.dumps(result), job_id))

    def delete(self, job_id: str, blanked: Mapping[str, Any]) -> Job | None:
        """Blank a job's result (keeping the row so the id stays known)."""
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET result=?, audio_url='http://deleted_by_user' WHERE id=?",
                (json.dumps(dict(blanked)), job_id),
            )
            row = self._db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
        return None if row is None else _job(row)

    def seq_of(self, job_id: str) -> int | None:
        """Return the insertion order of ``job_id``."""
        with self._lock:
            row = self._db.execute("SELECT seq FROM jobs WHERE id=?", (job_id,)).fetchone()
        return None if row is None else int(row["seq"])

    def page(
        self,
        limit: int,
        status: str | None = None,
        created_on: str | None = None,
        before_seq: int | None = None,
        after_seq: int | None = None,
    ) -> tuple[list[Job], bool, bool]:
        """One page of jobs, newest first.

        Returns:
            The jobs, whether older ones exist, and whether newer ones exist.
        """
        where, args = ["1=1"], []
        if status is not None:
            where.append("status=?")
            args.append(status)
        if created_on is not None:
            where.append("substr(created, 1, 10)=?")
            args.append(created_on)
        base = " AND ".join(where)
        with self._lock:
            if after_seq is not None and before_seq is None:
                # The page right after ``after_seq``: take the oldest newer ones.
                rows = self._db.execute(
                    f"SELECT * FROM jobs WHERE {base} AND seq>? ORDER BY seq ASC LIMIT ?",  # noqa: S608
                    (*args, after_seq, limit),
                ).fetchall()[::-1]
            else:
                extra, extra_args = "", []
                if before_seq is not None:
                    extra += " AND seq<?"
                    extra_args.append(before_seq)
                if after_seq is not None:
                    extra += " AND seq>?"
                    extra_args.append(after_seq)
                rows = self._db.execute(
                    f"SELECT * FROM jobs WHERE {base}{extra} ORDER BY seq DESC LIMIT ?",  # noqa: S608
                    (*args, *extra_args, limit),
                ).fetchall()
            jobs = [_job(r) for r in rows]
            older = newer = False
            if jobs:
                older = (
                    self._db.execute(
                        f"SELECT 1 FROM jobs WHERE {base} AND seq<? LIMIT 1",  # noqa: S608
                        (*args, jobs[-1].seq),
                    ).fetchone()
                    is not None
                )
                newer = (
                    self._db.execute(
                        f"SELECT 1 FROM jobs WHERE {base} AND seq>? LIMIT 1",  # noqa: S608
                        (*args, jobs[0].seq),
                    ).fetchone()
                    is not None
                )
        return jobs, older, newer
