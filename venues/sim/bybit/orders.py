"""Bybit order operations shared by REST and the trade socket: create, cancel, realtime, history, executions.

Parameters are checked the way the venue checks them (``category=linear`` only), then handed to
the ``MatchingEngine``; every create and cancel goes through ``SimVenue.write`` (fault plan and
ground truth) and comes back as its *normal* answer (retCode, retMsg, result) plus the fault.

``orderLinkId`` uniqueness is over every order the account ever created (``110072``); a cancel
of an order that exists but is no longer open answers ``110001``; history hides fully
cancelled/expired orders without fills after ``state.history_cancel_retention_ms``; realtime
``openOnly=1`` shows the ``state.realtime_closed_limit`` most recent closed orders; lists are
newest first, paged by opaque cursors.
"""

from __future__ import annotations

import base64
import contextlib
import re
import secrets
from decimal import Decimal
from typing import Any, Literal

from venues.sim.bybit.bands import within_band
from venues.sim.bybit.errors import ApiError, engine_error, param_error, read_bool, read_decimal, read_int, text
from venues.sim.bybit.payloads import (
    AUTO_LINK_PREFIX,
    SIDE_IN,
    STATUS_IN,
    STATUS_OUT,
    TIF_IN,
    TYPE_IN,
    Payloads,
    link_id,
)
from venues.sim.bybit.state import BybitState
from venues.sim.engine import EngineReject, SimFill, SimInstrument, SimOrder, Tif, now_ms
from venues.sim.faults import Fault
from venues.sim.reads import WEEK_MS, time_window
from venues.sim.venue import SimVenue, WriteResult

__all__ = ["Orders", "WriteAnswer", "decode_cursor", "encode_cursor"]

LINK_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,36}$")

# (retCode, retMsg, result, fault): a write's normal answer and the fault that may replace it.
WriteAnswer = tuple[int, str, dict[str, Any], Fault | None]


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, number = decoded.partition(":")
        if prefix != "offset" or not number.isdigit():
            raise ValueError(decoded)
        return int(number)
    except (ValueError, UnicodeDecodeError) as exc:
        raise param_error("cursor invalid") from exc


class Orders:
    """One venue's order book as Bybit requests see it."""

    def __init__(self, venue: SimVenue[BybitState], payloads: Payloads):
        self.venue = venue
        self.engine = venue.engine
        self.state = venue.state
        self.payloads = payloads
        self._used_links: set[tuple[str, str]] = set()
        self.engine.listeners.append(self._remember_link)

    def _remember_link(self, account: str, order: SimOrder, fill: SimFill | None, exec_type: str) -> None:
        self._used_links.add((account, order.client_order_id))

    def instrument(self, symbol: Any) -> SimInstrument:
        if not symbol:
            raise param_error("symbol is required")
        inst = self.engine.instruments.get(str(symbol))
        if inst is None:
            raise param_error("symbol invalid")
        return inst

    @staticmethod
    def check_category(params: dict[str, Any]) -> None:
        category = params.get("category")
        if not category:
            raise param_error("category is required")
        if category != "linear":
            raise param_error(f"category {category} is not supported by this simulator (linear only)")

    def symbols(self, params: dict[str, Any], *, required: bool = True) -> list[str]:
        """The symbols a list request covers: ``symbol``, else ``baseCoin`` / ``settleCoin``."""
        if params.get("symbol"):
            return [self.instrument(params["symbol"]).symbol]
        base, settle = params.get("baseCoin"), params.get("settleCoin")
        if not base and not settle:
            if required:
                raise param_error("symbol or settleCoin or baseCoin is required")
            return list(self.engine.instruments)
        return [
            i.symbol
            for i in self.engine.instruments.values()
            if (not base or i.base == base) and (not settle or i.quote == settle)
        ]

    def place(self, account: str, params: dict[str, Any]) -> SimOrder:
        """Validate Bybit create params and create the order (raises ``ApiError``)."""
        self.check_category(params)
        inst = self.instrument(params.get("symbol"))
        side = SIDE_IN.get(text(params.get("side")))
        if side is None:
            raise param_error("side invalid")
        otype = TYPE_IN.get(text(params.get("orderType")))
        if otype is None:
            raise param_error("orderType invalid")
        position_idx = read_int(params, "positionIdx")
        if position_idx not in (None, 0):
            raise ApiError(10001, "position idx not match position mode")
        for unsupported in ("triggerPrice", "takeProfit", "stopLoss"):
            if text(params.get(unsupported)) not in ("", "0"):
                raise param_error(f"{unsupported} is not supported by this simulator")
        qty = read_decimal(params, "qty", required=True)
        assert qty is not None
        if qty <= 0:
            raise ApiError(10001, "Qty invalid")
        price: Decimal | None = None
        tif: Tif = "IOC"
        if otype == "LIMIT":
            raw_tif = text(params.get("timeInForce")) or "GTC"
            found = TIF_IN.get(raw_tif)
            if found is None:
                raise param_error("timeInForce invalid")
            tif = found
            price = read_decimal(params, "price", required=True)
            assert price is not None
            if price <= 0:
                raise param_error("price invalid")
            price = within_band(self.state, account, inst, side, price)
        reduce_only = read_bool(params, "reduceOnly")
        link = text(params.get("orderLinkId"))
        if link:
            if not LINK_ID_RE.fullmatch(link):
                raise param_error("orderLinkId invalid")
            if (account, link) in self._used_links or self.engine.orders_for(link, account):
                raise ApiError(110072)
            cid = link
        else:
            cid = AUTO_LINK_PREFIX + secrets.token_hex(12)
        try:
            return self.engine.place(
                account,
                symbol=inst.symbol,
                side=side,
                type=otype,
                qty=qty,
                price=price,
                tif=tif,
                reduce_only=reduce_only,
                client_order_id=cid,
            )
        except EngineReject as exc:
            raise engine_error(exc, inst) from exc

    def lookup(self, account: str, params: dict[str, Any], *, respect_visibility: bool) -> SimOrder | None:
        """An order by ``orderId`` (wins) or ``orderLinkId`` within the request's symbols."""
        order_id = text(params.get("orderId")) or None
        link = text(params.get("orderLinkId")) or None
        if order_id is None and link is None:
            raise param_error("orderId or orderLinkId is required")
        for symbol in self.symbols(params):
            order = self.engine.find(
                account,
                symbol,
                order_id=order_id,
                client_order_id=link if order_id is None else None,
                respect_visibility=respect_visibility,
            )
            if order is not None:
                return order
        return None

    def cancel(self, account: str, params: dict[str, Any]) -> SimOrder:
        self.check_category(params)
        self.instrument(params.get("symbol"))
        order = self.lookup(account, params, respect_visibility=False)
        if order is None or not order.is_open:
            raise ApiError(110001)
        try:
            return self.engine.cancel(account, order.symbol, order_id=order.order_id)
        except EngineReject as exc:
            raise engine_error(exc) from exc

    def cid_of(self, account: str, params: dict[str, Any]) -> str | None:
        """The orderLinkId a cancel names (directly or by looking the order up), for fault matching."""
        if params.get("orderId"):
            with contextlib.suppress(ApiError):
                order = self.lookup(account, params, respect_visibility=False)
                if order is not None:
                    return link_id(order) or None
        return text(params.get("orderLinkId")) or None

    @staticmethod
    def window(params: dict[str, Any], now: int) -> tuple[int, int]:
        start, end = time_window(read_int(params, "startTime"), read_int(params, "endTime"), now)
        if end < start:
            raise param_error("startTime must be less than endTime")
        if end - start > WEEK_MS:
            raise param_error("The time range between startTime and endTime cannot exceed 7 days")
        return start, end

    @staticmethod
    def limit(params: dict[str, Any], default: int, maximum: int) -> int:
        limit = read_int(params, "limit")
        if limit is None:
            return default
        if not 1 <= limit <= maximum:
            raise param_error(f"limit must be in [1, {maximum}]")
        return limit

    @staticmethod
    def page(items: list[Any], params: dict[str, Any], limit: int) -> tuple[list[Any], str]:
        offset = decode_cursor(text(params.get("cursor")) or None)
        chunk = items[offset : offset + limit]
        nxt = encode_cursor(offset + limit) if offset + limit < len(items) else ""
        return chunk, nxt

    def _order_page(self, orders: list[SimOrder], params: dict[str, Any], limit: int) -> dict[str, Any]:
        chunk, nxt = self.page(orders, params, limit)
        return {"category": "linear", "list": [self.payloads.order_json(o) for o in chunk], "nextPageCursor": nxt}

    def history_retained(self, order: SimOrder, now: int) -> bool:
        """History keeps fully cancelled/rejected orders (no fills) for 24 h only (§4 OH)."""
        if order.status in ("CANCELED", "EXPIRED", "REJECTED") and not order.filled_qty:
            return now - order.updated_ms <= self.state.history_cancel_retention_ms
        return True

    def realtime(self, account: str, params: dict[str, Any]) -> dict[str, Any]:
        self.check_category(params)
        symbols = self.symbols(params)
        limit = self.limit(params, 20, 50)
        orders: list[SimOrder]
        if params.get("orderId") or params.get("orderLinkId"):
            found = self.lookup(account, params, respect_visibility=True)
            orders = [found] if found is not None else []
        else:
            open_only = text(params.get("openOnly")) or "0"
            if open_only not in ("0", "1", "2"):
                raise param_error("openOnly invalid")
            wanted = set(symbols)
            if open_only == "0":
                orders = [o for o in self.engine.open_orders(account) if o.symbol in wanted]
            else:
                now = now_ms()
                closed = sorted(
                    (
                        o
                        for o in self.engine.orders.values()
                        if o.account == account and not o.is_open and self.engine.visible(o, now)
                    ),
                    key=lambda o: (o.updated_ms, o.numeric_id),
                    reverse=True,
                )[: self.state.realtime_closed_limit]
                orders = [o for o in closed if o.symbol in wanted]
        orders.sort(key=lambda o: o.numeric_id, reverse=True)
        return self._order_page(orders, params, limit)

    def history(self, account: str, params: dict[str, Any]) -> dict[str, Any]:
        self.check_category(params)
        symbols = self.symbols(params, required=False)
        limit = self.limit(params, 20, 50)
        now = self.state.server_ms()
        start, end = self.window(params, now)
        order_id = text(params.get("orderId")) or None
        link = text(params.get("orderLinkId")) or None
        status = text(params.get("orderStatus")) or None
        if status is not None and status not in STATUS_IN:
            raise param_error("orderStatus invalid")
        wanted = set(symbols)
        symbol = symbols[0] if len(symbols) == 1 else None
        local_now = now_ms()
        orders = [
            o
            for o in self.engine.history(account, symbol, start, end)
            if o.symbol in wanted
            and self.history_retained(o, local_now)
            and (order_id is None or o.order_id == order_id)
            and (link is None or link_id(o) == link)
            and (status is None or STATUS_OUT[o.status] == status)
        ]
        orders.reverse()
        return self._order_page(orders, params, limit)

    def executions(self, account: str, params: dict[str, Any]) -> dict[str, Any]:
        self.check_category(params)
        symbols = self.symbols(params, required=False)
        limit = self.limit(params, 50, 100)
        start, end = self.window(params, self.state.server_ms())
        exec_type = text(params.get("execType")) or None
        order_id = text(params.get("orderId")) or None
        link = text(params.get("orderLinkId")) or None
        pairs = [
            (o, f)
            for symbol in symbols
            for o, f in self.engine.trades(account, symbol, start, end)
            if (order_id is None or o.order_id == order_id) and (link is None or link_id(o) == link)
        ]
        if exec_type not in (None, "Trade"):
            pairs = []
        pairs.sort(key=lambda of: (of[1].time_ms, of[1].trade_id), reverse=True)
        chunk, nxt = self.page(pairs, params, limit)
        return {
            "category": "linear",
            "list": [self.payloads.execution_json(o, f) for o, f in chunk],
            "nextPageCursor": nxt,
        }

    # ------------------------------------------------------------------ writes (REST and WS)

    def create(self, account: str, params: dict[str, Any], transport: Literal["rest", "ws"]) -> WriteAnswer:
        """Place once, consulting the fault plan."""
        result = self.venue.write(
            "create", transport, lambda: self.place(account, params),
            client_order_id=text(params.get("orderLinkId")) or None, order_id=None,
            symbol=text(params.get("symbol")) or None, rejection=ApiError, recorded_id=lambda o: link_id(o) or None,
        )  # fmt: skip
        return _answer(result)

    def cancel_write(self, account: str, params: dict[str, Any], transport: Literal["rest", "ws"]) -> WriteAnswer:
        """Cancel once, consulting the fault plan."""
        result = self.venue.write(
            "cancel", transport, lambda: self.cancel(account, params),
            client_order_id=self.cid_of(account, params), order_id=text(params.get("orderId")) or None,
            symbol=text(params.get("symbol")) or None, rejection=ApiError, recorded_id=lambda o: link_id(o) or None,
        )  # fmt: skip
        return _answer(result)


def _answer(result: WriteResult) -> WriteAnswer:
    if isinstance(result.error, ApiError):
        return result.error.code, result.error.msg, {}, result.fault
    if result.order is None:
        return 0, "OK", {}, result.fault
    return 0, "OK", {"orderId": result.order.order_id, "orderLinkId": link_id(result.order)}, result.fault
