"""The strict campaign judge fails what it must: each verdict is checked against a hand-made truth.

A judge that cannot fail proves nothing, so every finding kind is produced here on purpose:
a cancel credited with a sibling's effect, a cancel the venue never processed said ACCEPTED,
a stale handle, a create sent twice, two cancels in flight at once (unjudgeable), an
unresolved command, and a gate whose position differs from the venue's fills.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from gateway.model import (
    CancelRequest,
    CommandAck,
    CommandOperation,
    CommandReceipt,
    CommandStatus,
    OrderRequest,
    OrderState,
    OrderType,
    Side,
    TimeInForce,
    Transport,
    utc_now,
)
from venues.sim.engine import WriteAttempt
from venues.sim.judge import CORRECT, STALE, UNJUDGEABLE, UNRESOLVED, WRONG, CampaignRecord


@dataclass
class FakeOrder:
    order_id: str
    status: str
    filled_qty: Decimal = Decimal(0)

    @property
    def is_open(self) -> bool:
        return self.status in ("NEW", "PARTIALLY_FILLED")


@dataclass
class FakeTruth:
    """Ground truth by hand: orders and write attempts per client order id."""

    orders: dict[str, list[FakeOrder]] = field(default_factory=dict)
    writes: list[WriteAttempt] = field(default_factory=list)

    def order(self, cid: str, venue: str | None = None) -> FakeOrder | None:
        found = self.orders.get(cid, [])
        return found[-1] if found else None

    def orders_for(self, cid: str, venue: str | None = None) -> list[FakeOrder]:
        return self.orders.get(cid, [])

    def attempts(self, cid: str | None = None, venue: str | None = None) -> list[WriteAttempt]:
        return [a for a in self.writes if cid is None or a.client_order_id == cid]

    def arrive(self, operation: str, cid: str, *, processed: bool, transport: str = "rest") -> None:
        outcome = ("created" if operation == "create" else "canceled") if processed else "rejected:-2011"
        self.writes.append(
            WriteAttempt(
                venue="binance",
                operation=operation,  # type: ignore[arg-type]
                transport=transport,  # type: ignore[arg-type]
                client_order_id=cid,
                order_id="1",
                processed=processed,
                outcome=outcome,
                fault=None,
                time_ms=0,
            )
        )


@dataclass
class FakeSim:
    truth: FakeTruth = field(default_factory=FakeTruth)
    venues: dict[str, Any] = field(default_factory=dict)
    creates: dict[str, FakeHandle] = field(default_factory=dict)


class FakeHandle:
    """What the judge reads of a CommandHandle: its id, ack and resolution."""

    _n = 0

    def __init__(self, operation: CommandOperation, status: CommandStatus, **receipt: Any) -> None:
        FakeHandle._n += 1
        self.command_id = f"cmd{FakeHandle._n}"
        self.resolution: CommandReceipt | None = None
        ack_receipt = CommandReceipt(
            operation=operation, status=status, venue="binance", instrument="BTC/USDT:USDT", **receipt
        )
        self.ack = CommandAck(receipt=ack_receipt, transport=Transport.REST, acknowledged_at=utc_now())
        if status is not CommandStatus.UNKNOWN_EXECUTION:
            self.resolution = ack_receipt

    def resolve(self, status: CommandStatus, **receipt: Any) -> None:
        self.resolution = self.ack.receipt.model_copy(update={"status": status, **receipt})

    async def resolved(self, timeout: float | None = None) -> CommandReceipt:
        assert self.resolution is not None
        return self.resolution


def create_request(cid: str) -> OrderRequest:
    return OrderRequest(
        venue="binance",
        instrument="BTC/USDT:USDT",
        side=Side.BUY,
        type=OrderType.LIMIT,
        quantity=Decimal("0.001"),
        price=Decimal("40000"),
        time_in_force=TimeInForce.GTC,
        client_order_id=cid,
        transport=Transport.REST,
    )


def cancel_request(cid: str) -> CancelRequest:
    return CancelRequest(venue="binance", instrument="BTC/USDT:USDT", client_order_id=cid, transport=Transport.REST)


async def place(record: CampaignRecord, sim: FakeSim, cid: str, state: str = "NEW") -> FakeHandle:
    handle = FakeHandle(CommandOperation.CREATE_ORDER, CommandStatus.ACCEPTED, order_state=OrderState(state))

    async def submit(_: OrderRequest) -> Any:
        sim.truth.orders.setdefault(cid, []).append(FakeOrder("1", state))
        sim.truth.arrive("create", cid, processed=True)
        return handle

    await record.submit(submit, create_request(cid), follow=False)
    sim.creates[cid] = handle
    return handle


async def cancel(
    record: CampaignRecord, sim: FakeSim, cid: str, status: CommandStatus, *, arrives: bool, processed: bool
) -> FakeHandle:
    handle = FakeHandle(CommandOperation.CANCEL_ORDER, status)

    async def send(_: CancelRequest) -> Any:
        if arrives:
            sim.truth.arrive("cancel", cid, processed=processed)
            if processed:
                sim.truth.orders[cid][-1].status = "CANCELED"
                sim.creates[cid].resolve(CommandStatus.ACCEPTED, order_state=OrderState.CANCELED)
        return handle

    await record.cancel(send, cancel_request(cid))
    return handle


def judged(record: CampaignRecord, handle: FakeHandle) -> str:
    return record.judge().by_command[handle.command_id]


async def test_a_cancel_credited_with_its_siblings_effect_is_wrong() -> None:
    sim = FakeSim()
    record = CampaignRecord(sim)  # type: ignore[arg-type]
    await place(record, sim, "a")
    first = await cancel(record, sim, "a", CommandStatus.ACCEPTED, arrives=True, processed=True)
    # The second cancel reached the venue and was refused (-2011): its answer was lost and the
    # gateway resolved it ACCEPTED because the order shows CANCELED — the first cancel's doing.
    second = await cancel(record, sim, "a", CommandStatus.UNKNOWN_EXECUTION, arrives=True, processed=False)
    second.resolve(CommandStatus.ACCEPTED)
    verdicts = record.judge()
    assert verdicts.by_command[first.command_id] == CORRECT
    assert verdicts.by_command[second.command_id] == WRONG
    assert verdicts.counts["cancels_wrong"] == 1 and not verdicts.ok
    assert [f.category for f in verdicts.findings] == ["wrong"]
    assert "did not cancel it" in verdicts.findings[0].truth


async def test_a_cancel_that_never_reached_the_venue_cannot_be_accepted() -> None:
    sim = FakeSim()
    record = CampaignRecord(sim)  # type: ignore[arg-type]
    await place(record, sim, "b")
    lost = await cancel(record, sim, "b", CommandStatus.UNKNOWN_EXECUTION, arrives=False, processed=False)
    lost.resolve(CommandStatus.ACCEPTED)
    assert judged(record, lost) == WRONG
    lost.resolve(CommandStatus.REJECTED)
    assert judged(record, lost) == CORRECT


async def test_the_rejected_repeat_of_a_cancel_is_correct() -> None:
    sim = FakeSim()
    record = CampaignRecord(sim)  # type: ignore[arg-type]
    await place(record, sim, "c")
    first = await cancel(record, sim, "c", CommandStatus.ACCEPTED, arrives=True, processed=True)
    second = await cancel(record, sim, "c", CommandStatus.REJECTED, arrives=True, processed=False)
    verdicts = record.judge()
    assert verdicts.ok, verdicts.findings
    assert verdicts.by_command[first.command_id] == verdicts.by_command[second.command_id] == CORRECT
    assert verdicts.counts["repeated_cancels"] == 1


async def test_two_cancels_in_flight_at_once_are_unjudgeable_not_passed() -> None:
    sim = FakeSim()
    record = CampaignRecord(sim)  # type: ignore[arg-type]
    await place(record, sim, "d")
    first = await cancel(record, sim, "d", CommandStatus.UNKNOWN_EXECUTION, arrives=True, processed=True)
    second = await cancel(record, sim, "d", CommandStatus.REJECTED, arrives=True, processed=False)
    first.resolve(CommandStatus.ACCEPTED)
    verdicts = record.judge()
    assert verdicts.by_command[second.command_id] == UNJUDGEABLE
    assert verdicts.counts["unjudgeable"] == 2 and not verdicts.ok


async def test_a_stale_handle_and_an_unresolved_command_fail_the_campaign() -> None:
    sim = FakeSim()
    record = CampaignRecord(sim)  # type: ignore[arg-type]
    filled = await place(record, sim, "e")
    sim.truth.orders["e"][-1].status = "FILLED"
    sim.truth.orders["e"][-1].filled_qty = Decimal("0.001")
    assert judged(record, filled) == STALE  # the handle still says NEW, 0 filled
    filled.resolve(CommandStatus.ACCEPTED, order_state=OrderState.FILLED, filled_quantity=Decimal("0.001"))
    assert judged(record, filled) == CORRECT
    pending = await cancel(record, sim, "e", CommandStatus.UNKNOWN_EXECUTION, arrives=True, processed=False)
    assert judged(record, pending) == UNRESOLVED
    assert not record.judge().ok


async def test_a_create_sent_twice_or_duplicated_is_wrong() -> None:
    sim = FakeSim()
    record = CampaignRecord(sim)  # type: ignore[arg-type]
    twice = await place(record, sim, "f")
    sim.truth.arrive("create", "f", processed=False)
    verdicts = record.judge()
    assert verdicts.by_command[twice.command_id] == WRONG and verdicts.counts["sent_twice"] == 1
    sim.truth.orders["f"].append(FakeOrder("2", "NEW"))
    assert record.judge().counts["duplicates"] == 1


async def test_a_create_said_rejected_while_the_order_exists_is_wrong() -> None:
    sim = FakeSim()
    record = CampaignRecord(sim)  # type: ignore[arg-type]
    handle = await place(record, sim, "g")
    handle.resolve(CommandStatus.REJECTED, order_state=None)
    assert judged(record, handle) == WRONG


@dataclass
class Snapshot:
    positions: dict[tuple[str, str], Decimal]
    reservations: dict[str, Decimal]
    quantities: dict[tuple[str, str], Decimal] = field(default_factory=dict)


async def test_a_gate_position_off_the_venues_fills_is_an_exposure_finding(gateway_sim: Any) -> None:
    record = CampaignRecord(gateway_sim)
    assert record.judge(Snapshot({}, {})).ok  # nothing traded, nothing held
    key = ("binance", "BTC/USDT:USDT")
    off = record.judge(Snapshot({key: Decimal("100")}, {}))
    assert off.counts["exposure_mismatches"] == 1 and not off.ok
    assert "flat position" in off.findings[0].truth
    missed = record.judge(Snapshot({key: Decimal("100")}, {}, {key: Decimal("0.002")}))
    assert "venue fills make qty 0" in missed.findings[0].truth


def test_attempts_are_stamped_on_the_monotonic_clock() -> None:
    before = time.monotonic_ns()
    attempt = WriteAttempt("binance", "cancel", "rest", "x", "1", True, "canceled", None, 0)
    assert before <= attempt.arrived_ns <= time.monotonic_ns()


def test_a_gate_position_is_judged_by_quantity_exactly_and_basis_within_the_fill_prices() -> None:
    from venues.sim.exposure import Position as _Position

    position = _Position()
    position.add(Decimal("0.002"), Decimal("50000"))
    position.add(Decimal("-0.001"), Decimal("51000"))
    position.add(Decimal("0.001"), Decimal("49000"))  # net 0.002 at prices 49000..51000
    assert position.disagrees(Decimal("0.002"), Decimal("99")) == ""  # 49.5k average: a valid basis
    assert position.disagrees(Decimal("0.002"), Decimal("-99")) != ""  # wrong sign
    assert position.disagrees(Decimal("0.002"), Decimal("150")) != ""  # a fill counted twice
    assert "qty 0.002" in position.disagrees(Decimal("0.003"), Decimal("150"))
