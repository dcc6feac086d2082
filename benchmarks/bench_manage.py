"""Amend and batch costs (issue 15), against the simulator in a separate process on loopback.

- **amend submit→ack**: ``Gateway.amend`` (REST and WebSocket) of one resting order, back and forth
  between two prices, next to the floor: a hand-signed aiohttp ``PUT /fapi/v1/order`` (Binance) /
  ``POST /v5/order/amend`` (Bybit) on one keep-alive session, in the same run, interleaved.
- **a batch of 5 vs 5 single orders**: orders/s of ``Gateway.submit_batch`` with five resting
  orders (one ``POST /fapi/v1/batchOrders`` / ``/v5/order/create-batch``) against five
  ``Gateway.submit`` sent at once, over REST; every order is canceled after each round so the book
  does not grow. ``python -m benchmarks.bench_manage [--quick]`` runs it alone.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import sys
import time
from decimal import Decimal
from typing import Any

import aiohttp
import orjson

from benchmarks.simproc import simulator_process
from benchmarks.stats import summary_us
from gateway import AmendRequest, CancelRequest, CommandStatus, Gateway, OrderRequest, OrderType, Side, Transport
from venues.binance import BinanceUsdm
from venues.bybit import BybitLinear

__all__ = ["main"]

BTC, NATIVE = "BTC/USDT:USDT", "BTCUSDT"
PRICES = (Decimal("40000"), Decimal("40000.1"))  # far below the 50,000 mark: the order keeps resting


def _venue(info: dict[str, Any], name: str) -> BinanceUsdm | BybitLinear:
    urls = info[name]
    cls = BinanceUsdm if name == "binance" else BybitLinear
    return cls(info["api_key"], info["api_secret"], rest_url=urls["rest_url"], ws_api_url=urls["ws_api_url"],
               stream_url=urls["stream_url"])  # fmt: skip


def _sign(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


async def _raw_amend(session: aiohttp.ClientSession, info: dict[str, Any], name: str, cid: str, price: Decimal) -> None:
    """The floor: one hand-signed amend of ``cid`` to ``price``, its answer parsed and checked."""
    key, secret, url = info["api_key"], info["api_secret"], info[name]["rest_url"]
    if name == "binance":
        query = (f"symbol={NATIVE}&side=BUY&quantity=0.01&price={price}&origClientOrderId={cid}"
                 f"&timestamp={int(time.time() * 1000)}")  # fmt: skip
        async with session.put(f"{url}/fapi/v1/order?{query}&signature={_sign(secret, query)}",
                               headers={"X-MBX-APIKEY": key}) as resp:  # fmt: skip
            body = orjson.loads(await resp.read())
        assert resp.status == 200 and body["clientOrderId"] == cid, body
        return
    data = orjson.dumps({"category": "linear", "symbol": NATIVE, "orderLinkId": cid, "price": str(price)}).decode()
    ts = str(int(time.time() * 1000))
    headers = {"X-BAPI-API-KEY": key, "X-BAPI-TIMESTAMP": ts, "X-BAPI-RECV-WINDOW": "5000",
               "X-BAPI-SIGN": _sign(secret, f"{ts}{key}5000{data}"), "Content-Type": "application/json"}  # fmt: skip
    async with session.post(f"{url}/v5/order/amend", data=data, headers=headers) as resp:
        body = orjson.loads(await resp.read())
    assert body["retCode"] == 0, body


def _order(name: str, price: Decimal, transport: Transport = Transport.REST) -> OrderRequest:
    return OrderRequest(venue=name, instrument=BTC, side=Side.BUY, type=OrderType.LIMIT, quantity=Decimal("0.01"),
                        price=price, transport=transport)  # fmt: skip


async def amend_latency(info: dict[str, Any], name: str, n: int, warmup: int) -> dict[str, Any]:
    """Median / p90 / p99 of amend submit→ack: raw PUT/POST, ours over REST, ours over WebSocket, interleaved."""
    samples: dict[str, list[float]] = {"raw_rest": [], "ours_rest": [], "ours_ws": []}
    venue = _venue(info, name)
    async with Gateway(venues=[venue], reconcile=None, refresh=None) as gw, aiohttp.ClientSession() as session:
        targets = {}
        for row in samples:
            handle = await gw.submit(_order(name, PRICES[0]))
            assert handle.ack.receipt.status is CommandStatus.ACCEPTED, handle.ack.receipt
            targets[row] = handle.client_order_id or ""
        for i in range(n + warmup):
            price = PRICES[(i + 1) % 2]
            for row, cid in targets.items():
                started = time.perf_counter()
                if row == "raw_rest":
                    await _raw_amend(session, info, name, cid, price)
                else:
                    transport = Transport.REST if row == "ours_rest" else Transport.WEBSOCKET
                    handle = await gw.amend(AmendRequest(venue=name, instrument=BTC, client_order_id=cid,
                                                         price=price, transport=transport))  # fmt: skip
                    assert handle.ack.receipt.status is CommandStatus.ACCEPTED, handle.ack.receipt
                elapsed = time.perf_counter() - started
                if i >= warmup:
                    samples[row].append(elapsed)
    out = {row: summary_us(values) for row, values in samples.items()}
    for row in ("ours_rest", "ours_ws"):
        out[row]["ratio_to_raw"] = round(out[row]["median_us"] / out["raw_rest"]["median_us"], 2)
    return out


async def batch_throughput(info: dict[str, Any], name: str, rounds: int) -> dict[str, Any]:
    """Orders/s: a batch of 5 against 5 single orders sent at once, alternating, REST; canceled after each round."""
    venue = _venue(info, name)
    took: dict[str, float] = {"batch_of_5": 0.0, "five_singles": 0.0}
    async with Gateway(venues=[venue], reconcile=None, refresh=None) as gw:
        for i in range(rounds):
            for row in took:
                requests = [_order(name, PRICES[0] - j) for j in range(5)]
                started = time.perf_counter()
                if row == "batch_of_5":
                    handles = await gw.submit_batch(requests)
                else:
                    handles = list(await asyncio.gather(*(gw.submit(r) for r in requests)))
                took[row] += time.perf_counter() - started
                assert all(h.ack.receipt.status is CommandStatus.ACCEPTED for h in handles), i
                await gw.cancel_batch([_cancel(name, h.client_order_id or "") for h in handles])
    return {row: {"orders_per_s": round(5 * rounds / seconds, 1), "rounds": rounds} for row, seconds in took.items()}


def _cancel(name: str, cid: str) -> CancelRequest:
    return CancelRequest(venue=name, instrument=BTC, client_order_id=cid, transport=Transport.REST)


async def main(quick: bool = False) -> dict[str, Any]:
    n, warmup, rounds = (60, 10, 40) if quick else (300, 30, 200)
    results: dict[str, Any] = {"iterations": n}
    async with simulator_process(seed=1) as info:
        results["simulator_loop"] = info.get("loop", "asyncio")
        for name in ("binance", "bybit"):
            results[name] = {
                "amend": await amend_latency(info, name, n, warmup),
                "batch": await batch_throughput(info, name, rounds),
            }
    return results


def markdown(results: dict[str, Any]) -> list[str]:
    """The amend and batch rows for results.md."""
    if not results or "binance" not in results:
        return [f"**manage**: {results.get('error', 'not run')}", ""] if results else []
    lines = [
        "| amend submit→ack (µs) | median | p90 | p99 | ratio to raw (median) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    labels = {"raw_rest": "raw signed aiohttp amend", "ours_rest": "ours, REST", "ours_ws": "ours, WebSocket"}
    for name in ("binance", "bybit"):
        for row, label in labels.items():
            s = results[name]["amend"][row]
            ratio = f"{s['ratio_to_raw']:.2f}×" if "ratio_to_raw" in s else "1.00×"
            lines.append(
                f"| {name}: {label} | {s['median_us']:.0f} | {s['p90_us']:.0f} | {s['p99_us']:.0f} | {ratio} |"
            )
    lines += ["", "| orders/s (REST) | a batch of 5 | 5 single orders at once |", "| --- | ---: | ---: |"]
    for name in ("binance", "bybit"):
        b = results[name]["batch"]
        lines.append(f"| {name} | {b['batch_of_5']['orders_per_s']} | {b['five_singles']['orders_per_s']} |")
    return [*lines, ""]


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(quick="--quick" in sys.argv)), indent=2))
