"""The only module that imports ``httpx2``.

Everything else in the SDK sees plain Python values: :class:`RawResponse`
instead of ``httpx2.Response`` and the SDK's own exceptions instead of
``httpx2``'s, so swapping or upgrading the HTTP stack touches this file alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Generator, Mapping
from typing import Any

import httpx2
from attrs import frozen

from ._errors import APIConnectionError, APITimeoutError, UsageError

__all__ = [
    "AsyncBaseTransport",
    "AsyncHTTPClient",
    "HTTPSession",
    "KeyAuth",
    "RawResponse",
    "asgi_transport",
]

#: What callers may hand in as ``http_client=``.
AsyncHTTPClient = httpx2.AsyncClient
#: What callers may hand in as ``transport=``.
AsyncBaseTransport = httpx2.AsyncBaseTransport


class KeyAuth(httpx2.Auth):
    """Adds ``authorization: <key>`` to each request.

    Holding the key here rather than in default headers keeps it out of
    ``repr(client)`` and out of any local variable of the SDK's own frames.
    """

    def __init__(self, key: str) -> None:
        self.__key = key

    def __repr__(self) -> str:
        return "KeyAuth(key='***')"

    def auth_flow(
        self, request: httpx2.Request
    ) -> Generator[httpx2.Request, httpx2.Response, None]:
        """Set the header and send the request once."""
        request.headers["authorization"] = self.__key
        yield request


@frozen
class RawResponse:
    """An HTTP response, fully read.

    Attributes:
        status_code: HTTP status.
        headers: Response headers, names lower-cased.
        content: The body.
        reason: Reason phrase, for messages.
    """

    status_code: int
    headers: Mapping[str, str]
    content: bytes
    reason: str


# Failures where the request provably never left this machine: no connection
# was made, so a server cannot have acted on it and any request may be resent.
_NOT_SENT = (
    httpx2.ConnectError,
    httpx2.ConnectTimeout,
    httpx2.PoolTimeout,
    httpx2.UnsupportedProtocol,
)


class NotSentError(APIConnectionError):
    """Internal marker: the connection was never established (safe to resend anything)."""


class NotSentTimeoutError(NotSentError, APITimeoutError):
    """Internal marker: connect or pool timeout (safe to resend anything)."""


class HTTPSession:
    """One connection pool (owned or borrowed) and the request primitive on top of it."""

    def __init__(
        self,
        *,
        timeout: float,
        connect_timeout: float,
        max_connections: int,
        verify: bool | str,
        http_client: httpx2.AsyncClient | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
        trust_env: bool = True,
    ) -> None:
        _check_kind("http_client", http_client, httpx2.AsyncClient, "httpx2.AsyncClient(...)")
        _check_kind(
            "transport", transport, httpx2.AsyncBaseTransport, "httpx2.AsyncHTTPTransport()"
        )
        self._owned = http_client is None
        if http_client is None:
            http_client = httpx2.AsyncClient(
                timeout=httpx2.Timeout(timeout, connect=connect_timeout, pool=None),
                limits=httpx2.Limits(
                    max_connections=max_connections,
                    max_keepalive_connections=max_connections,
                ),
                verify=verify,
                transport=transport,
                follow_redirects=False,
                trust_env=trust_env,
            )
        self._client = http_client

    @property
    def owned(self) -> bool:
        """Whether :meth:`aclose` closes the pool (it never closes a borrowed one)."""
        return self._owned

    async def aclose(self) -> None:
        """Close the pool if this session created it."""
        if self._owned:
            await self._client.aclose()

    async def request(
        self,
        method: str,
        url: str,
        *,
        auth: KeyAuth | None,
        headers: Mapping[str, str],
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: AsyncIterable[bytes] | bytes | None = None,
    ) -> RawResponse:
        """Send one request and read the whole response.

        Raises:
            APITimeoutError: A timeout expired (:class:`NotSentTimeoutError` if
                it was the connect or pool timeout).
            APIConnectionError: The connection failed (:class:`NotSentError`
                if it was never established).
        """
        with _mapped_errors(method, url):
            response = await self._client.request(
                method,
                url,
                headers=headers,
                params=params,
                json=json,
                content=content,
                auth=auth if auth is not None else httpx2.USE_CLIENT_DEFAULT,
            )
        return RawResponse(
            status_code=response.status_code,
            headers={k.lower(): v for k, v in response.headers.items()},
            content=response.content,
            reason=response.reason_phrase,
        )

    @contextlib.asynccontextmanager
    async def stream_get(
        self, url: str
    ) -> AsyncIterator[tuple[int, str | None, AsyncIterator[bytes]]]:
        """GET ``url`` and yield ``(status_code, peer_ip, body_chunks)`` without reading the body.

        Used by the engine to download ``audio_url`` straight to disk. ``peer_ip``
        is the address actually connected to (``None`` if unknown), so a caller
        can refuse a host whose DNS answer changed since it was checked.

        Raises:
            APIConnectionError: As for :meth:`request`, also while iterating.
        """
        with _mapped_errors("GET", url):
            async with self._client.stream("GET", url) as response:

                async def chunks() -> AsyncIterator[bytes]:
                    with _mapped_errors("GET", url):
                        async for chunk in response.aiter_bytes():
                            yield chunk

                stream = response.extensions.get("network_stream")
                peer = stream.get_extra_info("server_addr") if stream is not None else None
                peer_ip = str(peer[0]) if isinstance(peer, tuple) and peer else None
                yield response.status_code, peer_ip, chunks()


def _check_kind(name: str, value: object, kind: type, example: str) -> None:
    if value is None or isinstance(value, kind):
        return
    cls = type(value)
    raise UsageError(
        f"{name} must be an {kind.__module__}.{kind.__qualname__}, got "
        f"{cls.__module__}.{cls.__qualname__}: this SDK runs on httpx2, the maintained fork of "
        f"httpx with the same API (pip install httpx2, then pass {example})"
    )


@contextlib.contextmanager
def _mapped_errors(method: str, url: str) -> Generator[None, None, None]:
    """Turn httpx2's transport errors into the SDK's, keeping the cause."""
    try:
        yield
    except httpx2.TimeoutException as exc:
        cls: type[APIConnectionError] = (
            NotSentTimeoutError if isinstance(exc, _NOT_SENT) else APITimeoutError
        )
        raise cls(_describe(exc, method, url), method=method, url=url) from exc
    except httpx2.TransportError as exc:
        cls = NotSentError if isinstance(exc, _NOT_SENT) else APIConnectionError
        raise cls(_describe(exc, method, url), method=method, url=url) from exc


def _describe(exc: Exception, method: str, url: str) -> str:
    detail = str(exc) or type(exc).__name__
    return f"{method} {url} failed: {type(exc).__name__}: {detail}"


def asgi_transport(app: Any) -> httpx2.AsyncBaseTransport:
    """Wrap an ASGI app (the offline engine) as an in-process transport."""
    return httpx2.ASGITransport(app=app)
