"""The simulator's venue-neutral exchange: instruments, accounts, orders, fills, positions, ground truth.

One ``MatchingEngine`` per simulated venue. It knows nothing of wire formats: the dialect
modules (``venues/sim/binance.py``, ``venues/sim/bybit.py``) translate requests into calls
here and engine state into each venue's payloads.

Matching model (deterministic): each instrument has a settable mark price.
- MARKET fills completely at the mark.
- A LIMIT order that crosses the mark when placed (BUY price >= mark, SELL price <= mark)
  fills at the mark as taker; POST_ONLY that would cross is rejected; IOC / FOK that do not
  cross expire (FOK) or expire (IOC) without resting.
- A resting LIMIT fills at its own price when ``set_mark`` crosses it.
- ``fill(order, qty)`` forces a partial (or full) fill for tests and the demo.

Visibility: ``hide_for(order, seconds)`` makes an existing order invisible to every read
(query, open orders, history, trades) for a while, as a lagging venue would;
``history_lag_ms`` keeps new orders out of *history* reads for that long. Neither affects
ground truth: ``orders`` and ``attempts`` always tell what really happened.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Literal

__all__ = [
    "EngineReject",
    "MatchingEngine",
    "RejectReason",
    "SimFill",
    "SimInstrument",
    "SimAmendment",
    "SimOrder",
    "WriteAttempt",
    "default_instruments",
    "now_ms",
]


POST_ONLY_CANCEL_REASON = "EC_PostOnlyWillTakeLiquidity"
DCP_CANCEL_REASON = "CancelByDCP"  # canceled by a disconnect cancel-all (venues/sim/bybit/safety.py)


def now_ms() -> int:
    return int(time.time() * 1000)


class RejectReason(StrEnum):
    UNKNOWN_SYMBOL = "UNKNOWN_SYMBOL"
    DUPLICATE_CLIENT_ID = "DUPLICATE_CLIENT_ID"
    PRICE_TICK = "PRICE_TICK"
    PRICE_RANGE = "PRICE_RANGE"
    QTY_STEP = "QTY_STEP"
    QTY_RANGE = "QTY_RANGE"
    MIN_NOTIONAL = "MIN_NOTIONAL"
    REDUCE_ONLY = "REDUCE_ONLY"
    POST_ONLY_WOULD_TAKE = "POST_ONLY_WOULD_TAKE"
    FOK_UNFILLABLE = "FOK_UNFILLABLE"
    MAX_OPEN_ORDERS = "MAX_OPEN_ORDERS"
    BAD_PARAMETER = "BAD_PARAMETER"
    UNKNOWN_ORDER = "UNKNOWN_ORDER"  # cancel / query target does not exist
    ORDER_CLOSED = "ORDER_CLOSED"  # cancel target exists but is no longer open
    NOT_MODIFIED = "NOT_MODIFIED"  # an amend that changes nothing
    QTY_BELOW_FILLED = "QTY_BELOW_FILLED"  # an amend to at most the filled quantity
    NOT_LIMIT = "NOT_LIMIT"  # only LIMIT orders can be amended


class EngineReject(Exception):
    def __init__(self, reason: RejectReason, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass
class SimInstrument:
    symbol: str  # native, e.g. BTCUSDT
    base: str
    quote: str
    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    min_notional: Decimal
    mark_price: Decimal
    min_price: Decimal = Decimal("0.10")
    max_price: Decimal = Decimal("10000000")
    market_max_qty: Decimal | None = None
    max_open_orders: int = 200

    @property
    def unified(self) -> str:
        return f"{self.base}/{self.quote}:{self.quote}"


def default_instruments() -> list[SimInstrument]:
    """A few linear perpetuals with realistic filters (BTC's match the recorded exchangeInfo)."""
    d = Decimal
    return [
        SimInstrument("BTCUSDT", "BTC", "USDT", d("0.10"), d("0.001"), d("0.001"), d("1000"), d("5"), d("50000")),
        SimInstrument("ETHUSDT", "ETH", "USDT", d("0.01"), d("0.001"), d("0.001"), d("10000"), d("5"), d("3000")),
        SimInstrument("SOLUSDT", "SOL", "USDT", d("0.010"), d("1"), d("1"), d("100000"), d("5"), d("150")),
        SimInstrument("XRPUSDT", "XRP", "USDT", d("0.0001"), d("0.1"), d("0.1"), d("10000000"), d("5"), d("0.6")),
        SimInstrument("DOGEUSDT", "DOGE", "USDT", d("0.00001"), d("1"), d("1"), d("50000000"), d("5"), d("0.15")),
        SimInstrument("BNBUSDT", "BNB", "USDT", d("0.010"), d("0.01"), d("0.01"), d("100000"), d("5"), d("600")),
        SimInstrument("ADAUSDT", "ADA", "USDT", d("0.0001"), d("1"), d("1"), d("10000000"), d("5"), d("0.45")),
        SimInstrument("LTCUSDT", "LTC", "USDT", d("0.01"), d("0.001"), d("0.001"), d("100000"), d("5"), d("80")),
        SimInstrument("LINKUSDT", "LINK", "USDT", d("0.001"), d("0.01"), d("0.01"), d("1000000"), d("5"), d("15")),
        SimInstrument("AVAXUSDT", "AVAX", "USDT", d("0.001"), d("0.1"), d("0.1"), d("1000000"), d("5"), d("35")),
    ]


Side = Literal["BUY", "SELL"]
OrderKind = Literal["LIMIT", "MARKET"]
Tif = Literal["GTC", "IOC", "FOK", "POST_ONLY"]
Status = Literal["NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "REJECTED", "EXPIRED"]
OPEN_STATUSES = frozenset({"NEW", "PARTIALLY_FILLED"})


@dataclass
class SimFill:
    trade_id: int
    order_id: str
    price: Decimal
    qty: Decimal
    time_ms: int
    maker: bool
    commission: Decimal


@dataclass
class SimOrder:
    venue: str
    account: str
    order_id: str
    numeric_id: int
    symbol: str
    side: Side
    type: OrderKind
    tif: Tif
    qty: Decimal
    price: Decimal | None
    reduce_only: bool
    client_order_id: str
    created_ms: int
    status: Status = "NEW"
    filled_qty: Decimal = Decimal(0)
    cum_quote: Decimal = Decimal(0)
    updated_ms: int = 0
    visible_at_ms: int = 0
    cancel_reason: str = ""
    fills: list[SimFill] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def avg_price(self) -> Decimal:
        return Decimal(0) if not self.filled_qty else self.cum_quote / self.filled_qty

    @property
    def leaves_qty(self) -> Decimal:
        return self.qty - self.filled_qty if self.is_open else Decimal(0)


@dataclass
class SimAmendment:
    """One accepted amend (the record Binance's ``GET /fapi/v1/orderAmendment`` lists)."""

    amendment_id: int
    order_id: str
    time_ms: int
    price_before: Decimal | None
    price_after: Decimal | None
    qty_before: Decimal
    qty_after: Decimal
    count: int  # the order's amends so far, this one included


@dataclass
class WriteAttempt:
    """One write the venue received, whatever became of it (ground truth for duplicate checks)."""

    venue: str
    operation: Literal["create", "cancel", "amend"]
    transport: Literal["rest", "ws"]
    client_order_id: str | None
    order_id: str | None
    processed: bool  # did the engine act on it (an order created / cancelled)?
    outcome: str  # "created", "canceled", "rejected:<reason>", or the fault that replaced the answer
    fault: str | None
    time_ms: int
    # When it arrived on the monotonic clock the gateway's process shares (CLOCK_MONOTONIC):
    # finer than time_ms, so a judge can order it against a command sent in the same millisecond.
    arrived_ns: int = field(default_factory=time.monotonic_ns)


# (account, order, fill or None, execution type "NEW"/"TRADE"/"CANCELED"/"EXPIRED"/"REJECTED"/"AMENDMENT")
OrderListener = Callable[[str, SimOrder, SimFill | None, str], None]


class MatchingEngine:
    """See the module docstring."""

    def __init__(
        self,
        venue: str,
        instruments: list[SimInstrument] | None = None,
        *,
        id_style: Literal["int", "uuid"] = "int",
        history_lag_ms: int = 0,
        fee_rate: Decimal = Decimal("0.0004"),
        post_only_cancels: bool = False,
    ):
        self.venue = venue
        self.instruments: dict[str, SimInstrument] = {i.symbol: i for i in (instruments or default_instruments())}
        self.id_style = id_style
        self.history_lag_ms = history_lag_ms
        self.fee_rate = fee_rate
        self.orders: dict[str, SimOrder] = {}  # order_id -> order (every order ever created)
        self._by_cid: dict[tuple[str, str], list[SimOrder]] = {}  # (account, cid) -> orders, oldest first
        self._open: dict[str, dict[str, SimOrder]] = {}  # symbol -> order_id -> open order
        self.attempts: list[WriteAttempt] = []
        self.positions: dict[tuple[str, str], Decimal] = {}  # (account, symbol) -> signed qty
        self.entry_prices: dict[tuple[str, str], Decimal] = {}
        self.balances: dict[str, Decimal] = {}
        self.listeners: list[OrderListener] = []
        # Bybit acks a PostOnly that would take and then cancels it; Binance refuses it (-5022).
        self.post_only_cancels = post_only_cancels
        self.amendments: dict[str, list[SimAmendment]] = {}  # order id -> accepted amends, oldest first
        self._amendment_ids = itertools.count(5_000_001)
        self._ids = itertools.count(4_000_000_001)
        self._trade_ids = itertools.count(700_000_001)

    # ------------------------------------------------------------------ accounts & market

    def balance(self, account: str) -> Decimal:
        return self.balances.setdefault(account, Decimal("1000000"))

    def instrument(self, symbol: str) -> SimInstrument:
        inst = self.instruments.get(symbol)
        if inst is None:
            raise EngineReject(RejectReason.UNKNOWN_SYMBOL, f"unknown symbol {symbol!r}")
        return inst

    def set_mark(self, symbol: str, price: Decimal) -> list[SimFill]:
        """Move the mark; resting limit orders it crosses fill at their own price (maker)."""
        inst = self.instrument(symbol)
        inst.mark_price = price
        fills: list[SimFill] = []
        for order in list(self._open.get(symbol, {}).values()):
            assert order.price is not None
            crossed = (order.side == "BUY" and price <= order.price) or (order.side == "SELL" and price >= order.price)
            if crossed:
                fills.append(self._execute(order, order.qty - order.filled_qty, order.price, maker=True))
        return fills

    # ------------------------------------------------------------------ writes

    def record_attempt(self, attempt: WriteAttempt) -> None:
        self.attempts.append(attempt)

    def place(
        self,
        account: str,
        *,
        symbol: str,
        side: Side,
        type: OrderKind,
        qty: Decimal,
        price: Decimal | None,
        tif: Tif = "GTC",
        reduce_only: bool = False,
        client_order_id: str,
    ) -> SimOrder:
        """Validate and create an order (raises ``EngineReject`` without creating anything)."""
        inst = self.instrument(symbol)
        would_take = tif == "POST_ONLY" and price is not None and self._crosses(inst, side, price)
        self._validate(
            account, inst, side, type, qty, price, "GTC" if would_take and self.post_only_cancels else tif,
            reduce_only, client_order_id,
        )  # fmt: skip
        ts = now_ms()
        numeric = next(self._ids)
        order_id = str(numeric) if self.id_style == "int" else str(uuid.uuid4())
        order = SimOrder(
            venue=self.venue,
            account=account,
            order_id=order_id,
            numeric_id=numeric,
            symbol=symbol,
            side=side,
            type=type,
            tif=tif,
            qty=qty,
            price=price,
            reduce_only=reduce_only,
            client_order_id=client_order_id,
            created_ms=ts,
            updated_ms=ts,
        )
        self.orders[order_id] = order
        self._by_cid.setdefault((account, client_order_id), []).append(order)
        self._emit(account, order, None, "NEW")
        if would_take:  # only reached when post-only orders are acked, then canceled (Bybit)
            self._close(order, "CANCELED", POST_ONLY_CANCEL_REASON)
            return order
        crosses = type == "MARKET" or (price is not None and self._crosses(inst, side, price))
        if crosses:
            self._execute(order, qty, inst.mark_price, maker=False)
        elif tif in ("IOC", "FOK"):
            self._close(order, "EXPIRED", "IOC/FOK did not cross the mark")
        else:
            self._open.setdefault(symbol, {})[order_id] = order
        return order

    def _validate(
        self,
        account: str,
        inst: SimInstrument,
        side: Side,
        type: OrderKind,
        qty: Decimal,
        price: Decimal | None,
        tif: Tif,
        reduce_only: bool,
        client_order_id: str,
    ) -> None:
        R = RejectReason
        if any(o.is_open for o in self._by_cid.get((account, client_order_id), ())):
            raise EngineReject(R.DUPLICATE_CLIENT_ID, "client order id is duplicated")
        if type == "LIMIT" and (price is None or price <= 0):
            raise EngineReject(R.BAD_PARAMETER, "price is required for LIMIT orders")
        self._check_values(inst, type, qty, price, reduce_only)
        if reduce_only:
            pos = self.positions.get((account, inst.symbol), Decimal(0))
            reduces = (side == "SELL" and pos > 0) or (side == "BUY" and pos < 0)
            if not reduces or qty > abs(pos):
                raise EngineReject(R.REDUCE_ONLY, "reduce-only order would not reduce the position")
        if tif == "POST_ONLY" and price is not None and self._crosses(inst, side, price):
            raise EngineReject(R.POST_ONLY_WOULD_TAKE, "post-only order would immediately take liquidity")
        open_count = sum(1 for o in self._open.get(inst.symbol, {}).values() if o.account == account)
        if open_count >= inst.max_open_orders:
            raise EngineReject(R.MAX_OPEN_ORDERS, "reached the maximum number of open orders")

    @staticmethod
    def _crosses(inst: SimInstrument, side: Side, price: Decimal) -> bool:
        mark = inst.mark_price
        return (side == "BUY" and price >= mark) or (side == "SELL" and price <= mark)

    @staticmethod
    def _check_values(
        inst: SimInstrument, type: OrderKind, qty: Decimal, price: Decimal | None, reduce_only: bool
    ) -> None:
        """The filters a create and an amend share: tick, price range, step, quantity range, notional."""
        R = RejectReason
        if qty <= 0:
            raise EngineReject(R.QTY_RANGE, "quantity less than or equal to zero")
        if price is not None:
            if (price - inst.min_price) % inst.tick_size != 0:
                raise EngineReject(R.PRICE_TICK, f"price {price} is not a multiple of tick size {inst.tick_size}")
            if price < inst.min_price or price > inst.max_price:
                raise EngineReject(R.PRICE_RANGE, f"price {price} outside [{inst.min_price}, {inst.max_price}]")
        if qty % inst.step_size != 0:
            raise EngineReject(R.QTY_STEP, f"quantity {qty} is not a multiple of step size {inst.step_size}")
        max_qty = inst.market_max_qty if type == "MARKET" and inst.market_max_qty else inst.max_qty
        if qty < inst.min_qty or qty > max_qty:
            raise EngineReject(R.QTY_RANGE, f"quantity {qty} outside [{inst.min_qty}, {max_qty}]")
        notional = (price if price is not None else inst.mark_price) * qty
        if not reduce_only and notional < inst.min_notional:
            raise EngineReject(R.MIN_NOTIONAL, f"order's notional must be no smaller than {inst.min_notional}")

    def cancel(
        self,
        account: str,
        symbol: str,
        *,
        order_id: str | None = None,
        client_order_id: str | None = None,
        reason: str = "canceled by user",
    ) -> SimOrder:
        """``reason`` is the order's ``cancel_reason`` (``DCP_CANCEL_REASON``: Bybit shows ``CancelByDCP``)."""
        order = self.find(account, symbol, order_id=order_id, client_order_id=client_order_id, respect_visibility=False)
        if order is None:
            raise EngineReject(RejectReason.UNKNOWN_ORDER, "unknown order sent")
        if not order.is_open:
            raise EngineReject(RejectReason.ORDER_CLOSED, f"order is already {order.status}")
        self._close(order, "CANCELED", reason)
        return order

    def amend(
        self,
        account: str,
        symbol: str,
        *,
        order_id: str | None = None,
        client_order_id: str | None = None,
        qty: Decimal | None = None,
        price: Decimal | None = None,
    ) -> SimOrder:
        """Change an open LIMIT order's quantity and/or price (raises ``EngineReject``, changing nothing).

        An accepted amend is recorded, emits one ``AMENDMENT`` event and re-queues the order; one
        whose new price crosses the mark trades at once, except a post-only order, which is
        canceled instead (Binance's documented GTX modify).
        """
        R = RejectReason
        order = self.find(account, symbol, order_id=order_id, client_order_id=client_order_id, respect_visibility=False)
        if order is None:
            raise EngineReject(R.UNKNOWN_ORDER, "order does not exist")
        if not order.is_open:
            raise EngineReject(R.ORDER_CLOSED, f"order is already {order.status}")
        if order.type != "LIMIT":
            raise EngineReject(R.NOT_LIMIT, "only limit orders can be amended")
        new_qty = order.qty if qty is None else qty
        new_price = order.price if price is None else price
        inst = self.instrument(order.symbol)
        self._check_values(inst, order.type, new_qty, new_price, order.reduce_only)
        if new_qty <= order.filled_qty:
            raise EngineReject(R.QTY_BELOW_FILLED, f"quantity {new_qty} is not above the filled {order.filled_qty}")
        if new_qty == order.qty and new_price == order.price:
            raise EngineReject(R.NOT_MODIFIED, "no need to modify the order")
        history = self.amendments.setdefault(order.order_id, [])
        history.append(
            SimAmendment(
                next(self._amendment_ids), order.order_id, now_ms(), order.price, new_price, order.qty, new_qty,
                len(history) + 1,
            )
        )  # fmt: skip
        order.qty, order.price = new_qty, new_price
        order.updated_ms = now_ms()
        book = self._open.setdefault(order.symbol, {})
        book.pop(order.order_id, None)
        book[order.order_id] = order  # to the back of its level: an amend loses queue priority
        self._emit(account, order, None, "AMENDMENT")
        assert new_price is not None
        if self._crosses(inst, order.side, new_price):
            if order.tif == "POST_ONLY":
                self._close(order, "CANCELED", "post-only amend would take liquidity")
            else:
                self._execute(order, order.qty - order.filled_qty, inst.mark_price, maker=False)
        return order

    def fill(self, order_id: str, qty: Decimal, price: Decimal | None = None) -> SimFill:
        """Force a fill of ``qty`` (partial or full) on an open order."""
        order = self.orders[order_id]
        if not order.is_open:
            raise EngineReject(RejectReason.ORDER_CLOSED, f"order is already {order.status}")
        qty = min(qty, order.qty - order.filled_qty)
        return self._execute(
            order,
            qty,
            price if price is not None else (order.price or self.instrument(order.symbol).mark_price),
            maker=True,
        )

    def hide_for(self, order: SimOrder, seconds: float) -> None:
        order.visible_at_ms = now_ms() + int(seconds * 1000)

    # ------------------------------------------------------------------ reads (what the venue shows)

    def visible(self, order: SimOrder, at_ms: int | None = None) -> bool:
        return (at_ms or now_ms()) >= order.visible_at_ms

    def find(
        self,
        account: str,
        symbol: str,
        *,
        order_id: str | None = None,
        client_order_id: str | None = None,
        respect_visibility: bool = True,
    ) -> SimOrder | None:
        order: SimOrder | None = None
        if order_id is not None:
            order = self.orders.get(order_id)
            if order is not None and (order.account != account or order.symbol != symbol):
                order = None
        elif client_order_id is not None:
            candidates = self._by_cid.get((account, client_order_id))
            order = candidates[-1] if candidates else None
            if order is not None and order.symbol != symbol:
                order = None
        if order is not None and respect_visibility and not self.visible(order):
            return None
        return order

    def open_orders(self, account: str, symbol: str | None = None) -> list[SimOrder]:
        now = now_ms()
        books = [self._open.get(symbol, {})] if symbol else list(self._open.values())
        return sorted(
            (o for book in books for o in book.values() if o.account == account and self.visible(o, now)),
            key=lambda o: o.numeric_id,
        )

    def history(self, account: str, symbol: str | None, start_ms: int, end_ms: int) -> list[SimOrder]:
        """Orders created in [start_ms, end_ms] that history shows now (visibility and lag applied)."""
        now = now_ms()
        return sorted(
            (
                o
                for o in self.orders.values()
                if o.account == account
                and (symbol is None or o.symbol == symbol)
                and start_ms <= o.created_ms <= end_ms
                and self.visible(o, now)
                and now - o.created_ms >= self.history_lag_ms
            ),
            key=lambda o: o.numeric_id,
        )

    def trades(self, account: str, symbol: str, start_ms: int, end_ms: int) -> list[tuple[SimOrder, SimFill]]:
        now = now_ms()
        out = [
            (o, f)
            for o in self.orders.values()
            if o.account == account and o.symbol == symbol and self.visible(o, now)
            for f in o.fills
            if start_ms <= f.time_ms <= end_ms and now - f.time_ms >= self.history_lag_ms
        ]
        return sorted(out, key=lambda of: of[1].trade_id)

    # ------------------------------------------------------------------ ground truth

    def orders_for(self, client_order_id: str, account: str | None = None) -> list[SimOrder]:
        """Every order ever created with this client id (more than one means a duplicate)."""
        if account is not None:
            # One lookup: a Bybit create asks this of every orderLinkId, and a scan grew with every order ever made.
            return list(self._by_cid.get((account, client_order_id), ()))
        return [
            o
            for (acct, cid), orders in self._by_cid.items()
            if cid == client_order_id and account in (None, acct)
            for o in orders
        ]

    def attempts_for(self, client_order_id: str) -> list[WriteAttempt]:
        return [a for a in self.attempts if a.client_order_id == client_order_id]

    def duplicate_client_ids(self) -> list[str]:
        return sorted({cid for (_, cid), orders in self._by_cid.items() if len(orders) > 1})

    # ------------------------------------------------------------------ internals

    def _execute(
        self, order: SimOrder, qty: Decimal, price: Decimal, *, maker: bool, exec_type: str = "TRADE"
    ) -> SimFill:
        # exec_type "CALCULATED": a liquidation's execution (venues/sim/account.py), told to listeners as such.
        ts = now_ms()
        fill = SimFill(
            trade_id=next(self._trade_ids),
            order_id=order.order_id,
            price=price,
            qty=qty,
            time_ms=ts,
            maker=maker,
            commission=(price * qty * self.fee_rate).quantize(Decimal("0.00000001")),
        )
        order.fills.append(fill)
        order.filled_qty += qty
        order.cum_quote += price * qty
        order.updated_ms = ts
        key = (order.account, order.symbol)
        signed = qty if order.side == "BUY" else -qty
        old = self.positions.get(key, Decimal(0))
        new = old + signed
        if old == 0 or (old > 0) == (signed > 0):
            prev_entry = self.entry_prices.get(key, price)
            self.entry_prices[key] = (prev_entry * abs(old) + price * qty) / abs(new) if new else price
        elif new == 0:
            self.entry_prices.pop(key, None)
        self.positions[key] = new
        self.balances[order.account] = self.balance(order.account) - fill.commission
        if order.filled_qty >= order.qty:
            order.status = "FILLED"
            self._open.get(order.symbol, {}).pop(order.order_id, None)
        else:
            order.status = "PARTIALLY_FILLED"
            if order.tif in ("IOC", "FOK") or order.type == "MARKET":
                self._emit(order.account, order, fill, exec_type)
                self._close(order, "EXPIRED", "IOC remainder")
                return fill
        self._emit(order.account, order, fill, exec_type)
        return fill

    def _close(self, order: SimOrder, status: Status, reason: str) -> None:
        order.status = status
        order.cancel_reason = reason
        order.updated_ms = now_ms()
        self._open.get(order.symbol, {}).pop(order.order_id, None)
        self._emit(order.account, order, None, status)

    def _emit(self, account: str, order: SimOrder, fill: SimFill | None, exec_type: str) -> None:
        for listener in list(self.listeners):
            listener(account, order, fill, exec_type)
