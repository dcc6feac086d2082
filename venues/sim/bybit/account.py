"""Bybit account and market-data routes beside the order routes: positions, wallet, the public tickers stream.

Shapes from shared/venues/bybit-v5-wave2.md §5, the venue's JSON types (decimals and times as
strings, ``positionIdx`` / ``riskId`` / ``adlRankIndicator`` / ``seq`` numbers):

- ``GET /v5/position/list``: ``category=linear`` and ``symbol`` (listed even when flat) or
  ``settleCoin`` (size > 0 only); ``limit`` 1-200 (20), ``cursor``. One-way rows carry
  ``positionIdx`` 0; with ``state.hedge_mode`` a symbol shows two legs (1 Buy, 2 Sell).
- ``GET /v5/account/wallet-balance``: ``accountType=UNIFIED``; one account, the quote coins.
- ``position`` / ``wallet`` private-stream items (rendered here, sent by ``streams.py`` on fills):
  the REST item with ``entryPrice`` for the entry; ``wallet`` is the wallet-balance item.
- ``/v5/public/linear``: ``subscribe`` to ``tickers.<symbol>``, a ``snapshot`` first, then
  ``delta``s carrying the mark (``venues/sim/market.py`` pushes); ``ping`` answered.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from aiohttp import web

from venues.sim.bybit.dialect import BybitDialect
from venues.sim.bybit.errors import ApiError, param_error, text
from venues.sim.bybit.limits import HDR_KEY
from venues.sim.bybit.rest import endpoint
from venues.sim.engine import SimInstrument
from venues.sim.market import MarkConn, MarkStreams
from venues.sim.sockets import serve_stream
from venues.sim.wire import fmt, fmt_free, places, ws_send

__all__ = ["BybitAccountPayloads", "routes"]

ZERO = Decimal(0)


class BybitAccountPayloads:
    """Positions and wallet of one Bybit venue's engine, as Bybit JSON."""

    def __init__(self, d: BybitDialect) -> None:
        self.d = d
        self.engine = d.engine

    def position_json(self, account: str, inst: SimInstrument, *, idx: int = 0, stream: bool = False) -> dict[str, Any]:
        qty = self.engine.positions.get((account, inst.symbol), ZERO)
        if (idx == 1 and qty < 0) or (idx == 2 and qty > 0):
            qty = ZERO  # the other hedge leg holds it
        entry = self.engine.entry_prices.get((account, inst.symbol), ZERO) if qty else ZERO
        pp, qp = places(inst.tick_size), places(inst.step_size)
        mark = inst.mark_price
        value = abs(qty) * entry
        side = "Buy" if qty > 0 else "Sell" if qty < 0 else ("Buy" if idx == 1 else "Sell" if idx == 2 else "")
        now = str(self.d.state.server_ms())
        out: dict[str, Any] = {
            "positionIdx": idx,
            "riskId": 1,
            "riskLimitValue": "2000000",
            "symbol": inst.symbol,
            "side": side,
            "size": fmt(abs(qty), qp),
            "avgPrice": fmt_free(entry, pp) if qty else "0",
            "positionValue": fmt_free(value),
            "tradeMode": 0,
            "autoAddMargin": 0,
            "positionStatus": "Normal",
            "leverage": "10",
            "markPrice": fmt_free(mark, pp),
            "liqPrice": "",
            "bustPrice": "",
            "positionIM": fmt_free(value / 10),
            "positionMM": fmt_free(value / 200),
            "positionBalance": fmt_free(value / 10),
            "takeProfit": "0.00",
            "stopLoss": "0.00",
            "trailingStop": "0.00",
            "sessionAvgPrice": "",
            "unrealisedPnl": fmt_free((mark - entry) * qty) if qty else "0",
            "curRealisedPnl": "0",
            "cumRealisedPnl": "0",
            "adlRankIndicator": 2 if qty else 0,
            "createdTime": "1676538056258",
            "updatedTime": now,
            "seq": int(now),
            "isReduceOnly": False,
            "mmrSysUpdatedTime": "",
            "leverageSysUpdatedTime": "",
            "tpslMode": "Full",
            "breakEvenPrice": fmt_free(entry, pp) if qty else "0",
        }
        if stream:
            out["entryPrice"] = out.pop("avgPrice")
            out["category"] = "linear"
        return out

    def rows(self, account: str, inst: SimInstrument, *, listed_flat: bool) -> list[dict[str, Any]]:
        """A symbol's rows: its one-way row (or both hedge legs), flat rows only when ``listed_flat``."""
        legs = (1, 2) if self.d.state.hedge_mode else (0,)
        out = [self.position_json(account, inst, idx=idx) for idx in legs]
        return out if listed_flat else [row for row in out if row["size"] != fmt(ZERO, places(inst.step_size))]

    def wallet_json(self, account: str) -> dict[str, Any]:
        wallet = self.engine.balance(account)
        held = sum(
            (
                abs(q) * self.engine.entry_prices.get(k, ZERO) / 10
                for k, q in self.engine.positions.items()
                if k[0] == account
            ),
            ZERO,
        )
        upnl = sum(
            (
                (self.engine.instruments[k[1]].mark_price - self.engine.entry_prices.get(k, ZERO)) * q
                for k, q in self.engine.positions.items()
                if k[0] == account and q and k[1] in self.engine.instruments
            ),
            ZERO,
        )
        w, h, u = fmt(wallet, 8), fmt(held, 8), fmt(upnl, 8)
        equity = fmt(wallet + upnl, 8)
        return {
            "accountType": "UNIFIED",
            "accountIMRate": "0", "accountMMRate": "0", "accountLTV": "0",
            "totalEquity": equity, "totalWalletBalance": w, "totalMarginBalance": equity,
            "totalAvailableBalance": fmt(max(ZERO, wallet + upnl - held), 8), "totalPerpUPL": u,
            "totalInitialMargin": h, "totalMaintenanceMargin": fmt(held / 20, 8),
            "coin": [
                {
                    "coin": "USDT", "equity": equity, "usdValue": equity, "walletBalance": w, "locked": "0",
                    "spotHedgingQty": "0", "borrowAmount": "0", "accruedInterest": "0", "totalOrderIM": "0",
                    "totalPositionIM": h, "totalPositionMM": fmt(held / 20, 8), "unrealisedPnl": u,
                    "cumRealisedPnl": "0", "bonus": "0", "marginCollateral": True, "collateralSwitch": True,
                    "availableToWithdraw": "", "availableToBorrow": "",
                }
            ],
        }  # fmt: skip

    def stream_messages(self, account: str, symbol: str) -> list[dict[str, Any]]:
        """The ``position`` and ``wallet`` messages a fill on ``symbol`` pushes."""
        ts = self.d.state.server_ms()
        inst = self.engine.instruments[symbol]
        legs = (1, 2) if self.d.state.hedge_mode else (0,)
        return [
            {
                "id": secrets.token_hex(8),
                "topic": "position",
                "creationTime": ts,
                "data": [self.position_json(account, inst, idx=idx, stream=True) for idx in legs],
            },
            {"id": secrets.token_hex(8), "topic": "wallet", "creationTime": ts, "data": [self.wallet_json(account)]},
        ]


async def get_positions(d: BybitDialect, request: web.Request) -> web.StreamResponse:
    """GET /v5/position/list (PL): by ``symbol`` (flat rows too) or ``settleCoin`` (open only), cursor paged."""
    account, params = await d.signer.signed_rest(request)
    request[HDR_KEY] = d.limits.charge(account, request.path)
    d.orders.check_category(params)
    if not params.get("symbol") and not params.get("settleCoin"):
        raise param_error("symbol or settleCoin is required")
    limit = d.orders.limit(params, 20, 200)
    payloads = _payloads(d)
    rows = []
    for symbol in d.orders.symbols(params):
        rows.extend(payloads.rows(account, d.engine.instruments[symbol], listed_flat=bool(params.get("symbol"))))
    chunk, nxt = d.orders.page(rows, params, limit)
    return d.payloads.ok(request, {"category": "linear", "list": chunk, "nextPageCursor": nxt})


async def get_wallet(d: BybitDialect, request: web.Request) -> web.StreamResponse:
    """GET /v5/account/wallet-balance (WB): the unified account only."""
    account, params = await d.signer.signed_rest(request)
    request[HDR_KEY] = d.limits.charge(account, request.path)
    if text(params.get("accountType")) != "UNIFIED":
        raise ApiError(10001, "accountType only support UNIFIED.")
    payloads = _payloads(d)
    return d.payloads.ok(request, {"list": [payloads.wallet_json(account)]})


class BybitMarkets:
    """The public ``tickers`` sockets of one Bybit venue."""

    def __init__(self, d: BybitDialect) -> None:
        self.d = d
        self.streams = MarkStreams(d.venue, self._render)
        self._cs = 1

    def _render(self, inst: SimInstrument, name: str, first: bool) -> list[dict[str, Any]]:
        self._cs += 1
        ts = self.d.state.server_ms()
        if first:
            data = self.d.payloads.ticker_json(inst)
        else:
            data = {"symbol": inst.symbol, "markPrice": fmt_free(inst.mark_price, places(inst.tick_size))}
        return [{"topic": name, "type": "snapshot" if first else "delta", "data": data, "cs": self._cs, "ts": ts}]

    async def serve(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = MarkConn(ws)
        conn_id = self.d.new_conn_id()
        self.d.venue.log("WS", "public.connect")

        async def on_frame(frame: dict[str, Any]) -> None:
            op, req_id, args = text(frame.get("op")), frame.get("req_id"), frame.get("args")
            answer: dict[str, Any] = {"success": True, "ret_msg": op, "conn_id": conn_id, "op": op}
            if req_id is not None:
                answer["req_id"] = req_id
            if op == "ping":
                answer["ret_msg"] = "pong"
            elif op in ("subscribe", "unsubscribe") and isinstance(args, list):
                names = {}
                for arg in args:
                    base, _, symbol = str(arg).partition(".")
                    if base != "tickers" or symbol not in self.d.engine.instruments:
                        answer.update(success=False, ret_msg=f"error:handler not found,topic:{arg}")
                        await ws_send(ws, answer)
                        return
                    names[str(arg)] = symbol
                await ws_send(ws, answer)
                if op == "subscribe":
                    self.streams.subscribe(conn, names)
                else:
                    self.streams.unsubscribe(conn, list(names))
                return
            else:
                answer.update(success=False, ret_msg=f"error:handler not found,op:{op}")
            await ws_send(ws, answer)

        await serve_stream(conn, self.streams.conns, on_frame)
        return ws


def _payloads(d: BybitDialect) -> BybitAccountPayloads:
    assert d.account is not None, "routes() sets it"
    return d.account


def routes(d: BybitDialect, app: web.Application) -> BybitMarkets:
    """Mount positions, wallet and the public tickers stream; ``d.account`` renders the stream items."""
    d.account = d.streams.account = BybitAccountPayloads(d)
    markets = BybitMarkets(d)

    def ep(fn: Callable[[BybitDialect, web.Request], Awaitable[web.StreamResponse]]) -> Any:
        return endpoint(d, fn)

    app.router.add_get("/v5/position/list", ep(get_positions))
    app.router.add_get("/v5/account/wallet-balance", ep(get_wallet))
    app.router.add_get("/v5/public/linear", markets.serve)
    return markets
