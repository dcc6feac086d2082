"""Binance account and market-data routes beside the order routes: the position mode and the mark-price streams.

- ``GET /fapi/v1/positionSide/dual`` (weight 30): ``{"dualSidePosition": state.hedge_mode}``.
- Public mark-price streams on the routed ``/market`` path (shared/venues/binance-usdm-wave2.md
  §5): ``/market/stream?streams=a/b`` and ``SUBSCRIBE`` frames (combined: ``{"stream", "data"}``),
  ``/market/ws/<stream>`` (raw). Stream names ``<symbol>@markPrice`` or ``<symbol>@markPrice@1s``;
  each push is a ``markPriceUpdate`` of the engine's mark (``venues/sim/market.py`` pushes).

Positions, balances and the account read are served by ``rest.py`` (positionRisk, balance, account).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from venues.sim.binance.dialect import BinanceDialect
from venues.sim.binance.errors import json_response
from venues.sim.binance.rest import endpoint
from venues.sim.engine import SimInstrument
from venues.sim.market import MarkConn, MarkStreams
from venues.sim.sockets import serve_stream
from venues.sim.wire import fmt, places, ws_send

__all__ = ["routes"]

FUNDING_MS = 28_800_000


def _symbol_of(name: str) -> str | None:
    """``btcusdt@markPrice@1s`` -> ``BTCUSDT``; None for any other stream."""
    symbol, _, kind = name.partition("@")
    return symbol.upper() if kind in ("markPrice", "markPrice@1s") and symbol else None


class BinanceMarkets:
    """The mark-price sockets of one Binance venue."""

    def __init__(self, d: BinanceDialect) -> None:
        self.d = d
        self.streams = MarkStreams(d.venue, self._render)

    def _render(self, inst: SimInstrument, name: str, first: bool) -> list[dict[str, Any]]:
        now = self.d.state.server_ms()
        mark = fmt(inst.mark_price, places(inst.tick_size) + 6)
        return [
            {
                "e": "markPriceUpdate",
                "E": now,
                "s": inst.symbol,
                "p": mark,
                "i": mark,
                "P": mark,
                "r": "0.00010000",
                "T": (now // FUNDING_MS + 1) * FUNDING_MS,
            }
        ]

    def _names(self, raw: list[str]) -> dict[str, str]:
        out = {}
        for name in raw:
            symbol = _symbol_of(name)
            if symbol is not None and symbol in self.d.engine.instruments:
                out[name] = symbol
        return out

    async def serve(self, request: web.Request) -> web.StreamResponse:
        """``/market/stream[?streams=]`` (combined) or ``/market/ws/<stream>`` (raw)."""
        combined = request.path.startswith("/market/stream")
        raw = request.query.get("streams", "") if combined else request.match_info.get("streams", "")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = MarkConn(ws, envelope=combined)
        names = self._names([n for n in raw.split("/") if n])
        self.d.venue.log("WS", "market.connect")

        async def on_frame(frame: dict[str, Any]) -> None:
            method, fid, params = frame.get("method"), frame.get("id"), frame.get("params") or []
            if method == "SUBSCRIBE" and isinstance(params, list):
                self.streams.subscribe(conn, self._names([str(p) for p in params]))
                await ws_send(ws, {"result": None, "id": fid})
            elif method == "UNSUBSCRIBE" and isinstance(params, list):
                self.streams.unsubscribe(conn, [str(p) for p in params])
                await ws_send(ws, {"result": None, "id": fid})
            elif method == "LIST_SUBSCRIPTIONS":
                await ws_send(ws, {"result": sorted(conn.streams), "id": fid})

        if names:
            self.streams.subscribe(conn, names)
        await serve_stream(conn, self.streams.conns, on_frame)
        return ws


async def get_position_side(d: BinanceDialect, request: web.Request) -> web.StreamResponse:
    """GET /fapi/v1/positionSide/dual — the position mode (PS), weight 30."""
    d.limits.charge(request, 30)
    await d.signer.signed_rest(request)
    return json_response({"dualSidePosition": bool(d.state.hedge_mode)})


def routes(d: BinanceDialect, app: web.Application) -> BinanceMarkets:
    """Mount the position-mode read and the mark-price streams; returns the streams (tests reach them)."""
    markets = BinanceMarkets(d)

    def ep(fn: Callable[[BinanceDialect, web.Request], Awaitable[web.StreamResponse]]) -> Any:
        return endpoint(d, fn)

    app.router.add_get("/fapi/v1/positionSide/dual", ep(get_position_side))
    app.router.add_get("/market/stream", markets.serve)
    app.router.add_get("/market/ws/{streams}", markets.serve)
    return markets
