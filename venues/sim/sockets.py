"""The life of a user-stream socket in either dialect: a sender draining the connection's queue while each
JSON-object frame from the client goes to the dialect, and the connection leaving its registry at the end."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, MutableSet
from typing import Any, TypeVar

import orjson
from aiohttp import WSMsgType

from venues.sim.wire import QueuedSocket, stream_sender

__all__ = ["close_streams", "serve_stream"]

C = TypeVar("C", bound=QueuedSocket)


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
