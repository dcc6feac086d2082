"""REST plumbing shared by every adapter (WebSocket plumbing: ``venues.websocket``), one error-mapping boundary each.

Foreign exceptions are translated in exactly one place per library (httpx's pattern):

- ``map_aiohttp_errors`` / ``map_httpx_errors``: failures *before* the request was written
  (connect refused, DNS, TLS, connect timeout, pool wait) become ``NotSent``; failures that
  may come after bytes left (read/write timeout, reset, server disconnect, payload error)
  become ``OutcomeUnknown``. When in doubt it is unknown: a wrong REJECTED can cause a
  duplicate order, a wrong UNKNOWN only costs a reconciliation.
- ``WsRpc`` (``venues.websocket``, re-exported here): a request is ``NotSent`` when the socket
  is not up or refuses the frame; once written, a timeout or a drop before its answer is ``OutcomeUnknown``.

Writes are never retried here or anywhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import aiohttp
import orjson

from venues.base import NotSent, OutcomeUnknown
from venues.websocket import WsConnection, WsRpc

__all__ = [
    "AiohttpRestClient",
    "HttpKind",
    "HttpxRestClient",
    "RestClient",
    "RestResponse",
    "WsConnection",
    "WsRpc",
    "make_rest_client",
    "map_aiohttp_errors",
    "map_httpx_errors",
]

HttpKind = Literal["aiohttp", "httpx"]


@dataclass(frozen=True, slots=True)
class RestResponse:
    status: int
    # Case-insensitive (aiohttp's CIMultiDictProxy, httpx's Headers) and read with lower-case
    # names: the library's own mapping, not a lower-cased copy made for every answer.
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """Parse the body; raises ``orjson.JSONDecodeError`` (a ``ValueError``) when it is not JSON."""
        return orjson.loads(self.body)


class RestClient(Protocol):
    async def request(
        self, method: str, url: str, *, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> RestResponse:
        """Send once. Raises ``NotSent`` or ``OutcomeUnknown``; any HTTP status is a response."""

    async def close(self) -> None: ...


# --------------------------------------------------------------------------- aiohttp


@contextlib.contextmanager
def map_aiohttp_errors(what: str) -> Iterator[None]:
    try:
        yield
    except aiohttp.ConnectionTimeoutError as exc:  # connect phase: nothing written
        raise NotSent(f"{what}: connect timeout ({exc.__class__.__name__})") from exc
    except aiohttp.ClientConnectorError as exc:  # refused / DNS / TLS handshake
        raise NotSent(f"{what}: could not connect ({exc.__class__.__name__}: {exc.os_error})") from exc
    except (aiohttp.ServerTimeoutError, TimeoutError) as exc:
        raise OutcomeUnknown(f"{what}: no answer in time after the request was sent") from exc
    except (aiohttp.ClientError, ConnectionError, ssl.SSLError) as exc:
        raise OutcomeUnknown(
            f"{what}: connection failed after the request was sent ({exc.__class__.__name__})"
        ) from exc


def _send_once(session: aiohttp.ClientSession) -> None:
    """Turn off aiohttp's silent re-send of an "idempotent" request, or fail before anything is sent.

    aiohttp re-sends a DELETE, PUT or GET once when a kept-alive connection drops before the
    answer. A Binance cancel is a DELETE: the re-send turns a lost answer into a second cancel
    and a wrong REJECTED (-2011). aiohttp has no public switch (aio-libs/aiohttp#10790); the
    private ``_retry_connection`` is the one its own test client sets. A release without it
    would re-send again, silently, so its absence is an error here rather than a skipped line.
    """
    if not hasattr(session, "_retry_connection"):
        raise RuntimeError(
            f"aiohttp {aiohttp.__version__} has no ClientSession._retry_connection, the private switch "
            "venues.transport sets so a write whose answer is lost is never re-sent. Install an aiohttp "
            "release it was tested with (3.11 to 3.14: pip install 'aiohttp>=3.11,<3.15'), or use http='httpx'"
        )
    session._retry_connection = False


class AiohttpRestClient:
    """One pooled keep-alive session, created lazily on the running loop."""

    def __init__(self, timeout: float, *, limit: int = 100):
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=timeout)
        self._limit = limit
        self._session: aiohttp.ClientSession | None = None

    def _ensure(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # No skip_auto_headers: a session-wide skip list sends every request down aiohttp's slow
            # header path (a CIMultiDict built and the headers copied per request).
            session = aiohttp.ClientSession(
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=self._limit, keepalive_timeout=30),
                json_serialize=lambda o: orjson.dumps(o).decode(),
            )
            _send_once(session)
            self._session = session
        return self._session

    async def request(
        self, method: str, url: str, *, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> RestResponse:
        session = self._ensure()
        with map_aiohttp_errors(f"{method} {url.split('?', 1)[0]}"):
            async with session.request(method, url, data=body, headers=headers) as resp:
                payload = await resp.read()
                return RestResponse(resp.status, resp.headers, payload)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


# --------------------------------------------------------------------------- httpx


@contextlib.contextmanager
def map_httpx_errors(what: str) -> Iterator[None]:
    import httpx

    try:
        yield
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol) as exc:
        raise NotSent(f"{what}: could not connect ({exc.__class__.__name__})") from exc
    except httpx.TimeoutException as exc:  # read/write timeout: bytes may have left
        raise OutcomeUnknown(f"{what}: no answer in time after the request was sent") from exc
    except (httpx.TransportError, httpx.StreamError) as exc:
        raise OutcomeUnknown(
            f"{what}: connection failed after the request was sent ({exc.__class__.__name__})"
        ) from exc


class _SendTrace:
    """httpcore's ``trace`` extension, noting whether the request started to be written.

    A deadline that expires before that point is a refusal to send (``NotSent``); after it,
    the venue may have the request (``OutcomeUnknown``).
    """

    __slots__ = ("sent",)

    def __init__(self) -> None:
        self.sent = False

    async def __call__(self, event: str, info: dict[str, Any]) -> None:
        if event.endswith("send_request_headers.started"):  # http11.* and http2.*
            self.sent = True


class HttpxRestClient:
    """httpx transport: the one to use when a test mocks venue traffic with respx.

    httpx's timeouts are per phase and per read: a body dripping a byte within each read
    timeout never trips them. ``timeout`` is therefore also one deadline over the whole
    exchange (pool, connect, send, headers, body), as aiohttp's ``total`` is.
    """

    def __init__(self, timeout: float):
        try:
            import httpx
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ImportError("http='httpx' needs the optional dependency: pip install 'order-gateway[httpx]'") from exc
        self._timeout = timeout
        self._client = httpx.AsyncClient(timeout=timeout)

    async def request(
        self, method: str, url: str, *, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> RestResponse:
        what = f"{method} {url.split('?', 1)[0]}"
        trace = _SendTrace()
        try:
            with map_httpx_errors(what):
                async with asyncio.timeout(self._timeout):
                    resp = await self._client.request(
                        method, url, content=body, headers=headers, extensions={"trace": trace}
                    )
                return RestResponse(resp.status_code, resp.headers, resp.content)
        except TimeoutError as exc:  # the deadline, not an httpx phase timeout (those are mapped above)
            if trace.sent:
                raise OutcomeUnknown(
                    f"{what}: no complete answer within {self._timeout:g}s after the request was sent"
                ) from exc
            raise NotSent(f"{what}: not sent within {self._timeout:g}s (pool wait / connect)") from exc

    async def close(self) -> None:
        await self._client.aclose()


def make_rest_client(kind: HttpKind, timeout: float) -> RestClient:
    if kind == "aiohttp":
        return AiohttpRestClient(timeout)
    if kind == "httpx":
        return HttpxRestClient(timeout)
    raise ValueError(f"http must be 'aiohttp' or 'httpx', got {kind!r}")
