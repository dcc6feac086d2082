"""50 orders in flight, every client side by side in one client process: orders/s and CPU per order.

Run by ``bench_submit`` as a child process (``python -m benchmarks.throughput --loop asyncio``),
one per round and event loop, against the simulator it already started (its ``gateway sim
--json`` line on stdin); prints one JSON object. Rows, per venue, in this order:

- ``raw_rest``: hand-signed aiohttp POSTs on one session (``benchmarks.raw_clients``);
- ``raw_ws``: hand-signed frames on one ``websockets`` connection, one reader task;
- ``ours_rest`` / ``ours_ws`` / ``ours_auto``: ``Gateway.submit`` with that transport
  (no gate, no journal, no reconciler), until the handle holds its ack;
- ``ours_rest_durable`` / ``ours_auto_durable``: the same with the in-process portfolio gate and
  the journal (``process`` durability) on;
- ``ccxt_rest``: ``binanceusdm.create_order`` (Binance, when ccxt is installed).

Then ``gateway_only``: ``Gateway.submit`` over ``InstantVenue`` (in memory, answers at once),
sequentially: the core's own CPU per submit.

Each row: ``warmup`` orders, then ``total`` orders from 50 workers; orders/s is total / wall
time, CPU µs/order is this process's CPU time (``time.process_time``: every thread, the
gateway's background tasks and its user-stream parsing included) / total. ``--profile ROW``
writes a cProfile of that row's measured part to ``--profile-out``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import itertools
import json
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from benchmarks.instant_venue import INSTRUMENT, InstantVenue
from benchmarks.raw_clients import RawBinance, RawBybit, RawClient, cid
from gateway.core import Gateway
from gateway.model import OrderRequest, OrderType, Side, TimeInForce, Transport
from gateway.ports import Venue
from risk import PortfolioGate, RiskLimits

Call = Callable[[], Awaitable[Any]]
IN_FLIGHT = 50
LIMITS = RiskLimits(
    max_gross_exposure=Decimal("1e12"), max_notional_per_order=Decimal("1e9"), max_position_notional=Decimal("1e12")
)


def request(venue: str, transport: Transport) -> OrderRequest:
    """A LIMIT IOC far below the mark: it expires at once, so nothing accumulates at the venue."""
    return OrderRequest(
        venue=venue,
        instrument=INSTRUMENT,
        side=Side.BUY,
        type=OrderType.LIMIT,
        quantity=Decimal("0.001"),
        price=Decimal("40000"),
        time_in_force=TimeInForce.IOC,
        transport=transport,
    )


def ours(gw: Gateway, venue: str, transport: Transport) -> Call:
    """One submit per call; the gateway assigns each client order id."""
    req = request(venue, transport)

    async def call() -> Any:
        handle = await gw.submit(req)
        receipt = handle.ack.receipt
        assert receipt.status.value == "ACCEPTED", receipt.message
        return receipt

    return call


def venue_for(kind: str, info: dict[str, Any]) -> Venue:
    urls = info[kind]
    if kind == "binance":
        from venues.binance import BinanceUsdm

        cls: Any = BinanceUsdm
    else:
        from venues.bybit import BybitLinear

        cls = BybitLinear
    return cls(  # type: ignore[no-any-return]
        info["api_key"],
        info["api_secret"],
        rest_url=urls["rest_url"],
        ws_api_url=urls["ws_api_url"],
        stream_url=urls["stream_url"],
    )


async def ccxt_call(info: dict[str, Any]) -> tuple[Call | None, Callable[[], Awaitable[None]] | None, str]:
    """``binanceusdm.create_order`` against the simulator, or why not."""
    try:
        import ccxt.async_support as ccxt  # type: ignore[import-not-found]
    except ImportError:
        return None, None, "ccxt not installed (make bench installs it)"
    rest = info["binance"]["rest_url"]
    ex = ccxt.binanceusdm(
        {
            "apiKey": info["api_key"],
            "secret": info["api_secret"],
            "enableRateLimit": False,
            "options": {"fetchCurrencies": False, "adjustForTimeDifference": False, "fetchMarkets": ["linear"]},
        }
    )
    for key in list(ex.urls["api"]):
        if key.startswith("fapi"):
            version = "v1"
            for v in ("V2", "V3"):
                if key.endswith(v):
                    version = v.lower()
            ex.urls["api"][key] = f"{rest}/fapi/{version}"
    try:
        await ex.load_markets()

        async def call() -> Any:
            return await ex.create_order(
                "BTC/USDT:USDT", "limit", "buy", 0.001, 40000, {"timeInForce": "IOC", "newClientOrderId": cid("cx")}
            )

        await call()
        return call, ex.close, ""
    except Exception as exc:  # ccxt is a comparison, never a blocker
        await ex.close()
        return None, None, f"ccxt failed against the simulator: {exc.__class__.__name__}: {str(exc)[:160]}"


# --------------------------------------------------------------------------- measurement


class Meter:
    """Runs rows and keeps their figures; profiles the one named row."""

    def __init__(
        self, total: int, warmup: int, profile: str = "", profile_out: str = "", sim_pid: int | None = None
    ) -> None:
        self.sim_pid = sim_pid
        self.total = total
        self.warmup = warmup
        self.profile = profile
        self.profile_out = profile_out
        self.rows: dict[str, dict[str, float]] = {}

    async def concurrent(self, name: str, call: Call, in_flight: int = IN_FLIGHT) -> None:
        await _drive(call, self.warmup, in_flight)
        gc.collect()
        profiler = cProfile.Profile() if name == self.profile else None
        sim0, cpu0, t0 = _cpu_of(self.sim_pid), time.process_time(), time.perf_counter()
        if profiler is not None:
            profiler.enable()
        await _drive(call, self.total, in_flight)
        if profiler is not None:
            profiler.disable()
        wall, cpu, sim = time.perf_counter() - t0, time.process_time() - cpu0, _cpu_of(self.sim_pid) - sim0
        if profiler is not None:
            profiler.dump_stats(self.profile_out)
        figures = {"orders_per_s": round(self.total / wall), "cpu_us_per_order": round(cpu / self.total * 1e6, 1)}
        if self.sim_pid is not None:
            figures["sim_cpu_us_per_order"] = round(sim / self.total * 1e6, 1)
        self._keep(name, figures)

    async def sequential(self, name: str, call: Call, n: int) -> None:
        for _ in range(self.warmup):
            await call()
        gc.collect()
        profiler = cProfile.Profile() if name == self.profile else None
        if profiler is not None:
            profiler.enable()
        cpu0, t0 = time.process_time(), time.perf_counter()
        for _ in range(n):
            await call()
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(self.profile_out)
        self._keep(name, {"orders_per_s": round(n / wall), "cpu_us_per_order": round(cpu / n * 1e6, 2)})

    def _keep(self, name: str, figures: dict[str, float]) -> None:
        self.rows[name] = figures
        sim = f", simulator {figures['sim_cpu_us_per_order']} µs" if "sim_cpu_us_per_order" in figures else ""
        line = f"  {name}: {figures['orders_per_s']}/s, {figures['cpu_us_per_order']} µs CPU/order{sim}"
        print(line, file=sys.stderr)


def _cpu_of(pid: int | None) -> float:
    """Another process's CPU seconds so far (Linux /proc; 0 elsewhere or when it is gone)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # utime and stime are fields 14 and 15 of stat(5); fields[0] here is field 3.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _drive(call: Call, total: int, in_flight: int) -> None:
    counter = itertools.count()

    async def worker() -> None:
        while next(counter) < total:
            await call()

    await asyncio.gather(*(worker() for _ in range(in_flight)))


async def venue_rows(meter: Meter, kind: str, info: dict[str, Any], journal_dir: Path) -> dict[str, Any]:
    notes: dict[str, Any] = {}
    raw: RawClient = RawBinance(info) if kind == "binance" else RawBybit(info)
    await raw.open()
    try:
        async with Gateway(venues=[venue_for(kind, info)], reconcile=None) as gw:
            await meter.concurrent(f"{kind}.raw_rest", raw.rest_order)
            await meter.concurrent(f"{kind}.ours_rest", ours(gw, kind, Transport.REST))
            await meter.concurrent(f"{kind}.raw_ws", raw.ws_mux_order)
            await meter.concurrent(f"{kind}.ours_ws", ours(gw, kind, Transport.WEBSOCKET))
            await meter.concurrent(f"{kind}.ours_auto", ours(gw, kind, Transport.AUTO))
        if kind == "binance":
            call, close, note = await ccxt_call(info)
            if call is not None and close is not None:
                try:
                    await meter.concurrent(f"{kind}.ccxt_rest", call)
                finally:
                    await close()
            else:
                notes["ccxt_note"] = note
        durable = Gateway(
            venues=[venue_for(kind, info)],
            gate=PortfolioGate(LIMITS),
            journal=journal_dir / f"{kind}.db",
            reconcile=None,
        )
        async with durable as gw:
            await meter.concurrent(f"{kind}.ours_rest_durable", ours(gw, kind, Transport.REST))
            await meter.concurrent(f"{kind}.ours_auto_durable", ours(gw, kind, Transport.AUTO))
    finally:
        await raw.close()
    return notes


async def gateway_only(meter: Meter, n: int) -> None:
    """The core alone: submit over a venue that answers at once (no network, gate, journal or reconciler)."""
    async with Gateway(venues=[InstantVenue()], reconcile=None) as gw:
        await meter.sequential("gateway_only", ours(gw, "instant", Transport.REST), n)


async def main(info: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    meter = Meter(args.total, args.warmup, args.profile, args.profile_out, info.get("pid"))
    out: dict[str, Any] = {"loop": type(asyncio.get_running_loop()).__module__.split(".")[0]}
    with tempfile.TemporaryDirectory(prefix="bench-journal-") as tmp:
        for kind in args.venues.split(","):
            out.update(await venue_rows(meter, kind, info, Path(tmp)))
    await gateway_only(meter, args.gateway_only)
    out["rows"] = meter.rows
    return out


def _run(args: argparse.Namespace, info: dict[str, Any]) -> dict[str, Any]:
    if args.loop == "uvloop":
        import uvloop

        return uvloop.run(main(info, args))
    return asyncio.run(main(info, args))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.throughput")
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--total", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--gateway-only", type=int, default=20_000, help="sequential submits over InstantVenue")
    parser.add_argument("--venues", default="binance,bybit")
    parser.add_argument("--profile", default="", help="row to profile, e.g. binance.ours_rest or gateway_only")
    parser.add_argument("--profile-out", default="throughput.prof")
    parsed = parser.parse_args()
    print(json.dumps(_run(parsed, json.loads(sys.stdin.readline()))), flush=True)
