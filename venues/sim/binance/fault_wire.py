"""Binance's error answers under the faults (the control flow is ``venues/sim/fault_answers.py``).

Each error kind becomes an ``ApiError`` (code, message, HTTP status, wait), which REST sends as
``{"code", "msg"}`` (a 5xx other than 503 as the proxy's HTML page) and the WS API as its
``{"status", "error"}`` frame. A faulted REST answer keeps the order-count headers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from venues.sim.binance.errors import (
    CODE_MESSAGES,
    MSG_INTERNAL,
    MSG_UNKNOWN_503,
    UNKNOWN_CODE_STATUS,
    ApiError,
    error_response,
)
from venues.sim.fault_answers import FaultWire, RestShape, WsShapes, html_5xx
from venues.sim.faults import Fault, FaultKind

__all__ = ["REST", "ws_shapes"]

MSG_BANNED = "Way too many requests; IP banned. Please use the websocket for live updates to avoid bans."


def _server_error(fault: Fault) -> ApiError:
    accepted = fault.kind is FaultKind.ACCEPT_THEN_5XX
    msg = fault.message or (MSG_UNKNOWN_503 if accepted else MSG_INTERNAL)
    return ApiError(-1000 if accepted else -1001, msg, status=fault.status or 503)


def _unknown(fault: Fault) -> ApiError:
    code = fault.code or -1007
    msg = fault.message or CODE_MESSAGES.get(code, "Execution status unknown.")
    return ApiError(code, msg, status=fault.status or UNKNOWN_CODE_STATUS.get(code, 400))


def _rejected(fault: Fault) -> ApiError:
    code = fault.code or -2010
    status = fault.status or (401 if code in (-2014, -2015) else 429 if code == -1015 else 400)
    return ApiError(code, fault.message, status=status)


def _rest_rate_limited(fault: Fault) -> ApiError:
    status = fault.status or 429
    code = fault.code or -1003
    msg = fault.message or (MSG_BANNED if status == 418 else CODE_MESSAGES[code if code in CODE_MESSAGES else -1003])
    return ApiError(code, msg, status=status, retry_after=fault.retry_after_seconds)


def _ws_rate_limited(fault: Fault) -> ApiError:
    code = fault.code or -1003
    msg = CODE_MESSAGES.get(code, "Too many requests.")
    return ApiError(code, msg, status=fault.status or 429, retry_after=fault.retry_after_seconds)


def _rest_5xx(fault: Fault, request: web.Request, kept: Mapping[str, str]) -> web.Response:
    err = _server_error(fault)
    return error_response(err, kept) if err.status == 503 else html_5xx(err.status, kept)


def _rest(error: Callable[[Fault], ApiError], *, keep_headers: bool = True) -> RestShape:
    def shape(fault: Fault, request: web.Request, kept: Mapping[str, str]) -> web.Response:
        return error_response(error(fault), kept if keep_headers else None)

    return shape


def _order_counts(request: web.Request, normal: web.Response) -> Mapping[str, str]:
    return {k: v for k, v in normal.headers.items() if k.upper().startswith("X-MBX-ORDER-COUNT")}


REST = FaultWire(
    shapes={
        FaultKind.ACCEPT_THEN_5XX: _rest_5xx,
        FaultKind.REJECT_THEN_5XX: _rest_5xx,
        FaultKind.UNKNOWN_CODE: _rest(_unknown),
        FaultKind.REJECT_CODE: _rest(_rejected),
        FaultKind.RATE_LIMIT: _rest(_rest_rate_limited, keep_headers=False),
    },
    kept_headers=_order_counts,
)

_WS_ERRORS: dict[FaultKind, Callable[[Fault], ApiError]] = {
    FaultKind.ACCEPT_THEN_5XX: _server_error,
    FaultKind.REJECT_THEN_5XX: _server_error,
    FaultKind.UNKNOWN_CODE: _unknown,
    FaultKind.REJECT_CODE: _rejected,
    FaultKind.RATE_LIMIT: _ws_rate_limited,
}


def ws_shapes(frame: Callable[[ApiError], dict[str, Any]]) -> WsShapes:
    """The WS API's fault frames, ``frame`` rendering an error as this request's answer."""

    def shape(error: Callable[[Fault], ApiError]) -> Callable[[Fault], dict[str, Any]]:
        return lambda fault: frame(error(fault))

    return {kind: shape(error) for kind, error in _WS_ERRORS.items()}
