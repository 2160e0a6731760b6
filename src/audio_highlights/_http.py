"""The only module that imports ``httpx2``.

Everything else in the SDK sees plain Python values: :class:`RawResponse`
instead of ``httpx2.Response`` and the SDK's own exceptions instead of
``httpx2``'s, so swapping or upgrading the HTTP stack touches this file alone.
"""

from __future__ import annotations

import contextlib
import functools
import os
import ssl
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Generator, Mapping
from typing import Any

import anyio
import httpx2
from attrs import frozen

from ._errors import (
    APIConnectionError,
    APIResponseError,
    APITimeoutError,
    ResponseTooLargeError,
    UsageError,
)
from ._redact import Redactor

__all__ = [
    "AsyncBaseTransport",
    "AsyncHTTPClient",
    "HTTPSession",
    "KeyAuth",
    "PinnedSession",
    "RawResponse",
    "asgi_transport",
    "tls_verify",
]

#: What callers may hand in as ``http_client=``.
AsyncHTTPClient = httpx2.AsyncClient
#: What callers may hand in as ``transport=``.
AsyncBaseTransport = httpx2.AsyncBaseTransport


@functools.lru_cache(maxsize=8)
def _verifying_context(cafile: str | None, capath: str | None) -> ssl.SSLContext:
    # Loading the CA store takes ~20 ms, more than the rest of a client's set-up:
    # clients (and the blocking Client's, and a test suite's hundreds) share one
    # context per CA location; an SSLContext is safe to share.
    return httpx2.create_ssl_context()


def tls_verify(verify: bool | str) -> ssl.SSLContext | bool | str:
    """What a pool gets as ``verify=``: the shared verifying context for ``True``.

    The context follows ``SSL_CERT_FILE`` and ``SSL_CERT_DIR`` as httpx2 does,
    read when each client is made.
    """
    if verify is not True:
        return verify
    return _verifying_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


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
    """One connection pool (owned or borrowed) and the request primitive on top of it.

    Args:
        timeout: Read/write timeout of each network operation, seconds.
        connect_timeout: Timeout to open a connection, seconds.
        max_connections: Size of the pool created here.
        verify: TLS verification.
        http_client: A pool to borrow instead of creating one.
        transport: The transport of the pool created here.
        request_timeout: Deadline of one whole request (connect, send, every
            read), seconds; for a streamed upload it starts once the body is
            sent, since sending is bounded by ``timeout`` per chunk. ``None``:
            no deadline.
        max_response_size: Largest response body read, bytes.
        redactor: Masks the API key in error messages.
    """

    def __init__(
        self,
        *,
        timeout: float,
        connect_timeout: float,
        max_connections: int,
        verify: bool | str,
        http_client: httpx2.AsyncClient | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
        request_timeout: float | None = None,
        max_response_size: int | None = None,
        redactor: Redactor | None = None,
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
                verify=tls_verify(verify),
                transport=transport,
                follow_redirects=False,
            )
        self._client = http_client
        self._request_timeout = request_timeout
        self._max_response_size = max_response_size
        self._redactor = redactor or Redactor(None)

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
        """Send one request and read the whole response, within ``request_timeout``.

        Raises:
            APITimeoutError: A timeout expired, or the request as a whole took
                longer than ``request_timeout`` (:class:`NotSentTimeoutError` if
                it was the connect or pool timeout).
            APIConnectionError: The connection failed (:class:`NotSentError`
                if it was never established).
            ResponseTooLargeError: The body is larger than ``max_response_size``.
        """
        limit = self._request_timeout
        wrapper: AsyncGenerator[bytes, None] | None = None
        with anyio.CancelScope() as scope:
            if content is not None and not isinstance(content, bytes):
                # Sending a big file is bounded by the write timeout of each
                # chunk; the deadline covers waiting for and reading the answer.
                content = wrapper = self._then_start_deadline(content, scope)
            elif limit is not None:
                scope.deadline = anyio.current_time() + limit
            try:
                with _mapped_errors(method, url, self._redactor):
                    async with self._client.stream(
                        method,
                        url,
                        headers=headers,
                        params=params,
                        json=json,
                        content=content,
                        auth=auth if auth is not None else httpx2.USE_CLIENT_DEFAULT,
                    ) as response:
                        return RawResponse(
                            status_code=response.status_code,
                            headers={k.lower(): v for k, v in response.headers.items()},
                            content=await self._read_body(response, method, url),
                            reason=response.reason_phrase,
                        )
            finally:
                if wrapper is not None:
                    with anyio.CancelScope(shield=True):
                        await wrapper.aclose()
        assert limit is not None  # only the deadline cancels this scope
        raise APITimeoutError(
            f"{method} {url} did not complete within request_timeout ({limit:g} s): "
            "the server is too slow or trickles its answer",
            method=method,
            url=url,
        )

    async def _then_start_deadline(
        self, chunks: AsyncIterable[bytes], scope: anyio.CancelScope
    ) -> AsyncGenerator[bytes, None]:
        async for chunk in chunks:
            yield chunk
        if self._request_timeout is not None:
            scope.deadline = anyio.current_time() + self._request_timeout

    async def _read_body(self, response: httpx2.Response, method: str, url: str) -> bytes:
        cap = self._max_response_size
        if cap is None:
            return await response.aread()
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise self._too_large(response, method, url, f"is {int(declared):,} bytes,")
        parts: list[bytes] = []
        size = 0
        try:
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > cap:
                    raise self._too_large(response, method, url, "grew")
                parts.append(chunk)
        except httpx2.DecodingError as exc:
            raise APIResponseError(
                f"the response body could not be decoded: {exc}",
                status_code=response.status_code,
                method=method,
                url=url,
            ) from exc
        return b"".join(parts)

    def _too_large(
        self, response: httpx2.Response, method: str, url: str, how: str
    ) -> ResponseTooLargeError:
        cap = self._max_response_size
        assert cap is not None
        return ResponseTooLargeError(
            f"the response body {how} over max_response_size ({cap:,} bytes); "
            "raise it if such answers are expected",
            status_code=response.status_code,
            limit=cap,
            method=method,
            url=url,
        )


class PinnedSession:
    """An outbound pool whose every request connects to an address the caller chose.

    The offline engine sends requests to URLs its users name (``audio_url``
    downloads, ``webhook_url`` calls). It resolves and vets the host itself,
    then passes the vetted ``address`` here: the connection goes to exactly that
    address, while the URL's host still names the server (``Host`` header, TLS
    SNI and certificate check). A DNS answer that changes between the check and
    the connection (rebinding) therefore cannot redirect the request.
    No proxies from the environment, no redirects.
    """

    def __init__(self, *, timeout: float, connect_timeout: float, max_connections: int) -> None:
        self._client = httpx2.AsyncClient(
            timeout=httpx2.Timeout(timeout, connect=connect_timeout, pool=None),
            limits=httpx2.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            follow_redirects=False,
            trust_env=False,
        )

    async def aclose(self) -> None:
        """Close the pool."""
        await self._client.aclose()

    def _pinned(
        self, method: str, url: str, address: str, headers: Mapping[str, str], json: Any = None
    ) -> httpx2.Request:
        target = httpx2.URL(url)
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        return self._client.build_request(
            method,
            target.copy_with(host=address),
            headers={**headers, "host": target.netloc.decode("ascii")},
            json=json,
            extensions=extensions,
        )

    async def post_json(
        self, url: str, *, address: str, headers: Mapping[str, str], json: Any
    ) -> int:
        """POST ``json`` to ``url`` through ``address``; return the status code.

        Raises:
            APIConnectionError: As for :meth:`HTTPSession.request`.
        """
        with _mapped_errors("POST", url):
            request = self._pinned("POST", url, address, headers, json)
            response = await self._client.send(request)
            await response.aclose()
        return response.status_code

    @contextlib.asynccontextmanager
    async def stream_get(
        self, url: str, *, address: str
    ) -> AsyncIterator[tuple[int, AsyncIterator[bytes]]]:
        """GET ``url`` through ``address``; yield ``(status_code, body_chunks)`` unread.

        Raises:
            APIConnectionError: As for :meth:`HTTPSession.request`, also while iterating.
        """
        with _mapped_errors("GET", url):
            response = await self._client.send(self._pinned("GET", url, address, {}), stream=True)
            try:

                async def chunks() -> AsyncIterator[bytes]:
                    with _mapped_errors("GET", url):
                        async for chunk in response.aiter_bytes():
                            yield chunk

                yield response.status_code, chunks()
            finally:
                await response.aclose()


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
def _mapped_errors(
    method: str, url: str, redactor: Redactor | None = None
) -> Generator[None, None, None]:
    """Turn httpx2's transport errors into the SDK's, keeping the cause."""
    try:
        yield
    except httpx2.TimeoutException as exc:
        cls: type[APIConnectionError] = (
            NotSentTimeoutError if isinstance(exc, _NOT_SENT) else APITimeoutError
        )
        raise cls(_describe(exc, method, url, redactor), method=method, url=url) from exc
    except httpx2.TransportError as exc:
        cls = NotSentError if isinstance(exc, _NOT_SENT) else APIConnectionError
        raise cls(_describe(exc, method, url, redactor), method=method, url=url) from exc


def _describe(exc: Exception, method: str, url: str, redactor: Redactor | None) -> str:
    detail = str(exc) or type(exc).__name__
    if redactor:
        # A protocol error can quote what the server sent; the cause stays
        # reachable in __cause__, so it is masked in place as well.
        masked = redactor.text(detail)
        if masked != detail:
            exc.args = (masked,)
            detail = masked
    return f"{method} {url} failed: {type(exc).__name__}: {detail}"


def asgi_transport(app: Any) -> httpx2.AsyncBaseTransport:
    """Wrap an ASGI app (the offline engine) as an in-process transport."""
    return httpx2.ASGITransport(app=app)
