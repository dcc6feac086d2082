"""The simulator's account events over HTTP (issue 14), for a process driving `gateway sim` from outside."""

from __future__ import annotations

from decimal import Decimal as D

import aiohttp

from venues.sim import SimExchange


async def test_positions_outside_trades_liquidations_and_hedge_mode_over_admin_http(sim: SimExchange) -> None:
    key = (sim.api_key, "BTCUSDT")
    async with aiohttp.ClientSession(sim.base_url) as http:

        async def post(path: str, body: object) -> tuple[int, dict[str, object]]:
            async with http.post(path, json=body) as resp:
                return resp.status, await resp.json()

        assert await post("/admin/position", {"venue": "binance", "symbol": "BTCUSDT", "qty": "0.02"}) == (
            200,
            {"ok": True},
        )
        status, trade = await post(
            "/admin/external_trade", {"venue": "binance", "symbol": "BTCUSDT", "side": "BUY", "qty": 0.003}
        )
        assert status == 200 and trade["status"] == "FILLED"
        assert sim.binance.engine.positions[key] == D("0.023")
        status, liq = await post("/admin/liquidate", {"venue": "binance", "symbol": "BTCUSDT", "qty": "0.01"})
        assert status == 200 and str(liq["client_order_id"]).startswith("autoclose-")
        assert sim.binance.engine.positions[key] == D("0.013")
        assert (await post("/admin/hedge_mode", {"venue": "bybit"}))[0] == 200 and sim.bybit.state.hedge_mode
        status, error = await post("/admin/liquidate", {"venue": "bybit", "symbol": "BTCUSDT"})
        assert status == 400 and "no position" in str(error["error"])
