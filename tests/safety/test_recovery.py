"""A cancel-all a crashed run left unknown is recovered from the journal, with its targets, and proved."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway import CommandOperation, CommandStatus, Gateway
from gateway.journal import Journal
from tests.safety.conftest import BTC, VENUES, make_adapter
from tests.safety.test_cancel_all import POLICY, limit
from venues.sim import Fault, SimExchange
from venues.sim.faults import FaultKind


@pytest.mark.parametrize("venue", VENUES)
@pytest.mark.parametrize(("kind", "executes"), [(FaultKind.ACCEPT_THEN_5XX, True), (FaultKind.REJECT_THEN_5XX, False)])
async def test_an_unknown_cancel_all_survives_a_crash_and_is_proved_after(
    sim: SimExchange, tmp_path: Path, venue: str, kind: FaultKind, executes: bool
) -> None:
    path = tmp_path / "journal.db"
    journal = Journal(path)
    adapter = make_adapter(sim, venue, request_timeout=1.0, recv_window_ms=500, history_lag_seconds=0.2)
    async with Gateway(venues=[adapter], journal=journal, reconcile=None) as gw:
        creates = [(await gw.submit(limit(venue))).command_id for _ in range(2)]
        sim.faults.add(Fault(kind, operation="cancel_all"))
        lost = await gw.cancel_all(venue, BTC)
        assert lost.ack.receipt.status is CommandStatus.UNKNOWN_EXECUTION
        await journal.flush()
        journal.abandon()  # the process dies here: nothing settles it

    adapter = make_adapter(sim, venue, request_timeout=1.0, recv_window_ms=500, history_lag_seconds=0.2)
    async with Gateway(venues=[adapter], journal=Journal(path), reconcile=POLICY) as gw:
        handle = gw.handle(lost.command_id)
        assert handle is not None and handle.operation is CommandOperation.CANCEL_ALL  # recovered
        receipt = await handle.resolved(timeout=15)
        if executes:
            assert receipt.status is CommandStatus.ACCEPTED, receipt.message
        else:
            assert (receipt.status, receipt.safe_to_resubmit) == (CommandStatus.REJECTED, True), receipt.message
        states = {o.client_order_id: o.status for o in sim.truth.orders(venue)}
        assert {states[cid] for cid in creates} == ({"CANCELED"} if executes else {"NEW"})
    dialect = sim.venues[venue].state.dialect
    assert dialect is not None and dialect.switches is not None
    assert len(dialect.switches.log.of("cancel_all")) == 1  # never re-sent
