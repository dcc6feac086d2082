"""REST and WebSocket plumbing shared by every adapter, with one error-mapping boundary each.

Foreign exceptions are translated in exactly one place per library (httpx's pattern):

- ``map_aiohttp_errors`` / ``map_httpx_errors``: failures *before* the request was written
  (connect refused, DNS, TLS, connect timeout, pool wait) become ``NotSent``; failures that
  may come after bytes left (read/write timeout, reset, server disconnect, payload error)
  become ``OutcomeUnknown``. When in doubt it is unknown: a wrong REJECTED can cause a
  duplicate order, a wrong UNKNOWN only costs a reconciliation.
- ``WsRpc``: a request is ``NotSent`` when the socket is not up or refuses the frame; once
  the frame is written, a timeout or a drop before its answer is ``OutcomeUnknown``.

Writes are never retried here or anywhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import aiohttp
import orjson
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.frames import Frame, Opcode

from venues.base import NotSent, OutcomeUnknown

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

log = logging.getLogger(__name__)

HttpKind = Literal["aiohttp", "httpx"]


@dataclass(frozen=True, slots=True)
class RestResponse:
    status: int
    headers: dict[str, str]  # lower-cased names
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


class AiohttpRestClient:
    """One pooled keep-alive session, created lazily on the running loop."""

    def __init__(self, timeout: float, *, limit: int = 100):
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=timeout)
        self._limit = limit
        self._session: aiohttp.ClientSession | None = None

    def _ensure(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            session = aiohttp.ClientSession(
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=self._limit, keepalive_timeout=30),
                skip_auto_headers=("User-Agent",),
                json_serialize=lambda o: orjson.dumps(o).decode(),
            )
            # aiohttp re-sends an "idempotent" request (DELETE, PUT, GET) once when a kept-alive
            # connection drops before the answer. A Binance cancel is a DELETE: the re-send turns
            # a lost answer into a second cancel and a wrong REJECTED (-2011). Writes go out once;
            # this is the switch aiohttp's own test client uses to turn that off.
            session._retry_connection = False
            self._session = session
        return self._session

    async def request(
        self, method: str, url: str, *, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> RestResponse:
        session = self._ensure()
        with map_aiohttp_errors(f"{method} {url.split('?', 1)[0]}"):
            async with session.request(method, url, data=body, headers=headers) as resp:
                payload = await resp.read()
                return RestResponse(resp.status, {k.lower(): v for k, v in resp.headers.items()}, payload)

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
                return RestResponse(resp.status_code, {k.lower(): v for k, v in resp.headers.items()}, resp.content)
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


# --------------------------------------------------------------------------- WebSocket


class _DirectConnection(ClientConnection):
    """A client connection that hands each complete text frame to ``on_text`` as it is parsed.

    ``process_event`` is websockets' extension point for incoming frames. Dispatching there
    saves the hop through the message queue and a reader task (one event-loop iteration per
    frame, on the ack path of every WebSocket request). Until ``on_text`` is set (the open
    handshake: auth, subscribe) and for fragmented or binary messages, frames take the
    library's usual path to ``recv()`` / ``async for``.
    """

    on_text: Callable[[bytes], None] | None = None

    def process_event(self, event: object) -> None:
        handler = self.on_text
        if handler is not None and isinstance(event, Frame) and event.opcode is Opcode.TEXT and event.fin:
            data = event.data
            try:
                handler(data if isinstance(data, bytes) else bytes(data))
            except Exception:  # a bad frame must never kill the socket
                log.exception("websocket message handler failed")
            return
        super().process_event(event)  # type: ignore[arg-type]


OnOpen = Callable[[ClientConnection], Awaitable[None]]
UrlSource = str | Callable[[], Awaitable[str]]


class WsConnection:
    """A WebSocket kept open by one supervisor task, reconnecting with jittered backoff.

    ``on_open`` runs on each new socket before it counts as up (auth, subscribe);
    ``on_message`` gets every text frame; ``on_down`` is told each time an up socket is lost,
    so callers can fail in-flight requests and report a gap.
    """

    def __init__(
        self,
        url: UrlSource,
        *,
        name: str,
        on_message: Callable[[str | bytes], None],
        on_open: OnOpen | None = None,
        on_down: Callable[[str], None] | None = None,
        heartbeat: Callable[[], str] | None = None,
        heartbeat_interval: float = 20.0,
        backoff_initial: float = 0.1,
        backoff_max: float = 5.0,
        open_timeout: float = 10.0,
        direct: bool = False,
    ):
        self._url = url
        # Request/response sockets take each frame as it is parsed (no reader-task hop on the
        # ack path); streams keep the library's queue, so their frames never jump ahead of an ack.
        self._direct = direct
        self.name = name
        self._on_message = on_message
        self._on_open = on_open
        self._on_down = on_down
        self._heartbeat = heartbeat
        self._heartbeat_interval = heartbeat_interval
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._open_timeout = open_timeout
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.up = asyncio.Event()
        self.connects = 0
        self.drops = 0

    @property
    def is_up(self) -> bool:
        return self.up.is_set()

    async def start(self, *, wait: bool = True) -> None:
        if self._task is None:
            self._closing = False
            self._task = asyncio.create_task(self._supervise(), name=f"ws:{self.name}")
        if wait:
            await asyncio.wait_for(self.up.wait(), self._open_timeout)

    async def _resolve_url(self) -> str:
        return self._url if isinstance(self._url, str) else await self._url()

    async def _supervise(self) -> None:
        delay = self._backoff_initial
        while not self._closing:
            try:
                url = await self._resolve_url()
                async with ws_connect(
                    url,
                    open_timeout=self._open_timeout,
                    ping_interval=20,
                    max_size=2**22,
                    compression=None,
                    create_connection=_DirectConnection,
                ) as ws:
                    if self._on_open is not None:
                        await asyncio.wait_for(self._on_open(ws), self._open_timeout)
                    if self._direct:
                        assert isinstance(ws, _DirectConnection)
                        ws.on_text = self._on_message
                    self._ws = ws
                    self.connects += 1
                    self.up.set()
                    delay = self._backoff_initial
                    beat = asyncio.create_task(self._beat(ws)) if self._heartbeat else None
                    try:
                        async for frame in ws:
                            try:
                                self._on_message(frame)
                            except Exception:  # a bad frame must never kill the socket
                                log.exception("%s: message handler failed", self.name)
                    finally:
                        if beat is not None:
                            beat.cancel()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("%s: connection failed: %r", self.name, exc)
            finally:
                was_up = self.up.is_set()
                self.up.clear()
                self._ws = None
                if was_up:
                    self.drops += 1
                    if self._on_down is not None:
                        self._on_down("closed" if self._closing else "connection lost")
            if self._closing:
                return
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(self._backoff_max, delay * 2)

    async def _beat(self, ws: ClientConnection) -> None:
        assert self._heartbeat is not None
        with contextlib.suppress(Exception):
            while True:
                await asyncio.sleep(self._heartbeat_interval)
                await ws.send(self._heartbeat())

    async def send(self, frame: str | bytes) -> None:
        """Write one frame; ``NotSent`` if the socket is not up or refuses it before writing."""
        ws = self._ws
        if ws is None or not self.up.is_set():
            raise NotSent(f"{self.name}: websocket is not connected")
        try:
            await ws.send(frame)
        except websockets.ConnectionClosed as exc:
            raise NotSent(f"{self.name}: websocket closed before the frame was written") from exc

    async def close(self) -> None:
        self._closing = True
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        self.up.clear()

    async def drop(self) -> None:
        """Close the current socket (the supervisor reconnects); used by tests and fault drills."""
        ws = self._ws
        if ws is not None:
            await ws.close()


class WsRpc:
    """Request/response over a ``WsConnection``, correlated by an id the caller extracts.

    Frames whose id matches nothing in flight go to ``on_unsolicited`` (pongs, pushes).
    """

    def __init__(
        self,
        url: UrlSource,
        *,
        name: str,
        response_id: Callable[[Any], str | None],
        on_open: OnOpen | None = None,
        on_unsolicited: Callable[[Any], None] | None = None,
        on_down: Callable[[str], None] | None = None,
        heartbeat: Callable[[], str] | None = None,
        heartbeat_interval: float = 20.0,
    ):
        self._response_id = response_id
        self._on_unsolicited = on_unsolicited
        self._on_down_cb = on_down
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self.conn = WsConnection(
            url,
            name=name,
            on_message=self._dispatch,
            on_open=on_open,
            on_down=self._on_down,
            heartbeat=heartbeat,
            heartbeat_interval=heartbeat_interval,
            direct=True,
        )
        self.parse_errors = 0

    @property
    def is_up(self) -> bool:
        return self.conn.is_up

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    async def start(self, *, wait: bool = True) -> None:
        await self.conn.start(wait=wait)

    async def close(self) -> None:
        await self.conn.close()

    def _dispatch(self, frame: str | bytes) -> None:
        try:
            message = orjson.loads(frame)
        except orjson.JSONDecodeError:
            self.parse_errors += 1
            log.warning("%s: unparsable frame dropped (%d so far)", self.conn.name, self.parse_errors)
            return
        rid = self._response_id(message)
        fut = self._pending.pop(rid, None) if rid is not None else None
        if fut is not None:
            if not fut.done():
                fut.set_result(message)
        elif self._on_unsolicited is not None:
            self._on_unsolicited(message)

    def _on_down(self, reason: str) -> None:
        pending, self._pending = self._pending, {}
        for fut in pending.values():
            if not fut.done():
                fut.set_exception(
                    OutcomeUnknown(f"{self.conn.name}: websocket {reason} after the frame was sent, before its answer")
                )
        if self._on_down_cb is not None:
            self._on_down_cb(reason)

    async def call(self, request_id: str, frame: str | bytes, timeout: float) -> Any:
        """Send one request frame and wait for its answer (raises NotSent / OutcomeUnknown)."""
        if request_id in self._pending:
            raise NotSent(f"{self.conn.name}: request id {request_id!r} is already in flight")
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = fut
        try:
            await self.conn.send(frame)
        except NotSent:
            self._pending.pop(request_id, None)
            raise
        # A timer on the future itself: on 3.11 ``asyncio.wait_for`` costs a task per request.
        timer = asyncio.get_running_loop().call_later(timeout, _expire, fut, self.conn.name, timeout)
        try:
            return await fut
        finally:
            timer.cancel()
            self._pending.pop(request_id, None)


def _expire(fut: asyncio.Future[Any], name: str, timeout: float) -> None:
    if not fut.done():
        fut.set_exception(OutcomeUnknown(f"{name}: no answer within {timeout:g}s after the frame was sent"))
