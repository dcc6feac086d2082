"""`gateway demo` / `make demo`: a live run through faults on the embedded simulator, checked against ground truth.

It starts ``SimExchange`` in-process, a ``Gateway`` with both venues (REST and WebSocket),
the portfolio gate and the journal, and runs a seeded script of orders, cancels and mark
moves while the simulator injects faults (accept-then-timeout, 5xx, unknown codes, a
WebSocket drop, delayed visibility, stream duplicates and gaps, and one gate refusal).
Some cancels are repeated once the first cancel of that order has resolved (what a strategy
does after an UNKNOWN). A live table shows every command with the fault applied to that
command itself; the final summary is the strict judge's (``venues.sim.judge``): each create,
each cancel and each handle's final view against the simulator's ground truth, and the gate's
positions against the venue's fills. Both venues arm their dead-man's switch (Binance
``countdownCancelAll`` per instrument, Bybit DCP) and the run ends with the kill switch:
``halt(cancel_open_orders=True, close_positions=True)`` with one cancel-all's answer lost,
every cancel-all and flattening order judged too. The account already holds a BTC position on
each venue when the gateway starts (the gate is seeded from it), and another client's fill and a
liquidation happen during the run (``gateway/demo_account.py``): the judge's exposure check proves
the gate followed them. Exit status 1 if any verdict is wrong, stale,
unresolved or unjudgeable, any order was duplicated or sent twice, or the gate is off.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live

from gateway.core import Gateway
from gateway.demo_account import AccountScript
from gateway.demo_view import DemoView, Row, one_line
from gateway.handle import CommandHandle, ResolutionTimeout
from gateway.model import (
    AmendRequest,
    CancelRequest,
    CommandOperation,
    CommandStatus,
    OrderRequest,
    OrderState,
    OrderType,
    OrderUpdate,
    RecoveryCompleted,
    RecoveryScheduled,
    Side,
    TimeInForce,
    Transport,
)
from gateway.ports import Venue
from reconcile import ReconcilePolicy
from risk import PortfolioGate, RiskLimits
from venues.binance import BinanceUsdm
from venues.bybit import BybitLinear
from venues.sim import Fault, FaultCampaign, FaultKind, SimExchange
from venues.sim.judge import CampaignRecord, Verdicts

__all__ = ["add_arguments", "run"]

# unified id -> (native symbol, order quantity, price decimals)
INSTRUMENTS: dict[str, tuple[str, Decimal, int]] = {
    "BTC/USDT:USDT": ("BTCUSDT", Decimal("0.002"), 1),
    "ETH/USDT:USDT": ("ETHUSDT", Decimal("0.03"), 2),
    "SOL/USDT:USDT": ("SOLUSDT", Decimal("1"), 2),
}
MAX_NOTIONAL_PER_ORDER = Decimal("2000")
DEAD_MANS_SWITCH_SECONDS = 10.0  # each venue cancels our resting orders if the demo dies for this long


class Demo(DemoView):
    def __init__(self, args: argparse.Namespace, console: Console):
        self.args = args
        self.console = console
        self.rng = random.Random(args.seed)
        self.rows: list[Row] = []
        self.by_cid: dict[str, Row] = {}
        self.resting: list[Row] = []  # accepted, open limit orders we may cancel
        self.cancels: dict[str, list[Row]] = {}  # target client order id -> its cancels, in send order
        self.tasks: set[asyncio.Task[None]] = set()
        self.sim: SimExchange | None = None
        self.record: CampaignRecord | None = None
        self.venue_names: list[str] = []
        self.amending: set[str] = set()  # resting orders with an amend not yet resolved
        self.account: AccountScript | None = None  # trades the gateway did not send (gateway/demo_account.py)

    # ------------------------------------------------------------------ commands

    def _follow(self, row: Row) -> None:
        task = asyncio.create_task(self._watch(row))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _watch(self, row: Row) -> None:
        handle = row.handle
        assert handle is not None
        async for event in handle.lifecycle():
            if self.record is not None:
                self.record.observe(handle, event)
            if isinstance(event, RecoveryScheduled):
                row.reconcile = f"scheduled ({event.trigger.value.lower()})"
                self.log(row, f"reconcile scheduled: {event.trigger.value}")
            elif isinstance(event, RecoveryCompleted):
                rep = event.report
                row.reconcile = f"{rep.outcome.value} via {rep.evidence.value}"
                self.log(row, f"reconciled: {rep.outcome.value} via {rep.evidence.value} ({rep.venue_reads} reads)")
                self._resolve(row, handle)
            elif isinstance(event, OrderUpdate):
                row.state = event.order.state.value
                if row.op in ("create", "batch") and event.order.state.is_terminal and row in self.resting:
                    self.resting.remove(row)

    def _resolve(self, row: Row, handle: CommandHandle) -> None:
        current = handle.resolution
        if current is None:
            return
        row.receipt = current
        row.resolved = current.status.value
        if current.order_state is not None and not row.state:
            row.state = current.order_state.value
        if (
            row.op in ("create", "batch")
            and current.status is CommandStatus.ACCEPTED
            and row.instrument
            and (current.order_state in (None, OrderState.NEW, OrderState.PARTIALLY_FILLED))
            and row not in self.resting
            and row.state not in ("FILLED", "CANCELED", "EXPIRED", "REJECTED")
        ):
            self.resting.append(row)

    def _fault_for(self, row: Row) -> str:
        """The fault the venue applied to this command's own write (a cancel's, not its target's)."""
        assert self.record is not None and row.handle is not None
        for attempt in self.record.attempts_of(row.handle):
            if attempt.fault:
                return attempt.fault.lower().replace("_", "-")
        return ""

    async def place(
        self, gw: Gateway, venue: str, instrument: str, *, market: bool, transport: Transport, big: bool = False
    ) -> None:
        assert self.sim is not None
        native, qty, _ = INSTRUMENTS[instrument]
        mark = self.sim.venues[venue].engine.instrument(native).mark_price
        side = self.rng.choice([Side.BUY, Side.SELL])
        price: Decimal | None = None
        if not market:
            away = Decimal(1) - side.sign * Decimal(self.rng.randint(5, 30)) / Decimal(1000)
            tick = self.sim.venues[venue].engine.instrument(native).tick_size
            price = ((mark * away) / tick).quantize(Decimal(1)) * tick
        if big:
            qty = qty * 1000
        cid = gw.new_client_order_id()
        row = Row(len(self.rows) + 1, "create", venue, transport.value.lower(), instrument, cid)
        self.rows.append(row)
        self.by_cid[cid] = row
        request = OrderRequest(
            venue=venue,
            instrument=instrument,
            side=side,
            type=OrderType.MARKET if market else OrderType.LIMIT,
            quantity=qty,
            price=price,
            time_in_force=TimeInForce.IOC if market else TimeInForce.GTC,
            client_order_id=cid,
            transport=transport,
        )
        assert self.record is not None
        handle = await self.record.submit(gw.submit, request, follow=False)
        self._answered(row, handle)

    async def batch(self, gw: Gateway, venue: str, transport: Transport) -> None:
        """Three resting orders in one ``submit_batch`` (each item its own row, judged as a create)."""
        assert self.sim is not None and self.record is not None
        rows, requests = [], []
        for _ in range(3):
            instrument = self.rng.choice(list(INSTRUMENTS))
            native, qty, _ = INSTRUMENTS[instrument]
            inst = self.sim.venues[venue].engine.instrument(native)
            side = self.rng.choice([Side.BUY, Side.SELL])
            away = Decimal(1) - side.sign * Decimal(self.rng.randint(5, 30)) / Decimal(1000)
            price = ((inst.mark_price * away) / inst.tick_size).quantize(Decimal(1)) * inst.tick_size
            cid = gw.new_client_order_id()
            row = Row(len(self.rows) + 1, "batch", venue, transport.value.lower(), instrument, cid)
            self.rows.append(row)
            self.by_cid[cid] = row
            rows.append(row)
            requests.append(
                OrderRequest(venue=venue, instrument=instrument, side=side, type=OrderType.LIMIT, quantity=qty,
                             price=price, client_order_id=cid, transport=transport)
            )  # fmt: skip
        handles = await self.record.submit_batch(gw.submit_batch, requests, follow=False)
        for row, handle in zip(rows, handles, strict=True):
            self._answered(row, handle)

    async def amend(self, gw: Gateway) -> None:
        """Move a resting order a few ticks further from the mark (one amend of an order at a time)."""
        assert self.sim is not None and self.record is not None
        free = [r for r in self.resting if r.command_id not in self.amending]
        if not free:
            return
        target = self.rng.choice(free)
        order = self.sim.venues[target.venue].engine.find(
            self.sim.api_key, INSTRUMENTS[target.instrument][0], client_order_id=target.command_id
        )
        if order is None or not order.is_open or order.price is None:
            return
        tick = self.sim.venues[target.venue].engine.instrument(order.symbol).tick_size
        sign = 1 if order.side == "BUY" else -1
        price = order.price - sign * tick * self.rng.randint(1, 3)
        transport = self.rng.choice([Transport.REST, Transport.WEBSOCKET])
        row = Row(len(self.rows) + 1, "amend", target.venue, transport.value.lower(), target.instrument, "",
                  target=target.command_id)  # fmt: skip
        self.rows.append(row)
        self.amending.add(target.command_id)
        request = AmendRequest(venue=target.venue, instrument=target.instrument, client_order_id=target.command_id,
                               price=price, transport=transport)  # fmt: skip
        handle = await self.record.amend(gw.amend, request)
        row.command_id = handle.command_id
        self._answered(row, handle)
        self._spawn_wait(handle, target.command_id)

    def _spawn_wait(self, handle: CommandHandle, target: str) -> None:
        async def wait() -> None:
            with contextlib.suppress(ResolutionTimeout):
                if (await handle.resolved()).status is not CommandStatus.UNKNOWN_EXECUTION:
                    self.amending.discard(target)

        task = asyncio.create_task(wait())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def cancel(self, gw: Gateway) -> None:
        if not self.resting:
            return
        await self._send_cancel(gw, self.resting.pop(self.rng.randrange(len(self.resting))))

    async def cancel_again(self, gw: Gateway) -> None:
        """Cancel an order a second time, once every earlier cancel of it has resolved."""
        settled = [
            rows
            for rows in self.cancels.values()
            if all(r.handle is not None and r.handle.resolution is not None for r in rows)
            and rows[-1].receipt is not None
            and rows[-1].receipt.status is not CommandStatus.UNKNOWN_EXECUTION
        ]
        if settled:
            await self._send_cancel(gw, self.by_cid[self.rng.choice(settled)[0].target or ""])

    async def _send_cancel(self, gw: Gateway, target: Row) -> None:
        transport = self.rng.choice([Transport.REST, Transport.WEBSOCKET])
        row = Row(
            len(self.rows) + 1,
            "cancel",
            target.venue,
            transport.value.lower(),
            target.instrument,
            "",
            target=target.command_id,
        )
        self.rows.append(row)
        self.cancels.setdefault(target.command_id, []).append(row)
        assert self.record is not None
        handle = await self.record.cancel(
            gw.cancel,
            CancelRequest(
                venue=target.venue, instrument=target.instrument, client_order_id=target.command_id, transport=transport
            ),
        )
        row.command_id = handle.command_id
        self._answered(row, handle)

    def _answered(self, row: Row, handle: CommandHandle) -> None:
        row.handle = handle
        receipt = handle.ack.receipt
        row.ack = receipt.status.value
        row.fault = self._fault_for(row)
        if receipt.order_state is not None:
            row.state = receipt.order_state.value
        note = (
            f" — {one_line(receipt.message)}"
            if receipt.status is not CommandStatus.ACCEPTED and receipt.message
            else ""
        )
        self.log(row, f"ack {receipt.status.value}{note}")
        self._resolve(row, handle) if receipt.status is not CommandStatus.UNKNOWN_EXECUTION else None
        self._follow(row)

    # ------------------------------------------------------------------ truth

    async def verdicts(self, gate: PortfolioGate) -> Verdicts:
        """The strict judge's verdicts (gate included); each row shows its own, and its own fault."""
        assert self.record is not None
        result = self.record.judge(await gate.snapshot())
        for row in self.rows:
            if row.handle is not None:
                row.verdict = result.by_command.get(row.handle.command_id, "")
                row.fault = self._fault_for(row)
        return result

    # ------------------------------------------------------------------ the run

    def scripted_faults(self, gw: Gateway) -> None:
        """Make sure every headline fault kind appears at least once, early in the run."""
        assert self.sim is not None
        plan = [
            Fault(FaultKind.ACCEPT_THEN_TIMEOUT, venue="binance", transport="rest", delay_seconds=2.0),
            Fault(FaultKind.ACCEPT_THEN_5XX, venue="bybit", transport="rest", status=502),
            Fault(FaultKind.UNKNOWN_CODE, venue="binance", code=-1007, executed=True),
            Fault(FaultKind.UNKNOWN_CODE, venue="bybit", code=10016, executed=False),
            Fault(FaultKind.REJECT_THEN_5XX, venue="binance", transport="rest", status=503),
            Fault(FaultKind.WS_DROP, venue="binance", transport="ws", executed=True),
            Fault(FaultKind.DELAYED_VISIBILITY, venue="bybit", delay_seconds=2.0),
            Fault(FaultKind.STREAM_DUPLICATE, venue="bybit", operation="stream"),
            Fault(FaultKind.STREAM_GAP, venue="binance", operation="stream"),
        ]
        for fault in plan:
            self.sim.faults.add(fault)

    async def run(self) -> int:
        args = self.args
        db = Path(args.db) if args.db else Path(tempfile.mkdtemp(prefix="gateway-demo-")) / "journal.db"
        async with SimExchange(seed=args.seed) as sim:
            self.sim = sim
            self.record = CampaignRecord(sim)
            venues = self._venues(sim)
            self.venue_names = [v.name for v in venues]
            self.account = AccountScript(sim)
            self.console.print(self.account.before_start(), highlight=False)  # the gate is seeded with it
            gate = PortfolioGate(
                RiskLimits(max_notional_per_order=MAX_NOTIONAL_PER_ORDER, max_gross_exposure=Decimal("250000"))
            )
            policy = ReconcilePolicy(grace_seconds=3.0, deadline_seconds=25.0, interval_seconds=0.3)
            journal, link = await self._journal(db)
            metrics = True if args.metrics_port is not None else None  # prometheus_client's default registry
            server = None
            async with Gateway(venues=venues, gate=gate, journal=journal, reconcile=policy, metrics=metrics) as gw:
                if metrics:
                    from gateway.metrics_export import MetricsServer

                    server = await MetricsServer(
                        gw.metrics_registry, host=args.metrics_host, port=args.metrics_port
                    ).start()
                    self.console.print(f"metrics: {server.url}", highlight=False)
                self.scripted_faults(gw)
                sim.faults.start_campaign(
                    FaultCampaign(
                        seed=args.seed,
                        probability=args.fault_rate,
                        timeout_hold_seconds=1.5,
                        visibility_delay_seconds=1.5,
                        operations=("create", "cancel", "amend", "batch"),
                    )
                )
                live = None if args.plain else Live(self.table(), console=self.console, refresh_per_second=4)
                with live if live is not None else contextlib.nullcontext():
                    await self._script(gw, live)
                    sim.faults.stop_campaign()
                    sim.faults.clear()
                    self._say(live, "faults stopped; waiting for every command to resolve…")
                    await self._settle(live)
                    await self._flatten(gw, live)
                    result = await self.verdicts(gate)
                    if live is not None:
                        live.update(self.table())
            for task in list(self.tasks):
                task.cancel()
            if server is not None:
                await server.close()
            if link is not None:
                await link.close()
        self._summary(result, db)
        if link is not None:
            self.console.print(
                f"audit stream: {args.nats} gateway {args.gateway_id}  "
                f"(try: gateway replica --nats {args.nats} --gateway-id {args.gateway_id})",
                highlight=False,
            )
        return 0 if result.ok else 1

    async def _journal(self, db: Path) -> tuple[Any, Any]:
        """The journal path, or with ``--nats`` the journal published to JetStream (imports nats only then)."""
        if not self.args.nats:
            return db, None
        from gateway.journal import Journal
        from gateway.replication.link import NatsLink
        from gateway.replication.replicated import ReplicatedJournal

        link = await NatsLink(self.args.nats, self.args.gateway_id).open()
        return ReplicatedJournal(Journal(db), link, intents=self.args.intents), link

    def _venues(self, sim: SimExchange) -> list[Venue]:
        sim.bybit.state.dcp_enabled = True  # what Bybit's account manager does for an account (not self-service)
        venues: list[Venue] = [
            BinanceUsdm(
                sim.api_key,
                sim.api_secret,
                rest_url=sim.binance.rest_url,
                ws_api_url=sim.binance.ws_api_url,
                stream_url=sim.binance.stream_url,
                request_timeout=1.0,
                recv_window_ms=2000,
                dead_mans_switch_seconds=DEAD_MANS_SWITCH_SECONDS,
            )
        ]
        venues.append(
            BybitLinear(
                sim.api_key,
                sim.api_secret,
                rest_url=sim.bybit.rest_url,
                ws_api_url=sim.bybit.ws_api_url,
                stream_url=sim.bybit.stream_url,
                request_timeout=1.0,
                recv_window_ms=2000,
                dead_mans_switch_seconds=DEAD_MANS_SWITCH_SECONDS,
            )
        )
        return venues

    async def _script(self, gw: Gateway, live: Live | None) -> None:
        args = self.args
        assert self.sim is not None
        deadline = time.monotonic() + args.duration
        step = 0
        refusal_at = max(3, int(args.duration / args.interval * 0.25))
        while time.monotonic() < deadline:
            step += 1
            if self.account is not None:
                event = self.account.step(1 - (deadline - time.monotonic()) / args.duration)
                if event is not None:
                    self._say(live, event)
            venue = self.rng.choice(self.venue_names)
            instrument = self.rng.choice(list(INSTRUMENTS))
            transport = self.rng.choice([Transport.REST, Transport.WEBSOCKET])
            roll = self.rng.random()
            if step == refusal_at:
                await self.place(gw, venue, instrument, market=False, transport=transport, big=True)
            elif roll < 0.45:
                await self.place(gw, venue, instrument, market=False, transport=transport)
            elif roll < 0.53:
                await self.batch(gw, venue, transport)
            elif roll < 0.64:
                await self.place(gw, venue, instrument, market=True, transport=transport)
            elif roll < 0.78:
                await self.cancel(gw)
            elif roll < 0.84:
                await self.cancel_again(gw)
            elif roll < 0.93:
                await self.amend(gw)
            else:
                self._move_mark(venue, instrument)
            if live is not None:
                live.update(self.table())
            await asyncio.sleep(args.interval)

    def _move_mark(self, venue: str, instrument: str) -> None:
        """Sweep the mark through resting orders so some fill (and the stream reports it)."""
        assert self.sim is not None
        native = INSTRUMENTS[instrument][0]
        engine = self.sim.venues[venue].engine
        mark = engine.instrument(native).mark_price
        direction = self.rng.choice([-1, 1])
        moved = mark * (Decimal(1) + Decimal(direction) * Decimal("0.012"))
        tick = engine.instrument(native).tick_size
        self.sim.set_mark(native, (moved / tick).quantize(Decimal(1)) * tick, venue)
        self.sim.set_mark(native, mark, venue)  # back to where it was: the sweep filled what it crossed

    async def _settle(self, live: Live | None) -> None:
        """Every command resolved and every handle caught up with the venue, or the deadline."""
        assert self.record is not None
        deadline = time.monotonic() + self.args.settle_timeout
        for row in [r for r in self.rows if r.handle is not None and r.receipt is None]:
            assert row.handle is not None
            with contextlib.suppress(ResolutionTimeout):
                await row.handle.resolved(timeout=max(0.1, deadline - time.monotonic()))
            self._resolve(row, row.handle)
            if live is not None:
                live.update(self.table())
        await self.record.settle(max(0.1, deadline - time.monotonic()))
        for row in self.rows:
            if row.handle is not None:
                self._resolve(row, row.handle)

    async def _flatten(self, gw: Gateway, live: Live | None) -> None:
        """The kill switch at the end: cancel everything and flatten every position, through a lost answer."""
        assert self.sim is not None and self.record is not None
        # One lost answer, the venue having acted: the reconciler proves that cancel-all from evidence.
        self.sim.faults.add(Fault(FaultKind.ACCEPT_THEN_5XX, venue="binance", operation="cancel_all", status=503))
        self._say(live, "kill switch: halt, cancel every open order, flatten every position…")
        handles = await self.record.halt(gw.halt, "demo: flatten", cancel_open_orders=True, close_positions=True)
        for handle in handles:
            op = "cancel-all" if handle.operation is CommandOperation.CANCEL_ALL else "flatten"
            row = Row(len(self.rows) + 1, op, handle.venue, "rest", handle.instrument, handle.command_id)
            self.rows.append(row)
            self._answered(row, handle)
            if live is not None:
                live.update(self.table())
        await self._settle(live)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of scripted trading (default 30)")
    parser.add_argument("--seed", type=int, default=7, help="seed for the script and the fault campaign")
    parser.add_argument("--plain", action="store_true", help="print lines instead of a live table (logs, CI)")
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between commands (default 0.2)")
    parser.add_argument("--fault-rate", type=float, default=0.15, help="share of writes hit by a random fault")
    parser.add_argument("--settle-timeout", type=float, default=45.0, help="max seconds to wait for resolution")
    parser.add_argument("--rows", type=int, default=24, help="rows shown in the live table")
    parser.add_argument("--db", default=None, help="journal file (default: a new temporary file)")
    parser.add_argument("--nats", default=None, help="publish the audit stream to this NATS (the nats extra)")
    parser.add_argument("--gateway-id", default="demo", help="the gateway id the stream is published under")
    parser.add_argument(
        "--intents", choices=["tail", "before_send"], default="tail", help="with --nats: when an intent must be on it"
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve Prometheus /metrics on this port while the demo runs (0: a free one; the metrics extra)",
    )
    parser.add_argument("--metrics-host", default="127.0.0.1", help="interface for --metrics-port")
    parser.add_argument(
        "--failover",
        action="store_true",
        help="embedded nats-server, a primary and a standby process; the primary is SIGKILLed mid-run",
    )


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.CRITICAL)
    console = Console()
    if args.failover:
        from gateway.replication.demo import run_failover

        return asyncio.run(run_failover(args, console))
    return asyncio.run(Demo(args, console).run())
