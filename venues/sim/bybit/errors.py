"""Bybit error answers and request parameters: retCodes and messages, ``ApiError``, how engine rejections map
onto retCodes, and the parameter readers that refuse a malformed value with ``10001``."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from venues.sim.engine import EngineReject, RejectReason, SimInstrument
from venues.sim.wire import fmt_free as _fmt_free

__all__ = [
    "MESSAGES",
    "ApiError",
    "engine_error",
    "param_error",
    "read_bool",
    "read_decimal",
    "read_int",
    "text",
]

DECIMAL_RE = re.compile(r"^[0-9]{1,20}(\.[0-9]{1,20})?$")

MESSAGES: dict[int, str] = {
    0: "OK",
    10000: "Server Timeout",
    10001: "params error",
    10002: "invalid request, please check your server timestamp or recv_window param",
    10003: "API key is invalid.",
    10004: "error sign!",
    10005: "permission denied for current apikey",
    10006: "Too many visits!",
    10016: "Server error",
    10017: "route not found",
    10404: "op not supported",
    10429: "System frequency protection",
    20001: "Repeat auth",
    20003: "too frequent on one session",
    20006: "reqId is duplicated",
    110001: "order not exists or too late to cancel",
    110003: "Order price is out of permissible range.",
    110017: "Reduce-only rule not satisfied",
    110020: "Not allowed to have more than 500 active orders.",
    110072: "OrderLinkedID is duplicate",
    110094: "Order does not meet minimum order value.",
}


class ApiError(Exception):
    """A Bybit business error: HTTP 200 with ``retCode`` != 0."""

    def __init__(self, code: int, msg: str | None = None, *, headers: dict[str, str] | None = None):
        self.code = code
        self.msg = msg if msg is not None else MESSAGES.get(code, "error")
        self.headers = headers
        super().__init__(f"{code} {self.msg}")


def param_error(detail: str) -> ApiError:
    return ApiError(10001, f"params error: {detail}")


def text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, float):
        return format(Decimal(repr(value)).normalize(), "f")
    return str(value)


def read_decimal(params: dict[str, Any], name: str, *, required: bool) -> Decimal | None:
    raw = text(params.get(name))
    if raw == "":
        if required:
            raise param_error(f"{name} is required")
        return None
    if not DECIMAL_RE.fullmatch(raw):
        raise param_error(f"{name} invalid")
    try:
        return Decimal(raw)
    except InvalidOperation as exc:  # pragma: no cover - the regex already guards it
        raise param_error(f"{name} invalid") from exc


def read_int(params: dict[str, Any], name: str) -> int | None:
    raw = text(params.get(name))
    if raw == "":
        return None
    if not raw.lstrip("-").isdigit():
        raise param_error(f"{name} invalid")
    return int(raw)


def read_bool(params: dict[str, Any], name: str) -> bool:
    raw = params.get(name)
    if raw is None or raw == "":
        return False
    if isinstance(raw, bool):
        return raw
    lowered = str(raw).lower()
    if lowered not in ("true", "false"):
        raise param_error(f"{name} invalid")
    return lowered == "true"


def engine_error(exc: EngineReject, inst: SimInstrument | None = None) -> ApiError:
    """The Bybit answer to an engine rejection."""
    R = RejectReason
    reason = exc.reason
    if reason is R.DUPLICATE_CLIENT_ID:
        return ApiError(110072)
    if reason is R.MIN_NOTIONAL:
        floor = f" {_fmt_free(inst.min_notional)}{inst.quote}" if inst is not None else ""
        return ApiError(110094, f"Order does not meet minimum order value{floor}")
    if reason is R.REDUCE_ONLY:
        return ApiError(
            110017,
            "current position is zero, cannot fix reduce-only order qty"
            if "would not reduce" in exc.message
            else MESSAGES[110017],
        )
    if reason is R.MAX_OPEN_ORDERS:
        return ApiError(110020)
    if reason is R.PRICE_RANGE:
        return ApiError(110003)
    if reason is R.PRICE_TICK:
        return ApiError(10001, "Order price has too many decimals.")
    if reason is R.QTY_STEP:
        return ApiError(10001, "Order quantity has too many decimals.")
    if reason is R.QTY_RANGE:
        return ApiError(10001, f"The number of contracts exceeds the allowed range: {exc.message}")
    if reason is R.POST_ONLY_WOULD_TAKE:
        return ApiError(10001, "PostOnly order would take liquidity: EC_PostOnlyWillTakeLiquidity")
    if reason in (R.UNKNOWN_ORDER, R.ORDER_CLOSED):
        return ApiError(110001)
    if reason is R.UNKNOWN_SYMBOL:
        return param_error("symbol invalid")
    return param_error(exc.message)
