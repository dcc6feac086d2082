"""The simulator's Binance USD-M dialect: REST (``/fapi``), WebSocket API (``/ws-fapi/v1``) and user data streams.

``register(app, venue)`` mounts everything on the shared aiohttp app. The dialect translates
Binance requests into ``MatchingEngine`` calls and engine state into Binance payloads, with
the venue's JSON types (numbers for ``orderId``/``time``/``updateTime``, strings for every
decimal), error codes and headers, as written down in ``shared/venues/binance-usdm.md``:

- signing (§2): ``totalParams`` = raw query string + raw form body (signature removed), hex
  HMAC-SHA256, ``X-MBX-APIKEY``; ``-2014``/``-2015`` (HTTP 401), ``-1022``, ``-1021``, recvWindow.
- limits (§3, §4): per-IP request weight per calendar minute (``venue.state["weight_limit"]``,
  default 2400) reported in ``X-MBX-USED-WEIGHT-1M`` on every response; past it ``429 -1003``,
  and a client that keeps going past ``ban_after_429`` refusals is banned (``418``) for
  ``ban_seconds``. Per-account order counts in ``X-MBX-ORDER-COUNT-10S``/``-1M``; ``-1015`` is
  enforced only when ``venue.state["enforce_order_limits"]`` is true (benchmarks place
  thousands of orders on loopback).
- WebSocket API (§6): ``order.place``/``order.cancel``/``order.status`` (+ ``userDataStream.*``),
  HMAC over the sorted params, ``rateLimits`` in every answer.
- user data (§1, §7): ``/ws/<key>``, ``/private/ws?listenKey=``, ``/private/ws/<key>``,
  ``/private/stream`` + SUBSCRIBE (and ``/stream?streams=``) share one listenKey registry;
  ``ORDER_TRADE_UPDATE`` for every engine event of the account, ``ACCOUNT_UPDATE`` on fills,
  ``listenKeyExpired`` when a key lapses (TTL ``venue.state["listen_key_ttl_seconds"]``).
- faults: every write asks ``venue.faults.take("binance", "create"|"cancel", ...)``, every order
  read ``"query"``, every user-stream event ``"stream"``; each ``FaultKind`` does what the table
  in ``venues/sim/faults.py`` says, and every write lands in ground truth (``record_attempt``).

Deliberately left out: hedge mode (``positionSide`` LONG/SHORT answers ``-4061``), algo orders
(``-4120``), ``PERCENT_PRICE`` enforcement (published in exchangeInfo, not checked).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import re
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

import orjson
from aiohttp import WSMsgType, web

from venues.sim.engine import (
    EngineReject,
    RejectReason,
    SimFill,
    SimInstrument,
    SimOrder,
    now_ms,
)
from venues.sim.faults import Fault, FaultKind
from venues.sim.server import SimVenue, WriteResult, hold_then_drop, reset_connection
from venues.sim.wire import StreamFaultDelivery
from venues.sim.wire import fmt as _fmt
from venues.sim.wire import fmt_free as _fmt_free
from venues.sim.wire import places as _places
from venues.sim.wire import stream_sender as _stream_sender
from venues.sim.wire import ws_send as _ws_send

__all__ = ["BinanceDialect", "register"]

log = logging.getLogger(__name__)

VENUE = "binance"
DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS
CLIENT_ID_RE = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")
DECIMAL_RE = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
CONDITIONAL_TYPES = frozenset({"STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"})
TIF_IN = {"GTC": "GTC", "IOC": "IOC", "FOK": "FOK", "GTX": "POST_ONLY"}
TIF_OUT = {"GTC": "GTC", "IOC": "IOC", "FOK": "FOK", "POST_ONLY": "GTX"}

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

HTML_5XX = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} {reason}</h1>"
    "</center>\r\n</body>\r\n</html>\r\n"
)
REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Time-out"}


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


# --------------------------------------------------------------------------- formatting


def _truthy(value: str, name: str) -> bool:
    lowered = value.lower()
    if lowered not in ("true", "false"):
        raise ApiError(-1102, f"Parameter '{name}' was malformed: it must be true or false.")
    return lowered == "true"


def _decimal(params: dict[str, str], name: str, *, required: bool) -> Decimal | None:
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


def _int(params: dict[str, str], name: str, *, required: bool = False) -> int | None:
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


# --------------------------------------------------------------------------- user-stream plumbing


@dataclass(eq=False)
class _StreamConn:
    """One user-data WebSocket: the keys it listens on, an optional event allow-list, a send queue."""

    ws: web.WebSocketResponse
    request: web.Request
    envelope: bool  # combined-stream {"stream", "data"} wrapping (/private/stream, /stream)
    keys: set[str] = field(default_factory=set)
    events: frozenset[str] | None = None
    queue: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)


@dataclass(eq=False)
class _ListenKey:
    key: str
    account: str
    expires_ms: int
    alive: bool = True
    timer: asyncio.TimerHandle | None = None


@dataclass
class _IpWindow:
    minute: int = 0
    used: int = 0
    refused: int = 0  # 429s answered this minute
    banned_until_ms: int = 0


# --------------------------------------------------------------------------- the dialect


class BinanceDialect:
    """Binance USD-M on top of one ``SimVenue`` (see the module docstring)."""

    def __init__(self, venue: SimVenue):
        self.venue = venue
        self.engine = venue.engine
        state = venue.state
        state.setdefault("weight_limit", 2400)
        state.setdefault("orders_10s_limit", 300)
        state.setdefault("orders_1m_limit", 1200)
        state.setdefault("enforce_order_limits", False)
        state.setdefault("ban_after_429", 5)
        state.setdefault("ban_seconds", 120.0)
        state.setdefault("listen_key_ttl_seconds", 3600.0)
        state.setdefault("max_recv_window", 60_000)
        state.setdefault("retention_ms", 3 * DAY_MS)  # cancelled/expired without fills vanish after this
        state.setdefault("clock_offset_ms", 0)  # server clock skew for -1021 drills
        state["dialect"] = self
        self._ips: dict[str, _IpWindow] = {}
        self._order_times: dict[str, deque[int]] = {}
        self._order_times_10s: dict[str, deque[int]] = {}
        self.listen_keys: dict[str, _ListenKey] = {}
        self._key_by_account: dict[str, str] = {}
        self.stream_conns: set[_StreamConn] = set()
        self.api_sockets: set[web.WebSocketResponse] = set()
        self.stream: StreamFaultDelivery[tuple[_StreamConn, str]] = StreamFaultDelivery(
            self._conns_for, self._send_target, self._drop_target
        )
        self._gap_accounts: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.engine.listeners.append(self._on_engine_event)
        venue.on_close.append(self.close)

    # ------------------------------------------------------------------ time, limits

    def server_ms(self) -> int:
        return now_ms() + int(self.venue.state["clock_offset_ms"])

    def _ip(self, request: web.Request) -> _IpWindow:
        ip = request.remote or "?"
        window = self._ips.setdefault(ip, _IpWindow())
        minute = int(time.time() // 60)
        if window.minute != minute:
            window.minute, window.used, window.refused = minute, 0, 0
        return window

    def used_weight(self, request: web.Request) -> int:
        return self._ip(request).used

    def charge(self, request: web.Request, weight: int) -> None:
        """Count ``weight`` against the caller's IP; raise 429/418 when over the limit (§3, §4)."""
        window = self._ip(request)
        now = now_ms()
        ip = request.remote or "?"
        if window.banned_until_ms > now:
            raise ApiError(
                -1003,
                f"Way too many requests; IP({ip}) banned until {window.banned_until_ms}. "
                "Please use the websocket for live updates to avoid bans.",
                status=418,
                retry_after=(window.banned_until_ms - now) / 1000,
            )
        window.used += weight
        limit = int(self.venue.state["weight_limit"])
        if window.used > limit:
            window.refused += 1
            if window.refused > int(self.venue.state["ban_after_429"]):
                window.banned_until_ms = now + int(float(self.venue.state["ban_seconds"]) * 1000)
                raise ApiError(
                    -1003,
                    f"Way too many requests; IP({ip}) banned until {window.banned_until_ms}. "
                    "Please use the websocket for live updates to avoid bans.",
                    status=418,
                    retry_after=float(self.venue.state["ban_seconds"]),
                )
            raise ApiError(
                -1003,
                f"Too many requests; current limit of IP({ip}) request weight per minute is {limit}. "
                "Please use WebSocket Streams for live updates to avoid polling the API.",
                status=429,
                retry_after=60 - time.time() % 60,
            )

    def _order_counts(self, account: str) -> tuple[int, int]:
        """(orders in the last 10 s, in the last minute): two trimmed deques, O(1) amortised."""
        minute = self._order_times.setdefault(account, deque())
        ten = self._order_times_10s.setdefault(account, deque())
        now = now_ms()
        while minute and minute[0] <= now - 60_000:
            minute.popleft()
        while ten and ten[0] <= now - 10_000:
            ten.popleft()
        return len(ten), len(minute)

    def count_order(self, account: str) -> None:
        ten, minute = self._order_counts(account)
        state = self.venue.state
        if state["enforce_order_limits"] and (
            ten >= int(state["orders_10s_limit"]) or minute >= int(state["orders_1m_limit"])
        ):
            raise ApiError(
                -1015,
                f"Too many new orders; current limit is {state['orders_10s_limit']} orders per TEN_SECONDS.",
                status=429,
                retry_after=10.0,
            )
        stamp = now_ms()
        self._order_times[account].append(stamp)
        self._order_times_10s[account].append(stamp)

    def order_headers(self, account: str) -> dict[str, str]:
        ten, minute = self._order_counts(account)
        return {"X-MBX-ORDER-COUNT-10S": str(ten), "X-MBX-ORDER-COUNT-1M": str(minute)}

    def rate_limits(self, request: web.Request, account: str | None) -> list[dict[str, Any]]:
        ten, minute = self._order_counts(account) if account else (0, 0)
        state = self.venue.state
        return [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
             "limit": int(state["weight_limit"]), "count": self.used_weight(request)},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10,
             "limit": int(state["orders_10s_limit"]), "count": ten},
            {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1,
             "limit": int(state["orders_1m_limit"]), "count": minute},
        ]  # fmt: skip

    # ------------------------------------------------------------------ authentication

    def account_for_key(self, api_key: str | None) -> tuple[str, str]:
        if not api_key:
            raise ApiError(-2014, status=401)
        secret = self.venue.secret_for(api_key)
        if secret is None:
            raise ApiError(-2015, status=401)
        return api_key, secret

    def check_time(self, params: dict[str, str] | dict[str, Any]) -> None:
        raw_ts = params.get("timestamp")
        if raw_ts is None or raw_ts == "":
            raise mandatory("timestamp")
        try:
            ts = int(str(raw_ts))
        except ValueError as exc:
            raise mandatory("timestamp") from exc
        raw_rw = params.get("recvWindow")
        recv_window = 5000
        if raw_rw is not None and raw_rw != "":
            try:
                recv_window = int(str(raw_rw))
            except ValueError as exc:
                raise mandatory("recvWindow") from exc
            max_rw = int(self.venue.state["max_recv_window"])
            if recv_window > max_rw or recv_window <= 0:
                raise ApiError(-1102, f"Param 'recvWindow' must be in (0, {max_rw}].")
        server = self.server_ms()
        if not (ts < server + 1000 and server - ts <= recv_window):
            raise ApiError(-1021)

    async def signed_rest(self, request: web.Request) -> tuple[str, dict[str, str]]:
        """Verify a TRADE/USER_DATA request exactly as §2 describes; returns (account, params)."""
        account, secret = self.account_for_key(request.headers.get("X-MBX-APIKEY"))
        query = request.rel_url.raw_query_string
        body = ""
        if request.can_read_body:
            raw = await request.read()
            try:
                body = raw.decode()
            except UnicodeDecodeError as exc:
                raise ApiError(-1102, "Request body is not valid form data.") from exc
        signature: str | None = None
        kept: list[str] = []
        for part_source in (query, body):
            segments = [s for s in part_source.split("&")] if part_source else []
            own: list[str] = []
            for seg in segments:
                if seg.startswith("signature="):
                    signature = seg[len("signature=") :]
                else:
                    own.append(seg)
            kept.append("&".join(own))
        params = dict(parse_qsl(body, keep_blank_values=True))
        params.update(parse_qsl(query, keep_blank_values=True))  # a name in both: the query wins
        params.pop("signature", None)
        if not signature:
            raise mandatory("signature")
        self.check_time(params)
        total = kept[0] + kept[1]
        expected = hmac.new(secret.encode(), total.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise ApiError(-1022)
        return account, params

    def signed_ws(self, params: dict[str, Any]) -> tuple[str, dict[str, str]]:
        """Verify a WS API request (§6): sorted ``k=v`` of every param but ``signature``."""
        account, secret = self.account_for_key(params.get("apiKey"))
        signature = params.get("signature")
        if not signature or not isinstance(signature, str):
            raise mandatory("signature")
        self.check_time(params)
        payload = "&".join(f"{k}={ws_param_text(params[k])}" for k in sorted(params) if k != "signature")
        expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise ApiError(-1022)
        return account, {k: ws_param_text(v) for k, v in params.items() if k != "signature"}

    # ------------------------------------------------------------------ payloads

    def instrument(self, symbol: str | None) -> SimInstrument:
        if not symbol:
            raise mandatory("symbol")
        inst = self.engine.instruments.get(symbol)
        if inst is None:
            raise ApiError(-1121)
        return inst

    def order_json(self, order: SimOrder, *, kind: str, ack: bool = False) -> dict[str, Any]:
        """An order object; ``kind`` "write" (POST/DELETE: has cumQty) or "read" (GET: has time)."""
        inst = self.engine.instruments[order.symbol]
        pp, qp = _places(inst.tick_size), _places(inst.step_size)
        filled = Decimal(0) if ack else order.filled_qty
        cum_quote = Decimal(0) if ack else order.cum_quote
        avg = Decimal(0) if ack else order.avg_price
        status = "NEW" if ack else order.status
        out: dict[str, Any] = {
            "orderId": order.numeric_id,
            "symbol": order.symbol,
            "status": status,
            "clientOrderId": order.client_order_id,
            "price": _fmt(order.price if order.price is not None else Decimal(0), pp),
            "avgPrice": _fmt_free(avg, pp),
            "origQty": _fmt(order.qty, qp),
            "executedQty": _fmt(filled, qp),
        }
        if kind == "write":
            out["cumQty"] = _fmt(filled, qp)
        out.update(
            {
                "cumQuote": _fmt_free(cum_quote, 5),
                "timeInForce": TIF_OUT[order.tif] if order.type == "LIMIT" else "GTC",
                "type": order.type,
                "reduceOnly": order.reduce_only,
                "closePosition": False,
                "side": order.side,
                "positionSide": "BOTH",
                "stopPrice": _fmt(Decimal(0), pp),
                "workingType": "CONTRACT_PRICE",
                "priceProtect": False,
                "origType": order.type,
                "priceMatch": "NONE",
                "selfTradePreventionMode": "EXPIRE_MAKER",
                "goodTillDate": 0,
            }
        )
        if kind == "read":
            out["time"] = order.created_ms
        out["updateTime"] = order.created_ms if ack else order.updated_ms
        return out

    def trade_json(self, order: SimOrder, fill: SimFill) -> dict[str, Any]:
        inst = self.engine.instruments[order.symbol]
        pp, qp = _places(inst.tick_size), _places(inst.step_size)
        return {
            "symbol": order.symbol,
            "id": fill.trade_id,
            "orderId": order.numeric_id,
            "side": order.side,
            "price": _fmt_free(fill.price, pp),
            "qty": _fmt(fill.qty, qp),
            "realizedPnl": "0",
            "marginAsset": inst.quote,
            "quoteQty": _fmt_free(fill.price * fill.qty, 5),
            "commission": _fmt(fill.commission, 8),
            "commissionAsset": inst.quote,
            "time": fill.time_ms,
            "positionSide": "BOTH",
            "buyer": order.side == "BUY",
            "maker": fill.maker,
        }

    def exchange_info(self) -> dict[str, Any]:
        state = self.venue.state
        symbols = []
        for inst in self.engine.instruments.values():
            pp, qp = _places(inst.tick_size), _places(inst.step_size)
            market_max = inst.market_max_qty if inst.market_max_qty is not None else inst.max_qty
            symbols.append(
                {
                    "symbol": inst.symbol,
                    "pair": inst.symbol,
                    "contractType": "PERPETUAL",
                    "deliveryDate": 4133404800000,
                    "onboardDate": 1569398400000,
                    "status": "TRADING",
                    "maintMarginPercent": "2.5000",
                    "requiredMarginPercent": "5.0000",
                    "baseAsset": inst.base,
                    "quoteAsset": inst.quote,
                    "marginAsset": inst.quote,
                    "pricePrecision": pp,
                    "quantityPrecision": qp,
                    "baseAssetPrecision": 8,
                    "quotePrecision": 8,
                    "underlyingType": "COIN",
                    "underlyingSubType": [],
                    "settlePlan": 0,
                    "triggerProtect": "0.0500",
                    "liquidationFee": "0.012500",
                    "marketTakeBound": "0.05",
                    "maxMoveOrderLimit": 10000,
                    "filters": [
                        {"filterType": "PRICE_FILTER", "minPrice": str(inst.min_price),
                         "maxPrice": str(inst.max_price), "tickSize": str(inst.tick_size)},
                        {"filterType": "LOT_SIZE", "minQty": str(inst.min_qty), "maxQty": str(inst.max_qty),
                         "stepSize": str(inst.step_size)},
                        {"filterType": "MARKET_LOT_SIZE", "minQty": str(inst.min_qty), "maxQty": str(market_max),
                         "stepSize": str(inst.step_size)},
                        {"filterType": "MAX_NUM_ORDERS", "limit": inst.max_open_orders},
                        {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
                        {"filterType": "MIN_NOTIONAL", "notional": str(inst.min_notional)},
                        {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500",
                         "multiplierDecimal": "4"},
                    ],
                    "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT",
                                   "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"],
                    "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
                    "permissionSets": ["GRID", "COPY"],
                }
            )  # fmt: skip
        quotes = sorted({i.quote for i in self.engine.instruments.values()})
        return {
            "timezone": "UTC",
            "serverTime": self.server_ms(),
            "futuresType": "U_MARGINED",
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": int(state["weight_limit"]),
                },
                {
                    "rateLimitType": "ORDERS",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": int(state["orders_1m_limit"]),
                },
                {
                    "rateLimitType": "ORDERS",
                    "interval": "SECOND",
                    "intervalNum": 10,
                    "limit": int(state["orders_10s_limit"]),
                },
            ],
            "exchangeFilters": [],
            "assets": [{"asset": q, "marginAvailable": True, "autoAssetExchange": "-10000"} for q in quotes],
            "symbols": symbols,
        }

    def premium(self, inst: SimInstrument) -> dict[str, Any]:
        pp = _places(inst.tick_size) + 6
        mark = _fmt(inst.mark_price, pp)
        now = self.server_ms()
        return {
            "symbol": inst.symbol,
            "markPrice": mark,
            "indexPrice": mark,
            "estimatedSettlePrice": mark,
            "lastFundingRate": "0.00010000",
            "interestRate": "0.00010000",
            "nextFundingTime": (now // 28_800_000 + 1) * 28_800_000,
            "time": now,
        }

    # ------------------------------------------------------------------ order operations (shared by REST and WS)

    def place(self, account: str, params: dict[str, str]) -> SimOrder:
        """Validate Binance params and create the order (raises ``ApiError``)."""
        inst = self.instrument(params.get("symbol"))
        side = params.get("side")
        if not side:
            raise mandatory("side")
        if side not in ("BUY", "SELL"):
            raise ApiError(-1117, "Invalid side.")
        otype = params.get("type")
        if not otype:
            raise mandatory("type")
        if otype in CONDITIONAL_TYPES:
            raise ApiError(-4120)
        if otype not in ("LIMIT", "MARKET"):
            raise ApiError(-1116, "Invalid orderType.")
        position_side = params.get("positionSide", "BOTH")
        if position_side != "BOTH":
            raise ApiError(-4061)
        resp_type = params.get("newOrderRespType", "ACK")
        if resp_type not in ("ACK", "RESULT"):
            raise ApiError(-1102, "Parameter 'newOrderRespType' was malformed: it must be ACK or RESULT.")
        qty = _decimal(params, "quantity", required=True)
        assert qty is not None
        if qty <= 0:
            raise ApiError(-4003)
        price: Decimal | None = None
        tif = "GTC"
        if otype == "LIMIT":
            raw_tif = params.get("timeInForce")
            if not raw_tif:
                raise mandatory("timeInForce")
            if raw_tif not in TIF_IN:
                raise ApiError(-1115, "Invalid timeInForce.")
            tif = TIF_IN[raw_tif]
            price = _decimal(params, "price", required=True)
            assert price is not None
            if price <= 0:
                raise ApiError(-4001, "Price less than 0.")
        elif params.get("price"):
            raise ApiError(-1106, "Parameter 'price' sent when not required.")
        reduce_only = _truthy(params["reduceOnly"], "reduceOnly") if params.get("reduceOnly") else False
        cid = params.get("newClientOrderId") or ("sim" + secrets.token_hex(10))
        if not CLIENT_ID_RE.fullmatch(cid):
            raise ApiError(-4015)
        try:
            return self.engine.place(
                account,
                symbol=inst.symbol,
                side=side,  # type: ignore[arg-type]
                type=otype,  # type: ignore[arg-type]
                qty=qty,
                price=price,
                tif=tif,  # type: ignore[arg-type]
                reduce_only=reduce_only,
                client_order_id=cid,
            )
        except EngineReject as exc:
            raise self.engine_error(exc, inst) from exc

    def engine_error(self, exc: EngineReject, inst: SimInstrument | None = None) -> ApiError:
        code, msg = REJECT_MAP.get(exc.reason, (-2010, None))
        if exc.reason is RejectReason.MIN_NOTIONAL and inst is not None:
            msg = f"Order's notional must be no smaller than {inst.min_notional} (unless you choose reduce only)."
        return ApiError(code, msg if msg is not None else exc.message)

    def lookup(self, account: str, params: dict[str, str], *, respect_visibility: bool = True) -> SimOrder | None:
        inst = self.instrument(params.get("symbol"))
        order_id = _int(params, "orderId")
        cid = params.get("origClientOrderId") or None
        if order_id is None and cid is None:
            raise ApiError(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
        return self.engine.find(
            account,
            inst.symbol,
            order_id=str(order_id) if order_id is not None else None,
            client_order_id=cid if order_id is None else None,
            respect_visibility=respect_visibility,
        )

    def retained(self, order: SimOrder) -> bool:
        """Query/allOrders forget cancelled/expired orders without fills after 3 days (§5 QO)."""
        if order.status in ("CANCELED", "EXPIRED", "REJECTED") and not order.filled_qty:
            return self.server_ms() - order.created_ms <= int(self.venue.state["retention_ms"])
        return True

    def cancel(self, account: str, params: dict[str, str]) -> SimOrder:
        order = self.lookup(account, params, respect_visibility=False)
        if order is None or not order.is_open:
            raise ApiError(-2011)
        try:
            return self.engine.cancel(account, order.symbol, order_id=order.order_id)
        except EngineReject as exc:
            raise self.engine_error(exc) from exc

    def query(self, account: str, params: dict[str, str], *, open_only: bool = False) -> SimOrder:
        order = self.lookup(account, params)
        if order is None or not self.retained(order) or (open_only and not order.is_open):
            raise ApiError(-2013)
        return order

    def cid_of(self, account: str, params: dict[str, str]) -> str | None:
        """The client order id a cancel names (by id or by looking the order up), for fault matching."""
        if params.get("origClientOrderId"):
            return params["origClientOrderId"]
        with contextlib.suppress(ApiError):
            order = self.lookup(account, params, respect_visibility=False)
            if order is not None:
                return order.client_order_id
        return None

    @staticmethod
    def window(params: dict[str, str], now: int) -> tuple[int, int]:
        start = _int(params, "startTime")
        end = _int(params, "endTime")
        if start is None and end is None:
            end = now
            start = end - WEEK_MS
        elif start is None:
            assert end is not None
            start = end - WEEK_MS
        elif end is None:
            end = start + WEEK_MS
        if end < start:
            raise ApiError(-1102, "Parameter 'startTime' must be less than 'endTime'.")
        if end - start > WEEK_MS:
            raise ApiError(-1127, "More than 7 days between startTime and endTime.")
        return start, end

    @staticmethod
    def limit(params: dict[str, str]) -> int:
        limit = _int(params, "limit")
        if limit is None:
            return 500
        if not 1 <= limit <= 1000:
            raise ApiError(-1130, "Data sent for parameter 'limit' is not valid.")
        return limit

    def all_orders(self, account: str, params: dict[str, str]) -> list[dict[str, Any]]:
        inst = self.instrument(params.get("symbol"))
        limit = self.limit(params)
        from_id = _int(params, "orderId")
        has_times = params.get("startTime") or params.get("endTime")
        if from_id is not None and not has_times:
            start, end = 0, self.server_ms() + DAY_MS
        else:
            start, end = self.window(params, self.server_ms())
        orders = [
            o
            for o in self.engine.history(account, inst.symbol, start, end)
            if self.retained(o) and (from_id is None or o.numeric_id >= from_id)
        ]
        chosen = orders[:limit] if (from_id is not None or params.get("startTime")) else orders[-limit:]
        return [self.order_json(o, kind="read") for o in chosen]

    def user_trades(self, account: str, params: dict[str, str]) -> list[dict[str, Any]]:
        inst = self.instrument(params.get("symbol"))
        limit = self.limit(params)
        order_id = _int(params, "orderId")
        from_id = _int(params, "fromId")
        has_times = params.get("startTime") or params.get("endTime")
        if from_id is not None and has_times:
            raise ApiError(-1102, "Parameter 'fromId' can not be sent with 'startTime' or 'endTime'.")
        if from_id is not None or (order_id is not None and not has_times):
            start, end = 0, self.server_ms() + DAY_MS
        else:
            start, end = self.window(params, self.server_ms())
        pairs = [
            (o, f)
            for o, f in self.engine.trades(account, inst.symbol, start, end)
            if (order_id is None or o.numeric_id == order_id) and (from_id is None or f.trade_id >= from_id)
        ]
        chosen = pairs[:limit] if (from_id is not None or params.get("startTime")) else pairs[-limit:]
        return [self.trade_json(o, f) for o, f in chosen]

    # ------------------------------------------------------------------ account (positions, balances)

    def positions_json(self, account: str, symbol: str | None) -> list[dict[str, Any]]:
        out = []
        for inst in self.engine.instruments.values():
            if symbol and inst.symbol != symbol:
                continue
            amt = self.engine.positions.get((account, inst.symbol), Decimal(0))
            if not amt and not symbol:
                continue
            entry = self.engine.entry_prices.get((account, inst.symbol), Decimal(0))
            mark = inst.mark_price
            upnl = (mark - entry) * amt if amt else Decimal(0)
            qp = _places(inst.step_size)
            out.append(
                {
                    "symbol": inst.symbol,
                    "positionSide": "BOTH",
                    "positionAmt": _fmt(amt, qp),
                    "entryPrice": _fmt_free(entry, 1),
                    "breakEvenPrice": _fmt_free(entry, 1),
                    "markPrice": _fmt(mark, 8),
                    "unRealizedProfit": _fmt(upnl, 8),
                    "liquidationPrice": "0",
                    "isolatedMargin": "0",
                    "notional": _fmt(mark * amt, 8),
                    "marginAsset": inst.quote,
                    "isolatedWallet": "0",
                    "initialMargin": _fmt(abs(mark * amt) / 20, 8),
                    "maintMargin": _fmt(abs(mark * amt) / 200, 8),
                    "positionInitialMargin": _fmt(abs(mark * amt) / 20, 8),
                    "openOrderInitialMargin": "0",
                    "adl": 0,
                    "bidNotional": "0",
                    "askNotional": "0",
                    "updateTime": now_ms(),
                }
            )
        return out

    def balances_json(self, account: str) -> list[dict[str, Any]]:
        bal = _fmt(self.engine.balance(account), 8)
        return [
            {
                "accountAlias": "SgsR",
                "asset": "USDT",
                "balance": bal,
                "crossWalletBalance": bal,
                "crossUnPnl": "0.00000000",
                "availableBalance": bal,
                "maxWithdrawAmount": bal,
                "marginAvailable": True,
                "updateTime": now_ms(),
            }
        ]

    # ------------------------------------------------------------------ user data stream

    def new_listen_key(self, account: str) -> str:
        key = self._key_by_account.get(account)
        found = self.listen_keys.get(key) if key else None
        if found is None or not found.alive:
            found = _ListenKey(secrets.token_urlsafe(45)[:60], account, 0)
            self.listen_keys[found.key] = found
            self._key_by_account[account] = found.key
        self._extend(found)
        return found.key

    def keepalive(self, account: str) -> str:
        key = self._key_by_account.get(account)
        found = self.listen_keys.get(key) if key else None
        if found is None or not found.alive:
            raise ApiError(-1125)
        self._extend(found)
        return found.key

    def close_key(self, account: str) -> None:
        key = self._key_by_account.pop(account, None)
        found = self.listen_keys.pop(key, None) if key else None
        if found is not None:
            found.alive = False
            if found.timer is not None:
                found.timer.cancel()

    def _extend(self, lk: _ListenKey) -> None:
        ttl = float(self.venue.state["listen_key_ttl_seconds"])
        lk.expires_ms = now_ms() + int(ttl * 1000)
        if lk.timer is not None:
            lk.timer.cancel()
        lk.timer = asyncio.get_running_loop().call_later(ttl, self.expire_listen_key, lk.key)

    def expire_listen_key(self, key: str) -> None:
        """The key lapses: its sockets get ``listenKeyExpired`` and nothing more (§7 LX)."""
        lk = self.listen_keys.get(key)
        if lk is None or not lk.alive:
            return
        lk.alive = False
        if lk.timer is not None:
            lk.timer.cancel()
        if self._key_by_account.get(lk.account) == key:
            del self._key_by_account[lk.account]
        event = {"e": "listenKeyExpired", "E": str(self.server_ms()), "listenKey": key}
        for conn in list(self.stream_conns):
            if key in conn.keys:
                self._send_conn(conn, key, event)
                conn.keys.discard(key)

    def _send_conn(self, conn: _StreamConn, key: str, event: dict[str, Any]) -> None:
        if conn.events is not None and event.get("e") not in conn.events and event.get("e") != "listenKeyExpired":
            return
        payload = {"stream": key, "data": event} if conn.envelope else event
        conn.queue.put_nowait(orjson.dumps(payload))

    def _conns_for(self, account: str) -> list[tuple[_StreamConn, str]]:
        out = []
        for conn in self.stream_conns:
            for key in conn.keys:
                lk = self.listen_keys.get(key)
                if lk is not None and lk.alive and lk.account == account:
                    out.append((conn, key))
                    break
        return out

    def _on_engine_event(self, account: str, order: SimOrder, fill: SimFill | None, exec_type: str) -> None:
        """Engine listener: build the events now (the order mutates afterwards), then deliver."""
        try:
            events = [self.order_update_event(order, fill, exec_type)]
            if fill is not None:
                events.append(self.account_update_event(account, order))
        except Exception:  # a listener must never break the engine
            log.exception("binance sim: could not render a user-stream event")
            return
        if not self._conns_for(account):
            return
        fault = self.venue.faults.take(VENUE, "stream", client_order_id=order.client_order_id, symbol=order.symbol)
        if fault is not None and not fault.kind.is_stream:
            fault = None
        self.stream.deliver_all(account, events, fault)

    def _send_target(self, target: tuple[_StreamConn, str], event: dict[str, Any]) -> None:
        self._send_conn(target[0], target[1], event)

    def _drop_target(self, target: tuple[_StreamConn, str]) -> None:
        conn = target[0]
        self.stream_conns.discard(conn)
        conn.queue.put_nowait(None)

    def order_update_event(self, order: SimOrder, fill: SimFill | None, exec_type: str) -> dict[str, Any]:
        inst = self.engine.instruments[order.symbol]
        pp, qp = _places(inst.tick_size), _places(inst.step_size)
        ts = self.server_ms()
        x = (
            exec_type
            if exec_type in ("NEW", "TRADE", "CANCELED", "EXPIRED", "CALCULATED", "AMENDMENT")
            else ("EXPIRED" if exec_type == "REJECTED" else exec_type)
        )
        o: dict[str, Any] = {
            "s": order.symbol,
            "c": order.client_order_id,
            "S": order.side,
            "o": order.type,
            "f": TIF_OUT[order.tif] if order.type == "LIMIT" else "GTC",
            "q": _fmt(order.qty, qp),
            "p": _fmt(order.price if order.price is not None else Decimal(0), pp),
            "ap": _fmt_free(order.avg_price, pp),
            "sp": "0",
            "x": x,
            "X": order.status,
            "i": order.numeric_id,
            "l": _fmt(fill.qty, qp) if fill else "0",
            "z": _fmt(order.filled_qty, qp),
            "L": _fmt_free(fill.price, pp) if fill else "0",
            "T": fill.time_ms if fill else ts,
            "t": fill.trade_id if fill else 0,
            "b": "0",
            "a": "0",
            "m": bool(fill.maker) if fill else False,
            "R": order.reduce_only,
            "wt": "CONTRACT_PRICE",
            "ot": order.type,
            "ps": "BOTH",
            "cp": False,
            "rp": "0",
            "pP": False,
            "si": 0,
            "ss": 0,
            "V": "EXPIRE_MAKER",
            "pm": "NONE",
            "gtd": 0,
        }
        if fill is not None:
            o["N"] = inst.quote
            o["n"] = _fmt(fill.commission, 8)
        if x == "EXPIRED":
            o["er"] = "9" if order.type == "MARKET" else "2"
        return {"e": "ORDER_TRADE_UPDATE", "E": ts, "T": o["T"], "o": o}

    def account_update_event(self, account: str, order: SimOrder) -> dict[str, Any]:
        inst = self.engine.instruments[order.symbol]
        amt = self.engine.positions.get((account, order.symbol), Decimal(0))
        entry = self.engine.entry_prices.get((account, order.symbol), Decimal(0))
        bal = _fmt(self.engine.balance(account), 8)
        ts = self.server_ms()
        return {
            "e": "ACCOUNT_UPDATE",
            "E": ts,
            "T": ts,
            "a": {
                "m": "ORDER",
                "B": [{"a": inst.quote, "wb": bal, "cw": bal, "bc": "0"}],
                "P": [
                    {
                        "s": order.symbol,
                        "pa": _fmt(amt, _places(inst.step_size)),
                        "ep": _fmt_free(entry, 1),
                        "bep": _fmt_free(entry, 1),
                        "cr": "0",
                        "up": _fmt((inst.mark_price - entry) * amt if amt else Decimal(0), 8),
                        "mt": "cross",
                        "iw": "0",
                        "ps": "BOTH",
                        "ma": inst.quote,
                    }
                ],
            },
        }

    # ------------------------------------------------------------------ lifecycle

    def spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for lk in self.listen_keys.values():
            if lk.timer is not None:
                lk.timer.cancel()
        self.stream.close()
        for conn in list(self.stream_conns):
            conn.queue.put_nowait(None)
            with contextlib.suppress(Exception):
                await conn.ws.close()
        for ws in list(self.api_sockets):
            with contextlib.suppress(Exception):
                await ws.close()
        for task in list(self._tasks):
            task.cancel()

    async def drop_user_streams(self) -> int:
        """Close every user-data socket (tests: force a reconnect). Returns how many were closed."""
        conns = list(self.stream_conns)
        for conn in conns:
            self.stream_conns.discard(conn)
            conn.queue.put_nowait(None)
        return len(conns)

    async def drop_ws_api(self) -> int:
        """Close every WS API socket (tests: force a reconnect)."""
        sockets = list(self.api_sockets)
        for ws in sockets:
            with contextlib.suppress(Exception):
                await ws.close()
        return len(sockets)


# --------------------------------------------------------------------------- REST plumbing


def _json(
    dialect: BinanceDialect,
    request: web.Request,
    payload: Any,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> web.Response:
    resp = web.Response(body=orjson.dumps(payload), status=status, content_type="application/json")
    if headers:
        resp.headers.update(headers)
    return resp


def _error(
    dialect: BinanceDialect, request: web.Request, err: ApiError, headers: dict[str, str] | None = None
) -> web.Response:
    resp = _json(dialect, request, {"code": err.code, "msg": err.msg}, status=err.status, headers=headers)
    if err.retry_after is not None:
        resp.headers["Retry-After"] = str(max(1, int(err.retry_after + 0.999)))
    return resp


Handler = Callable[[BinanceDialect, web.Request], Awaitable[web.StreamResponse]]


def _endpoint(dialect: BinanceDialect, fn: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            return await fn(dialect, request)
        except ApiError as err:
            return _error(dialect, request, err)
        except (asyncio.CancelledError, web.HTTPException):
            raise
        except Exception:
            log.exception("binance sim: %s %s failed", request.method, request.path)
            return _error(dialect, request, ApiError(-1000))

    return handle


async def _rest_fault_answer(
    dialect: BinanceDialect,
    request: web.Request,
    fault: Fault,
    normal: web.Response,
) -> web.StreamResponse:
    """What the client sees under ``fault``; the venue already did (or skipped) the work."""
    kind = fault.kind
    headers = {k: v for k, v in normal.headers.items() if k.upper().startswith("X-MBX-ORDER-COUNT")}
    if kind is FaultKind.ACCEPT_THEN_TIMEOUT:
        return await hold_then_drop(request, fault.delay_seconds)
    if kind is FaultKind.ACCEPT_THEN_RESET:
        return reset_connection(request)
    if kind in (FaultKind.ACCEPT_THEN_5XX, FaultKind.REJECT_THEN_5XX):
        status = fault.status or 503
        if status == 503:
            msg = fault.message or (MSG_UNKNOWN_503 if kind is FaultKind.ACCEPT_THEN_5XX else MSG_INTERNAL)
            code = -1000 if kind is FaultKind.ACCEPT_THEN_5XX else -1001
            return _json(dialect, request, {"code": code, "msg": msg}, status=503, headers=headers)
        html = HTML_5XX.format(status=status, reason=REASONS.get(status, "Server Error"))
        return web.Response(text=html, status=status, content_type="text/html", headers=headers)
    if kind is FaultKind.UNKNOWN_CODE:
        code = fault.code or -1007
        status = fault.status or UNKNOWN_CODE_STATUS.get(code, 400)
        msg = fault.message or CODE_MESSAGES.get(code, "Execution status unknown.")
        return _json(dialect, request, {"code": code, "msg": msg}, status=status, headers=headers)
    if kind is FaultKind.REJECT_CODE:
        code = fault.code or -2010
        status = fault.status or (401 if code in (-2014, -2015) else 429 if code == -1015 else 400)
        return _error(dialect, request, ApiError(code, fault.message, status=status), headers)
    if kind is FaultKind.RATE_LIMIT:
        status = fault.status or 429
        code = fault.code or -1003
        msg = fault.message or (
            "Way too many requests; IP banned. Please use the websocket for live updates to avoid bans."
            if status == 418
            else CODE_MESSAGES[code if code in CODE_MESSAGES else -1003]
        )
        return _error(dialect, request, ApiError(code, msg, status=status, retry_after=fault.retry_after_seconds))
    if kind is FaultKind.MALFORMED_2XX:
        body = bytes(normal.body) if isinstance(normal.body, bytes | bytearray) else b"{}"
        truncated = body[: max(1, len(body) // 2)]
        resp = web.Response(body=truncated, status=200, content_type="application/json")
        resp.headers.update(headers)
        return resp
    return normal  # DELAYED_VISIBILITY (handled by the caller), WS_DROP and stream kinds: a normal answer


# --------------------------------------------------------------------------- REST endpoints


async def get_time(d: BinanceDialect, request: web.Request) -> web.StreamResponse:
    """GET /fapi/v1/time — server time (§5 TM), weight 1."""
    d.charge(request, 1)
    return _json(d, request, {"serverTime": d.server_ms()})


async def get_ping(d: BinanceDialect, request: web.Request) -> web.StreamResponse:
    """GET /fapi/v1/ping — connectivity, weight 1."""
    d.charge(request, 1)
    return _json(d, request, {})


async def get_exchange_info(d: BinanceDialect, request: web.Request) -> web.StreamResponse:
    """GET /fapi/v1/exchangeInfo — rate limits and symbol filters from the engine (§5 EI), weight 1."""
    d.charge(request, 1)
    return _json(d, request, d.exchange_info())


async def get_premium_index(d: BinanceDialect, request: web.Request) -> web.StreamResponse:
    """GET /fapi/v1/premiumIndex — mark prices, one symbol or all, weight 1 / 10."""
    symbol = request.query.get("symbol")
    d.charge(request, 1 if symbol else 10)
    if symbol:
        return _json(d, request, d.premium(d.instrument(symbol)))
    return _json(d, request, [d.premium(i) for i in d.engine.instruments.values()])


async def post_order(d: BinanceDialect, request: web.Request) -> web.StreamResponse:
    """POST /fapi/v1/order — new order (§5 NO), 0 IP weight, 1 on each ORDERS limiter."""
    d.charge(request, 0)
    account, params = await d.signed_rest(request)
    d.count_order(account)
    headers = d.order_headers(account)
    status, payload, fault = create_with_faults(d, account, params, "rest")
    normal = _json(d, request, payload, status=status, headers=headers)
    if "code" in payload:
        normal = _error(d, request, ApiError(payload["code"], payload["msg"], status=status), headers)
    if fault is None:
        return normal
    return await _rest_fault_answer(d, request, fault, normal)


def create_with_faults(
    d: BinanceDialect, account: str, params: dict[str, str], transport: str
) -> tuple[int, dict[str, Any], Fault | None]:
    """Place once, consulting the fault plan; returns the *normal* answer (status, body) and the fault."""
    result = d.venue.write(
        "create", "ws" if transport == "ws" else "rest", lambda: d.place(account, params),
        client_order_id=params.get("newClientOrderId") or None, order_id=None, symbol=params.get("symbol"),
        rejection=ApiError,
    )  # fmt: skip
    return _write_answer(d, result, ack=params.get("newOrderRespType", "ACK") != "RESULT")


def cancel_with_faults(
    d: BinanceDialect, account: str, params: dict[str, str], transport: str
) -> tuple[int, dict[str, Any], Fault | None]:
    result = d.venue.write(
        "cancel", "ws" if transport == "ws" else "rest", lambda: d.cancel(account, params),
        client_order_id=d.cid_of(account, params), order_id=params.get("orderId") or None,
        symbol=params.get("symbol"), rejection=ApiError,
    )  # fmt: skip
    return _write_answer(d, result, ack=False)


def _write_answer(d: BinanceDialect, result: WriteResult, *, ack: bool) -> tuple[int, dict[str, Any], Fault | None]:
    if isinstance(result.error, ApiError):
        return result.error.status, {"code": result.error.code, "msg": result.error.msg}, result.fault
    if result.order is None:
        return 200, {}, result.fault
    return 200, d.order_json(result.order, kind="write", ack=ack), result.fault


async def delete_order(d: BinanceDialect, request: web.Request) -> web.StreamResponse:
    """DELETE /fapi/v1/order — cancel by orderId or origClientOrderId (§5 CO), weight 1."""
    d.charge(request, 1)
    account, params = await d.signed_rest(request)
    headers = d.order_headers(account)
    status, payload, fault = cancel_with_faults(d, account, params, "rest")
    if "code" in payload:
        normal = _error(d, request, ApiError(payload["code"], payload["msg"], status=status), headers)
    else:
        normal = _json(d, request, payload, status=status, headers=headers)
    if fault is None:
        return normal
    return await _rest_fault_answer(d, request, fault, normal)


async def _read(
    d: BinanceDialect,
    request: web.Request,
    weight: int,
    produce: Callable[[str, dict[str, str]], Any],
) -> web.StreamResponse:
    """A signed read: charge, verify, consult the ``query`` faults, answer."""
    d.charge(request, weight)
    account, params = await d.signed_rest(request)
    fault = d.venue.faults.take(
        VENUE, "query", transport="rest", client_order_id=params.get("origClientOrderId"), symbol=params.get("symbol")
    )
    if fault is not None and fault.kind.is_stream:
        fault = None
    if fault is not None and not fault.executes:
        return await _rest_fault_answer(d, request, fault, _json(d, request, {}))
    try:
        normal = _json(d, request, produce(account, params))
    except ApiError as err:
        normal = _error(d, request, err)
    if fault is None or fault.kind is FaultKind.DELAYED_VISIBILITY:
        return normal
    return await _rest_fault_answer(d, request, fault, normal)


async def get_order(d: BinanceDialect, request: web.Request) -> web.StreamResponse:
    """GET /fapi/v1/order — query one order (§5 QO), weight 1; -2013 when not found."""
    return await _read(d, request, 1, lambda a, p: d.order_json(d.query(a, p), kind="read"))


async def get_open_order(d: BinanceDialect, request: web.Request) -> web.StreamResponse:
    """GET /fapi/v1/openOrder — one open order (§5 QC), weight 1; -2013 when filled/cancelled/unknown."""
    return await _read(d, request, 1, lambda a, p: d.order_json(d.query(a, p, open_only=True), kind="read"))


async def get_open_orders(d: BinanceDialect, request: web.Request) -> web.StreamResponse:
    """GET /fapi/v1/openOrders — open orders, one symbol (weight 1) or all (weight 40) (§5 OO)."""

    def produce(account: str, params: dict[str, str]) -> Any:
        symbol = params.get("symbol") or None
        if symbol:
            d.instrument(symbol)
        return [d.order_json(o, kind="read") for o in d.engine.open_orders(account, symbol)]

    return await _read(d, request, 1 if request.query.get("symbol") else 40, produce)


async def get_all_orders(d: BinanceDialect, request: web.Request) -> web.StreamResponse:
    """GET /fapi/v1/allOrders — order history, window < 7 days, limit ≤ 1000 (§5 AO), weight 5."""
    return await _read(d, request, 5, d.all_orders)


async def get_user_trades(d: BinanceDialect, request: web.Request) -> web.StreamResponse:
    """GET /fapi/v1/userTrades — account trades, window ≤ 7 days, limit ≤ 1000 (§5 UT), weight 5."""
    return await _read(d, request, 5, d.user_trades)


async def get_position_risk(d: BinanceDialect, request: web.Request) -> web.StreamResponse:
    """GET /fapi/v3/positionRisk (and v2) — positions tracked by the engine, weight 5."""
    d.charge(request, 5)
    account, params = await d.signed_rest(request)
    symbol = params.get("symbol") or None
    if symbol:
        d.instrument(symbol)
    return _json(d, request, d.positions_json(account, symbol))


async def get_balance(d: BinanceDialect, request: web.Request) -> web.StreamResponse:
    """GET /fapi/v2/balance (and v3) — wallet balances, weight 5."""
    d.charge(request, 5)
    account, _ = await d.signed_rest(request)
    return _json(d, request, d.balances_json(account))


async def get_account(d: BinanceDialect, request: web.Request) -> web.StreamResponse:
    """GET /fapi/v2/account (and v3) — balances and positions, weight 5."""
    d.charge(request, 5)
    account, _ = await d.signed_rest(request)
    bal = d.balances_json(account)[0]["balance"]
    positions = d.positions_json(account, None)
    return _json(
        d,
        request,
        {
            "totalInitialMargin": "0", "totalMaintMargin": "0", "totalWalletBalance": bal,
            "totalUnrealizedProfit": "0", "totalMarginBalance": bal, "totalPositionInitialMargin": "0",
            "totalOpenOrderInitialMargin": "0", "totalCrossWalletBalance": bal, "totalCrossUnPnl": "0",
            "availableBalance": bal, "maxWithdrawAmount": bal,
            "assets": [{"asset": "USDT", "walletBalance": bal, "unrealizedProfit": "0", "marginBalance": bal,
                        "maintMargin": "0", "initialMargin": "0", "positionInitialMargin": "0",
                        "openOrderInitialMargin": "0", "crossWalletBalance": bal, "crossUnPnl": "0",
                        "availableBalance": bal, "maxWithdrawAmount": bal, "updateTime": now_ms()}],
            "positions": positions,
        },
    )  # fmt: skip


async def listen_key(d: BinanceDialect, request: web.Request) -> web.StreamResponse:
    """POST/PUT/DELETE /fapi/v1/listenKey — USER_STREAM: API key header only (§5), weight 1."""
    d.charge(request, 1)
    account, _ = d.account_for_key(request.headers.get("X-MBX-APIKEY"))
    if request.method == "POST":
        return _json(d, request, {"listenKey": d.new_listen_key(account)})
    if request.method == "PUT":
        return _json(d, request, {"listenKey": d.keepalive(account)})
    d.close_key(account)
    return _json(d, request, {})


async def algo_order(d: BinanceDialect, request: web.Request) -> web.StreamResponse:
    """/fapi/v1/algoOrder — out of scope here; signed, then refused."""
    d.charge(request, 1)
    await d.signed_rest(request)
    raise ApiError(-4120, "Algo orders are not supported by this simulator.")


# --------------------------------------------------------------------------- WebSocket API


async def ws_api(d: BinanceDialect, request: web.Request) -> web.StreamResponse:
    """GET /ws-fapi/v1 — WebSocket API (§6): order.place / order.cancel / order.status, HMAC per request."""
    try:
        d.charge(request, 5)  # the handshake costs 5 weight
    except ApiError as err:
        return _error(d, request, err)
    ws = web.WebSocketResponse(autoping=True, max_msg_size=1 << 20)
    await ws.prepare(request)
    d.api_sockets.add(ws)
    quiet = request.query.get("returnRateLimits", "true").lower() == "false"
    try:
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                continue
            keep_open = await _ws_frame(d, request, ws, msg.data, quiet)
            if not keep_open:
                break
    finally:
        d.api_sockets.discard(ws)
    return ws


async def _ws_frame(d: BinanceDialect, request: web.Request, ws: web.WebSocketResponse, data: str, quiet: bool) -> bool:
    """Answer one request frame; returns False when the socket was closed on purpose (faults)."""
    rid: Any = None
    account: str | None = None

    def answer(status: int, body: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"id": rid, "status": status, **body}
        if not quiet:
            out["rateLimits"] = d.rate_limits(request, account)
        return out

    try:
        frame = orjson.loads(data)
        if not isinstance(frame, dict):
            raise ValueError("frame is not an object")
    except ValueError:
        await _ws_send(
            ws, answer(400, {"error": {"code": -1102, "msg": "Malformed request: the frame is not a JSON object."}})
        )
        return True
    rid = frame.get("id")
    method = frame.get("method")
    params = frame.get("params") or {}
    if not isinstance(method, str) or not isinstance(params, dict):
        await _ws_send(ws, answer(400, {"error": {"code": -1102, "msg": "Mandatory parameter 'method' was not sent."}}))
        return True
    name = method.split("/", 1)[1] if "/" in method else method
    d.venue.log("WS", name)
    try:
        if name in ("userDataStream.start", "userDataStream.ping", "userDataStream.stop"):
            d.charge(request, 1)
            account, _ = d.account_for_key(params.get("apiKey"))
            if name == "userDataStream.start":
                result: Any = {"listenKey": d.new_listen_key(account)}
            elif name == "userDataStream.ping":
                result = {"listenKey": d.keepalive(account)}
            else:
                d.close_key(account)
                result = {}
            await _ws_send(ws, answer(200, {"result": result}))
            return True
        if name == "time":
            d.charge(request, 1)
            await _ws_send(ws, answer(200, {"result": {"serverTime": d.server_ms()}}))
            return True
        if name not in ("order.place", "order.cancel", "order.status"):
            raise ApiError(-1102, f"Unknown method '{method}'.")
        d.charge(request, 0 if name == "order.place" else 1)
        account, sparams = d.signed_ws(params)
        if name == "order.place":
            d.count_order(account)
            status, payload, fault = create_with_faults(d, account, sparams, "ws")
        elif name == "order.cancel":
            status, payload, fault = cancel_with_faults(d, account, sparams, "ws")
        else:
            fault = d.venue.faults.take(
                VENUE, "query", transport="ws", client_order_id=sparams.get("origClientOrderId"),
                symbol=sparams.get("symbol"),
            )  # fmt: skip
            if fault is not None and fault.kind.is_stream:
                fault = None
            try:
                status, payload = 200, d.order_json(d.query(account, sparams), kind="read")
            except ApiError as err:
                status, payload = err.status, {"code": err.code, "msg": err.msg}
    except ApiError as err:
        body: dict[str, Any] = {"error": {"code": err.code, "msg": err.msg}}
        if err.retry_after is not None:
            body["error"]["data"] = {"retryAfter": int(time.time() * 1000 + err.retry_after * 1000)}
        await _ws_send(ws, answer(err.status, body))
        return True
    if "code" in payload:
        normal = answer(status, {"error": {"code": payload["code"], "msg": payload["msg"]}})
    else:
        normal = answer(200, {"result": payload})
    if fault is None or fault.kind is FaultKind.DELAYED_VISIBILITY:
        await _ws_send(ws, normal)
        return True
    return await _ws_fault_answer(d, request, ws, fault, normal, answer)


async def _ws_fault_answer(
    d: BinanceDialect,
    request: web.Request,
    ws: web.WebSocketResponse,
    fault: Fault,
    normal: dict[str, Any],
    answer: Callable[[int, dict[str, Any]], dict[str, Any]],
) -> bool:
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
    if kind in (FaultKind.ACCEPT_THEN_5XX, FaultKind.REJECT_THEN_5XX):
        status = fault.status or 503
        msg = fault.message or (MSG_UNKNOWN_503 if kind is FaultKind.ACCEPT_THEN_5XX else MSG_INTERNAL)
        code = -1000 if kind is FaultKind.ACCEPT_THEN_5XX else -1001
        await _ws_send(ws, answer(status, {"error": {"code": code, "msg": msg}}))
        return True
    if kind is FaultKind.UNKNOWN_CODE:
        code = fault.code or -1007
        status = fault.status or UNKNOWN_CODE_STATUS.get(code, 400)
        msg = fault.message or CODE_MESSAGES.get(code, "Execution status unknown.")
        await _ws_send(ws, answer(status, {"error": {"code": code, "msg": msg}}))
        return True
    if kind is FaultKind.REJECT_CODE:
        code = fault.code or -2010
        status = fault.status or (401 if code in (-2014, -2015) else 429 if code == -1015 else 400)
        await _ws_send(
            ws, answer(status, {"error": {"code": code, "msg": fault.message or CODE_MESSAGES.get(code, "Error.")}})
        )
        return True
    if kind is FaultKind.RATE_LIMIT:
        status = fault.status or 429
        code = fault.code or -1003
        retry_ms = int(time.time() * 1000 + fault.retry_after_seconds * 1000)
        await _ws_send(
            ws,
            answer(status, {"error": {"code": code, "msg": CODE_MESSAGES.get(code, "Too many requests."),
                                      "data": {"retryAfter": retry_ms}}}),
        )  # fmt: skip
        return True
    if kind is FaultKind.MALFORMED_2XX:
        raw = orjson.dumps(normal)
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.send_str(raw[: max(1, len(raw) // 2)].decode(errors="ignore"))
        return True
    await _ws_send(ws, normal)
    return True


# --------------------------------------------------------------------------- user data streams


async def user_stream(d: BinanceDialect, request: web.Request) -> web.StreamResponse:
    """GET /ws/<key>, /private/ws?listenKey=, /private/ws/<key>, /private/stream, /stream?streams= (§1)."""
    path = request.path
    key = request.match_info.get("key") or request.query.get("listenKey") or None
    envelope = path.startswith("/private/stream") or path == "/stream"
    keys: set[str] = set()
    if path == "/stream" and request.query.get("streams"):
        keys = set(request.query["streams"].split("/"))
    elif key:
        keys = {key}
    for k in keys:
        lk = d.listen_keys.get(k)
        if lk is None or not lk.alive:
            return _error(d, request, ApiError(-1125))
    ws = web.WebSocketResponse(autoping=True)
    await ws.prepare(request)
    events_param = request.query.get("events")
    conn = _StreamConn(ws, request, envelope, keys, frozenset(events_param.split("/")) if events_param else None)
    d.stream_conns.add(conn)
    sender = asyncio.ensure_future(_stream_sender(conn))
    try:
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                continue
            try:
                frame = orjson.loads(msg.data)
            except ValueError:
                continue
            if not isinstance(frame, dict):
                continue
            method, fid, params = frame.get("method"), frame.get("id"), frame.get("params") or []
            if method == "SUBSCRIBE":
                bad = [p for p in params if not (d.listen_keys.get(p) and d.listen_keys[p].alive)]
                if bad:
                    await _ws_send(ws, {"error": {"code": -1125, "msg": CODE_MESSAGES[-1125]}, "id": fid})
                    continue
                conn.keys.update(params)
                await _ws_send(ws, {"result": None, "id": fid})
            elif method == "UNSUBSCRIBE":
                conn.keys.difference_update(params)
                await _ws_send(ws, {"result": None, "id": fid})
            elif method == "LIST_SUBSCRIPTIONS":
                await _ws_send(ws, {"result": sorted(conn.keys), "id": fid})
    finally:
        d.stream_conns.discard(conn)
        conn.queue.put_nowait(None)
        with contextlib.suppress(BaseException):
            await sender
    return ws


# --------------------------------------------------------------------------- registration


def register(app: web.Application, venue: SimVenue) -> None:
    """Mount the Binance USD-M dialect for ``venue`` on the shared simulator app."""
    d = BinanceDialect(venue)
    r = app.router

    def ep(fn: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        return _endpoint(d, fn)

    r.add_get("/fapi/v1/time", ep(get_time))
    r.add_get("/fapi/v1/ping", ep(get_ping))
    r.add_get("/fapi/v1/exchangeInfo", ep(get_exchange_info))
    r.add_get("/fapi/v1/premiumIndex", ep(get_premium_index))
    r.add_post("/fapi/v1/order", ep(post_order))
    r.add_get("/fapi/v1/order", ep(get_order))
    r.add_delete("/fapi/v1/order", ep(delete_order))
    r.add_get("/fapi/v1/openOrder", ep(get_open_order))
    r.add_get("/fapi/v1/openOrders", ep(get_open_orders))
    r.add_get("/fapi/v1/allOrders", ep(get_all_orders))
    r.add_get("/fapi/v1/userTrades", ep(get_user_trades))
    for verb in ("POST", "PUT", "DELETE"):
        r.add_route(verb, "/fapi/v1/listenKey", ep(listen_key))
    r.add_route("*", "/fapi/v1/algoOrder", ep(algo_order))
    for path in ("/fapi/v2/positionRisk", "/fapi/v3/positionRisk"):
        r.add_get(path, ep(get_position_risk))
    for path in ("/fapi/v2/balance", "/fapi/v3/balance"):
        r.add_get(path, ep(get_balance))
    for path in ("/fapi/v2/account", "/fapi/v3/account"):
        r.add_get(path, ep(get_account))
    r.add_get("/ws-fapi/v1", ep(ws_api))
    r.add_get("/ws/{key}", ep(user_stream))
    r.add_get("/private/ws", ep(user_stream))
    r.add_get("/private/ws/{key}", ep(user_stream))
    r.add_get("/private/stream", ep(user_stream))
    r.add_get("/stream", ep(user_stream))

    async def weight_header(request: web.Request, response: web.StreamResponse) -> None:
        if request.path.startswith(("/fapi", "/ws-fapi")):
            response.headers["X-MBX-USED-WEIGHT-1M"] = str(d.used_weight(request))

    app.on_response_prepare.append(weight_header)
