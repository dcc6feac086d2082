"""Dead-man's-switch drill child: a journaled Gateway with the venue's switch armed rests orders, then waits.

Run as a script by ``test_deadman_drill.py`` (the parent owns the simulator): it connects one
adapter (``--venue``) built with ``dead_mans_switch_seconds`` to the simulator's URLs, opens
``Gateway(journal=--db)``, rests ``--orders`` LIMIT orders (BTC, plus one ETH order on Binance,
whose switch is per instrument), prints ``A <cid> <status>`` per ack and ``ready``. Then it
either waits to be SIGKILLed (``--wait kill``), or (``--wait final``, a network partition drill)
waits until every order's handle is final and prints ``F <cid> <state>`` for each and ``final``:
what the still-running process learned from evidence once it could read again.
"""

from __future__ import annotations

import argparse
import asyncio
from decimal import Decimal

from gateway import Gateway, OrderRequest, OrderType, Side, Transport
from reconcile import ReconcilePolicy
from venues.binance import BinanceUsdm
from venues.bybit import BybitLinear

POLICY = ReconcilePolicy(grace_seconds=1.0, deadline_seconds=30.0, interval_seconds=0.2)


async def main(args: argparse.Namespace) -> None:
    kind = BinanceUsdm if args.venue == "binance" else BybitLinear
    adapter = kind(
        args.api_key, args.api_secret, rest_url=args.rest_url, ws_api_url=args.ws_api_url, stream_url=args.stream_url,
        request_timeout=1.0, recv_window_ms=500, dead_mans_switch_seconds=args.seconds,
    )  # fmt: skip
    async with Gateway(venues=[adapter], journal=args.db, reconcile=POLICY, client_id_prefix="dms") as gw:
        orders = [("BTC/USDT:USDT", "49000")] * args.orders
        if args.venue == "binance":
            orders.append(("ETH/USDT:USDT", "2900"))
        handles = []
        for instrument, price in orders:
            request = OrderRequest(
                venue=args.venue, instrument=instrument, side=Side.BUY, type=OrderType.LIMIT,
                quantity=Decimal("0.01"), price=Decimal(price), transport=Transport.REST,
            )  # fmt: skip
            handle = await gw.submit(request)
            handles.append(handle)
            print(f"A {handle.command_id} {handle.ack.receipt.status.value}", flush=True)
        print("ready", flush=True)
        if args.wait == "kill":
            await asyncio.Event().wait()  # the parent kills us; never a clean close
        for handle in handles:
            async for _ in handle.lifecycle():
                pass
            view = handle.order_view
            print(f"F {handle.command_id} {view.state.value if view else None}", flush=True)
        print("final", flush=True)
        await asyncio.Event().wait()  # the parent kills us once it has read the lines


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    for name in ("--venue", "--db", "--api-key", "--api-secret", "--rest-url", "--ws-api-url", "--stream-url"):
        parser.add_argument(name, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--orders", type=int, default=3)
    parser.add_argument("--wait", choices=("kill", "final"), default="kill")
    asyncio.run(main(parser.parse_args()))
