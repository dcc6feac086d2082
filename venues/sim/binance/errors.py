"""Binance error answers and request parameters: the codes and messages (§3, §9), ``ApiError``, how engine
rejections map onto codes, and the parameter readers that refuse a malformed value with the venue's code."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from aiohttp import web

from venues.sim.engine import EngineReject, RejectReason, SimInstrument

__all__ = [
    "CLIENT_ID_RE",
    "CODE_MESSAGES",
    "MSG_INTERNAL",
    "MSG_UNKNOWN_503",
    "UNKNOWN_CODE_STATUS",
    "ApiError",
    "engine_error",
    "error_response",
    "json_response",
    "mandatory",
    "read_decimal",
    "read_int",
    "read_truthy",
    "ws_param_text",
]

CLIENT_ID_RE = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")
DECIMAL_RE = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")

MSG_UNKNOWN_503 = "Unknown error, please check your request or try again later."
MSG_INTERNAL = "Internal error; unable to process your request. Please try again."
CODE_MESSAGES: dict[int, str] = {
    -1000: "An unknown error occured while processing the request.",
    -1001: MSG_INTERNAL,
    -1003: "Too many requests; please use the websocket for live updates.",
    -1006: "An unexpected response was received from the message bus. Execution status unknown.",
    -1007: "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
    -1008: "Request throttled by system-level protection. Reduce-only/close-position orders are exempt. "
    "Please try again.",
    -1013: "Filter failure.",
    -1015: "Too many new orders; current limit is 300 orders per TEN_SECONDS.",
    -1021: "Timestamp for this request is outside of the recvWindow.",
    -1022: "Signature for this request is not valid.",
    -1121: "Invalid symbol.",
    -1125: "This listenKey does not exist.",
    -2010: "NEW_ORDER_REJECTED",
    -2011: "Unknown order sent.",
    -2013: "Order does not exist.",
    -2014: "API-key format invalid.",
    -2015: "Invalid API-key, IP, or permissions for action.",
    -2019: "Margin is insufficient.",
    -2021: "Order would immediately trigger.",
    -2022: "ReduceOnly Order is rejected.",
    -2025: "Reach max open order limit.",
    -4003: "Quantity less than or equal to zero.",
    -4014: "Price not increased by tick size.",
    -4015: "Client order id is not valid.",
    -4023: "Quantity not increased by step size.",
    -4061: "Order's position side does not match user's setting.",
    -4116: "ClientOrderId is duplicated.",
    -4120: "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead.",
    -4164: "Order's notional must be no smaller than 5 (unless you choose reduce only).",
    -5021: "Due to the order could not be filled immediately, the FOK order has been rejected. "
    "The order will not be recorded in the order history",
    -5022: "Due to the order could not be executed as maker, the Post Only order will be rejected. "
    "The order will not be recorded in the order history",
}

# engine rejection -> (Binance code, message); None message = use the engine's own text.
REJECT_MAP: dict[RejectReason, tuple[int, str | None]] = {
    RejectReason.UNKNOWN_SYMBOL: (-1121, CODE_MESSAGES[-1121]),
    RejectReason.DUPLICATE_CLIENT_ID: (-4116, CODE_MESSAGES[-4116]),
    RejectReason.PRICE_TICK: (-4014, CODE_MESSAGES[-4014]),
    RejectReason.PRICE_RANGE: (-1013, "Filter failure: PRICE_FILTER"),
    RejectReason.QTY_STEP: (-4023, CODE_MESSAGES[-4023]),
    RejectReason.QTY_RANGE: (-1013, "Filter failure: LOT_SIZE"),
    RejectReason.MIN_NOTIONAL: (-4164, None),
    RejectReason.REDUCE_ONLY: (-2022, CODE_MESSAGES[-2022]),
    RejectReason.POST_ONLY_WOULD_TAKE: (-5022, CODE_MESSAGES[-5022]),
    RejectReason.FOK_UNFILLABLE: (-5021, CODE_MESSAGES[-5021]),
    RejectReason.MAX_OPEN_ORDERS: (-2025, CODE_MESSAGES[-2025]),
    RejectReason.BAD_PARAMETER: (-1102, None),
    RejectReason.UNKNOWN_ORDER: (-2011, CODE_MESSAGES[-2011]),
    RejectReason.ORDER_CLOSED: (-2011, CODE_MESSAGES[-2011]),
}

# HTTP status that carries each "status unknown" code (§3, §9).
UNKNOWN_CODE_STATUS = {-1007: 408, -1006: 503, -1000: 400, -1001: 503, -1008: 503}


class ApiError(Exception):
    """A Binance error answer: HTTP ``status`` with ``{"code", "msg"}``."""

    def __init__(self, code: int, msg: str | None = None, *, status: int = 400, retry_after: float | None = None):
        self.code = code
        self.msg = msg if msg is not None else CODE_MESSAGES.get(code, "Error.")
        self.status = status
        self.retry_after = retry_after
        super().__init__(f"{code} {self.msg}")


def mandatory(name: str) -> ApiError:
    return ApiError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def engine_error(exc: EngineReject, inst: SimInstrument | None = None) -> ApiError:
    """The Binance answer to an engine rejection (the min-notional message names the instrument's floor)."""
    code, msg = REJECT_MAP.get(exc.reason, (-2010, None))
    if exc.reason is RejectReason.MIN_NOTIONAL and inst is not None:
        msg = f"Order's notional must be no smaller than {inst.min_notional} (unless you choose reduce only)."
    return ApiError(code, msg if msg is not None else exc.message)


def json_response(payload: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    resp = web.Response(body=orjson.dumps(payload), status=status, content_type="application/json")
    if headers:
        resp.headers.update(headers)
    return resp


def error_response(err: ApiError, headers: Mapping[str, str] | None = None) -> web.Response:
    """``{"code", "msg"}`` on the error's HTTP status, with ``Retry-After`` when the error carries a wait."""
    resp = json_response({"code": err.code, "msg": err.msg}, status=err.status, headers=headers)
    if err.retry_after is not None:
        resp.headers["Retry-After"] = str(max(1, int(err.retry_after + 0.999)))
    return resp


def read_truthy(value: str, name: str) -> bool:
    lowered = value.lower()
    if lowered not in ("true", "false"):
        raise ApiError(-1102, f"Parameter '{name}' was malformed: it must be true or false.")
    return lowered == "true"


def read_decimal(params: dict[str, str], name: str, *, required: bool) -> Decimal | None:
    raw = params.get(name)
    if raw is None or raw == "":
        if required:
            raise mandatory(name)
        return None
    if not DECIMAL_RE.fullmatch(raw):
        raise ApiError(
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is '^([0-9]{{1,20}})(\\.[0-9]{{1,20}})?$'.",
        )
    try:
        return Decimal(raw)
    except InvalidOperation as exc:  # pragma: no cover - the regex already guards it
        raise mandatory(name) from exc


def read_int(params: dict[str, str], name: str, *, required: bool = False) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        if required:
            raise mandatory(name)
        return None
    if not raw.lstrip("-").isdigit():
        raise ApiError(-1100, f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.")
    return int(raw)


def ws_param_text(value: Any) -> str:
    """How a WS API JSON param value reads in the signed payload."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return format(Decimal(repr(value)).normalize(), "f")
    return str(value)
