"""Frozen settings for retries and polling.

Every duration accepts ``float`` seconds or a :class:`datetime.timedelta`
and is stored as ``float`` seconds.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from attrs import field, frozen, validators

__all__ = [
    "DEFAULT",
    "ListPollSettings",
    "PollSettings",
    "RetrySettings",
    "Seconds",
    "UseDefault",
    "grown",
    "to_seconds",
]

#: A duration: seconds as a number, or a timedelta.
Seconds = float | int | timedelta


class UseDefault:
    """The type of :data:`DEFAULT`: "use the setting's own value" (``None`` means "none")."""

    def __repr__(self) -> str:
        return "<default>"


#: Passed as ``timeout=`` (the default) to use ``PollSettings.timeout``.
DEFAULT: Final = UseDefault()


def to_seconds(value: Seconds) -> float:
    """Convert a duration to float seconds.

    Raises:
        TypeError: ``value`` is not a number or timedelta.
    """
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected seconds (float) or timedelta, got {type(value).__name__}")
    return float(value)


def grown(initial: float, multiplier: float, steps: int, cap: float) -> float:
    """``initial * multiplier ** steps``, at most ``cap``: a backoff after ``steps`` steps.

    Never overflows: a wait that has polled for hours stays at ``cap``.
    """
    try:
        return min(cap, initial * multiplier ** max(steps, 0))
    except OverflowError:
        return cap


def _opt_seconds(value: Seconds | None) -> float | None:
    return None if value is None else to_seconds(value)


_non_negative = validators.ge(0.0)


@frozen(kw_only=True)
class RetrySettings:
    """How failed requests are retried.

    Retried: connection failures, timeouts, 408, 429 and 5xx responses, up to
    ten attempts in all by default: enough that a server failing one request
    in five still fails one in ten million for good, while a server that is
    down is given up on after about 30 s on average. The
    delay before retry *n* (1-based) is drawn uniformly from
    ``[0, min(max_backoff, initial * multiplier ** (n - 1))]`` ("full jitter"),
    unless the server sent ``Retry-After`` or ``retry-after-ms``, which wins,
    capped at ``max_retry_after``.

    ``POST /v2/transcript`` creates a job, so it is resent at once only when the
    request provably never reached the server (the connection was never
    established) or was refused with 429. After any other failure (a 5xx, a
    dropped connection, a timeout, a garbled answer) the job may exist: with
    ``reconcile_submit`` (the default) the client looks for it in the list of
    recent transcripts, adopts it if found and resends only once it is proven
    absent, so no job is lost or duplicated (see "Submit reconciliation"
    in the concepts guide). With
    ``idempotent_submit`` (for servers that honour the ``Idempotency-Key``
    header the SDK sends with each submit, as the offline engine does) every
    submit failure is simply resent.

    Attributes:
        max_retries: Retries after the first attempt (0 disables retrying).
        initial: Upper bound of the first backoff delay, seconds.
        multiplier: Growth of the bound per retry.
        max_backoff: Largest bound, seconds.
        max_retry_after: Cap on a server-requested delay, seconds.
        idempotent_submit: The server deduplicates submits by ``Idempotency-Key``
            (the offline engine does), so every submit failure may be retried.
        reconcile_submit: Before resending a submit that may have created its
            job, look for the job in ``GET /v2/transcript`` (one or two list
            requests). Off, such a submit is not resent and its error is raised.
        list_lag: How long the list may take to show a new job, seconds: a
            look made this long after the failure that does not show the job
            proves it absent (sooner, if it shows a later job of this client).
    """

    max_retries: int = field(default=9, validator=validators.ge(0))
    initial: float = field(default=0.5, converter=to_seconds, validator=_non_negative)
    multiplier: float = field(default=2.0, validator=validators.ge(1.0))
    max_backoff: float = field(default=10.0, converter=to_seconds, validator=_non_negative)
    max_retry_after: float = field(default=60.0, converter=to_seconds, validator=_non_negative)
    idempotent_submit: bool = False
    reconcile_submit: bool = True
    list_lag: float = field(default=2.0, converter=to_seconds, validator=_non_negative)


@frozen(kw_only=True)
class PollSettings:
    """How :meth:`AsyncClient.wait` polls a job.

    The interval before poll *n* grows as ``initial * multiplier ** (n - 1)``
    up to ``max_interval``, each randomised by ``±jitter`` (a fraction) so many
    jobs started together do not poll in lockstep, but never shorter than
    ``initial``. With the defaults (3 s, x1.1, at most 10 s) a job is looked at
    about 3 s after its submit, then at about 6.3 s, 9.9 s, 13.9 s, ... (10 polls
    for a 45 s job, where a fixed 3 s poll sends 15): never more polls than a
    fixed 3 s poll, whatever the job's length, for a lag that grows only as the
    job gets long.

    A ``Retry-After`` on a poll response (any status) overrides the interval,
    capped by the client's ``RetrySettings.max_retry_after`` and by the
    deadline: no wait sleeps past its deadline, and with no deadline it still
    polls at least every ``max_retry_after``.

    Batches watch the list endpoint instead (:class:`ListPollSettings`); these
    settings then apply to the jobs they poll on their own.

    Attributes:
        initial: First interval, and the shortest, seconds.
        multiplier: Growth per poll.
        max_interval: Longest interval, seconds.
        jitter: Relative randomisation of each interval, 0..1.
        timeout: Overall deadline of one ``wait()``, seconds; ``None`` waits
            for ever.
    """

    initial: float = field(default=3.0, converter=to_seconds, validator=_non_negative)
    multiplier: float = field(default=1.1, validator=validators.ge(1.0))
    max_interval: float = field(default=10.0, converter=to_seconds, validator=_non_negative)
    jitter: float = field(default=0.2, validator=[validators.ge(0.0), validators.le(1.0)])
    timeout: float | None = field(default=3600.0, converter=_opt_seconds)


@frozen(kw_only=True)
class ListPollSettings:
    """How a batch learns that its jobs finished from the list endpoint (the default).

    One task *sweeps* ``GET /v2/transcript`` (newest first, 200 a page, until
    every job still waited for has been seen) and wakes each job it sees
    finished, which is then fetched once. While jobs are finishing, sweeps
    come every ``interval`` (sooner after a sweep that read fewer than 8
    pages, in proportion, down to a quarter of it: the last jobs of a big
    batch are a page away, and are looked for more often at no more requests
    a second);
    while none finishes, the pause grows by ``multiplier`` up to
    ``max_interval``. Two bounds keep this cheap and
    prompt whatever the batch size: a sweep is never later than a per-job poll
    of the batch's :class:`PollSettings` would be, and sweeps never cost more
    requests than polling each waiting job on that schedule (a sweep of
    1,000 jobs is 5 or 6 requests, so it runs every ``interval``; a batch of
    two jobs sweeps about as often as it would poll them).

    A list that fails is swept again at the next interval (one attempt per
    page, no retries); one that cannot serve sweeps at all (400, 401, 403, 404,
    405, 501) sends every job to per-job polling at once, and so does a job that no
    sweep has listed for ``patience`` seconds (a lagging list, or other
    transcripts of the account pushing it past the pages a sweep reads).

    Attributes:
        interval: Pause between sweeps while jobs finish, seconds.
        multiplier: Growth of the pause per sweep that finished nothing.
        max_interval: Longest pause between sweeps, seconds.
        patience: How long a job may go unlisted before it is polled on its
            own, seconds.
    """

    interval: float = field(default=0.5, converter=to_seconds, validator=_non_negative)
    multiplier: float = field(default=1.5, validator=validators.ge(1.0))
    max_interval: float = field(default=1.0, converter=to_seconds, validator=_non_negative)
    patience: float = field(default=10.0, converter=to_seconds, validator=_non_negative)
