"""`gateway sim`: serve the simulator for a user's own tests and print its URLs and credentials."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys

from rich.console import Console
from rich.table import Table

from venues.sim.faults import FaultCampaign, FaultKind
from venues.sim.server import SimExchange


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument("--seed", type=int, default=None, help="seed for credentials and fault campaigns")
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--api-secret", default=None)
    parser.add_argument(
        "--faults",
        default="",
        help="comma-separated fault kinds for a random write campaign, or 'all' "
        f"({', '.join(k.value for k in FaultKind if not k.is_stream)})",
    )
    parser.add_argument("--fault-rate", type=float, default=0.2, help="probability a write is hit (default 0.2)")
    parser.add_argument("--history-lag-ms", type=int, default=0)
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON line with the URLs and credentials (for scripts that start the simulator)",
    )


def _campaign(args: argparse.Namespace) -> FaultCampaign | None:
    if not args.faults:
        return None
    if args.faults == "all":
        return FaultCampaign(seed=args.seed or 0, probability=args.fault_rate)
    try:
        kinds = tuple(FaultKind(k.strip().upper()) for k in args.faults.split(",") if k.strip())
    except ValueError as exc:
        raise SystemExit(f"--faults: {exc}") from exc
    return FaultCampaign(seed=args.seed or 0, probability=args.fault_rate, kinds=kinds)


async def _serve(args: argparse.Namespace) -> None:
    # piped: full width, so a script reading the table gets whole URLs, not cut at 80 columns
    console = Console() if sys.stdout.isatty() else Console(width=100_000, soft_wrap=True)
    sim = SimExchange(
        seed=args.seed,
        api_key=args.api_key,
        api_secret=args.api_secret,
        host=args.host,
        port=args.port,
        campaign=_campaign(args),
        history_lag_ms=args.history_lag_ms,
    )
    async with sim:
        if args.json:
            info = {
                "base_url": sim.base_url,
                "api_key": sim.api_key,
                "api_secret": sim.api_secret,
                **{
                    name: {"rest_url": v.rest_url, "ws_api_url": v.ws_api_url, "stream_url": v.stream_url}
                    for name, v in sim.venues.items()
                },
            }
            print(json.dumps(info), flush=True)
            await _wait_for_signal()
            return
        table = Table(title=f"gateway sim on {sim.base_url}", show_lines=False)
        table.add_column("venue")
        table.add_column("rest_url")
        table.add_column("ws_api_url")
        table.add_column("stream_url")
        for name, v in sim.venues.items():
            table.add_row(name, v.rest_url, v.ws_api_url, v.stream_url)
        console.print(table)
        console.print(f"api_key    {sim.api_key}")
        console.print(f"api_secret {sim.api_secret}")
        console.print(f"admin      {sim.base_url}/admin/truth  (POST /admin/faults, /admin/mark)")
        console.print("Ctrl-C to stop.", style="dim")
        await _wait_for_signal()


async def _wait_for_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    if sys.platform != "win32":  # the asyncio loop has no signal handlers on Windows
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def run(args: argparse.Namespace) -> int:
    asyncio.run(_serve(args))
    return 0
