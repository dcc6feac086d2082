"""Dead-man's-switch drills: a child process arms the venue's switch, rests orders and is cut off.

Killed with SIGKILL, or cut by a network partition while it stays alive (the simulator drops its
connections and refuses new ones): within the countdown plus a margin the simulator shows every
resting order canceled. After a kill, the next start's recovery resolves those commands from
evidence (ACCEPTED, their orders CANCELED; SYNCHRONIZED reports), nothing re-sent; after a
partition, the running process learns it the same way once it can read again.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from gateway import CommandStatus, Gateway, OrderState
from gateway.journal import JournalReader
from gateway.model import ReconcileOutcome, RecoveryCompleted
from tests.safety.conftest import VENUES, make_adapter
from tests.safety.test_cancel_all import POLICY
from venues.sim import SimExchange
from venues.sim.engine import SimOrder

pytestmark = [pytest.mark.sim]

ROOT = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).resolve().parent / "deadman_child.py"
# Binance: countdownCancelAll of 2 s per instrument; Bybit: DCP's smallest window, 3 s.
COUNTDOWN = {"binance": 2.0, "bybit": 3.0}
MARGIN = 2.0


async def start_child(sim: SimExchange, venue: str, db: Path, wait: str) -> asyncio.subprocess.Process:
    v = sim.venues[venue]
    return await asyncio.create_subprocess_exec(
        sys.executable, str(CHILD), "--venue", venue, "--db", str(db), "--seconds", str(COUNTDOWN[venue]),
        "--api-key", sim.api_key, "--api-secret", sim.api_secret, "--rest-url", v.rest_url,
        "--ws-api-url", v.ws_api_url, "--stream-url", v.stream_url, "--wait", wait,
        stdout=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=str(ROOT),
    )  # fmt: skip


async def read_until(proc: asyncio.subprocess.Process, last: bytes, timeout: float = 30.0) -> list[str]:
    lines: list[str] = []
    assert proc.stdout is not None
    while True:
        raw = await asyncio.wait_for(proc.stdout.readline(), timeout)
        assert raw, f"the child exited on its own (rc {await proc.wait()})"
        if raw.strip() == last:
            return lines
        lines.append(raw.decode().strip())


async def kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGKILL)
    await proc.wait()


def all_canceled(sim: SimExchange, venue: str, cids: list[str]) -> asyncio.Event:
    """Set once every one of ``cids`` is canceled at the venue (an engine listener, not a clock)."""
    done = asyncio.Event()
    engine = sim.venues[venue].engine

    def check(account: str, order: SimOrder, fill: object, exec_type: str) -> None:
        if all(o.status == "CANCELED" for cid in cids for o in engine.orders_for(cid)):
            done.set()

    engine.listeners.append(check)
    return done


def acked(lines: list[str]) -> list[str]:
    cids = [line.split()[1] for line in lines if line.startswith("A ")]
    assert cids and all(line.endswith("ACCEPTED") for line in lines if line.startswith("A "))
    return cids


def assert_sent_once(sim: SimExchange, venue: str, cids: list[str]) -> None:
    for cid in cids:
        assert [a.operation for a in sim.truth.attempts(cid, venue)] == ["create"], cid


@pytest.mark.parametrize("venue", VENUES)
async def test_killed_process_its_orders_canceled_by_the_venue_then_recovered(
    sim: SimExchange, tmp_path: Path, venue: str
) -> None:
    sim.bybit.state.dcp_enabled = True
    db = tmp_path / f"dms-{venue}.db"
    proc = await start_child(sim, venue, db, "kill")
    try:
        cids = acked(await read_until(proc, b"ready"))
        canceled = all_canceled(sim, venue, cids)
        assert not canceled.is_set() and {o.status for c in cids for o in sim.truth.orders_for(c, venue)} == {"NEW"}
    finally:
        await kill(proc)
    await asyncio.wait_for(canceled.wait(), COUNTDOWN[venue] + MARGIN)

    adapter = make_adapter(sim, venue, request_timeout=1.0, recv_window_ms=500)
    async with Gateway(venues=[adapter], journal=db, reconcile=POLICY) as gw:
        for cid in cids:
            handle = gw.handle(cid)
            assert handle is not None, cid
            receipt = await handle.resolved(timeout=20)
            assert (receipt.status, receipt.order_state) == (CommandStatus.ACCEPTED, OrderState.CANCELED), receipt
    with JournalReader(db) as reader:
        proofs = {
            event.command_id: event.report.outcome
            for e in reader.entries()
            if e.kind == "RecoveryCompleted" and isinstance(event := e.decode(), RecoveryCompleted)
        }
    assert {cid: proofs.get(cid) for cid in cids} == dict.fromkeys(cids, ReconcileOutcome.SYNCHRONIZED)
    assert_sent_once(sim, venue, cids)


@pytest.mark.parametrize("venue", VENUES)
async def test_partitioned_process_still_alive_learns_its_orders_were_canceled(
    sim: SimExchange, tmp_path: Path, venue: str
) -> None:
    sim.bybit.state.dcp_enabled = True
    proc = await start_child(sim, venue, tmp_path / f"dms-p-{venue}.db", "final")
    try:
        cids = acked(await read_until(proc, b"ready"))
        canceled = all_canceled(sim, venue, cids)
        await sim.partition(COUNTDOWN[venue] + MARGIN)
        await asyncio.wait_for(canceled.wait(), COUNTDOWN[venue] + MARGIN)
        sim.heal()
        finals = [line for line in await read_until(proc, b"final") if line.startswith("F ")]
        assert sorted(finals) == sorted(f"F {cid} CANCELED" for cid in cids)
        assert proc.returncode is None  # alive all along
    finally:
        await kill(proc)
    assert_sent_once(sim, venue, cids)
