"""What the client sees when a request meets a fault, for every dialect: one control flow, each dialect's wire shapes.

The venue has already done (or skipped) the work; this decides only the answer. The kinds
that are no answer at all (ACCEPT_THEN_TIMEOUT holds then drops, ACCEPT_THEN_RESET aborts,
WS_DROP closes the socket) and MALFORMED_2XX (the normal answer cut in half) look alike on
every venue and are handled here. The kinds that answer with an error (the 5xx, UNKNOWN_CODE,
REJECT_CODE, RATE_LIMIT) differ in status, code, message, body and headers: a dialect supplies
those as a table ``{FaultKind: shape}``, for REST (``FaultWire``) and for its WebSocket API
(``WsShapes``). A kind without a shape gets the normal answer (DELAYED_VISIBILITY: the venue
hides the order instead).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from venues.sim.faults import Fault, FaultKind
from venues.sim.wire import ws_send

__all__ = [
    "FaultWire",
    "RestShape",
    "WsShape",
    "WsShapes",
    "REASONS",
    "hold_then_drop",
    "html_5xx",
    "read_answer",
    "reset_connection",
    "rest_answer",
    "ws_answer",
]

# A REST error answer for one fault, given the request and the headers a faulted answer keeps.
RestShape = Callable[[Fault, web.Request, Mapping[str, str]], web.Response]
# A WS API error frame for one fault (the dialect binds the frame's id and envelope).
WsShape = Callable[[Fault], dict[str, Any]]
WsShapes = Mapping[FaultKind, WsShape]


@dataclass(frozen=True, slots=True)
class FaultWire:
    """A dialect's REST answers under faults."""

    shapes: Mapping[FaultKind, RestShape]
    # The headers a faulted answer still carries (limit counters), from the request and its normal answer.
    kept_headers: Callable[[web.Request, web.Response], Mapping[str, str]]


REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Time-out"}
_HTML_5XX = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} {reason}</h1>"
    "</center>\r\n</body>\r\n</html>\r\n"
)


def html_5xx(status: int, headers: Mapping[str, str] | None = None) -> web.Response:
    """The HTML error page the proxy in front of a venue answers a 5xx with."""
    html = _HTML_5XX.format(status=status, reason=REASONS.get(status, "Server Error"))
    return web.Response(text=html, status=status, content_type="text/html", headers=headers)


async def hold_then_drop(request: web.Request, seconds: float) -> web.StreamResponse:
    """ACCEPT_THEN_TIMEOUT: keep the client waiting, then close the connection with no answer."""
    await asyncio.sleep(seconds)
    transport = request.transport
    if transport is not None:
        transport.close()
    raise asyncio.CancelledError  # aiohttp drops the request without writing anything


def reset_connection(request: web.Request) -> web.StreamResponse:
    """ACCEPT_THEN_RESET: abort the TCP connection before any answer is written."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    raise asyncio.CancelledError


def _truncated(raw: bytes) -> bytes:
    return raw[: max(1, len(raw) // 2)]


async def rest_answer(
    wire: FaultWire, request: web.Request, fault: Fault | None, normal: web.Response
) -> web.StreamResponse:
    """The REST answer under ``fault`` (``normal`` when there is none)."""
    if fault is None or fault.kind is FaultKind.DELAYED_VISIBILITY:
        return normal
    kind = fault.kind
    if kind is FaultKind.ACCEPT_THEN_TIMEOUT:
        return await hold_then_drop(request, fault.delay_seconds)
    if kind is FaultKind.ACCEPT_THEN_RESET:
        return reset_connection(request)
    kept = wire.kept_headers(request, normal)
    if kind is FaultKind.MALFORMED_2XX:
        body = bytes(normal.body) if isinstance(normal.body, bytes | bytearray) else b"{}"
        resp = web.Response(body=_truncated(body), status=200, content_type="application/json")
        resp.headers.update(kept)
        return resp
    shape = wire.shapes.get(kind)
    return normal if shape is None else shape(fault, request, kept)


async def read_answer(
    wire: FaultWire,
    request: web.Request,
    fault: Fault | None,
    produce: Callable[[], web.Response],
    skipped: Callable[[], web.Response],
) -> web.StreamResponse:
    """A read under ``fault``: a fault that does not execute answers over ``skipped`` without reading."""
    normal = skipped() if fault is not None and not fault.executes else produce()
    return await rest_answer(wire, request, fault, normal)


async def ws_answer(
    ws: web.WebSocketResponse,
    request: web.Request,
    fault: Fault | None,
    normal: dict[str, Any],
    shapes: WsShapes,
) -> bool:
    """Send the WS API answer under ``fault``; False when the socket was closed on purpose."""
    if fault is None or fault.kind is FaultKind.DELAYED_VISIBILITY:
        await ws_send(ws, normal)
        return True
    kind = fault.kind
    if kind is FaultKind.ACCEPT_THEN_TIMEOUT:
        return True  # acted; the answer never comes (the client's timeout fires)
    if kind is FaultKind.ACCEPT_THEN_RESET:
        if request.transport is not None:
            request.transport.abort()
        return False
    if kind is FaultKind.WS_DROP:
        await ws.close()
        return False
    if kind is FaultKind.MALFORMED_2XX:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.send_str(_truncated(orjson.dumps(normal)).decode(errors="ignore"))
        return True
    shape = shapes.get(kind)
    await ws_send(ws, normal if shape is None else shape(fault))
    return True
