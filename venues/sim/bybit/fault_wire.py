"""Bybit's error answers under the faults (the control flow is ``venues/sim/fault_answers.py``).

REST answers a business error in the envelope on HTTP 200 (UNKNOWN_CODE may carry another
status), a 5xx as plain text or the proxy's HTML page, a rate limit as the envelope ``10006`` or
a bare 429/403, with ``X-Bapi-Limit*`` saying the window is spent. The trade socket answers
``retCode`` frames (``10016`` for a 5xx, ``10429`` for a rate limit).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from venues.sim.bybit.errors import MESSAGES
from venues.sim.bybit.limits import HDR_KEY
from venues.sim.bybit.payloads import Payloads
from venues.sim.engine import now_ms
from venues.sim.fault_answers import REASONS, FaultWire, WsShapes, html_5xx
from venues.sim.faults import Fault, FaultKind

__all__ = ["rest_wire", "ws_shapes"]

MSG_UNKNOWN_ERROR = "Request occur unknown error."


def _unknown(fault: Fault) -> tuple[int, str]:
    code = fault.code or 10000
    return code, fault.message or MESSAGES.get(code, "Server Timeout")


def _rejected(fault: Fault) -> tuple[int, str]:
    code = fault.code or 10001
    return code, fault.message or MESSAGES.get(code, "params error")


def _reset_ms(fault: Fault) -> str:
    return str(now_ms() + int(fault.retry_after_seconds * 1000))


def _rest_5xx(fault: Fault, request: web.Request, kept: Mapping[str, str]) -> web.Response:
    status = fault.status or 502
    if fault.message is not None or status not in REASONS or status == 500:
        return web.Response(text=fault.message or MSG_UNKNOWN_ERROR, status=status, content_type="text/plain")
    return html_5xx(status)


def _limit_headers(request: web.Request, normal: web.Response) -> Mapping[str, str]:
    headers: Mapping[str, str] = request.get(HDR_KEY) or {}
    return headers


def rest_wire(payloads: Payloads) -> FaultWire:
    """The REST shapes, rendering envelopes with ``payloads``."""

    def unknown(fault: Fault, request: web.Request, kept: Mapping[str, str]) -> web.Response:
        resp = payloads.reply(request, *_unknown(fault))
        if fault.status:
            resp.set_status(fault.status)
        return resp

    def rejected(fault: Fault, request: web.Request, kept: Mapping[str, str]) -> web.Response:
        return payloads.reply(request, *_rejected(fault))

    def rate_limited(fault: Fault, request: web.Request, kept: Mapping[str, str]) -> web.Response:
        limited = {
            "X-Bapi-Limit": kept.get("X-Bapi-Limit", "10"),
            "X-Bapi-Limit-Status": "0",
            "X-Bapi-Limit-Reset-Timestamp": _reset_ms(fault),
        }
        if fault.status in (429, 403):
            text = fault.message or ("access too frequent" if fault.status == 403 else "Too Many Requests")
            return web.Response(text=text, status=fault.status, content_type="text/plain", headers=limited)
        code = fault.code or 10006
        return payloads.reply(request, code, fault.message or MESSAGES.get(code, "Too many visits!"), headers=limited)

    return FaultWire(
        shapes={
            FaultKind.ACCEPT_THEN_5XX: _rest_5xx,
            FaultKind.REJECT_THEN_5XX: _rest_5xx,
            FaultKind.UNKNOWN_CODE: unknown,
            FaultKind.REJECT_CODE: rejected,
            FaultKind.RATE_LIMIT: rate_limited,
        },
        kept_headers=_limit_headers,
    )


def ws_shapes(answer: Callable[[int, str], dict[str, Any]]) -> WsShapes:
    """The trade socket's fault frames, ``answer`` rendering (retCode, retMsg) as this request's answer."""

    def server_error(fault: Fault) -> dict[str, Any]:
        return answer(10016, fault.message or "Internal error")

    def rate_limited(fault: Fault) -> dict[str, Any]:
        code = fault.code or 10429
        out = answer(code, fault.message or MESSAGES.get(code, "Too many visits!"))
        out["header"]["X-Bapi-Limit-Status"] = "0"
        out["header"]["X-Bapi-Limit-Reset-Timestamp"] = _reset_ms(fault)
        return out

    return {
        FaultKind.ACCEPT_THEN_5XX: server_error,
        FaultKind.REJECT_THEN_5XX: server_error,
        FaultKind.UNKNOWN_CODE: lambda fault: answer(*_unknown(fault)),
        FaultKind.REJECT_CODE: lambda fault: answer(*_rejected(fault)),
        FaultKind.RATE_LIMIT: rate_limited,
    }
