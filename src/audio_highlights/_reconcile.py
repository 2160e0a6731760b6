"""Submit reconciliation: did a submit whose answer was lost create its job?

A ``POST /v2/transcript`` that fails after it was sent (a 5xx, a dropped
connection, a timeout, a garbled answer) may or may not have created the
job. Resending blindly duplicates it where the server ignores
``Idempotency-Key`` (the hosted API documents no such header); giving up loses
it. So the request layer looks first: it reads the list endpoint, newest
first, for a job with the ``audio_url`` it sent, created since the submit
began. Found, the job is adopted; provably absent, the submit is resent.

What bounds a look (so it reads a page or two, not the account's history):

- the *bound*: the newest job this client saw created before the submit began
  (:class:`SubmitLedger`). The list is ordered by creation, so once the scan
  reaches it, everything further down predates the submit;
- the clock of the list itself: ``created`` of the newest item minus the time
  since the submit began (plus a margin) is a moment before the submit; an
  item created earlier is older than the job could be. Both times are the
  server's, so neither clock skew nor its time zone matters;
- a page budget (:data:`MAX_PAGES`); a look that runs out of it proves
  nothing, and the submit's error is raised rather than risking a duplicate.

When absence counts: a job appears in the list some time after it is created
(the server's list lag). A look proves absence once it shows a *witness*, a
job of this client whose submit was sent after the failure (listed, so
anything created before it is listed too), or once it was made
``RetrySettings.list_lag`` seconds after the failure.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timedelta
from typing import Any, Final

import anyio
import attrs

__all__ = ["MAX_PAGES", "Lookup", "ReconcileStats", "SubmitLedger", "look_for", "parse_created"]

#: Pages of 200 a look reads at most (the 1,000 newest jobs).
MAX_PAGES: Final = 5
# Allowance for the server stamping ``created`` a little before the request
# has fully arrived, and for clock granularity.
_MARGIN: Final = timedelta(seconds=2)
_CREATED = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?\s*(Z|[+-]\d\d:?\d\d)?$"
)


def parse_created(value: Any) -> datetime | None:
    """A list item's ``created`` as a naive UTC datetime, or ``None`` if unreadable.

    The spec's form is ``2024-03-11T21:29:59.936851`` (no zone); a zone, if
    present, is applied. Any number of fraction digits is accepted.
    """
    match = _CREATED.match(value) if isinstance(value, str) else None
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction, zone = match.group(7), match.group(8)
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        when = datetime(year, month, day, hour, minute, second, micros)
    except ValueError:
        return None
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        when -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return when


@attrs.frozen
class _Created:
    job_id: str
    sent_at: float  # anyio.current_time() when its submit was sent
    known_at: float  # when this client learned the job exists


class SubmitLedger:
    """The jobs this client created recently, as bounds and witnesses for later looks.

    Args:
        size: How many recent jobs are remembered.
    """

    def __init__(self, size: int = 4096) -> None:
        self._jobs: deque[_Created] = deque(maxlen=size)

    def record(self, job_id: str, *, sent_at: float) -> None:
        """Note that ``job_id`` exists, from a submit sent at ``sent_at``."""
        self._jobs.append(_Created(job_id, sent_at, anyio.current_time()))

    def bound(self, before: float) -> str | None:
        """The newest job known to exist before ``before`` (so older than anything sent then)."""
        for job in reversed(self._jobs):
            if job.known_at < before:
                return job.job_id
        return None

    def sent_after(self, moment: float) -> frozenset[str]:
        """Jobs whose submit was sent after ``moment``: listed, they prove the list caught up."""
        return frozenset(job.job_id for job in self._jobs if job.sent_at > moment)


@attrs.frozen
class Lookup:
    """What one look through the list found.

    Attributes:
        found: The list item of the job, when found.
        complete: The scan reached a point older than the submit (or the
            list's end), so "not found" means not listed.
        witnessed: The scan saw a job sent after the failure.
        pages: Pages read.
    """

    found: Mapping[str, Any] | None
    complete: bool
    witnessed: bool
    pages: int


@attrs.define
class ReconcileStats:
    """What reconciliation has done so far in one client (for benchmarks and tests).

    Attributes:
        ambiguous: Submits that failed in a way that may have created the job.
        looks: Looks through the list.
        pages: List pages read by those looks.
        adopted: Jobs found and adopted.
        resubmitted: Submits resent after their job was proven absent.
        undecided: Submits whose error was raised because no look could decide.
    """

    ambiguous: int = 0
    looks: int = 0
    pages: int = 0
    adopted: int = 0
    resubmitted: int = 0
    undecided: int = 0


async def look_for(
    pages: AsyncIterator[list[Mapping[str, Any]]],
    audio_url: str,
    *,
    since: float,
    bound: str | None,
    ledger: SubmitLedger,
    failed_at: float,
) -> Lookup:
    """Scan list pages (newest first) for a job with ``audio_url`` created since ``since``.

    Args:
        pages: The list endpoint's pages, newest first; closed by the caller.
        audio_url: The ``audio_url`` the submit sent (as the list shows it).
        since: :func:`anyio.current_time` when the submit began.
        bound: A job known to be older than the submit, or ``None``.
        ledger: This client's jobs, for witnesses.
        failed_at: When the submit failed.
    """
    witnessed = False
    newest: datetime | None = None
    read = 0
    async for items in pages:
        read += 1
        # Taken once the page is here: a submit that completed while it was on
        # its way is a witness too.
        witness_ids = ledger.sent_after(failed_at)
        for item in items:
            job_id = item.get("id")
            if job_id == bound:
                return Lookup(None, True, witnessed, read)
            if job_id in witness_ids:
                witnessed = True
            created = parse_created(item.get("created"))
            if created is not None:
                if newest is None:
                    newest = created
                age = timedelta(seconds=anyio.current_time() - since)
                if created < newest - age - _MARGIN:
                    return Lookup(None, True, witnessed, read)
            if item.get("audio_url") == audio_url:
                return Lookup(item, True, witnessed, read)
        if read >= MAX_PAGES:
            return Lookup(None, False, witnessed, read)
    return Lookup(None, True, witnessed, read)
