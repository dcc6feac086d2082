"""Binance market data and account settings: what third-party clients call on their way to trading.

Market data follows the matching model (``venues/sim/engine.py``): the ask is the mark (a BUY at or
above it fills there), the bid one tick below (a SELL at or below it fills at the mark or better),
each with the engine's standing liquidity, and resting orders of every account deeper in the book;
the last price is the last fill's (the mark before any); candles and 24-hour figures come from the
engine's fills, flat at the mark where nothing traded. Account settings (leverage, margin type,
position mode) are kept per account and symbol; fees are the engine's one rate. Shapes and weights:
``docs/venues/binance-usdm.md`` and the wave-2 sheet §5 (LB, CR, PS); ``/sapi/v1/capital/config/getall``
is the spot wallet's coin list and ``/sapi/v1/margin/allPairs`` the margin pairs, both of which ccxt
reads in ``load_markets`` when it has keys.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aiohttp import web

from venues.sim.binance.dialect import BinanceDialect
from venues.sim.binance.errors import ApiError, json_response, mandatory, read_int, read_truthy
from venues.sim.binance.rest import Handler, endpoint
from venues.sim.book import BOOK_DEPTH_QTY, book_levels, candles, fills
from venues.sim.engine import SimFill, SimInstrument, now_ms
from venues.sim.unserved import add_missing
from venues.sim.wire import fmt, fmt_free, places

__all__ = ["ACCOUNT_METHODS", "BOOK_DEPTH_QTY", "INTERVAL_MS", "Market", "Settings", "account_read", "routes"]

INTERVAL_MS = {
    "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1h": 3_600_000,
    "2h": 7_200_000, "4h": 14_400_000, "6h": 21_600_000, "8h": 28_800_000, "12h": 43_200_000,
    "1d": 86_400_000, "3d": 259_200_000, "1w": 604_800_000,
}  # fmt: skip
DAY_MS = 86_400_000
MAX_LEVERAGE = 125


@dataclass
class Settings:
    """Per-account, per-symbol settings the venue keeps (defaults: 20x, cross, one-way)."""

    leverage: dict[tuple[str, str], int] = field(default_factory=dict)
    margin_type: dict[tuple[str, str], str] = field(default_factory=dict)


class Market:
    """The market-data and settings answers of one Binance venue."""

    def __init__(self, d: BinanceDialect):
        self.d = d
        self.engine = d.engine
        self.settings = Settings()

    def fills(self, symbol: str, start_ms: int = 0) -> list[SimFill]:
        return fills(self.engine, symbol, start_ms)

    def last_price(self, inst: SimInstrument) -> Decimal:
        fills = self.fills(inst.symbol)
        return fills[-1].price if fills else inst.mark_price

    def book(self, inst: SimInstrument, limit: int) -> tuple[list[list[str]], list[list[str]]]:
        pp, qp = places(inst.tick_size), places(inst.step_size)
        bids, asks = book_levels(self.engine, inst, limit)
        return [[fmt(p, pp), fmt(q, qp)] for p, q in bids], [[fmt(p, pp), fmt(q, qp)] for p, q in asks]

    def candles(self, inst: SimInstrument, interval: str, params: dict[str, str]) -> list[list[Any]]:
        step = INTERVAL_MS.get(interval)
        if step is None:
            raise ApiError(-1120, "Invalid interval.")
        limit = min(read_int(params, "limit") or 500, 1500)
        end = read_int(params, "endTime") or now_ms()
        pp, qp = places(inst.tick_size), places(inst.step_size)
        return [
            [c.start_ms, fmt(c.open, pp), fmt(c.high, pp), fmt(c.low, pp), fmt(c.close, pp), fmt(c.volume, qp),
             c.start_ms + step - 1, fmt_free(c.quote_volume), c.trades, "0", "0", "0"]
            for c in candles(self.engine, inst, step, read_int(params, "startTime"), end, limit)
        ]  # fmt: skip

    def ticker_24h(self, inst: SimInstrument) -> dict[str, Any]:
        pp, qp = places(inst.tick_size), places(inst.step_size)
        now = now_ms()
        fills = self.fills(inst.symbol, now - DAY_MS)
        prices = [f.price for f in fills] or [inst.mark_price]
        volume = sum((f.qty for f in fills), Decimal(0))
        quote = sum((f.qty * f.price for f in fills), Decimal(0))
        last = self.last_price(inst)
        return {
            "symbol": inst.symbol, "priceChange": fmt(last - prices[0], pp),
            "priceChangePercent": fmt((last - prices[0]) / prices[0] * 100, 3),
            "weightedAvgPrice": fmt(quote / volume if volume else last, pp), "lastPrice": fmt(last, pp),
            "lastQty": fmt(fills[-1].qty if fills else Decimal(0), qp), "openPrice": fmt(prices[0], pp),
            "highPrice": fmt(max(prices), pp), "lowPrice": fmt(min(prices), pp), "volume": fmt(volume, qp),
            "quoteVolume": fmt_free(quote), "openTime": now - DAY_MS, "closeTime": now,
            "firstId": fills[0].trade_id if fills else 0, "lastId": fills[-1].trade_id if fills else 0,
            "count": len(fills),
        }  # fmt: skip

    def book_ticker(self, inst: SimInstrument) -> dict[str, Any]:
        (bid, bid_qty), (ask, ask_qty) = (row[0] for row in self.book(inst, 1))
        return {"symbol": inst.symbol, "bidPrice": bid, "bidQty": bid_qty, "askPrice": ask, "askQty": ask_qty,
                "time": now_ms(), "lastUpdateId": now_ms()}  # fmt: skip

    def brackets(self, inst: SimInstrument) -> dict[str, Any]:
        """Notional brackets as JSON numbers (LB); ``cum`` is the maintenance amount carried into a bracket."""
        caps = [(125, 50_000, 0.004), (100, 500_000, 0.005), (50, 10_000_000, 0.01), (20, 80_000_000, 0.025),
                (10, 150_000_000, 0.05), (5, 300_000_000, 0.1), (1, 800_000_000, 0.25)]  # fmt: skip
        rows: list[dict[str, Any]] = []
        floor, cum, prev_mmr = 0, 0.0, caps[0][2]
        for n, (lev, cap, mmr) in enumerate(caps, 1):
            cum += floor * (mmr - prev_mmr)
            rows.append({"bracket": n, "initialLeverage": lev, "notionalCap": cap, "notionalFloor": floor,
                         "maintMarginRatio": mmr, "cum": round(cum, 2)})  # fmt: skip
            floor, prev_mmr = cap, mmr
        return {"symbol": inst.symbol, "brackets": rows}

    def coins(self) -> list[dict[str, Any]]:
        assets = sorted({i.base for i in self.engine.instruments.values()} | {"USDT"})
        return [
            {"coin": a, "depositAllEnable": True, "withdrawAllEnable": True, "name": a, "free": "0", "locked": "0",
             "freeze": "0", "withdrawing": "0", "ipoing": "0", "ipoable": "0", "storage": "0", "isLegalMoney": False,
             "trading": True,
             "networkList": [{"network": "ETH" if a == "USDT" else a, "coin": a, "withdrawIntegerMultiple": "1e-8",
                              "isDefault": True, "depositEnable": True, "withdrawEnable": True, "depositDesc": "",
                              "withdrawDesc": "", "specialTips": "", "name": a, "resetAddressStatus": False,
                              "addressRegex": "", "memoRegex": "", "withdrawFee": "0", "withdrawMin": "0",
                              "withdrawMax": "9999999999", "minConfirm": 1, "unLockConfirm": 0, "sameAddress": False,
                              "estimatedArrivalTime": 5, "busy": False}]}
            for a in assets
        ]  # fmt: skip


ACCOUNT_METHODS = frozenset({"account.status", "account.balance", "account.position"})


def account_read(d: BinanceDialect, name: str, account: str, params: dict[str, str]) -> Any:
    """The WS API's account reads: the REST ``account`` / ``balance`` / ``positionRisk`` answers."""
    if name == "account.status":
        return d.payloads.account_json(account)
    if name == "account.balance":
        return d.payloads.balances_json(account)
    symbol = params.get("symbol") or None
    if symbol:
        d.orders.instrument(symbol)
    return d.payloads.positions_json(account, symbol)


def _symbols(m: Market, params: dict[str, str]) -> list[SimInstrument] | None:
    """The one instrument ``symbol`` names, or ``None`` for all."""
    symbol = params.get("symbol")
    return [m.d.orders.instrument(symbol)] if symbol else None


def routes(d: BinanceDialect, app: web.Application) -> Market:
    """Mount the market-data and account-settings routes; returns their state (tests read ``settings``)."""
    m = Market(d)
    r = app.router

    def public(weights: tuple[int, int], one: Callable[[SimInstrument], Any]) -> Handler:
        async def handle(d: BinanceDialect, request: web.Request) -> web.StreamResponse:
            params = dict(request.query)
            chosen = _symbols(m, params)
            d.limits.charge(request, weights[0] if chosen else weights[1])
            if chosen:
                return json_response(one(chosen[0]))
            return json_response([one(i) for i in d.engine.instruments.values()])

        return handle

    async def depth(d: BinanceDialect, request: web.Request) -> web.StreamResponse:
        params = dict(request.query)
        limit = read_int(params, "limit") or 500
        d.limits.charge(request, 2 if limit <= 50 else 5 if limit <= 100 else 10 if limit <= 500 else 20)
        chosen = _symbols(m, params)
        if not chosen:
            raise mandatory("symbol")
        bids, asks = m.book(chosen[0], limit)
        now = now_ms()
        return json_response({"lastUpdateId": now, "E": now, "T": now, "bids": bids, "asks": asks})

    async def klines(d: BinanceDialect, request: web.Request) -> web.StreamResponse:
        params = dict(request.query)
        limit = read_int(params, "limit") or 500
        d.limits.charge(request, 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10)
        chosen = _symbols(m, {"symbol": params.get("symbol") or params.get("pair") or ""})
        if not chosen:
            raise mandatory("symbol")
        return json_response(m.candles(chosen[0], params.get("interval", ""), params))

    def signed(weight: int, produce: Callable[[str, dict[str, str]], Any]) -> Handler:
        async def handle(d: BinanceDialect, request: web.Request) -> web.StreamResponse:
            d.limits.charge(request, weight)
            account, params = await d.signer.signed_rest(request)
            return json_response(produce(account, params))

        return handle

    def brackets(account: str, params: dict[str, str]) -> Any:
        chosen = _symbols(m, params)
        if chosen:
            return m.brackets(chosen[0])
        return [m.brackets(i) for i in d.engine.instruments.values()]

    def leverage(account: str, params: dict[str, str]) -> Any:
        inst = d.orders.instrument(params.get("symbol"))
        value = read_int(params, "leverage", required=True)
        assert value is not None
        if not 1 <= value <= MAX_LEVERAGE:
            raise ApiError(-4028, f"Leverage {value} is not valid")
        m.settings.leverage[(account, inst.symbol)] = value
        return {"leverage": value, "maxNotionalValue": "50000" if value > 100 else "1000000", "symbol": inst.symbol}

    def margin_type(account: str, params: dict[str, str]) -> Any:
        inst = d.orders.instrument(params.get("symbol"))
        wanted = (params.get("marginType") or "").upper()
        if wanted not in ("ISOLATED", "CROSSED"):
            raise mandatory("marginType")
        if m.settings.margin_type.get((account, inst.symbol), "CROSSED") == wanted:
            raise ApiError(-4046, "No need to change margin type.")
        m.settings.margin_type[(account, inst.symbol)] = wanted
        return {"code": 200, "msg": "success"}

    def commission(account: str, params: dict[str, str]) -> Any:
        inst = d.orders.instrument(params.get("symbol"))
        rate = fmt_free(d.engine.fee_rate, 4)  # the engine charges one rate to makers and takers
        return {"symbol": inst.symbol, "makerCommissionRate": rate, "takerCommissionRate": rate}

    def position_mode(account: str, params: dict[str, str]) -> Any:
        if "dualSidePosition" in params:  # POST: the simulator is one-way only
            if read_truthy(params["dualSidePosition"], "dualSidePosition"):
                raise ApiError(-4061, "Order's position side does not match user's setting.")
            raise ApiError(-4059, "No need to change position side.")
        return {"dualSidePosition": False}

    async def ping(d: BinanceDialect, request: web.Request) -> web.StreamResponse:
        d.limits.charge(request, 1)
        return json_response({})

    async def spot_time(d: BinanceDialect, request: web.Request) -> web.StreamResponse:
        d.limits.charge(request, 1)
        return json_response({"serverTime": d.state.server_ms()})

    async def margin_pairs(d: BinanceDialect, request: web.Request) -> web.StreamResponse:
        # MARKET_DATA: an API key, no signature; the spot pairs of the simulated perpetuals
        d.limits.charge(request, 1)
        d.signer.account_for_key(request.headers.get("X-MBX-APIKEY"))
        pairs = [
            {
                "id": n,
                "symbol": i.symbol,
                "base": i.base,
                "quote": i.quote,
                "isMarginTrade": True,
                "isBuyAllowed": True,
                "isSellAllowed": True,
            }
            for n, i in enumerate(d.engine.instruments.values(), 1)
        ]
        return json_response(pairs)  # fmt: skip

    def ep(fn: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        return endpoint(d, fn)

    r.add_get("/fapi/v1/ticker/24hr", ep(public((1, 40), m.ticker_24h)))
    r.add_get("/fapi/v1/ticker/bookTicker", ep(public((2, 5), m.book_ticker)))
    for path in ("/fapi/v1/ticker/price", "/fapi/v2/ticker/price"):
        r.add_get(path, ep(public((1, 2), lambda i: {"symbol": i.symbol, "price": fmt(m.last_price(i),
                                                     places(i.tick_size)), "time": now_ms()})))  # fmt: skip
    r.add_get("/fapi/v1/depth", ep(depth))
    for path in ("/fapi/v1/klines", "/fapi/v1/markPriceKlines", "/fapi/v1/indexPriceKlines",
                 "/fapi/v1/continuousKlines"):  # fmt: skip
        r.add_get(path, ep(klines))
    r.add_get("/fapi/v1/leverageBracket", ep(signed(1, brackets)))
    r.add_post("/fapi/v1/leverage", ep(signed(1, leverage)))
    r.add_post("/fapi/v1/marginType", ep(signed(1, margin_type)))
    r.add_get("/fapi/v1/commissionRate", ep(signed(20, commission)))
    r.add_get("/fapi/v1/multiAssetsMargin", ep(signed(30, lambda a, p: {"multiAssetsMargin": False})))
    # the position-mode read may be mounted by the account routes already; add what is missing
    add_missing(app, "GET", "/fapi/v1/positionSide/dual", ep(signed(30, position_mode)))
    add_missing(app, "POST", "/fapi/v1/positionSide/dual", ep(signed(1, position_mode)))
    # the bare stream form: connect to /ws, then SUBSCRIBE with the listenKey (binance-futures-connector)
    add_missing(app, "GET", "/ws", ep(lambda d, request: d.streams.serve(request)))
    r.add_get("/sapi/v1/capital/config/getall", ep(signed(10, lambda a, p: m.coins())))
    r.add_get("/sapi/v1/margin/allPairs", ep(margin_pairs))
    # python-binance's clients ping the spot API (and the async one reads its clock) when they are made
    r.add_get("/api/v3/ping", ep(ping))
    r.add_get("/api/v3/time", ep(spot_time))
    return m
