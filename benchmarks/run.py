"""`make bench` / `gateway bench`: run every benchmark in one process run and write the results.

Writes ``benchmarks/results.json`` (everything measured) and ``benchmarks/results.md`` (the
table the README shows), and prints the table. ``--quick`` shrinks iteration counts.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib
import json
import os
import platform
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
# module -> what a regression would mean
SUITES: dict[str, str] = {
    "benchmarks.bench_submit": "hot-path overhead of our submit vs the raw wire",
    "benchmarks.bench_gate": "check-and-reserve cost (in-process and Redis)",
    "benchmarks.bench_journal": "write-ahead journal cost per command and group-commit throughput",
    "benchmarks.bench_reconcile": "venue reads needed to settle many unknowns",
    "benchmarks.bench_campaign": "every command of a fault campaign judged against the simulator's ground truth",
    "benchmarks.bench_replication": "audit stream on NATS JetStream: publish rate, before_send cost, takeover time",
    "benchmarks.bench_metrics": "CPU per command the gateway_* metrics add, on vs off at 50 in flight",
    "benchmarks.bench_manage": "amend submit→ack next to a raw signed amend; a batch of 5 vs 5 single orders",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="fewer iterations (a smoke run)")
    parser.add_argument("--only", default="", help="comma-separated suite names, e.g. submit,gate")


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "os": platform.platform()}


async def run_all(quick: bool, only: set[str]) -> dict[str, Any]:
    results: dict[str, Any] = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "quick": quick,
        "command": "make bench" + (" ARGS=--quick" if quick else ""),
    }
    for module, meaning in SUITES.items():
        short = module.split("bench_", 1)[1]
        if only and short not in only:
            continue
        print(f"running {short}: {meaning} …", flush=True)
        try:
            mod = importlib.import_module(module)
            results[short] = await mod.main(quick=quick)
        except Exception as exc:  # one suite failing must not hide the others' figures
            traceback.print_exc()
            # A failed campaign still carries its figures and first findings (CampaignFailed.results).
            results[short] = {"error": f"{exc.__class__.__name__}: {exc}", **getattr(exc, "results", {})}
    return results


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        f"Measured {results['when']} with `{results['command']}`"
        + (
            f" (suites {', '.join(results['updated']['suites'])} re-run {results['updated']['when']}"
            f' with `make bench ARGS="--only {",".join(results["updated"]["suites"])}"`)'
            if "updated" in results
            else ""
        )
        + f" on {m['cpu']} ({m['cores']} cores), "
        f"Python {m['python']}; simulator in a separate process on loopback.",
        "",
    ]
    submit = results.get("submit", {})
    if submit and "error" not in submit:
        lines += [
            "| submit→ack (µs) | median | p90 | p99 | ratio to raw (median) |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for venue in ("binance", "bybit"):
            data = submit.get(venue, {})
            for name, label, raw in (
                ("raw_rest", "raw signed aiohttp POST", None),
                ("ours_rest", "ours, REST", "raw_rest"),
                ("ccxt_rest", "ccxt binanceusdm.create_order", "raw_rest"),
                ("raw_ws", "raw websockets request/response", None),
                ("ours_ws", "ours, WebSocket", "raw_ws"),
            ):
                if name not in data:
                    continue
                s = data[name]
                ratio = f"{s['median_us'] / data[raw]['median_us']:.2f}×" if raw else "1.00×"
                lines.append(
                    f"| {venue}: {label} | {s['median_us']:.0f} | {s['p90_us']:.0f} | {s['p99_us']:.0f} | {ratio} |"
                )
        lines.append("")
        if "in_flight" in submit:
            from benchmarks.bench_submit import in_flight_markdown

            lines += in_flight_markdown(submit)
        if submit.get("ccxt_note"):
            lines.append(f"- ccxt: {submit['ccxt_note']}")
        lines.append("")
    for short in ("gate", "journal", "reconcile", "replication"):
        data = results.get(short)
        if not data:
            continue
        lines.append(f"**{short}**: " + ", ".join(f"{k} = {v}" for k, v in _flatten(data).items()))
        lines.append("")
    lines += _campaign_markdown(results.get("campaign"))
    if results.get("manage"):
        from benchmarks.bench_manage import markdown as manage_markdown

        lines += manage_markdown(results["manage"])
    return "\n".join(lines)


def _campaign_markdown(data: dict[str, Any] | None) -> list[str]:
    if not data or "commands" not in data:
        return [f"**campaign**: {data['error']}", ""] if data else []
    judge = data["judge"]
    faults = ", ".join(f"{k.lower().replace('_', '-')} {v}" for k, v in data["faults_applied"].items())
    lines = [
        f"**campaign** ({'passed' if data['ok'] else 'FAILED'}): {data['commands']} commands "
        f"({data['creates']} creates, {data['cancels']} cancels of which {data['repeated_cancels']} repeated) "
        f"on binance and bybit, REST and WebSocket, {len(data['instruments'])} instruments, "
        f"{data['mark_sweeps']} mark sweeps, {data['partial_fills']} partial fills; "
        f"{data['faults_on_writes']} write faults, {data['unknown_acks']} unknown acks; "
        f"{data['commands_per_s']} commands/s with {data['in_flight']} in flight, settled in {data['wall_s']} s",
        "",
        "| judge | " + " | ".join(judge) + " |",
        "| --- | " + " | ".join("---:" for _ in judge) + " |",
        "| count | " + " | ".join(str(v) for v in judge.values()) + " |",
        "",
        f"- faults applied: {faults}",
    ]
    if data.get("findings"):
        # One example per category ("stale: …", "exposure: …"); results.json holds more.
        examples = {line.split(":", 1)[0]: line for line in reversed(data["findings"])}
        lines.append(f"- {data['findings_total']} findings; the first of each kind:")
        lines += [f"  - {line}" for line in reversed(examples.values())]
    lines.append("")
    return lines


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out


def run(args: argparse.Namespace) -> int:
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    results = asyncio.run(run_all(args.quick, only))
    if only and (HERE / "results.json").exists():
        # A partial run updates its suites and keeps the others' last figures.
        previous = json.loads((HERE / "results.json").read_text())
        previous.update({k: v for k, v in results.items() if k not in ("when", "command")})
        previous["updated"] = {"when": results["when"], "suites": sorted(only)}
        results = previous
    (HERE / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    table = markdown(results)
    (HERE / "results.md").write_text(table + "\n")
    print()
    print(table)
    return 1 if any(isinstance(v, dict) and "error" in v for v in results.values()) else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run")
    add_arguments(parser)
    raise SystemExit(run(parser.parse_args()))
