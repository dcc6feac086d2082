"""What both simulator dialects share on the wire: decimals printed to a filter's places, JSON
over a server-side WebSocket, and the pump that drains a stream connection's send queue."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal
from typing import Any, Protocol

import orjson
from aiohttp import web

__all__ = ["QueuedSocket", "fmt", "fmt_free", "places", "stream_sender", "ws_send"]


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
