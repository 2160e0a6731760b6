"""Decide whether the engine may fetch an ``audio_url`` (server-side request forgery guard)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Collection
from urllib.parse import urlsplit

import anyio

__all__ = ["UrlRefused", "check_fetch_url", "is_public_address"]


class UrlRefused(ValueError):
    """The URL points somewhere the engine must not fetch from."""


def is_public_address(address: str) -> bool:
    """Whether ``address`` is a globally routable unicast address."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
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


async def check_fetch_url(url: str, allow_hosts: Collection[str]) -> None:
    """Refuse ``url`` unless it is http(s) on an allowed host that resolves only to public IPs.

    Every address the host resolves to is checked, so one private record is enough
    to refuse.

    Raises:
        UrlRefused: With a message naming the reason.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UrlRefused(f"audio_url scheme {parts.scheme or '(none)'!r} is not allowed")
    host = (parts.hostname or "").lower()
    if not host:
        raise UrlRefused("audio_url has no host")
    if parts.username or parts.password:
        raise UrlRefused("audio_url must not carry credentials")
    if host not in allow_hosts:
        raise UrlRefused(
            f"audio_url host {host!r} is not allowed; upload the file to /v2/upload or "
            "start the engine with allow_url_hosts"
        )
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError) as exc:
        raise UrlRefused(f"audio_url host {host!r} cannot be resolved") from exc
    addresses = {str(info[4][0]) for info in infos}
    if not addresses:
        raise UrlRefused(f"audio_url host {host!r} cannot be resolved")
    for address in sorted(addresses):
        if not is_public_address(address):
            raise UrlRefused(f"audio_url host {host!r} resolves to a non-public address")
