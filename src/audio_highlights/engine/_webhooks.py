"""Webhook delivery with AssemblyAI's retry rules."""

from __future__ import annotations

import logging

import anyio

from .._errors import APIConnectionError
from .._http import HTTPSession

__all__ = ["deliver_webhook"]

logger = logging.getLogger("audio_highlights.engine")


async def deliver_webhook(
    url: str,
    payload: dict[str, str],
    header: tuple[str, str] | None,
    *,
    max_attempts: int,
    initial_backoff: float,
    max_backoff: float,
    timeout: float,
) -> int | None:
    """POST ``payload`` to ``url`` until a 2xx, a 4xx (final) or ``max_attempts`` tries.

    Returns:
        The last HTTP status code, or ``None`` if no attempt got a response.
    """
    headers = {header[0]: header[1]} if header else {}
    status: int | None = None
    delay = initial_backoff
    session = HTTPSession(timeout=timeout, connect_timeout=timeout, max_connections=1, verify=True)
    try:
        for attempt in range(1, max_attempts + 1):
            try:
                response = await session.request(
                    "POST", url, auth=None, headers=headers, json=payload
                )
            except APIConnectionError as exc:
                logger.warning("webhook attempt %d to %s failed: %s", attempt, url, exc)
            else:
                status = response.status_code
                if status < 300 or 400 <= status < 500:
                    # 2xx is delivered; a 4xx means the receiver rejects it for good.
                    return status
                logger.warning("webhook attempt %d to %s got HTTP %d", attempt, url, status)
            if attempt < max_attempts:
                await anyio.sleep(delay)
                delay = min(delay * 2, max_backoff)
    finally:
        with anyio.CancelScope(shield=True):
            await session.aclose()
    return status
