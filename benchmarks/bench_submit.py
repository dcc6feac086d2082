"""Submit→ack, ours beside the raw wire, against the simulator in a separate process.

Sequential latency, per venue, interleaved round-robin in this process so drift hits every path
alike: raw REST (a hand-signed aiohttp POST on one keep-alive session), ours REST
(``Gateway.submit(..., transport=REST)`` until the handle holds its ack), raw WS (a hand-signed
request/response on one ``websockets`` connection), ours WS, and ccxt (Binance, when installed).

50 in flight (``benchmarks.throughput``): every row of both venues side by side in one client
process, per round and event loop (asyncio, and uvloop when installed), against the same
simulator: raw REST, raw WS, ours REST / WebSocket / AUTO, ours with the gate and the journal
on, ccxt; orders/s and client CPU µs/order each, plus the simulator's CPU µs/order (is the
floor the venue or the client?) and the "gateway only" row (``InstantVenue``: the core's own
CPU per submit). Figures are medians over the rounds with the range seen; ratios are taken
within a round (same process, same minute) and then summarised the same way.

Every order is a LIMIT IOC far from the mark, so it expires at once and nothing accumulates.
Goals (issue 16): REST ≥0.8× raw REST's orders/s; AUTO/WebSocket ≥1.3× raw REST's; with the gate
and the journal, REST ≥0.7×; gateway only ≤15 µs CPU per submit; sequential REST ≤1.15× raw REST,
WebSocket ≤1.2× raw WS (medians).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from benchmarks.raw_clients import RawBinance, RawBybit, RawClient
from benchmarks.simproc import simulator_process
from benchmarks.stats import summary_us
from benchmarks.throughput import ccxt_call, ours, venue_for
from gateway.core import Gateway
from gateway.model import Transport

Call = Callable[[], Awaitable[Any]]
VENUES = ("binance", "bybit")
# row -> the row whose orders/s it is compared with, within the same round
RATIO_TO = {
    "ours_rest": "raw_rest",
    "ours_ws": "raw_rest",
    "ours_auto": "raw_rest",
    "ours_rest_durable": "raw_rest",
    "ours_auto_durable": "raw_rest",
    "ccxt_rest": "raw_rest",
    "raw_ws": "raw_rest",
}


async def _interleaved(calls: dict[str, Call], n: int, warmup: int) -> dict[str, list[float]]:
    for _ in range(warmup):
        for call in calls.values():
            await call()
    samples: dict[str, list[float]] = {name: [] for name in calls}
    perf = time.perf_counter
    for _ in range(n):
        for name, call in calls.items():
            t0 = perf()
            await call()
            samples[name].append(perf() - t0)
    return samples


async def sequential(info: dict[str, Any], kind: str, n: int, warmup: int) -> dict[str, Any]:
    raw: RawClient = RawBinance(info) if kind == "binance" else RawBybit(info)
    await raw.open()
    result: dict[str, Any] = {}
    try:
        async with Gateway(venues=[venue_for(kind, info)], reconcile=None) as gw:
            calls: dict[str, Call] = {
                "raw_rest": raw.rest_order,
                "ours_rest": ours(gw, kind, Transport.REST),
                "raw_ws": raw.ws_order,
                "ours_ws": ours(gw, kind, Transport.WEBSOCKET),
            }
            ccxt_close = None
            if kind == "binance":
                call, ccxt_close, note = await ccxt_call(info)
                if call is not None:
                    calls["ccxt_rest"] = call
                else:
                    result["ccxt_note"] = note
            try:
                samples = await _interleaved(calls, n, warmup)
            finally:
                if ccxt_close is not None:
                    await ccxt_close()
    finally:
        await raw.close()
    result.update({name: summary_us(s) for name, s in samples.items()})
    result["ratio_rest"] = round(result["ours_rest"]["median_us"] / result["raw_rest"]["median_us"], 3)
    result["ratio_ws"] = round(result["ours_ws"]["median_us"] / result["raw_ws"]["median_us"], 3)
    if "ccxt_rest" in result:
        result["ratio_ccxt_rest"] = round(result["ccxt_rest"]["median_us"] / result["raw_rest"]["median_us"], 3)
    return result


# --------------------------------------------------------------------------- 50 in flight


def loops() -> list[str]:
    return ["asyncio", "uvloop"] if importlib.util.find_spec("uvloop") is not None else ["asyncio"]


async def client_round(info: dict[str, Any], loop: str, total: int, warmup: int, gateway_only: int) -> dict[str, Any]:
    """One ``benchmarks.throughput`` child on ``loop``: every row once."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "benchmarks.throughput",
        "--loop",
        loop,
        "--total",
        str(total),
        "--warmup",
        str(warmup),
        "--gateway-only",
        str(gateway_only),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate(json.dumps(info).encode() + b"\n")
    if proc.returncode != 0:
        raise RuntimeError(f"benchmarks.throughput --loop {loop} exited {proc.returncode}")
    return json.loads(out.decode().strip().splitlines()[-1])  # type: ignore[no-any-return]


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3), "max": round(max(values), 3)}


def summarise(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Per row: median and range of orders/s, CPU µs/order, simulator CPU and the in-round ratio."""
    rows: dict[str, Any] = {}
    for name in rounds[0]["rows"]:
        seen = [r["rows"][name] for r in rounds if name in r["rows"]]
        row: dict[str, Any] = {key: _spread([s[key] for s in seen]) for key in seen[0]}
        venue, _, short = name.partition(".")
        base = RATIO_TO.get(short)
        if base is not None:
            ratios = [
                r["rows"][name]["orders_per_s"] / r["rows"][f"{venue}.{base}"]["orders_per_s"]
                for r in rounds
                if name in r["rows"] and f"{venue}.{base}" in r["rows"]
            ]
            row["ratio_to"] = base
            row["ratio"] = _spread(ratios)
        rows[name] = row
    return rows


async def main(quick: bool = False, rounds: int | None = None) -> dict[str, Any]:
    n, warmup = (150, 20) if quick else (500, 50)
    total, tp_warmup, gw_only = (1000, 100, 5000) if quick else (2000, 200, 20_000)
    rounds = rounds or (1 if quick else 3)
    # `make bench` runs this on asyncio's loop, `gateway bench` on uvloop when installed (gateway/loop.py).
    loop_module = type(asyncio.get_running_loop()).__module__
    results: dict[str, Any] = {"iterations": n, "sequential_loop": loop_module.split(".")[0]}
    async with simulator_process(seed=1) as info:
        results["simulator_loop"] = info.get("loop", "asyncio")
        for kind in VENUES:
            results[kind] = await sequential(info, kind, n, warmup)
            results.setdefault("ccxt_note", results[kind].pop("ccxt_note", None))
        per_loop: dict[str, list[dict[str, Any]]] = {loop: [] for loop in loops()}
        for _ in range(rounds):
            for loop in per_loop:  # alternate the loops within each round: drift hits both alike
                per_loop[loop].append(await client_round(info, loop, total, tp_warmup, gw_only))
    if results["ccxt_note"] is None:
        del results["ccxt_note"]
    results["in_flight"] = {
        "in_flight": 50,
        "orders_per_row": total,
        "rounds": rounds,
        "loops": {loop: summarise(data) for loop, data in per_loop.items()},
        "per_round": {loop: [r["rows"] for r in data] for loop, data in per_loop.items()},
    }
    return results


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(quick="--quick" in sys.argv)), indent=2))


# --------------------------------------------------------------------------- the table


LABELS = {
    "raw_rest": "raw signed aiohttp POST",
    "raw_ws": "raw websockets, one reader task",
    "ours_rest": "ours, REST",
    "ours_ws": "ours, WebSocket",
    "ours_auto": "ours, AUTO",
    "ours_rest_durable": "ours, REST + gate + journal",
    "ours_auto_durable": "ours, AUTO + gate + journal",
    "ccxt_rest": "ccxt binanceusdm.create_order",
}


def _k(value: float) -> str:
    return f"{value / 1000:.1f}k" if value >= 1000 else f"{value:.0f}"


def _cell(spread: dict[str, float], fmt: Callable[[float], str], rounds: int) -> str:
    if rounds < 2:
        return fmt(spread["median"])
    return f"{fmt(spread['median'])} ({fmt(spread['min'])}–{fmt(spread['max'])})"


def in_flight_markdown(submit: dict[str, Any]) -> list[str]:
    """The 50-in-flight table: a row per client, the figures of each event loop side by side."""
    data = submit["in_flight"]
    rounds = data["rounds"]
    by_loop: dict[str, dict[str, Any]] = data["loops"]
    names = list(by_loop)
    header = "| 50 in flight | " + " | ".join(
        f"{loop} orders/s | {loop} × raw REST | {loop} client CPU µs/order" for loop in names
    )
    lines = [
        f"{data['orders_per_row']:,} orders per row after warm-up, {data['in_flight']} in flight, every row of a "
        f"round in one client process; median of {rounds} round{'s' if rounds != 1 else ''} (range); the "
        f"simulator runs on {submit.get('simulator_loop', 'asyncio')} in its own process (the sequential rows "
        f"above ran on {submit.get('sequential_loop', 'asyncio')}).",
        "",
        header + " | simulator CPU µs/order |",
        "| --- | " + " | ".join("---: | ---: | ---:" for _ in names) + " | ---: |",
    ]
    first = by_loop[names[0]]
    for venue in VENUES:
        for short, label in LABELS.items():
            name = f"{venue}.{short}"
            if name not in first:
                continue
            cells = []
            for loop in names:
                row = by_loop[loop].get(name)
                if row is None:
                    cells.append("– | – | –")
                    continue
                ratio = _cell(row["ratio"], lambda v: f"{v:.2f}×", rounds) if "ratio" in row else "1.00×"
                cpu = _cell(row["cpu_us_per_order"], lambda v: f"{v:.0f}", rounds)
                cells.append(f"{_cell(row['orders_per_s'], _k, rounds)} | {ratio} | {cpu}")
            sim = first[name].get("sim_cpu_us_per_order")
            sim_cell = f"{sim['median']:.0f}" if sim else "–"
            lines.append(f"| {venue}: {label} | " + " | ".join(cells) + f" | {sim_cell} |")
    cells = []
    for loop in names:
        row = by_loop[loop].get("gateway_only")
        cells.append(
            "– | – | –"
            if row is None
            else f"{_cell(row['orders_per_s'], _k, rounds)} | – | "
            f"{_cell(row['cpu_us_per_order'], lambda v: f'{v:.1f}', rounds)}"
        )
    lines.append("| gateway only: in-memory venue, sequential | " + " | ".join(cells) + " | – |")
    lines.append("")
    return lines
