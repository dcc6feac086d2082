"""Account payloads as the venues document them (tests/fixtures/account_wave2.json) through our parsers (issue 14)."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import orjson
import pytest

from gateway.account import PositionMode
from gateway.model import OrderState, Side
from tests.fixtures import fixture_entries
from venues.binance.market_stream import BinanceMarkStream
from venues.binance.schemas import account as binance
from venues.binance.schemas.parse import order_update_report
from venues.bybit.market_stream import BybitMarkStream
from venues.bybit.schemas import account as bybit
from venues.common import ParseError


def unify(native: str) -> str:
    return f"{native[:-4]}/USDT:USDT" if native.endswith("USDT") else native


def payload(entry_id: str) -> Any:
    return fixture_entries("account_wave2")[entry_id]["response"]


def test_a_binance_liquidation_update_carries_its_fill_like_a_trade() -> None:
    report = order_update_report(payload("acct-binance-LQ"), venue="binance", unify=unify)
    assert (report.state, report.side, report.client_order_id) == (
        OrderState.FILLED,
        Side.SELL,
        "autoclose-1568879465650",
    )
    assert (report.last_fill_quantity, report.last_fill_price, report.trade_id) == (D("0.014"), D("9910.12"), "220")
    assert (report.filled_quantity, report.average_price) == (D("0.014"), D("9910.12"))


def test_binance_position_risk_nets_one_row_per_symbol_at_the_mark() -> None:
    (ada,) = binance.positions(payload("acct-binance-PR3"), venue="binance", unify=unify)
    assert (ada.instrument, ada.quantity, ada.entry_price, ada.mark_price) == (
        "ADA/USDT:USDT",
        D("30"),
        D("0.385"),
        D("0.41047590"),
    )
    assert ada.notional == D("30") * D("0.41047590")  # the venue's "notional" field says the same: 12.314277
    hedge = binance.positions(payload("acct-binance-PR3-hedge"), venue="binance", unify=unify)
    assert [(p.instrument, p.quantity) for p in hedge] == [("ADA/USDT:USDT", D("30")), ("COMP/USDT:USDT", D("-1.000"))]


def test_binance_balance_and_position_mode() -> None:
    (usdt,) = binance.balances(payload("acct-binance-BA3"), venue="binance")
    assert (usdt.asset, usdt.wallet, usdt.available) == ("USDT", D("122607.35137903"), D("23.72469206"))
    assert binance.position_mode(payload("acct-binance-PS")) is PositionMode.HEDGE
    assert binance.position_mode({"dualSidePosition": False}) is PositionMode.ONE_WAY
    with pytest.raises(ParseError):
        binance.position_mode({"dualSidePosition": "false"})


def test_binance_account_update_gives_the_net_positions_and_leaves_hedge_legs_out() -> None:
    event = fixture_entries("binance_usdm")["binance-naut-N5"]["response"]
    positions, balances = binance.account_update(event, venue="binance", unify=unify, mark_of=lambda i: D("6600"))
    (flat,) = positions  # the BOTH row; the LONG and SHORT legs are a hedge account's, never the net position
    assert (flat.instrument, flat.quantity, flat.mark_price) == ("BTC/USDT:USDT", D("0"), D("6600"))
    (usdt,) = balances
    assert (usdt.asset, usdt.wallet, usdt.available) == ("USDT", D("122624.12345678"), D("100.12345678"))


def test_binance_account_update_gives_back_the_mark_from_the_unrealised_profit() -> None:
    event = {"e": "ACCOUNT_UPDATE", "E": 1, "T": 1, "a": {"m": "ORDER", "B": [], "P": [
        {"s": "BTCUSDT", "pa": "-0.5", "ep": "50000", "bep": "0", "cr": "0", "up": "-250", "mt": "cross", "iw": "0",
         "ps": "BOTH"}]}}  # fmt: skip
    (short,) = binance.account_update(event, venue="binance", unify=unify, mark_of=lambda i: None)[0]
    assert (short.quantity, short.mark_price, short.notional) == (D("-0.5"), D("50500"), D("-25250"))


def test_binance_mark_price_stream() -> None:
    stream = BinanceMarkStream()
    framed = orjson.dumps({"stream": "btcusdt@markPrice@1s", "data": payload("acct-binance-MP")})
    assert stream.marks(framed) == [("BTCUSDT", D("11794.15000000"))]
    assert stream.marks(b'{"result":null,"id":1}') == []
    assert stream.url("wss://fstream.binance.com") == "wss://fstream.binance.com/market/stream"
    (frame,) = stream.subscribe_frames(["BTCUSDT", "ETHUSDT"])
    assert orjson.loads(frame)["params"] == ["btcusdt@markPrice@1s", "ethusdt@markPrice@1s"]


def test_bybit_position_list_item_is_signed_by_side() -> None:
    (item,) = payload("acct-bybit-PL")["result"]["list"]
    position = bybit.position(item, venue="bybit", unify=unify)
    assert (position.instrument, position.quantity, position.entry_price, position.mark_price) == (
        "BTCUSD",
        D("-300"),
        D("27464.50441675"),
        D("28224.50"),
    )
    assert bybit.mode_of([item]) is PositionMode.ONE_WAY


def test_bybit_position_topic_item_and_hedge_legs() -> None:
    (leg,) = payload("acct-bybit-WP")["data"]
    assert bybit.has_hedge_rows([leg]) and bybit.mode_of([leg]) is PositionMode.HEDGE
    position = bybit.position(leg, venue="bybit", unify=unify)  # entryPrice on the stream, avgPrice in REST
    assert (position.quantity, position.entry_price, position.mark_price) == (D("0"), D("0"), D("28184.5"))


def test_bybit_wallet_topic_coins() -> None:
    balances = {b.asset: b for b in bybit.wallet_balances(payload("acct-bybit-WW")["data"], venue="bybit")}
    usdt = balances["USDT"]
    assert usdt.wallet == D("11728.54414904")
    assert usdt.available == D("11728.54414904") - D("2.72589075")  # the wallet less what positions hold
    assert balances["USDC"].available == 0  # never below zero


def test_bybit_tickers_snapshot_carries_the_mark_and_a_delta_without_it_keeps_it() -> None:
    stream = BybitMarkStream()
    assert stream.marks(orjson.dumps(payload("acct-bybit-TK"))) == [("BTCUSDT", D("17217.33"))]
    delta = {"topic": "tickers.BTCUSDT", "type": "delta", "data": {"symbol": "BTCUSDT", "lastPrice": "17216.50"}}
    assert stream.marks(orjson.dumps(delta)) == []
    assert stream.url("wss://stream.bybit.com/v5/private") == "wss://stream.bybit.com/v5/public/linear"
