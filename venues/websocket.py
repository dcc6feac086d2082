"""WebSocket plumbing shared by every adapter: a supervised reconnecting socket and request/response on it.

- ``WsConnection``: one socket kept open by a supervisor task, reconnecting with jittered backoff.
- ``WsRpc``: a request is ``NotSent`` when the socket is not up or refuses the frame; once the
  frame is written, a timeout or a drop before its answer is ``OutcomeUnknown``.
- ``OrderSocket``: what an adapter's order-entry socket (Binance WS API, Bybit trade WS) shares.

Writes are never retried here or anywhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import random
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.frames import Frame, Opcode

from venues.base import NotSent, OutcomeUnknown

__all__ = ["OrderSocket", "WsConnection", "WsRpc"]

log = logging.getLogger(__name__)


def _process_event_hook() -> str | None:
    """Why ``_DirectConnection`` cannot override websockets' ``process_event`` here, or None when it can."""
    hook = getattr(ClientConnection, "process_event", None)
    if not callable(hook):
        return "ClientConnection.process_event is gone"
    try:
        params = list(inspect.signature(hook).parameters)
    except (TypeError, ValueError):
        return "ClientConnection.process_event has no readable signature"
    if params != ["self", "event"]:
        return f"ClientConnection.process_event takes {params}, not (self, event)"
    return None


# websockets documents process_event among its *private* methods: a release may rename or
# reshape it. Checked once at import; a direct socket then refuses to start with this reason
# instead of silently falling back or breaking in the frame path.
_DIRECT_UNAVAILABLE = _process_event_hook()


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
        if direct and _DIRECT_UNAVAILABLE is not None:
            raise RuntimeError(
                f"websockets {websockets.__version__}: {_DIRECT_UNAVAILABLE}. venues.websocket overrides that "
                "private method to hand each text frame to the request/response socket as it is parsed; "
                "install a websockets release it was tested with (13.0 to 17.4: pip install 'websockets>=13,<18') "
                "or port _DirectConnection to the new release"
            )
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

    async def start_within(self, wait_seconds: float) -> None:
        """Start; wait up to ``wait_seconds`` for the first connect (a venue still down is retried later)."""
        await self.start(wait=False)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.up.wait(), wait_seconds)

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

    async def start_within(self, wait_seconds: float) -> None:
        await self.conn.start_within(wait_seconds)

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


class OrderSocket(ABC):
    """An adapter's order-entry socket (Binance WS API, Bybit trade WS): a ``WsRpc`` and signed calls.

    A dialect sets ``rpc`` and implements ``call``: build its signed request frame, send it once,
    and return the answer's order object or raise a write-outcome error.
    """

    rpc: WsRpc

    @property
    def is_up(self) -> bool:
        return self.rpc.is_up

    @abstractmethod
    async def call(self, method: str, params: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send the signed request frame once; the answer's order object, or raise a write-outcome error."""

    async def start(self, wait_seconds: float) -> None:
        await self.rpc.start_within(wait_seconds)

    async def close(self) -> None:
        await self.rpc.close()
