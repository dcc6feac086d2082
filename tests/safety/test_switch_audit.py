"""A dead-man's switch's arming state is on the audit stream: bus events, journaled, of no command."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway import Gateway
from gateway.journal import JournalReader
from gateway.model import LifecycleEvent
from gateway.safety import ACCOUNT_SCOPE, DeadMansSwitch, SwitchState, switch_command_id
from tests.safety.conftest import BTC, make_adapter
from tests.safety.test_cancel_all import limit
from venues.sim import SimExchange


@pytest.mark.parametrize(
    ("venue", "seconds", "scope", "dcp"),
    [("binance", 2.0, BTC, False), ("bybit", 3.0, ACCOUNT_SCOPE, True), ("bybit", 3.0, ACCOUNT_SCOPE, False)],
)
async def test_switch_changes_are_audited_and_journaled(
    sim: SimExchange, tmp_path: Path, venue: str, seconds: float, scope: str, dcp: bool
) -> None:
    sim.bybit.state.dcp_enabled = dcp
    seen: list[LifecycleEvent] = []
    db = tmp_path / "audit.db"
    adapter = make_adapter(sim, venue, request_timeout=1.0, dead_mans_switch_seconds=seconds)
    gateway = Gateway(venues=[adapter], journal=db, reconcile=None)
    gateway.bus.add_tap(seen.append)
    async with gateway as gw:
        await gw.submit(limit(venue))
    switches = [e for e in seen if isinstance(e, DeadMansSwitch)]
    expected = [SwitchState.ARMED, SwitchState.DISARMED] if dcp or venue == "binance" else [SwitchState.UNAVAILABLE]
    assert [e.state for e in switches] == expected
    assert {(e.venue, e.scope, e.seconds, e.command_id) for e in switches} == {
        (venue, scope, seconds, switch_command_id(venue, scope))
    }
    assert gw.handle(switch_command_id(venue, scope)) is None  # of no command
    with JournalReader(db) as reader:
        journaled = [
            e.decode() for run in reader.runs() for e in reader.entries(run.run_id) if e.kind == "DeadMansSwitch"
        ]
    assert [e.state for e in journaled if isinstance(e, DeadMansSwitch)] == expected
