"""Bybit market data and account settings: what third-party clients call on their way to trading.

Market data follows the matching model (``venues/sim/engine.py``), as the Binance dialect's does:
the ask is the mark, the bid one tick below, each with the engine's standing liquidity, resting
orders of every account deeper in the book; candles come from the engine's fills, flat at the mark
where nothing traded. ``/v5/asset/coin/query-info`` (in ccxt's ``load_markets``), ``/v5/user/query-api``
and ``/v5/account/info`` (before ccxt's private calls) answer with the documented shapes (wave-2 sheet
§5 UA, CI, AI); leverage and position mode are kept per account and symbol (one-way only); fees are
the engine's one rate; the limit-price band (``bands.py``) is read at ``/v5/market/price-limit`` and
switched to refusals per account by ``/v5/account/set-limit-px-action``. Rate limits: the per-endpoint
1-second windows of ``BybitState``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from venues.sim.book import book_levels, candles
from venues.sim.bybit.bands import band
from venues.sim.bybit.dialect import BybitDialect
from venues.sim.bybit.errors import ApiError, param_error, text
from venues.sim.bybit.limits import HDR_KEY
from venues.sim.bybit.payloads import uid
from venues.sim.bybit.rest import Handler, endpoint
from venues.sim.engine import SimInstrument, now_ms
from venues.sim.unserved import add_missing
from venues.sim.wire import fmt, fmt_free, places

__all__ = ["INTERVAL_MS", "BybitMarket", "BybitSettings", "routes"]

INTERVAL_MS = {
    "1": 60_000, "3": 180_000, "5": 300_000, "15": 900_000, "30": 1_800_000, "60": 3_600_000,
    "120": 7_200_000, "240": 14_400_000, "360": 21_600_000, "720": 43_200_000, "D": 86_400_000,
    "W": 604_800_000,
}  # fmt: skip
MAX_LEVERAGE = Decimal(100)


@dataclass
class BybitSettings:
    """Per-account, per-symbol leverage (default 10x, buy = sell in one-way mode)."""

    leverage: dict[tuple[str, str], Decimal] = field(default_factory=dict)


class BybitMarket:
    """The market-data and settings answers of one Bybit venue."""

    def __init__(self, d: BybitDialect):
        self.d = d
        self.engine = d.engine
        self.settings = BybitSettings()

    def book(self, inst: SimInstrument, limit: int) -> dict[str, Any]:
        pp, qp = places(inst.tick_size), places(inst.step_size)
        bids, asks = book_levels(self.engine, inst, limit)
        now = now_ms()
        return {
            "s": inst.symbol,
            "b": [[fmt(p, pp), fmt(q, qp)] for p, q in bids],
            "a": [[fmt(p, pp), fmt(q, qp)] for p, q in asks],
            "ts": now, "u": now, "seq": now, "cts": now,
        }  # fmt: skip

    def candles(self, inst: SimInstrument, params: dict[str, Any], *, with_volume: bool) -> list[list[str]]:
        step = INTERVAL_MS.get(text(params.get("interval")))
        if step is None:
            raise param_error("interval invalid")
        limit = min(_int(params, "limit") or 200, 1000)
        end = _int(params, "end") or now_ms()
        pp, qp = places(inst.tick_size), places(inst.step_size)
        rows = []
        for c in candles(self.engine, inst, step, _int(params, "start"), end, limit):
            row = [str(c.start_ms), fmt(c.open, pp), fmt(c.high, pp), fmt(c.low, pp), fmt(c.close, pp)]
            if with_volume:
                row += [fmt(c.volume, qp), fmt_free(c.quote_volume)]
            rows.append(row)
        return rows[::-1]  # newest first

    def coins(self, coin: str) -> dict[str, Any]:
        assets = sorted({i.base for i in self.engine.instruments.values()} | {"USDT"})
        rows = [
            {"name": a, "coin": a, "remainAmount": "1000000",
             "chains": [{"chain": "ETH" if a == "USDT" else a, "chainType": a, "confirmation": "6",
                         "withdrawFee": "0", "depositMin": "0", "withdrawMin": "0", "minAccuracy": "8",
                         "chainDeposit": "1", "chainWithdraw": "1", "withdrawPercentageFee": "0",
                         "contractAddress": "", "safeConfirmNumber": "6", "withdrawMax": "1000000"}]}
            for a in assets if not coin or a == coin
        ]  # fmt: skip
        return {"rows": rows}

    def api_info(self, account: str) -> dict[str, Any]:
        return {
            "id": str(uid(account)), "note": "gateway sim", "apiKey": account, "readOnly": 0, "secret": "",
            "permissions": {
                "ContractTrade": ["Order", "Position"], "Spot": ["SpotTrade"], "Wallet": ["AccountTransfer"],
                "Options": ["OptionsTrade"], "Derivatives": ["DerivativesTrade"], "CopyTrading": [],
                "BlockTrade": [], "Exchange": [], "NFT": [], "Affiliate": [],
            },
            "ips": ["*"], "type": 1, "deadlineDay": 90, "expiredAt": "2099-01-01T00:00:00Z",
            "createdAt": "2024-01-01T00:00:00Z", "unified": 0, "uta": 1, "userID": uid(account),
            "inviterID": 0, "vipLevel": "No VIP", "mktMakerLevel": "0", "affiliateID": 0, "rsaPublicKey": "",
            "isMaster": True, "parentUid": "0", "kycLevel": "LEVEL_DEFAULT", "kycRegion": "",
        }  # fmt: skip


def _int(params: dict[str, Any], name: str) -> int | None:
    raw = text(params.get(name))
    if not raw:
        return None
    if not raw.isdigit():
        raise param_error(f"{name} invalid")
    return int(raw)


def routes(d: BybitDialect, app: web.Application) -> BybitMarket:
    """Mount the market-data and account-settings routes; returns their state."""
    m = BybitMarket(d)

    def public(produce: Callable[[SimInstrument, dict[str, Any]], Any]) -> Handler:
        async def handle(d: BybitDialect, request: web.Request) -> web.StreamResponse:
            params: dict[str, Any] = dict(request.query)
            d.orders.check_category(params)
            return d.payloads.ok(request, produce(d.orders.instrument(params.get("symbol")), params))

        return handle

    def private(produce: Callable[[str, dict[str, Any]], Any]) -> Handler:
        async def handle(d: BybitDialect, request: web.Request) -> web.StreamResponse:
            account, params = await d.signer.signed_rest(request)
            request[HDR_KEY] = d.limits.charge(account, request.path)
            return d.payloads.ok(request, produce(account, params))

        return handle

    def kline(with_volume: bool) -> Callable[[SimInstrument, dict[str, Any]], Any]:
        def produce(inst: SimInstrument, params: dict[str, Any]) -> Any:
            return {"category": "linear", "symbol": inst.symbol,
                    "list": m.candles(inst, params, with_volume=with_volume)}  # fmt: skip

        return produce

    def set_leverage(account: str, params: dict[str, Any]) -> Any:
        d.orders.check_category(params)
        inst = d.orders.instrument(params.get("symbol"))
        try:
            buy, sell = Decimal(text(params.get("buyLeverage"))), Decimal(text(params.get("sellLeverage")))
        except InvalidOperation as exc:
            raise param_error("buyLeverage and sellLeverage are required") from exc
        if buy != sell:
            raise param_error("buy leverage must equal sell leverage in one-way mode")
        if not 1 <= buy <= MAX_LEVERAGE:
            raise param_error("leverage invalid")
        if m.settings.leverage.get((account, inst.symbol), Decimal(10)) == buy:
            raise ApiError(110043, "Set leverage has not been modified.")
        m.settings.leverage[(account, inst.symbol)] = buy
        return {}

    def switch_mode(account: str, params: dict[str, Any]) -> Any:
        d.orders.check_category(params)
        if text(params.get("mode")) == "3":
            raise ApiError(110029, "Hedge mode is not supported for this symbol.")  # the simulator is one-way
        raise ApiError(110025, "Position mode has not been modified.")

    def fee_rate(account: str, params: dict[str, Any]) -> Any:
        d.orders.check_category(params)
        symbol = text(params.get("symbol"))
        chosen = [d.orders.instrument(symbol)] if symbol else list(d.engine.instruments.values())
        rate = fmt_free(d.engine.fee_rate, 4)  # the engine charges one rate to makers and takers
        return {"list": [{"symbol": i.symbol, "takerFeeRate": rate, "makerFeeRate": rate} for i in chosen]}

    def account_info(account: str, params: dict[str, Any]) -> Any:
        return {"unifiedMarginStatus": 5, "marginMode": "REGULAR_MARGIN", "isMasterTrader": False,
                "spotHedgingStatus": "OFF", "updatedTime": str(now_ms()), "dcpStatus": "OFF", "timeWindow": 0,
                "smpGroup": 0}  # fmt: skip

    def price_limit(inst: SimInstrument, params: dict[str, Any]) -> Any:
        buy, sell = band(d.state, inst)
        pp = places(inst.tick_size)
        return {"symbol": inst.symbol, "buyLmt": fmt(buy, pp), "sellLmt": fmt(sell, pp), "ts": str(now_ms())}

    def limit_px_action(account: str, params: dict[str, Any]) -> Any:
        d.orders.check_category(params)
        modify = params.get("modifyEnable")
        if not isinstance(modify, bool):
            raise param_error("modifyEnable must be true or false")
        if modify:
            d.state.price_limit_reject.discard(account)
        else:
            d.state.price_limit_reject.add(account)
        return {}

    def ep(fn: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        return endpoint(d, fn)

    r = app.router
    r.add_get("/v5/market/orderbook", ep(public(lambda i, p: m.book(i, min(_int(p, "limit") or 25, 500)))))
    r.add_get("/v5/market/kline", ep(public(kline(True))))
    for path in ("/v5/market/mark-price-kline", "/v5/market/index-price-kline",
                 "/v5/market/premium-index-price-kline"):  # fmt: skip
        r.add_get(path, ep(public(kline(False))))
    r.add_get("/v5/market/price-limit", ep(public(price_limit)))
    r.add_post("/v5/account/set-limit-px-action", ep(private(limit_px_action)))
    r.add_get("/v5/asset/coin/query-info", ep(private(lambda a, p: m.coins(text(p.get("coin"))))))
    r.add_get("/v5/user/query-api", ep(private(lambda a, p: m.api_info(a))))
    add_missing(app, "GET", "/v5/account/info", ep(private(account_info)))
    r.add_post("/v5/position/set-leverage", ep(private(set_leverage)))
    r.add_post("/v5/position/switch-mode", ep(private(switch_mode)))
    r.add_get("/v5/account/fee-rate", ep(private(fee_rate)))
    return m
