"""A scripted WebSocket API on 127.0.0.1 for tests that need a venue answer the simulator never gives."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
from aiohttp import WSMsgType, web

# Each request frame (parsed) -> the answer frame to send back, or None to send nothing.
Answer = Callable[[dict[str, Any]], dict[str, Any] | None]


@asynccontextmanager
async def fake_ws_server(answer: Answer) -> AsyncIterator[str]:
    """Serve ``answer`` on a free port; yields the ``ws://`` URL, and stops the server on exit."""

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                continue
            frame = orjson.loads(msg.data)
            reply = answer(frame) if isinstance(frame, dict) else None
            if reply is not None:
                await ws.send_str(orjson.dumps(reply).decode())
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"ws://127.0.0.1:{port}/ws"
    finally:
        await runner.cleanup()
