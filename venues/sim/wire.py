"""What both simulator dialects share on the wire: decimals printed to a filter's places, JSON
over a server-side WebSocket, the pump that drains a stream connection's send queue, and how
a user stream delivers events under the stream faults."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Generic, Protocol, TypeVar

import orjson
from aiohttp import web

from venues.sim.faults import Fault, FaultKind

__all__ = ["QueuedSocket", "StreamFaultDelivery", "fmt", "fmt_free", "places", "stream_sender", "ws_send"]

T = TypeVar("T")


def places(step: Decimal) -> int:
    """Decimal places of a tick or step size (``Decimal("0.010")`` -> 3)."""
    exp = step.as_tuple().exponent
    return max(0, -exp) if isinstance(exp, int) else 0


def fmt(value: Decimal, n_places: int) -> str:
    return f"{value:.{n_places}f}"


def fmt_free(value: Decimal, min_places: int = 0) -> str:
    """At least ``min_places`` decimals, more only when the value needs them (average prices)."""
    text = format(value.normalize(), "f") if value else "0"
    whole, _, frac = text.partition(".")
    if len(frac) < min_places:
        frac = frac + "0" * (min_places - len(frac))
    return whole + ("." + frac if frac else "")


async def ws_send(ws: web.WebSocketResponse, payload: Any) -> None:
    """Send one JSON text frame; a socket closing meanwhile is not an error of the venue."""
    with contextlib.suppress(ConnectionError, RuntimeError):
        await ws.send_str(orjson.dumps(payload).decode())


class QueuedSocket(Protocol):
    ws: web.WebSocketResponse
    queue: asyncio.Queue[bytes | None]


async def stream_sender(conn: QueuedSocket) -> None:
    """Send what the dialect queues, in order; ``None`` closes the socket (a gap or shutdown)."""
    while True:
        item = await conn.queue.get()
        if item is None:
            with contextlib.suppress(Exception):
                await conn.ws.close()
            return
        try:
            await conn.ws.send_str(item.decode())
        except (ConnectionError, RuntimeError):
            return


class StreamFaultDelivery(Generic[T]):
    """How a user stream delivers an account's events under the stream faults, in both dialects.

    ``targets(account)`` lists where the account's events go (sockets, or socket + key), ``send``
    writes one event to one target, ``drop`` cuts one target's socket. Per ``faults.py``:
    STREAM_GAP drops every socket of the account (this event and all until a reconnect are
    lost), STREAM_OUT_OF_ORDER holds this event until the next one has gone (or a second has
    passed), STREAM_DUPLICATE sends it twice. One event's fault applies to the first event of a
    group (an order update and its fills) only, except a gap, which loses them all.
    """

    def __init__(
        self,
        targets: Callable[[str], list[T]],
        send: Callable[[T, dict[str, Any]], None],
        drop: Callable[[T], None],
        *,
        hold_seconds: float = 1.0,
    ):
        self._targets = targets
        self._send = send
        self._drop = drop
        self._hold_seconds = hold_seconds
        self._held: dict[str, tuple[dict[str, Any], asyncio.TimerHandle]] = {}

    def deliver_all(self, account: str, events: list[dict[str, Any]], fault: Fault | None) -> None:
        for event in events:
            self.deliver(account, event, fault)
            fault = None if fault is not None and fault.kind is not FaultKind.STREAM_GAP else fault

    def deliver(self, account: str, event: dict[str, Any], fault: Fault | None) -> None:
        targets = self._targets(account)
        if fault is not None and fault.kind is FaultKind.STREAM_GAP:
            for target in targets:
                self._drop(target)
            return
        if fault is not None and fault.kind is FaultKind.STREAM_OUT_OF_ORDER and account not in self._held:
            handle = asyncio.get_running_loop().call_later(self._hold_seconds, self.flush, account)
            self._held[account] = (event, handle)
            return
        copies = 2 if fault is not None and fault.kind is FaultKind.STREAM_DUPLICATE else 1
        for target in targets:
            for _ in range(copies):
                self._send(target, event)
        self.flush(account)

    def flush(self, account: str) -> None:
        """Send the event held back for ``account`` (after the one that overtook it)."""
        held = self._held.pop(account, None)
        if held is None:
            return
        event, handle = held
        handle.cancel()
        for target in self._targets(account):
            self._send(target, event)

    def close(self) -> None:
        for _, handle in self._held.values():
            handle.cancel()
        self._held.clear()
