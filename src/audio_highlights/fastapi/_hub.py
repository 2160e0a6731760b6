"""Completion by webhook: waiters park on an event per job; the webhook sets it.

The hub holds no connection and makes no request of its own: a waiter races
the webhook's event against slow polling (the fallback, should the webhook
never arrive) in one task group, and the loser is cancelled.
"""

from __future__ import annotations

import collections
import hmac
from collections.abc import Mapping
from typing import Any

import anyio
import attrs

from .._client import AsyncClient
from .._errors import AudioHighlightsError, NotFoundError, UsageError
from .._models import Transcript, TranscriptStatus
from .._polling import settle
from .._settings import PollSettings, Seconds
from .._sources import Source, is_url

__all__ = ["DEFAULT_FALLBACK_POLLING", "CompletionHub"]

#: Polling used while waiting for a webhook: rare, as it only covers a lost webhook.
DEFAULT_FALLBACK_POLLING = PollSettings(initial=30.0, multiplier=1.5, max_interval=120.0)

# Webhooks that arrived before anyone waited are remembered, up to this many.
_REMEMBERED = 10_000


@attrs.frozen
class _Outcome:
    transcript: Transcript | None = None
    error: Exception | None = None


class CompletionHub:
    """Wakes :meth:`wait` calls when the API's webhook says their job finished.

    Create one per application, mount :func:`webhook_router` with it, and
    submit jobs with :meth:`webhook_fields`. A waiter costs one ``GET`` when
    its webhook arrives, plus a poll at the start and every
    ``fallback_polling`` interval in case the webhook is lost.

    Example:
        ```python
        hub = CompletionHub(auth_header_value="a-long-random-secret")
        job = await client.submit(url, **hub.webhook_fields("https://me.example/webhooks/assemblyai"))
        transcript = await hub.wait(client, job.id, timeout=600)
        ```

    Args:
        auth_header_name: The header the API sends with each webhook.
        auth_header_value: Its expected value; ``None`` accepts unauthenticated
            webhooks (only do that on a private network).
        fallback_polling: Poll policy while waiting; its ``timeout`` is the
            default deadline.
    """

    def __init__(
        self,
        *,
        auth_header_name: str = "X-Webhook-Secret",
        auth_header_value: str | None = None,
        fallback_polling: PollSettings = DEFAULT_FALLBACK_POLLING,
    ) -> None:
        if auth_header_value is not None and not auth_header_value:
            raise UsageError("auth_header_value must not be empty (pass None for no check)")
        self._header_name = auth_header_name
        self._header_value = auth_header_value
        self._fallback = fallback_polling
        self._events: dict[str, anyio.Event] = {}
        self._waiters: collections.Counter[str] = collections.Counter()
        self._finished: collections.OrderedDict[str, str] = collections.OrderedDict()
        self.webhooks_received = 0

    def __repr__(self) -> str:
        auth = "set" if self._header_value is not None else "none"
        return f"<CompletionHub waiting={len(self._events)} auth={auth}>"

    @property
    def auth_header_name(self) -> str:
        """The header checked on each webhook."""
        return self._header_name

    def webhook_fields(self, webhook_url: str) -> dict[str, Any]:
        """The submit fields that make the API call ``webhook_url`` with this hub's secret.

        Pass them to :meth:`AsyncClient.submit` or :meth:`AsyncClient.transcribe`.
        """
        if not is_url(webhook_url):
            raise UsageError(f"webhook_url must be an http(s) URL, got {webhook_url!r}")
        fields: dict[str, Any] = {"webhook_url": webhook_url}
        if self._header_value is not None:
            fields["webhook_auth_header_name"] = self._header_name
            fields["webhook_auth_header_value"] = self._header_value
        return fields

    def is_authorized(self, headers: Mapping[str, str]) -> bool:
        """Whether a webhook request's headers carry the secret (compared in constant time)."""
        if self._header_value is None:
            return True
        got = headers.get(self._header_name) or headers.get(self._header_name.lower()) or ""
        return hmac.compare_digest(got.encode(), self._header_value.encode())

    def notify(self, transcript_id: str, status: str) -> bool:
        """Record a webhook: wake the waiters of ``transcript_id`` when it is finished.

        Returns:
            Whether a waiter was woken.
        """
        self.webhooks_received += 1
        try:
            finished = TranscriptStatus(status).is_terminal
        except ValueError:
            finished = False
        if not finished:
            return False
        event = self._events.get(transcript_id)
        if event is None:
            # The job may finish before its waiter registers.
            self._finished[transcript_id] = status
            while len(self._finished) > _REMEMBERED:
                self._finished.popitem(last=False)
            return False
        event.set()
        return True

    async def wait(
        self,
        client: AsyncClient,
        transcript_id: str | Transcript,
        *,
        timeout: Seconds | None = None,
    ) -> Transcript:
        """Wait for a job: woken by its webhook, with slow polling as the fallback.

        Args:
            client: The client to fetch the transcript with.
            transcript_id: The job's id (or the transcript from ``submit``).
            timeout: Deadline in seconds; ``None`` uses ``fallback_polling.timeout``.

        Returns:
            The completed transcript.

        Raises:
            JobFailedError: The job ended in error.
            JobTimeoutError: The deadline passed first.
        """
        tid = transcript_id.id if isinstance(transcript_id, Transcript) else transcript_id
        event = self._events.setdefault(tid, anyio.Event())
        self._waiters[tid] += 1
        if self._finished.pop(tid, None) is not None:
            event.set()
        outcome: _Outcome | None = None
        try:
            async with anyio.create_task_group() as tg:

                async def finish(result: _Outcome) -> None:
                    nonlocal outcome
                    if outcome is None:
                        outcome = result
                    tg.cancel_scope.cancel()

                async def by_webhook() -> None:
                    await event.wait()
                    try:
                        transcript = await client.get(tid)
                    except NotFoundError as exc:
                        await finish(_Outcome(error=exc))
                        return
                    except AudioHighlightsError:
                        # A transient failure leaves the job to the fallback poller.
                        return
                    if transcript.status.is_terminal:
                        try:
                            await finish(_Outcome(transcript=settle(transcript)))
                        except AudioHighlightsError as exc:
                            await finish(_Outcome(error=exc))

                async def by_polling() -> None:
                    try:
                        polled = await client.wait(
                            tid,
                            timeout=self._fallback.timeout if timeout is None else timeout,
                            polling=self._fallback,
                        )
                    except AudioHighlightsError as exc:
                        await finish(_Outcome(error=exc))
                    else:
                        await finish(_Outcome(transcript=polled))

                tg.start_soon(by_webhook)
                tg.start_soon(by_polling)
        finally:
            self._waiters[tid] -= 1
            if self._waiters[tid] <= 0:
                del self._waiters[tid]
                self._events.pop(tid, None)
        assert outcome is not None
        if outcome.error is not None:
            raise outcome.error
        assert outcome.transcript is not None
        return outcome.transcript

    async def transcribe(
        self,
        client: AsyncClient,
        source: Source,
        *,
        webhook_url: str,
        timeout: Seconds | None = None,
        **fields: Any,
    ) -> Transcript:
        """Upload (unless a URL), submit with this hub's webhook, and :meth:`wait`.

        Args:
            client: The client to use.
            source: What :meth:`AsyncClient.transcribe` accepts.
            webhook_url: Where the API should post completion (this app's webhook route).
            timeout: Deadline of the wait.
            **fields: Other submit fields.
        """
        audio_url = await client.audio_url_for(source)
        job = await client.submit(audio_url, **fields, **self.webhook_fields(webhook_url))
        return await self.wait(client, job, timeout=timeout)
