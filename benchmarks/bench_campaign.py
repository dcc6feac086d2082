"""The fault campaign (issue 13): thousands of commands through one Gateway under faults, judged strictly.

One ``Gateway`` with both venues (Binance and Bybit, REST and WebSocket), the portfolio gate
and the journal on, drives a seeded mix of commands over five instruments against the
simulator (in this process: the judge reads its ground truth and shares its monotonic clock):

- creates: resting LIMIT GTC orders near the mark, crossing LIMIT IOC and MARKET orders that
  fill at once, and now and then one too big for the gate (refused before sending);
- cancels: of open orders, of closed or never-created ones, and repeated cancels of one order,
  each sent only after every earlier cancel of that order has resolved (so the judge can tell
  which write at the venue was whose by time);
- amends (issue 15): a resting order's price moved a few ticks further from the mark, or its
  quantity raised a step, one amend of an order at a time (the next after the last resolved);
- batches (issue 15): three resting orders on one venue in one ``submit_batch``;
- fills: the mark is swept through resting orders and back, and some orders are partly filled;
- faults: a seeded ``FaultCampaign`` over every write fault kind but rate limits, on creates,
  cancels, amends and batches (a lost batch answer after some of its items ran, too) (drawn at
  random, a 1 s ban would refuse every write for most of the run), plus scripted rate limits,
  stream duplicates, reorderings and gaps at fixed intervals. Like a well-behaved strategy, the
  campaign sends nothing to a venue that answered "retry after N s" until then (the gateway
  would refuse it anyway, before sending). The simulator's Binance IP weight limit is lifted
  (see ``run_campaign``): at this rate the real one would ban the IP for minutes.

Up to ``in_flight`` commands await their ack at once. When all are answered, the faults stop,
``CampaignRecord.settle`` waits for every command to resolve and every handle to catch up,
the gateway closes (its gate bookkeeping drained), and ``CampaignRecord.judge`` compares every
command and the gate's positions with the venue. Any wrong, stale, unresolved, unjudgeable,
duplicate, twice-sent or exposure finding fails the run (``CampaignFailed``), printing the first
findings. ``python -m benchmarks.bench_campaign --commands 2000`` runs it alone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any, Literal

from gateway.core import Gateway
from gateway.handle import CommandHandle, ResolutionTimeout
from gateway.model import (
    AmendRequest,
    CancelRequest,
    CommandStatus,
    OrderRequest,
    OrderType,
    Side,
    TimeInForce,
    Transport,
)
from reconcile import ReconcilePolicy
from risk import PortfolioGate, RiskLimits
from venues.base import Venue
from venues.binance import BinanceUsdm
from venues.bybit import BybitLinear
from venues.sim import Fault, FaultCampaign, FaultKind, SimExchange
from venues.sim.engine import SimOrder
from venues.sim.faults import CAMPAIGN_KINDS
from venues.sim.judge import CampaignRecord, Verdicts

__all__ = ["CampaignFailed", "Settings", "main", "run_campaign"]

VENUES: tuple[Literal["binance", "bybit"], ...] = ("binance", "bybit")
N_INSTRUMENTS = 5
ORDER_NOTIONAL = Decimal("50")  # quote currency per ordinary order; the gate refuses above the cap
MAX_NOTIONAL_PER_ORDER = Decimal("2000")
# Drawn at random on writes: every write kind but RATE_LIMIT (scripted instead, see the module doc).
RANDOM_WRITE_KINDS: tuple[FaultKind, ...] = (*CAMPAIGN_KINDS, FaultKind.REJECT_CODE)
WRITE_KINDS = frozenset(k for k in FaultKind if not k.is_stream)
STREAM_KINDS = (FaultKind.STREAM_DUPLICATE, FaultKind.STREAM_OUT_OF_ORDER, FaultKind.STREAM_GAP)
# Judge counts that make a campaign fail, as the results name them.
JUDGE_COUNTS = {
    "creates_wrong": "wrong creates",
    "cancels_wrong": "wrong cancels",
    "amends_wrong": "wrong amends",
    "stale_handles": "stale handles",
    "unresolved": "unresolved",
    "unjudgeable": "unjudgeable",
    "duplicates": "duplicates",
    "sent_twice": "sent twice",
    "exposure_mismatches": "exposure mismatches",
}
SHOWN_FINDINGS = 8  # per category, so one common kind does not hide the others


@dataclass(frozen=True)
class Settings:
    commands: int = 10_000
    seed: int = 13
    in_flight: int = 16
    fault_rate: float = 0.2  # share of writes a random fault hits
    mark_every: int = 12  # commands between two mark sweeps
    stream_fault_every: int = 25  # commands between two scripted stream faults (every 4th a gap)
    rate_limit_every: int = 400  # commands between two scripted rate limits
    settle_timeout: float = 60.0  # the reconcile deadline (30 s) and then some
    request_timeout: float = 1.0
    recv_window_ms: int = 2000
    policy: ReconcilePolicy = field(
        default_factory=lambda: ReconcilePolicy(grace_seconds=3.0, deadline_seconds=30.0, interval_seconds=0.3)
    )


class CampaignFailed(AssertionError):
    """The judge did not pass the campaign; ``results`` holds every figure and the first findings."""

    def __init__(self, message: str, results: dict[str, Any]):
        super().__init__(message)
        self.results = results


@dataclass
class Instrument:
    unified: str
    native: str
    quantity: Decimal
    tick: Decimal
    step: Decimal


@dataclass
class Target:
    """A create the campaign may cancel, and the state of its cancels."""

    venue: str
    instrument: Instrument
    cid: str
    cancels: int = 0
    busy: bool = False  # a cancel of it is in flight or not yet resolved
    stuck: bool = False  # a cancel of it never resolved: no further cancel could be judged
    resting: bool = False  # a GTC limit order away from the mark: one an amend may change
    price: Decimal | None = None
    side: Side = Side.BUY
    amending: bool = False  # an amend of it is in flight or not yet resolved (one at a time)


@dataclass
class Tally:
    kinds: Counter[str] = field(default_factory=Counter)
    mark_sweeps: int = 0
    partial_fills: int = 0
    scripted: Counter[str] = field(default_factory=Counter)


def _down(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


class Campaign:
    """Chooses and sends the commands (module doc); the record judges them."""

    def __init__(self, sim: SimExchange, gw: Gateway, settings: Settings) -> None:
        self.sim = sim
        self.gw = gw
        self.settings = settings
        self.rng = random.Random(settings.seed)
        self.record = CampaignRecord(sim)
        self.instruments = self._instruments()
        self.targets: list[Target] = []
        self.repeatable: list[Target] = []  # targets whose every cancel has resolved
        self.tally = Tally()
        self.tasks: set[asyncio.Task[None]] = set()  # commands awaiting their ack
        self.watchers: set[asyncio.Task[None]] = set()  # cancels awaiting their resolution
        self.errors: list[str] = []
        self.transports = itertools.cycle([Transport.REST, Transport.WEBSOCKET, Transport.REST, Transport.AUTO])
        # As a strategy should: a venue that answered "rate-limited, retry after N s" gets no
        # command until then (the gateway refuses them anyway, before sending; see _honour_wait).
        self.resume_at: dict[str, float] = {}

    def _instruments(self) -> list[Instrument]:
        """The first five instruments both simulated venues list (the simulator's own filters)."""
        engines = [self.sim.venues[name].engine for name in VENUES]
        common = [s for s in engines[0].instruments if all(s in e.instruments for e in engines[1:])]
        if len(common) < N_INSTRUMENTS:
            print(f"campaign: the simulator lists only {len(common)} instruments on both venues", flush=True)
        out = []
        for symbol in common[:N_INSTRUMENTS]:
            inst = engines[0].instrument(symbol)
            qty = max(inst.min_qty, _down(ORDER_NOTIONAL / inst.mark_price, inst.step_size))
            out.append(Instrument(inst.unified, symbol, qty, inst.tick_size, inst.step_size))
        return out

    # ------------------------------------------------------------------ the run

    async def run(self) -> None:
        settings = self.settings
        slots = asyncio.Semaphore(settings.in_flight)
        for i in range(settings.commands):
            await slots.acquire()
            if i % settings.mark_every == settings.mark_every - 1:
                self._sweep_mark()
            if i % settings.stream_fault_every == 0:
                self._script_stream_fault(i // settings.stream_fault_every)
            if i % settings.rate_limit_every == 50 % settings.rate_limit_every:  # the first one early, for short runs
                self._script_rate_limit()
            self._spawn(self.tasks, self._one(slots))
        await asyncio.gather(*list(self.tasks))
        for task in list(self.watchers):  # no command follows: nothing needs them any more
            task.cancel()
        await asyncio.gather(*list(self.watchers), return_exceptions=True)

    @staticmethod
    def _spawn(tasks: set[asyncio.Task[None]], coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def _one(self, slots: asyncio.Semaphore) -> None:
        """Choose one command now (so the choice sees every earlier one) and send it."""
        try:
            roll = self.rng.random()
            repeatable = [t for t in self.repeatable if self._open_for(t.venue)]
            if roll < 0.12 and repeatable:
                target = self.rng.choice(repeatable)
                self.repeatable.remove(target)
                await self._cancel(target, "repeat_cancel")
            elif roll < 0.42 and (target := self._first_cancel_target()) is not None:
                await self._cancel(target, "cancel")
            elif roll < 0.50 and (target := self._amend_target()) is not None:
                await self._amend(target)
            elif roll < 0.56:
                await self._batch()
            else:
                await self._create()
        except Exception as exc:  # a caller mistake the gateway raised: the campaign's own bug
            self.errors.append(f"{exc.__class__.__name__}: {exc}")
        finally:
            slots.release()

    # ------------------------------------------------------------------ creates

    def _open_for(self, venue: str) -> bool:
        return self.resume_at.get(venue, 0.0) <= time.monotonic()

    def _honour_wait(self, venue: str, handle: CommandHandle) -> None:
        receipt = handle.ack.receipt
        if receipt.status is CommandStatus.REJECTED and receipt.retriable and receipt.retry_after:
            self.tally.kinds["rate_limit_waits"] += 1
            self.resume_at[venue] = max(self.resume_at.get(venue, 0.0), time.monotonic() + receipt.retry_after)

    async def _create(self) -> None:
        venues = [v for v in VENUES if self._open_for(v)]
        if not venues:  # every venue asked us to wait: wait for the first to take requests again
            await asyncio.sleep(max(0.0, min(self.resume_at.values()) - time.monotonic()))
            venues = [v for v in VENUES if self._open_for(v)] or list(VENUES)
        venue = self.rng.choice(venues)
        inst = self.rng.choice(self.instruments)
        engine = self.sim.venues[venue].engine
        mark = engine.instrument(inst.native).mark_price
        side = self.rng.choice([Side.BUY, Side.SELL])
        roll = self.rng.random()
        qty, price, order_type, tif = inst.quantity, None, OrderType.LIMIT, TimeInForce.GTC
        if roll < 0.01:
            kind = "create_too_big"  # the gate refuses it
            qty = _down(inst.quantity * 100, inst.step)
            price = self._price(mark, side, inst, away_bp=self.rng.randint(20, 200))
        elif roll < 0.12:
            kind, order_type, tif = "create_market", OrderType.MARKET, TimeInForce.IOC
        elif roll < 0.27:
            kind, tif = "create_taker", TimeInForce.IOC  # crosses the mark: fills at once as taker
            price = self._price(mark, side, inst, away_bp=-100)
        else:
            kind = "create_resting"
            price = self._price(mark, side, inst, away_bp=self.rng.randint(5, 150))
        cid = self.gw.new_client_order_id()
        request = OrderRequest(
            venue=venue,
            instrument=inst.unified,
            side=side,
            type=order_type,
            quantity=qty,
            price=price,
            time_in_force=tif,
            client_order_id=cid,
            transport=next(self.transports),
        )
        self.tally.kinds[kind] += 1
        handle = await self.record.submit(self.gw.submit, request)
        self._honour_wait(venue, handle)
        self.targets.append(Target(venue, inst, cid, resting=kind == "create_resting", price=price, side=side))

    # ------------------------------------------------------------------ batches and amends

    async def _batch(self) -> None:
        """Three resting orders on one venue in one ``submit_batch`` (Binance over WS: one by one)."""
        venues = [v for v in VENUES if self._open_for(v)] or list(VENUES)
        venue = self.rng.choice(venues)
        transport = self.rng.choice([Transport.REST, Transport.AUTO, Transport.WEBSOCKET])
        requests, targets = [], []
        for _ in range(3):
            inst = self.rng.choice(self.instruments)
            mark = self.sim.venues[venue].engine.instrument(inst.native).mark_price
            side = self.rng.choice([Side.BUY, Side.SELL])
            price = self._price(mark, side, inst, away_bp=self.rng.randint(5, 150))
            cid = self.gw.new_client_order_id()
            requests.append(
                OrderRequest(venue=venue, instrument=inst.unified, side=side, type=OrderType.LIMIT,
                             quantity=inst.quantity, price=price, client_order_id=cid, transport=transport)
            )  # fmt: skip
            targets.append(Target(venue, inst, cid, resting=True, price=price, side=side))
        self.tally.kinds["batch"] += 1
        self.tally.kinds["batch_items"] += len(requests)
        handles = await self.record.submit_batch(self.gw.submit_batch, requests)
        for handle in handles:
            self._honour_wait(venue, handle)
        self.targets.extend(targets)

    def _amend_target(self) -> Target | None:
        """A resting order open at the venue, not being amended: its next amend waits for the last to resolve."""
        fresh = [t for t in self.targets[-300:] if t.resting and not t.amending and self._open_for(t.venue)]
        open_ = [t for t in fresh if (o := self._venue_order(t)) is not None and o.is_open]
        return self.rng.choice(open_) if open_ else None

    async def _amend(self, target: Target) -> None:
        """Move the price a few ticks further from the mark, or add a step to the quantity (never a no-op)."""
        assert target.price is not None
        inst = target.instrument
        target.amending = True
        if self.rng.random() < 0.5:
            target.price = max(inst.tick, target.price - target.side.sign * inst.tick * self.rng.randint(1, 5))
            request = AmendRequest(venue=target.venue, instrument=inst.unified, client_order_id=target.cid,
                                   price=target.price, transport=next(self.transports))  # fmt: skip
        else:
            order = self._venue_order(target)
            quantity = (order.qty if order is not None else inst.quantity) + inst.step
            request = AmendRequest(venue=target.venue, instrument=inst.unified, client_order_id=target.cid,
                                   quantity=quantity, transport=next(self.transports))  # fmt: skip
        self.tally.kinds["amend"] += 1
        handle = await self.record.amend(self.gw.amend, request)
        self._honour_wait(target.venue, handle)
        self._spawn(self.watchers, self._after_amend(target, handle))

    async def _after_amend(self, target: Target, handle: CommandHandle) -> None:
        try:
            receipt = await handle.resolved(timeout=self.settings.policy.deadline_seconds + 10)
        except ResolutionTimeout:
            return  # stays "amending": no second amend could be told apart from this one
        if receipt.status is not CommandStatus.UNKNOWN_EXECUTION:
            order = self._venue_order(target)
            if order is not None and order.price is not None:
                target.price = order.price  # the next amend starts from what the venue shows
            target.amending = False

    @staticmethod
    def _price(mark: Decimal, side: Side, inst: Instrument, *, away_bp: int) -> Decimal:
        """``away_bp`` basis points on the passive side of the mark (negative: through it)."""
        raw = mark * (Decimal(1) - side.sign * Decimal(away_bp) / Decimal(10_000))
        return max(inst.tick, _down(raw, inst.tick))

    # ------------------------------------------------------------------ cancels

    def _first_cancel_target(self) -> Target | None:
        """Mostly an order open at the venue; sometimes any create (closed, refused or never made)."""
        fresh = [t for t in self.targets[-400:] if not t.cancels and not t.busy and self._open_for(t.venue)]
        if not fresh:
            return None
        if self.rng.random() < 0.85:
            open_ = [t for t in fresh if (o := self._venue_order(t)) is not None and o.is_open]
            if open_:
                return self.rng.choice(open_)
        return self.rng.choice(fresh)

    def _venue_order(self, target: Target) -> SimOrder | None:
        # A direct lookup: ground truth's order() walks every order, too slow to call per choice.
        engine = self.sim.venues[target.venue].engine
        return engine.find(
            self.sim.api_key, target.instrument.native, client_order_id=target.cid, respect_visibility=False
        )

    async def _cancel(self, target: Target, kind: str) -> None:
        target.busy = True
        target.cancels += 1
        self.tally.kinds[kind] += 1
        request = CancelRequest(
            venue=target.venue,
            instrument=target.instrument.unified,
            client_order_id=target.cid,
            transport=next(self.transports),
        )
        try:
            handle = await self.record.cancel(self.gw.cancel, request)
        except BaseException:
            target.stuck = True
            raise
        self._honour_wait(target.venue, handle)
        self._spawn(self.watchers, self._after_cancel(target, handle))

    async def _after_cancel(self, target: Target, handle: CommandHandle) -> None:
        """Free the target for another cancel once this one has resolved (never while unknown)."""
        try:
            receipt = await handle.resolved(timeout=self.settings.policy.deadline_seconds + 10)
        except ResolutionTimeout:
            target.stuck = True
            return
        if receipt.status is CommandStatus.UNKNOWN_EXECUTION:
            target.stuck = True
            return
        target.busy = False
        # Mostly one repeat; a few targets get a third or fourth cancel.
        if target.cancels == 1 or self.rng.random() < 0.3:
            self.repeatable.append(target)

    # ------------------------------------------------------------------ market and scripted faults

    def _sweep_mark(self) -> None:
        """Move one mark through resting orders and back (they fill); now and then part-fill one order."""
        venue = self.rng.choice(VENUES)
        inst = self.rng.choice(self.instruments)
        engine = self.sim.venues[venue].engine
        mark = engine.instrument(inst.native).mark_price
        move = Decimal(self.rng.choice([-1, 1]) * self.rng.randint(10, 120)) / Decimal(10_000)
        self.sim.set_mark(inst.native, _down(mark * (1 + move), inst.tick), venue)
        self.sim.set_mark(inst.native, mark, venue)
        self.tally.mark_sweeps += 1
        if self.rng.random() < 0.4:
            resting = [o for o in engine.orders.values() if o.is_open and o.symbol == inst.native]
            if resting:
                order = self.rng.choice(resting)
                part = _down((order.qty - order.filled_qty) / 2, inst.step)
                if part > 0:
                    engine.fill(order.order_id, part)
                    self.tally.partial_fills += 1

    def _script_stream_fault(self, n: int) -> None:
        kind = FaultKind.STREAM_GAP if n % 4 == 3 else STREAM_KINDS[n % 2]
        self.sim.faults.add(Fault(kind, venue=VENUES[(n // 4) % 2], operation="stream"))
        self.tally.scripted[kind.value] += 1

    def _script_rate_limit(self) -> None:
        venue = self.rng.choice(VENUES)
        operation: Literal["create", "cancel"] = self.rng.choice(["create", "cancel"])
        self.sim.faults.add(
            Fault(FaultKind.RATE_LIMIT, venue=venue, operation=operation, retry_after_seconds=0.5, status=429)
        )
        self.tally.scripted[FaultKind.RATE_LIMIT.value] += 1


def _venues(sim: SimExchange, settings: Settings) -> list[Venue]:
    common: dict[str, Any] = dict(request_timeout=settings.request_timeout, recv_window_ms=settings.recv_window_ms)
    return [
        BinanceUsdm(
            sim.api_key,
            sim.api_secret,
            rest_url=sim.binance.rest_url,
            ws_api_url=sim.binance.ws_api_url,
            stream_url=sim.binance.stream_url,
            **common,
        ),
        BybitLinear(
            sim.api_key,
            sim.api_secret,
            rest_url=sim.bybit.rest_url,
            ws_api_url=sim.bybit.ws_api_url,
            stream_url=sim.bybit.stream_url,
            **common,
        ),
    ]


async def _ws_ready(venues: list[Venue], timeout: float = 10.0) -> None:
    """Wait (bounded) for both order-entry sockets, so WEBSOCKET commands really go out on one."""
    deadline = time.monotonic() + timeout
    while any(v.transport_for(Transport.AUTO) is not Transport.WEBSOCKET for v in venues):
        if time.monotonic() > deadline:
            raise RuntimeError("the WebSocket order-entry sockets did not connect")
        await asyncio.sleep(0.05)


async def run_campaign(settings: Settings) -> dict[str, Any]:
    """Run one campaign and return its figures; raise ``CampaignFailed`` if the judge does not pass it."""
    journal = Path(tempfile.mkdtemp(prefix="bench-campaign-")) / "journal.db"
    gate = PortfolioGate(
        RiskLimits(max_notional_per_order=MAX_NOTIONAL_PER_ORDER, max_gross_exposure=Decimal("10000000"))
    )
    async with SimExchange(seed=settings.seed) as sim:
        # ~600 commands/s plus their reads is ~15x Binance's default IP weight (2,400/min): the
        # venue would ban the IP for minutes, and the gateway, honouring the ban (tested in
        # tests/unit/test_rate_limit_ban.py), could then neither send nor reconcile: the run would
        # judge nothing but that. Rate limits are scripted instead (short waits, _script_rate_limit).
        sim.binance.state.weight_limit = 1_000_000
        venues = _venues(sim, settings)
        gw = Gateway(venues=venues, gate=gate, journal=journal, reconcile=settings.policy)
        await gw.start()
        try:
            await _ws_ready(venues)
            campaign = Campaign(sim, gw, settings)
            sim.faults.start_campaign(
                FaultCampaign(
                    seed=settings.seed,
                    probability=settings.fault_rate,
                    kinds=RANDOM_WRITE_KINDS,
                    timeout_hold_seconds=settings.request_timeout + 0.5,
                    visibility_delay_seconds=1.5,
                    operations=("create", "cancel", "amend", "batch"),
                )
            )
            started = time.perf_counter()
            await campaign.run()
            sent_s = time.perf_counter() - started
            sim.faults.stop_campaign()
            sim.faults.clear()
            await campaign.record.settle(settings.settle_timeout)
            settled_s = time.perf_counter() - started
        finally:
            await gw.close()  # drains the gate's bookkeeping before its snapshot is read
        verdicts = campaign.record.judge(await gate.snapshot())
        await campaign.record.close()
        results = _results(campaign, sim, verdicts, settings, sent_s, settled_s, gw.parse_errors)
    _print(results)
    missing = results["fault_kinds_missing"]
    if not verdicts.ok or campaign.errors or missing:
        reasons = [f"{label} {verdicts.counts[key]}" for key, label in JUDGE_COUNTS.items() if verdicts.counts[key]]
        reasons += [f"campaign errors {len(campaign.errors)}"] if campaign.errors else []
        reasons += [f"fault kinds never applied {missing}"] if missing else []
        raise CampaignFailed("fault campaign failed: " + ", ".join(reasons), results)
    return results


def _results(
    campaign: Campaign,
    sim: SimExchange,
    verdicts: Verdicts,
    settings: Settings,
    sent_s: float,
    settled_s: float,
    parse_errors: int,
) -> dict[str, Any]:
    commands = campaign.record.commands
    counts = verdicts.counts
    applied = Counter(fault.kind.value for fault, _ in sim.faults.applied)
    on_writes = sum(n for kind, n in applied.items() if not FaultKind(kind).is_stream)
    unknown = sum(c.handle.ack.receipt.status is CommandStatus.UNKNOWN_EXECUTION for c in commands)
    transports = Counter(f"{c.venue}/{c.wire_transport}" for c in commands)
    missing = sorted(k.value for k in FaultKind if not applied.get(k.value))
    return {
        "commands": counts["commands"],
        "creates": counts["creates"],
        "cancels": counts["cancels"],
        "amends": counts["amends"],
        "batch_items": campaign.tally.kinds["batch_items"],
        "repeated_cancels": counts["repeated_cancels"],
        "command_kinds": dict(sorted(campaign.tally.kinds.items())),
        "by_venue_transport": dict(sorted(transports.items())),
        "instruments": [i.unified for i in campaign.instruments],
        "mark_sweeps": campaign.tally.mark_sweeps,
        "partial_fills": campaign.tally.partial_fills,
        "faults_applied": dict(sorted(applied.items())),
        "faults_on_writes": on_writes,
        "faults_by_operation": dict(sorted(Counter(f.operation for f, _ in sim.faults.applied).items())),
        "fault_kinds_missing": missing,
        "unknown_acks": unknown,
        "stream_parse_errors": parse_errors,
        "judge": {
            "creates_correct": counts["creates_correct"],
            "cancels_correct": counts["cancels_correct"],
            "cancels_accepted": counts["cancels_accepted"],
            "amends_correct": counts["amends_correct"],
            **{key: counts[key] for key in JUDGE_COUNTS},
        },
        "ok": verdicts.ok and not campaign.errors and not missing,
        "findings": _first_findings(verdicts),
        "findings_total": len(verdicts.findings),
        "campaign_errors": campaign.errors[:SHOWN_FINDINGS],
        "send_wall_s": round(sent_s, 2),
        "wall_s": round(settled_s, 2),
        "commands_per_s": round(counts["commands"] / sent_s, 1) if sent_s else 0.0,
        "seed": settings.seed,
        "in_flight": settings.in_flight,
        "fault_rate": settings.fault_rate,
    }


def _first_findings(verdicts: Verdicts) -> list[str]:
    shown: Counter[str] = Counter()
    out = []
    for finding in verdicts.findings:
        shown[finding.category] += 1
        if shown[finding.category] <= SHOWN_FINDINGS:
            out.append(finding.line())
    return out


def _print(results: dict[str, Any]) -> None:
    judge = results["judge"]
    print(
        f"campaign: {results['commands']} commands ({results['creates']} creates, {results['batch_items']} of them "
        f"in batches, {results['amends']} amends, {results['cancels']} cancels, "
        f"{results['repeated_cancels']} repeated) on {len(results['instruments'])} instruments, "
        f"{results['mark_sweeps']} mark sweeps, {results['partial_fills']} partial fills; "
        f"{results['faults_on_writes']} write faults, {results['unknown_acks']} unknown acks; "
        f"sent in {results['send_wall_s']} s ({results['commands_per_s']}/s, {results['in_flight']} in flight), "
        f"settled at {results['wall_s']} s",
        flush=True,
    )
    print("  faults applied: " + ", ".join(f"{k}={v}" for k, v in results["faults_applied"].items()))
    print("  judge: " + ", ".join(f"{k}={v}" for k, v in judge.items()))
    if results["fault_kinds_missing"]:
        print(f"  fault kinds never applied: {results['fault_kinds_missing']}")
    for line in results["campaign_errors"]:
        print(f"  campaign error: {line}")
    if results["findings"]:
        print(f"  first {len(results['findings'])} of {results['findings_total']} findings:")
        for line in results["findings"]:
            print(f"    {line}")


async def main(quick: bool = False) -> dict[str, Any]:
    """The ``make bench`` entry: 10,000 commands (``--quick``: 2,000)."""
    return await run_campaign(Settings(commands=2_000 if quick else 10_000))


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_campaign", description=__doc__.split("\n")[0])
    parser.add_argument("--commands", type=int, default=None, help="commands to send (default 10000)")
    parser.add_argument("--quick", action="store_true", help="a smoke run of 2000 commands")
    parser.add_argument("--seed", type=int, default=Settings.seed)
    parser.add_argument("--in-flight", type=int, default=Settings.in_flight, help="commands awaiting their ack at once")
    parser.add_argument("--fault-rate", type=float, default=Settings.fault_rate)
    parser.add_argument("--settle-timeout", type=float, default=Settings.settle_timeout)
    parser.add_argument("--json", default="", help="also write the results to this file")
    args = parser.parse_args(argv)
    commands = args.commands if args.commands is not None else (2_000 if args.quick else 10_000)
    settings = Settings(
        commands=commands,
        seed=args.seed,
        in_flight=args.in_flight,
        fault_rate=args.fault_rate,
        settle_timeout=args.settle_timeout,
    )
    logging.basicConfig(level=logging.CRITICAL)
    failed: CampaignFailed | None = None
    try:
        results = asyncio.run(run_campaign(settings))
    except CampaignFailed as exc:
        failed, results = exc, exc.results
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    if failed is not None:
        print(f"FAILED: {failed}", file=sys.stderr)
        return 1
    print("OK: every command and the gate match the venue's ground truth")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        raise SystemExit(cli())
