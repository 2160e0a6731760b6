"""Webhook delivery with AssemblyAI's retry rules."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import anyio

from .._errors import APIConnectionError
from ._outbound import Outbound, Refused

__all__ = ["deliver_webhook"]

logger = logging.getLogger("audio_highlights.engine")


async def deliver_webhook(
    outbound: Outbound,
    url: str,
    payload: Mapping[str, str],
    header: tuple[str, str] | None,
    *,
    max_attempts: int,
    initial_backoff: float,
    max_backoff: float,
    timeout: float,
) -> int | None:
    """POST ``payload`` to ``url`` until a 2xx, a 4xx (final) or ``max_attempts`` tries.

    A URL the address policy refuses at delivery time (its DNS answer changed
    since the job was submitted) is not retried, and nothing is sent to it.

    Returns:
        The last HTTP status code, or ``None`` if no attempt got a response.
    """
    headers = {header[0]: header[1]} if header else {}
    status: int | None = None
    delay = initial_backoff
    for attempt in range(1, max_attempts + 1):
        try:
            status = await outbound.post_webhook(url, payload, headers, timeout=timeout)
        except Refused as exc:
            logger.warning("webhook to %s not sent: %s", url, exc)
            return None
        except APIConnectionError as exc:
            logger.warning("webhook attempt %d to %s failed: %s", attempt, url, exc)
        else:
            if status < 300 or 400 <= status < 500:
                # 2xx is delivered; a 4xx means the receiver rejects it for good.
                return status
            logger.warning("webhook attempt %d to %s got HTTP %d", attempt, url, status)
        if attempt < max_attempts:
            await anyio.sleep(delay)
            delay = min(delay * 2, max_backoff)
    return status
