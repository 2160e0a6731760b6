"""Everything the engine sends out, behind one address policy.

The engine makes requests to URLs its callers name: it downloads ``audio_url``
and POSTs to ``webhook_url``. Both go through :class:`Outbound`, which refuses
before anything is sent, both when the job is submitted (a 400) and again when
connecting:

- http(s) only, a host, no credentials in the URL, a valid port;
- the host must resolve, and **every** address it resolves to must be public
  (not loopback, private, link-local, multicast, reserved, or an IPv6 form that
  embeds such an IPv4 address: mapped, 6to4, Teredo);
- ``audio_url`` hosts must also be listed in ``allow_url_hosts`` (the engine
  downloads nothing but its own uploads unless told to);
- ``webhook_url`` may point at loopback only with ``webhook_allow_loopback``
  (a FastAPI app calling the engine on the same host, for example).

The connection then goes to the address that was vetted, not to a fresh DNS
answer (see :class:`~audio_highlights._http.PinnedSession`), so DNS rebinding
cannot steer a request elsewhere.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
from collections.abc import AsyncIterator, Collection, Mapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import anyio
from attrs import frozen

from .._errors import APIConnectionError
from .._http import NotSentError, PinnedSession

__all__ = [
    "AddressPolicy",
    "DownloadError",
    "Outbound",
    "Refused",
    "check_webhook_header",
    "is_public_address",
    "policies",
    "vet_url",
]


class Refused(ValueError):
    """A request field names something the engine will not send to (answered with 400)."""


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


def _ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None


def is_public_address(address: str) -> bool:
    """Whether ``address`` is a globally routable unicast address.

    IPv6 addresses that embed an IPv4 one (``::ffff:a.b.c.d``, 6to4 ``2002::/16``,
    Teredo) count as what they embed: ``2002:7f00:1::1`` is loopback.
    """
    ip = _ip(address)
    if ip is None:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_v4(ip)
        if embedded is not None and not is_public_address(str(embedded)):
            return False
    return bool(
        ip.is_global
        and not (
            ip.is_loopback
            or ip.is_link_local
            or ip.is_private
            or ip.is_multicast
            or ip.is_reserved
            or ip.is_unspecified
        )
    )


def _is_loopback(address: str) -> bool:
    ip = _ip(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip is not None and ip.is_loopback


@frozen
class AddressPolicy:
    """Where one kind of outbound request may go.

    Attributes:
        field: The request field the URL came from (named in messages).
        allow_hosts: Host names the URL may use; ``None`` allows any name.
        allow_loopback: Whether loopback addresses pass as well as public ones.
        hint: Appended to the message refusing a host that is not allowed.
    """

    field: str
    allow_hosts: frozenset[str] | None
    allow_loopback: bool = False
    hint: str = ""

    def allows_address(self, address: str) -> bool:
        """Whether a connection to ``address`` is allowed."""
        return is_public_address(address) or (self.allow_loopback and _is_loopback(address))


async def _resolve(host: str, port: int) -> set[str]:
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return {str(info[4][0]) for info in infos}


async def vet_url(url: str, policy: AddressPolicy) -> list[str]:
    """Check ``url`` against ``policy``; return the addresses a connection may use.

    Every address the host resolves to is checked, so one non-public record is
    enough to refuse.

    Raises:
        Refused: With a message naming the field and the reason.
    """
    name = policy.field
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # "http://[::1", a port out of range, ...
        raise Refused(f"{name} is not a valid URL ({exc})") from exc
    if parts.scheme not in ("http", "https"):
        raise Refused(f"{name} scheme {parts.scheme or '(none)'!r} is not allowed")
    host = (parts.hostname or "").lower()
    if not host:
        raise Refused(f"{name} has no host")
    if parts.username or parts.password:
        raise Refused(f"{name} must not carry credentials")
    if policy.allow_hosts is not None and host not in policy.allow_hosts:
        raise Refused(f"{name} host {host!r} is not allowed{policy.hint}")
    try:
        addresses = await _resolve(host, port or (443 if parts.scheme == "https" else 80))
    except (OSError, UnicodeError, ValueError) as exc:
        raise Refused(f"{name} host {host!r} cannot be resolved") from exc
    if not addresses:
        raise Refused(f"{name} host {host!r} cannot be resolved")
    for address in sorted(addresses):
        if not policy.allows_address(address):
            raise Refused(f"{name} host {host!r} resolves to a non-public address")
    return sorted(addresses)


# RFC 9110: a header name is a token; a value is visible ASCII with inner spaces/tabs.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}")
_VALUE = re.compile(r"[\x21-\x7e]([\x20-\x7e\t]{0,8190}[\x21-\x7e])?")
# Headers that describe the connection or the message itself are the engine's to set.
_RESERVED_HEADERS = frozenset(
    {
        "connection",
        "content-encoding",
        "content-length",
        "content-type",
        "host",
        "keep-alive",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)


def check_webhook_header(name: Any, value: Any) -> None:
    """Refuse a webhook auth header that is not a valid, sendable HTTP header.

    Raises:
        Refused: The name is not an RFC 9110 token (or is one the engine sets
            itself), or the value is not visible ASCII.
    """
    if name is None and value is None:
        return
    if name is None or value is None:
        raise Refused(
            "webhook_auth_header_name and webhook_auth_header_value must be given together"
        )
    if not isinstance(name, str) or not _TOKEN.fullmatch(name):
        raise Refused("webhook_auth_header_name must be an HTTP header name (letters, digits, -)")
    if name.lower() in _RESERVED_HEADERS:
        raise Refused(f"webhook_auth_header_name {name!r} is set by the engine itself")
    if not isinstance(value, str) or not _VALUE.fullmatch(value):
        raise Refused(
            "webhook_auth_header_value must be visible ASCII text (no line breaks, "
            "no non-ASCII characters), at most 8192 characters"
        )


class DownloadError(RuntimeError):
    """``audio_url`` could not be downloaded (the job's error message)."""


class Outbound:
    """The engine's own HTTP client for downloads and webhooks.

    Args:
        audio: The policy for ``audio_url``.
        webhook: The policy for ``webhook_url``.
    """

    def __init__(self, *, audio: AddressPolicy, webhook: AddressPolicy) -> None:
        self.audio = audio
        self.webhook = webhook

    @asynccontextmanager
    async def download(
        self, url: str, *, timeout: float = 60.0
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        """GET ``url`` and yield its body chunks (an error unless the answer is 200).

        Raises:
            Refused: The URL fails the policy now (its DNS answer may have changed).
            DownloadError: No connection, or an answer other than 200.
        """
        addresses = await vet_url(url, self.audio)
        session = PinnedSession(timeout=timeout, connect_timeout=10, max_connections=1)
        try:
            async with self._connected(session, url, addresses) as (status, chunks):
                if status != 200:
                    raise DownloadError(f"Download error, {url} answered HTTP {status}")
                yield chunks
        except APIConnectionError as exc:
            raise DownloadError(f"Download error, unable to download {url}: {exc}") from exc
        finally:
            with anyio.CancelScope(shield=True):
                await session.aclose()

    @asynccontextmanager
    async def _connected(
        self, session: PinnedSession, url: str, addresses: list[str]
    ) -> AsyncIterator[tuple[int, AsyncIterator[bytes]]]:
        # Try each vetted address until one accepts the connection.
        async with contextlib.AsyncExitStack() as stack:
            for i, address in enumerate(addresses):
                try:
                    answer = await stack.enter_async_context(
                        session.stream_get(url, address=address)
                    )
                    break
                except NotSentError:
                    if i == len(addresses) - 1:
                        raise
            yield answer

    async def post_webhook(
        self,
        url: str,
        payload: Mapping[str, Any],
        headers: Mapping[str, str],
        *,
        timeout: float,
    ) -> int:
        """POST ``payload`` to ``url`` once; return the HTTP status.

        Raises:
            Refused: The URL fails the policy now.
            APIConnectionError: No answer (connection failed or timed out).
        """
        addresses = await vet_url(url, self.webhook)
        session = PinnedSession(timeout=timeout, connect_timeout=timeout, max_connections=1)
        try:
            for i, address in enumerate(addresses):
                try:
                    return await session.post_json(
                        url, address=address, headers=headers, json=payload
                    )
                except NotSentError:
                    if i == len(addresses) - 1:
                        raise
            raise AssertionError("unreachable: vet_url returns at least one address")
        finally:
            with anyio.CancelScope(shield=True):
                await session.aclose()


def policies(
    allow_url_hosts: Collection[str], webhook_allow_loopback: bool
) -> tuple[AddressPolicy, AddressPolicy]:
    """The ``audio_url`` and ``webhook_url`` policies for the given settings."""
    audio = AddressPolicy(
        field="audio_url",
        allow_hosts=frozenset(allow_url_hosts),
        hint="; upload the file to /v2/upload or start the engine with allow_url_hosts",
    )
    webhook = AddressPolicy(
        field="webhook_url", allow_hosts=None, allow_loopback=webhook_allow_loopback
    )
    return audio, webhook
