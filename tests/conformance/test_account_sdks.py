"""Third-party clients read positions and balances from ``gateway sim`` as they read a venue's (issue 14).

ccxt ``fetch_positions`` / ``fetch_balance`` (binanceusdm, bybit) and pybit ``get_positions`` /
``get_wallet_balance``, default options with URLs and keys only, on an account holding a long and a
short that were there before the client connected, each figure checked against the simulator's.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import ccxt
import pytest
from pybit.unified_trading import HTTP

from tests.conformance.conftest import Served, rehost


def _hold(served: Served, venue: str) -> None:
    served.call(lambda: served.sim.set_position(venue, "BTCUSDT", "0.5", "49000"))
    served.call(lambda: served.sim.set_position(venue, "ETHUSDT", "-2", "3100"))


@pytest.mark.parametrize(("name", "venue"), [("binanceusdm", "binance"), ("bybit", "bybit")])
def test_ccxt_reads_the_positions_and_the_balance(served: Served, name: str, venue: str) -> None:
    _hold(served, venue)
    sim = served.sim
    ex: Any = getattr(ccxt, name)({"apiKey": sim.api_key, "secret": sim.api_secret})
    ex.urls["api"] = rehost(ex.urls["api"], sim.base_url)
    ex.load_markets()
    positions = {p["symbol"]: p for p in ex.fetch_positions() if p["contracts"]}
    btc, eth = positions["BTC/USDT:USDT"], positions["ETH/USDT:USDT"]
    assert (btc["side"], btc["contracts"], btc["entryPrice"], btc["markPrice"]) == ("long", 0.5, 49000, 50000)
    assert (eth["side"], eth["contracts"], eth["entryPrice"], eth["markPrice"]) == ("short", 2, 3100, 3000)
    assert btc["unrealizedPnl"] == pytest.approx(500) and eth["unrealizedPnl"] == pytest.approx(200)
    wallet = float(served.call(lambda: sim.venues[venue].engine.balance(sim.api_key)))
    assert ex.fetch_balance()["USDT"]["total"] == wallet


def test_pybit_reads_the_positions_and_the_wallet(served: Served) -> None:
    _hold(served, "bybit")
    sim = served.sim
    s = HTTP(api_key=sim.api_key, api_secret=sim.api_secret)
    s.endpoint = sim.base_url
    (btc,) = s.get_positions(category="linear", symbol="BTCUSDT")["result"]["list"]
    assert (btc["side"], btc["size"], btc["avgPrice"], btc["markPrice"], btc["positionIdx"]) == (
        "Buy",
        "0.500",
        "49000.00",
        "50000.00",
        0,
    )
    listed = s.get_positions(category="linear", settleCoin="USDT")["result"]["list"]
    assert {(p["symbol"], p["side"], p["size"]) for p in listed} == {
        ("BTCUSDT", "Buy", "0.500"),
        ("ETHUSDT", "Sell", "2.000"),
    }
    (account,) = s.get_wallet_balance(accountType="UNIFIED")["result"]["list"]
    (usdt,) = [c for c in account["coin"] if c["coin"] == "USDT"]
    assert Decimal(usdt["walletBalance"]) == served.call(lambda: sim.bybit.engine.balance(sim.api_key))
    assert Decimal(account["totalPerpUPL"]) == Decimal("700")  # +500 on the long, +200 on the short
