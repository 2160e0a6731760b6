"""The SQLite job store.

One connection, guarded by a lock and always used from worker threads (callers
go through :func:`anyio.to_thread.run_sync`), in WAL mode so a kill -9 loses at
most the transaction in flight and never corrupts what was committed.

Failures are typed: a write the disk refuses (full, I/O error) is
:class:`StoreFull`, a database another process keeps locked is
:class:`StoreBusy`, and a database file that was deleted or replaced under the
running engine is :class:`StoreGone`. Each is retried briefly here before it is
raised; none is a bare :class:`sqlite3.Error`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from attrs import evolve, frozen

__all__ = ["Job", "Store", "StoreBusy", "StoreError", "StoreFull", "StoreGone", "utcnow"]

logger = logging.getLogger("audio_highlights.engine")

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
# Columns added after the first release, created on open where missing.
_ADDED_COLUMNS = {
    "owner": "TEXT",  # the engine processing the job (see _owners.py)
    "request_hash": "TEXT",  # the submitted body, to spot a reused Idempotency-Key
}
# Short, blocking retries inside one store call; the runner retries longer itself.
_RETRY_DELAYS = (0.05, 0.2, 0.5)
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_IOERR, _SQLITE_FULL = 5, 6, 10, 13


class StoreError(Exception):
    """The job store cannot do what was asked right now."""


class StoreBusy(StoreError):
    """The database stayed locked by another process."""


class StoreFull(StoreError):
    """The database could not be written (disk full or an I/O error)."""


class StoreGone(StoreError):
    """The database file was deleted or replaced while the engine was running."""


def _classify(exc: sqlite3.Error) -> StoreError:
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    text = str(exc).lower()
    if primary in (_SQLITE_BUSY, _SQLITE_LOCKED) or "locked" in text or "busy" in text:
        return StoreBusy(f"the job database is busy ({exc})")
    if primary in (_SQLITE_FULL, _SQLITE_IOERR) or "full" in text or "i/o" in text:
        return StoreFull(f"the engine cannot write its job database: {exc}")
    return StoreError(f"the job database failed: {exc}")


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
        owner: The engine processing it (``None`` unless ``processing``).
        request_hash: Digest of the submitted body (``None`` for old rows).
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
    owner: str | None = None
    request_hash: str | None = None


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
        owner=row["owner"],
        request_hash=row["request_hash"],
    )


class Store:
    """Jobs and their results, persisted in SQLite. Every method blocks: call it in a thread.

    Raises (every method):
        StoreBusy: The database stayed locked.
        StoreFull: A write failed (disk full, I/O error).
        StoreGone: The database file was deleted or replaced since it was opened.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=10000")
            self._db.executescript(_SCHEMA)
            have = {r["name"] for r in self._db.execute("PRAGMA table_info(jobs)")}
            for name, kind in _ADDED_COLUMNS.items():
                if name not in have:
                    self._db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {kind}")
        self._identity = self._file_identity()

    def _file_identity(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self._path)
        except FileNotFoundError:
            return None
        return st.st_dev, st.st_ino

    def _call(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run ``fn`` under the lock, retrying transient failures a few times."""
        for delay in (*_RETRY_DELAYS, None):
            with self._lock:
                # A cache cleaner deleting the file (or a restore replacing it) leaves
                # this connection on an unlinked inode: accepting work there loses it.
                if self._file_identity() != self._identity:
                    raise StoreGone(
                        f"the job database {self._path} was deleted or replaced while the "
                        "engine was running; restart the engine"
                    )
                try:
                    return fn(self._db)
                except sqlite3.Error as exc:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    error = _classify(exc)
                    if delay is None or type(error) is StoreError:
                        raise error from exc
            time.sleep(delay)
        raise AssertionError("unreachable")

    def check_writable(self) -> None:
        """Take the database's write lock and let it go, as a write would (nothing changes).

        Raises:
            StoreError: What a write would raise now (busy, full, gone).
        """

        def run(db: sqlite3.Connection) -> None:
            db.execute("BEGIN IMMEDIATE")
            db.execute("ROLLBACK")

        self._call(run)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()

    def requeue_orphans(self, is_alive: Callable[[str], bool]) -> int:
        """Put back in the queue the ``processing`` jobs whose engine is gone; return how many.

        Args:
            is_alive: Whether the engine with this owner id still runs.
        """

        def run(db: sqlite3.Connection) -> int:
            owners = [
                r["owner"]
                for r in db.execute("SELECT DISTINCT owner FROM jobs WHERE status='processing'")
            ]
            dead = [o for o in owners if o is None or not is_alive(o)]
            count = 0
            for owner in dead:
                cur = db.execute(
                    "UPDATE jobs SET status='queued', owner=NULL"
                    " WHERE status='processing' AND owner IS ?",
                    (owner,),
                )
                count += cur.rowcount
            return count

        count: int = self._call(run)
        return count

    def create(
        self,
        job_id: str,
        audio_url: str,
        params: Mapping[str, Any],
        idempotency_key: str | None,
        request_hash: str | None = None,
    ) -> tuple[Job, bool]:
        """Insert a queued job, or return the one already made for ``idempotency_key``.

        Returns:
            The job and whether it was created by this call.
        """

        def run(db: sqlite3.Connection) -> tuple[Job, bool]:
            if idempotency_key is not None:
                row = db.execute(
                    "SELECT * FROM jobs WHERE idempotency_key=?", (idempotency_key,)
                ).fetchone()
                if row is not None:
                    return _job(row), False
            db.execute(
                "INSERT INTO jobs (id, status, created, audio_url, params, idempotency_key,"
                " request_hash) VALUES (?, 'queued', ?, ?, ?, ?, ?)",
                (
                    job_id,
                    utcnow(),
                    audio_url,
                    json.dumps(dict(params)),
                    idempotency_key,
                    request_hash,
                ),
            )
            row = db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
            return _job(row), True

        out: tuple[Job, bool] = self._call(run)
        return out

    def get(self, job_id: str) -> Job | None:
        """Return the job with ``job_id``, if any."""
        row = self._call(
            lambda db: db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
        )
        return None if row is None else _job(row)

    def status_of(self, job_id: str) -> str | None:
        """Return the status of ``job_id`` (``None`` if unknown)."""
        row = self._call(
            lambda db: db.execute("SELECT status FROM jobs WHERE id=?", (job_id,)).fetchone()
        )
        return None if row is None else str(row["status"])

    def claim_next(self, owner: str) -> Job | None:
        """Move the oldest queued job to ``processing`` under ``owner`` and return it."""

        def run(db: sqlite3.Connection) -> sqlite3.Row | None:
            # BEGIN IMMEDIATE takes the write lock first, so two engines sharing a
            # data dir never claim the same job. (No RETURNING: SQLite < 3.35.)
            db.execute("BEGIN IMMEDIATE")
            row = db.execute(
                "SELECT * FROM jobs WHERE status='queued' ORDER BY seq LIMIT 1"
            ).fetchone()
            if row is not None:
                db.execute(
                    "UPDATE jobs SET status='processing', owner=? WHERE seq=?",
                    (owner, row["seq"]),
                )
            db.execute("COMMIT")
            return row  # type: ignore[no-any-return]

        row = self._call(run)
        if row is None:
            return None
        return evolve(_job(row), status="processing", owner=owner)

    def finish(
        self,
        job_id: str,
        owner: str,
        status: str,
        result: Mapping[str, Any] | None,
        error: str | None,
    ) -> bool:
        """Record a finished job (``completed`` or ``error``) that ``owner`` still holds.

        Returns:
            Whether it was recorded (``False`` if the job was deleted meanwhile,
            or requeued and given to another engine).
        """

        def run(db: sqlite3.Connection) -> bool:
            cur = db.execute(
                "UPDATE jobs SET status=?, result=?, error=?, completed=?, owner=NULL"
                " WHERE id=? AND status='processing' AND owner=?",
                (
                    status,
                    None if result is None else json.dumps(dict(result)),
                    error,
                    utcnow() if status == "completed" else None,
                    job_id,
                    owner,
                ),
            )
            return cur.rowcount == 1

        done: bool = self._call(run)
        return done

    def update_result(self, job_id: str, fields: Mapping[str, Any]) -> None:
        """Merge ``fields`` into a finished job's result."""

        def run(db: sqlite3.Connection) -> None:
            row = db.execute("SELECT result FROM jobs WHERE id=?", (job_id,)).fetchone()
            if row is None:
                return
            result = json.loads(row["result"]) if row["result"] else {}
            result.update(fields)
            db.execute("UPDATE jobs SET result=? WHERE id=?", (json.dumps(result), job_id))

        self._call(run)

    def delete(
        self,
        job_id: str,
        blank: Callable[[Job], tuple[Mapping[str, Any], Mapping[str, Any]]],
        cancelled_error: str,
    ) -> tuple[Job, Job] | None:
        """Blank a job, keeping its row so the id stays known; cancel it if unfinished.

        Args:
            job_id: The job.
            blank: Gives the blanked ``(result, params)`` of the job as stored.
            cancelled_error: The error recorded for a job deleted before it finished.

        Returns:
            ``(before, after)``: the job as it was and as it is now; ``None`` if unknown.
        """

        def run(db: sqlite3.Connection) -> tuple[Job, Job] | None:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
            if row is None:
                db.execute("COMMIT")
                return None
            before = _job(row)
            result, params = blank(before)
            unfinished = before.status in ("queued", "processing")
            db.execute(
                "UPDATE jobs SET result=?, params=?, audio_url='http://deleted_by_user',"
                " status=?, error=?, owner=NULL WHERE id=?",
                (
                    json.dumps(dict(result)),
                    json.dumps(dict(params)),
                    "error" if unfinished else before.status,
                    cancelled_error if unfinished else before.error,
                    job_id,
                ),
            )
            after = _job(db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone())
            db.execute("COMMIT")
            return before, after

        out: tuple[Job, Job] | None = self._call(run)
        return out

    def uploads_in_use(self) -> set[str]:
        """Upload ids that queued or processing jobs still need."""

        def run(db: sqlite3.Connection) -> Iterable[sqlite3.Row]:
            return db.execute(
                "SELECT params FROM jobs WHERE status IN ('queued', 'processing')"
            ).fetchall()

        used = set()
        for row in self._call(run):
            upload = json.loads(row["params"]).get("_upload")
            if isinstance(upload, str):
                used.add(upload)
        return used

    def seq_of(self, job_id: str) -> int | None:
        """Return the insertion order of ``job_id``."""
        row = self._call(
            lambda db: db.execute("SELECT seq FROM jobs WHERE id=?", (job_id,)).fetchone()
        )
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

        def run(db: sqlite3.Connection) -> tuple[list[Job], bool, bool]:
            if after_seq is not None and before_seq is None:
                # The page right after ``after_seq``: take the oldest newer ones.
                rows = db.execute(
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
                rows = db.execute(
                    f"SELECT * FROM jobs WHERE {base}{extra} ORDER BY seq DESC LIMIT ?",  # noqa: S608
                    (*args, *extra_args, limit),
                ).fetchall()
            jobs = [_job(r) for r in rows]
            older = newer = False
            if jobs:
                older = (
                    db.execute(
                        f"SELECT 1 FROM jobs WHERE {base} AND seq<? LIMIT 1",  # noqa: S608
                        (*args, jobs[-1].seq),
                    ).fetchone()
                    is not None
                )
                newer = (
                    db.execute(
                        f"SELECT 1 FROM jobs WHERE {base} AND seq>? LIMIT 1",  # noqa: S608
                        (*args, jobs[0].seq),
                    ).fetchone()
                    is not None
                )
            return jobs, older, newer

        out: tuple[list[Job], bool, bool] = self._call(run)
        return out
