"""Both adapters' cancel-all and dead-man's switch against the simulator over loopback (no Gateway)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.model import (
    CancelAllRequest,
    CommandOperation,
    CommandStatus,
    OrderRequest,
    OrderType,
    Side,
    Transport,
)
from gateway.safety import ACCOUNT_SCOPE, SwitchState
from tests.safety.conftest import BTC, ETH, VENUES, SafetySink, make_adapter, wait_until
from venues.adapter_base import AdapterBase
from venues.base import InvalidOrderError
from venues.bybit import BybitLinear
from venues.sim import Fault, SimExchange
from venues.sim.faults import FaultKind


def limit(venue: str, cid: str, instrument: str = BTC, price: str = "49000") -> OrderRequest:
    return OrderRequest(
        venue=venue, instrument=instrument, side=Side.BUY, type=OrderType.LIMIT, quantity=Decimal("0.01"),
        price=Decimal(price), client_order_id=cid, transport=Transport.REST,
    )  # fmt: skip


def open_cids(sim: SimExchange, venue: str) -> set[str]:
    return {o.client_order_id for o in sim.truth.orders(venue) if o.is_open}


async def started(sim: SimExchange, venue: str, sink: SafetySink, **kw: object) -> AdapterBase:
    adapter = make_adapter(sim, venue, request_timeout=1.0, **kw)
    await adapter.start(sink)
    return adapter


@pytest.mark.parametrize("venue", VENUES)
async def test_cancel_all_accepted_per_instrument(sim: SimExchange, venue: str) -> None:
    adapter = await started(sim, venue, SafetySink())
    try:
        for cid in ("k-1", "k-2"):
            assert (await adapter.submit(limit(venue, cid))).status is CommandStatus.ACCEPTED
        assert (await adapter.submit(limit(venue, "k-3", ETH, "2900"))).status is CommandStatus.ACCEPTED
        assert adapter.traded_instruments() == [BTC, ETH]
        receipt = await adapter.cancel_all(CancelAllRequest(venue=venue, instruments=(BTC,)), "ca-1")
        assert (receipt.status, receipt.operation, receipt.instrument) == (
            CommandStatus.ACCEPTED, CommandOperation.CANCEL_ALL, BTC,
        )  # fmt: skip
        assert (receipt.request_id, receipt.transport) == ("ca-1", Transport.REST)
        assert open_cids(sim, venue) == {"k-3"}
        nothing = await adapter.cancel_all(CancelAllRequest(venue=venue, instruments=(BTC,)), "ca-2")
        assert nothing.status is CommandStatus.ACCEPTED  # nothing open: accepted all the same
        both = await adapter.cancel_all(CancelAllRequest(venue=venue, instruments=(BTC, ETH)), "ca-3")
        assert (both.status, both.instrument) == (CommandStatus.ACCEPTED, "*")
        assert open_cids(sim, venue) == set()
        over_ws = CancelAllRequest(venue=venue, instruments=(BTC,), transport=Transport.WEBSOCKET)
        with pytest.raises(InvalidOrderError, match="WebSocket"):
            adapter.validate_cancel_all(over_ws)
    finally:
        await adapter.close()


@pytest.mark.parametrize("venue", VENUES)
@pytest.mark.parametrize(
    ("fault", "status", "executes"),
    [
        (Fault(FaultKind.ACCEPT_THEN_5XX, operation="cancel_all"), CommandStatus.UNKNOWN_EXECUTION, True),
        (Fault(FaultKind.REJECT_THEN_5XX, operation="cancel_all"), CommandStatus.UNKNOWN_EXECUTION, False),
        (Fault(FaultKind.ACCEPT_THEN_RESET, operation="cancel_all"), CommandStatus.UNKNOWN_EXECUTION, True),
        (Fault(FaultKind.MALFORMED_2XX, operation="cancel_all"), CommandStatus.UNKNOWN_EXECUTION, True),
        (Fault(FaultKind.REJECT_CODE, operation="cancel_all"), CommandStatus.REJECTED, False),
    ],
)
async def test_cancel_all_answers_classified(
    sim: SimExchange, venue: str, fault: Fault, status: CommandStatus, executes: bool
) -> None:
    adapter = await started(sim, venue, SafetySink())
    try:
        await adapter.submit(limit(venue, "f-1"))
        sim.faults.add(fault)
        receipt = await adapter.cancel_all(CancelAllRequest(venue=venue, instruments=(BTC,)), "ca-f")
        assert receipt.status is status, receipt
        assert open_cids(sim, venue) == (set() if executes else {"f-1"})
        assert receipt.safe_to_resubmit is (status is CommandStatus.REJECTED)
    finally:
        await adapter.close()


@pytest.mark.parametrize("venue", VENUES)
async def test_cancel_all_one_instrument_lost_is_unknown_for_the_command(sim: SimExchange, venue: str) -> None:
    adapter = await started(sim, venue, SafetySink())
    try:
        await adapter.submit(limit(venue, "m-1"))
        await adapter.submit(limit(venue, "m-2", ETH, "2900"))
        sim.faults.add(Fault(FaultKind.REJECT_THEN_5XX, operation="cancel_all", symbol="ETHUSDT"))
        receipt = await adapter.cancel_all(CancelAllRequest(venue=venue, instruments=(BTC, ETH)), "ca-m")
        assert receipt.status is CommandStatus.UNKNOWN_EXECUTION and receipt.retriable
        assert f"{BTC}: canceled" in receipt.message and ETH in receipt.message
        assert open_cids(sim, venue) == {"m-2"}
    finally:
        await adapter.close()


async def test_binance_switch_armed_before_the_first_order_heartbeated_and_disarmed(sim: SimExchange) -> None:
    sink = SafetySink()
    adapter = await started(sim, "binance", sink, dead_mans_switch_seconds=3)
    dialect = sim.binance.state.dialect
    assert dialect is not None
    switches = dialect.switches
    try:
        assert switches.countdowns.armed() == []  # nothing traded yet: nothing armed
        await adapter.submit(limit("binance", "s-1"))
        (arm, *_) = switches.log.of("arm")
        create = next(a for a in sim.truth.attempts("s-1"))
        assert arm.arrived_ns < create.arrived_ns and arm.seconds == 3  # armed before the order was sent
        assert sink.states() == [(BTC, SwitchState.ARMED)]
        await adapter.submit(limit("binance", "s-2"))
        assert len(switches.log.of("arm")) == 1  # armed once per instrument
        await wait_until(lambda: len(switches.log.of("arm")) >= 3)  # heartbeats every second
        assert switches.countdowns.deadline(sim.api_key, "BTCUSDT") is not None
    finally:
        await adapter.close()
    assert switches.countdowns.armed() == [] and switches.log.events[-1].kind == "disarm"
    assert sink.states()[-1] == (BTC, SwitchState.DISARMED)
    assert open_cids(sim, "binance") == {"s-1", "s-2"}  # a clean close leaves the orders resting


async def test_binance_order_not_sent_when_its_switch_cannot_be_armed(sim: SimExchange) -> None:
    sink = SafetySink()
    adapter = await started(sim, "binance", sink, dead_mans_switch_seconds=3)
    try:
        sim.faults.add(Fault(FaultKind.REJECT_CODE, venue="binance", operation="countdown", code=-2015))
        receipt = await adapter.submit(limit("binance", "u-1"))
        assert (receipt.status, receipt.native_code, receipt.safe_to_resubmit) == (
            CommandStatus.REJECTED, "DEAD_MANS_SWITCH", True,
        )  # fmt: skip
        assert sim.truth.attempts("u-1") == []  # never sent
        assert sink.states() == [(BTC, SwitchState.UNAVAILABLE)]
        assert (await adapter.submit(limit("binance", "u-2"))).status is CommandStatus.ACCEPTED  # armed this time
    finally:
        await adapter.close()


async def test_binance_lapse_is_reported_and_handed_to_reconciliation(sim: SimExchange) -> None:
    sink = SafetySink()
    adapter = await started(sim, "binance", sink, dead_mans_switch_seconds=1)
    try:
        await adapter.submit(limit("binance", "l-1"))
        await sim.partition(30)
        await wait_until(lambda: (BTC, SwitchState.LAPSED) in sink.states(), timeout=10)
        assert any("dead-man's switch" in reason for _, reason in sink.gaps)
        assert (BTC, SwitchState.HEARTBEAT_FAILED) in sink.states()
        assert open_cids(sim, "binance") == set()  # the venue's countdown fired meanwhile
        sim.heal()
        await wait_until(lambda: (BTC, SwitchState.RESTORED) in sink.states(), timeout=10)
    finally:
        await adapter.close()


async def test_bybit_dcp_unavailable_is_said_plainly_and_trading_goes_on(sim: SimExchange) -> None:
    sink = SafetySink()
    adapter = await started(sim, "bybit", sink, dead_mans_switch_seconds=5)
    try:
        ((scope, state),) = sink.states()
        assert (scope, state) == (ACCOUNT_SCOPE, SwitchState.UNAVAILABLE)
        assert "not self-service" in sink.switches[0][4]
        assert (await adapter.submit(limit("bybit", "b-1"))).status is CommandStatus.ACCEPTED
    finally:
        await adapter.close()


async def test_bybit_dcp_armed_kept_by_the_private_stream_and_disarmed(sim: SimExchange) -> None:
    sim.bybit.state.dcp_enabled = True
    dialect = sim.bybit.state.dialect
    assert dialect is not None and dialect.switches is not None
    switches = dialect.switches
    sink = SafetySink()
    adapter = await started(sim, "bybit", sink, dead_mans_switch_seconds=4)
    try:
        assert sink.states() == [(ACCOUNT_SCOPE, SwitchState.ARMED)]
        assert switches.windows == {sim.api_key: 4}
        await wait_until(lambda: any("dcp.future" in c.topics for c in dialect.streams.conns))
        await adapter.submit(limit("bybit", "b-2"))
        await dialect.drop_private_streams()  # a reconnect inside the window keeps it alive
        await wait_until(lambda: any("dcp.future" in c.topics for c in dialect.streams.conns))
        assert switches.countdowns.armed() == []
    finally:
        await adapter.close()
    assert sink.states()[-1] == (ACCOUNT_SCOPE, SwitchState.DISARMED)
    await wait_until(lambda: not dialect.streams.conns)
    assert switches.countdowns.armed() == []  # unsubscribed before closing: nothing fires
    assert open_cids(sim, "bybit") == {"b-2"}


@pytest.mark.parametrize(("venue", "seconds"), [("binance", 0.5), ("bybit", 2), ("bybit", 3.5), ("bybit", 301)])
def test_countdowns_the_venue_cannot_take_are_refused(sim: SimExchange, venue: str, seconds: float) -> None:
    with pytest.raises(ValueError, match="dead_mans_switch_seconds"):
        make_adapter(sim, venue, dead_mans_switch_seconds=seconds)


async def test_binance_batch_arms_its_instruments_first(sim: SimExchange) -> None:
    adapter = await started(sim, "binance", SafetySink(), dead_mans_switch_seconds=3)
    dialect = sim.binance.state.dialect
    assert dialect is not None
    try:
        batch = [limit("binance", "bt-1", ETH, "2900"), limit("binance", "bt-2", ETH, "2901")]
        receipts = await adapter.submit_batch(batch, Transport.REST)
        assert [r.status for r in receipts] == [CommandStatus.ACCEPTED] * 2
        (arm,) = dialect.switches.log.of("arm")
        assert arm.scope == "ETHUSDT" and all(a.arrived_ns > arm.arrived_ns for a in sim.truth.attempts("bt-1"))
        assert adapter.traded_instruments() == [ETH]
    finally:
        await adapter.close()


async def test_bybit_dcp_without_a_private_stream_cannot_be_armed(sim: SimExchange) -> None:
    sim.bybit.state.dcp_enabled = True
    sink = SafetySink()
    b = sim.bybit
    adapter = BybitLinear(
        sim.api_key, sim.api_secret, rest_url=b.rest_url, ws_api_url=b.ws_api_url, stream_url=None,
        dead_mans_switch_seconds=5,
    )  # fmt: skip
    await adapter.start(sink)
    try:
        assert sink.states() == [(ACCOUNT_SCOPE, SwitchState.UNAVAILABLE)] and "private stream" in sink.switches[0][4]
    finally:
        await adapter.close()
