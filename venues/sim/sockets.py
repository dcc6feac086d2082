"""The life of a socket in either dialect. A user stream: a sender draining the connection's queue while each
JSON-object frame from the client goes to the dialect. A WS API socket: each text frame answered in turn.
Either way the connection leaves its registry at the end."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, MutableSet
from typing import Any, TypeVar

import orjson
from aiohttp import WSMsgType, web

from venues.sim.wire import QueuedSocket, stream_sender

__all__ = ["close_streams", "drop_stream", "drop_streams", "serve_requests", "serve_stream"]

C = TypeVar("C", bound=QueuedSocket)
T = TypeVar("T")


async def serve_requests(
    ws: web.WebSocketResponse, registry: MutableSet[T], member: T, answer: Callable[[str], Awaitable[bool]]
) -> None:
    """Run a WS API socket (already prepared): each text frame goes to ``answer`` until it returns False
    (the socket was closed on purpose, under a fault) or the client leaves."""
    registry.add(member)
    try:
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                continue
            if not await answer(msg.data):
                break
    finally:
        registry.discard(member)


async def serve_stream(conn: C, registry: MutableSet[C], on_frame: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
    """Run ``conn`` (its socket already prepared) until the client or the venue closes it.

    Text frames that are not a JSON object are ignored, as both venues' streams do.
    """
    registry.add(conn)
    sender = asyncio.ensure_future(stream_sender(conn))
    try:
        async for msg in conn.ws:
            if msg.type is not WSMsgType.TEXT:
                continue
            try:
                frame = orjson.loads(msg.data)
            except ValueError:
                continue
            if isinstance(frame, dict):
                await on_frame(frame)
    finally:
        registry.discard(conn)
        conn.queue.put_nowait(None)
        with contextlib.suppress(BaseException):
            await sender


async def close_streams(conns: Iterable[QueuedSocket]) -> None:
    """Shutdown: stop every sender and close every socket."""
    for conn in list(conns):
        conn.queue.put_nowait(None)
        with contextlib.suppress(Exception):
            await conn.ws.close()


def drop_stream(registry: MutableSet[C], conn: C) -> None:
    """Cut one socket as a lost connection does: it leaves the registry and its sender closes it."""
    registry.discard(conn)
    conn.queue.put_nowait(None)


def drop_streams(registry: MutableSet[C]) -> int:
    """Cut every socket in ``registry`` (tests: force a reconnect); returns how many."""
    conns = list(registry)
    for conn in conns:
        drop_stream(registry, conn)
    return len(conns)
