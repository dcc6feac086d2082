"""Binance JSON shapes: orders, trades, exchangeInfo, mark prices, positions, balances and user-stream events.

The venue's JSON types: numbers for ``orderId``/``time``/``updateTime``, strings for every
decimal, printed to the instrument's tick/step places as ``shared/venues/binance-usdm.md`` records.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from venues.sim.account import venue_created
from venues.sim.binance.state import BinanceState
from venues.sim.engine import MatchingEngine, SimFill, SimInstrument, SimOrder, now_ms
from venues.sim.wire import fmt as _fmt
from venues.sim.wire import fmt_free as _fmt_free
from venues.sim.wire import places as _places

__all__ = ["TIF_IN", "TIF_OUT", "Payloads"]

TIF_IN = {"GTC": "GTC", "IOC": "IOC", "FOK": "FOK", "GTX": "POST_ONLY"}
TIF_OUT = {"GTC": "GTC", "IOC": "IOC", "FOK": "FOK", "POST_ONLY": "GTX"}


class Payloads:
    """Renders one venue's engine state as Binance JSON."""

    def __init__(self, engine: MatchingEngine, state: BinanceState):
        self.engine = engine
        self.state = state

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
        state = self.state
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
                        {"filterType": "PERCENT_PRICE", "multiplierUp": _fmt(state.percent_price_up, 4),
                         "multiplierDown": _fmt(state.percent_price_down, 4), "multiplierDecimal": "4"},
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
            "serverTime": self.state.server_ms(),
            "futuresType": "U_MARGINED",
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": state.weight_limit,
                },
                {
                    "rateLimitType": "ORDERS",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": state.orders_1m_limit,
                },
                {
                    "rateLimitType": "ORDERS",
                    "interval": "SECOND",
                    "intervalNum": 10,
                    "limit": state.orders_10s_limit,
                },
            ],
            "exchangeFilters": [],
            "assets": [{"asset": q, "marginAvailable": True, "autoAssetExchange": "-10000"} for q in quotes],
            "symbols": symbols,
        }

    def premium(self, inst: SimInstrument) -> dict[str, Any]:
        pp = _places(inst.tick_size) + 6
        mark = _fmt(inst.mark_price, pp)
        now = self.state.server_ms()
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

    def account_json(self, account: str) -> dict[str, Any]:
        bal = self.balances_json(account)[0]["balance"]
        return {
            "totalInitialMargin": "0", "totalMaintMargin": "0", "totalWalletBalance": bal,
            "totalUnrealizedProfit": "0", "totalMarginBalance": bal, "totalPositionInitialMargin": "0",
            "totalOpenOrderInitialMargin": "0", "totalCrossWalletBalance": bal, "totalCrossUnPnl": "0",
            "availableBalance": bal, "maxWithdrawAmount": bal,
            "assets": [{"asset": "USDT", "walletBalance": bal, "unrealizedProfit": "0", "marginBalance": bal,
                        "maintMargin": "0", "initialMargin": "0", "positionInitialMargin": "0",
                        "openOrderInitialMargin": "0", "crossWalletBalance": bal, "crossUnPnl": "0",
                        "availableBalance": bal, "maxWithdrawAmount": bal, "updateTime": now_ms()}],
            "positions": self.positions_json(account, None),
        }  # fmt: skip

    def order_update_event(self, order: SimOrder, fill: SimFill | None, exec_type: str) -> dict[str, Any]:
        inst = self.engine.instruments[order.symbol]
        pp, qp = _places(inst.tick_size), _places(inst.step_size)
        ts = self.state.server_ms()
        x = (
            exec_type
            if exec_type in ("NEW", "TRADE", "CANCELED", "EXPIRED", "CALCULATED", "AMENDMENT")
            else ("EXPIRED" if exec_type == "REJECTED" else exec_type)
        )
        o: dict[str, Any] = {
            "s": order.symbol,
            "c": order.client_order_id,
            "S": order.side,
            "o": "LIQUIDATION" if venue_created(order.client_order_id) else order.type,
            "f": TIF_OUT[order.tif] if order.type == "LIMIT" else ("IOC" if order.tif == "IOC" else "GTC"),
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
        ts = self.state.server_ms()
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
