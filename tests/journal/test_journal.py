"""Journal: write-ahead ordering, runs and sealing, recovery rules, corruption, write failure, group commit."""

from __future__ import annotations

import asyncio
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from gateway import CancelRequest, CommandStatus, Gateway, OrderState
from gateway.handle import HandleState
from gateway.journal import Journal, JournalError, JournalReader, JournalWriteError, RunStatus
from gateway.journal.codec import parse_intent_line
from gateway.model import CommandOperation, CommandReceipt, OrderReport, OrderRequest, utc_now
from gateway.ports import PendingCommand
from tests.journal.helpers import flip_body_byte, flip_file_bytes, order
from tests.unit.fakes import BTC, ScriptedVenue


class JournalCheckingVenue(ScriptedVenue):
    """Reads the journal's files inside submit()/cancel(): the intent must be there, exactly once.

    In ``process`` mode an intent reaches the intent log before the send and the database with
    the next batched flush; in ``power`` mode the database itself, fsynced.
    """

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.seen_before_send: list[tuple[str, int]] = []

    def _intents(self, command_id: str) -> int:
        conn = sqlite3.connect(self.path)
        try:
            (n,) = conn.execute(
                "SELECT COUNT(*) FROM entries WHERE kind = 'Intent' AND command_id = ?", (command_id,)
            ).fetchone()
        finally:
            conn.close()
        log = Path(f"{self.path}-intents")
        logged = [parse_intent_line(line) for line in log.read_bytes().splitlines()] if log.exists() else []
        return int(n) + sum(1 for r in logged if r is not None and r[1][2] == command_id)

    async def submit(self, request: OrderRequest) -> CommandReceipt:
        assert request.client_order_id is not None
        self.seen_before_send.append((request.client_order_id, self._intents(request.client_order_id)))
        return await super().submit(request)

    async def cancel(self, request: CancelRequest, request_id: str) -> CommandReceipt:
        self.seen_before_send.append((request_id, self._intents(request_id)))
        return await super().cancel(request, request_id)


@pytest.mark.parametrize("durability", ["process", "power"])
async def test_intent_is_in_the_file_before_the_venue_sees_the_order(tmp_path: Path, durability: str) -> None:
    path = tmp_path / "j.db"
    venue = JournalCheckingVenue(path)
    async with Gateway(venues=[venue], journal=Journal(path, durability=durability), reconcile=None) as gw:  # type: ignore[arg-type]
        handles = await asyncio.gather(*(gw.submit(order()) for _ in range(20)))
        await gw.cancel(CancelRequest(venue="fake", instrument=BTC, client_order_id=handles[0].client_order_id))
    assert len(venue.seen_before_send) == 21
    assert all(n == 1 for _, n in venue.seen_before_send), venue.seen_before_send


async def test_intent_carries_full_request_venue_transport_and_sequence(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    async with Gateway(venues=[ScriptedVenue()], journal=path, reconcile=None) as gw:
        handle = await gw.submit(order(client_order_id="full-1", reduce_only=True))
    with JournalReader(path) as reader:
        (run,) = reader.runs()
        entries = reader.entries(run.run_id)
    assert [e.kind for e in entries] == ["RunStarted", "Intent", "Ack", "RunEnded"]
    intent = entries[1].decode()
    assert intent.command.request == handle.request  # type: ignore[union-attr]
    assert intent.command.venue == "fake" and intent.command.transport is not None  # type: ignore[union-attr]
    assert [e.sequence for e in entries[1:3]] == [1, 2]
    assert run.status is RunStatus.ENDED
    assert run.manifest["venues"] == ["fake"] and run.manifest["parent_run_id"] is None
    assert {"python", "sqlite", "order-gateway"} <= set(run.manifest["versions"])


async def test_sequences_continue_across_runs(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    async with Gateway(venues=[ScriptedVenue()], journal=path, reconcile=None) as gw:
        for _ in range(3):
            await gw.submit(order())
        first_last = gw.bus.sequence
    async with Gateway(venues=[ScriptedVenue()], journal=path, reconcile=None) as gw:
        # The first run's three orders rest ACCEPTED/NEW: recovered (fills may have happened), each with an entry.
        assert gw.bus.sequence > first_last
        await gw.submit(order())
    with JournalReader(path) as reader:
        runs = reader.runs()
        seqs = [e.sequence for e in reader.entries() if e.kind not in ("RunStarted", "RunEnded")]
    assert runs[1].parent_run_id == runs[0].run_id
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs))


async def test_crashed_run_is_sealed_and_its_open_commands_recovered(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    venue = ScriptedVenue()
    venue.script.extend(
        [CommandStatus.ACCEPTED, CommandStatus.UNKNOWN_EXECUTION, CommandStatus.REJECTED, CommandStatus.ACCEPTED]
    )
    journal = Journal(path)
    gw = Gateway(venues=[venue], journal=journal, reconcile=None)
    await gw.start()
    resting = await gw.submit(order(client_order_id="resting"))
    unknown = await gw.submit(order(client_order_id="unknown"))
    await gw.submit(order(client_order_id="rejected"))
    filled = await gw.submit(order(client_order_id="filled"))
    venue.push(
        OrderReport(
            venue="fake",
            instrument=BTC,
            order_id=filled.order_id or "?",
            client_order_id="filled",
            state=OrderState.FILLED,
            filled_quantity=Decimal("0.01"),
        )
    )
    await journal.flush()
    crashed_run = journal.run_id
    journal.abandon()

    recovering = Journal(path)
    async with Gateway(venues=[ScriptedVenue()], journal=recovering, reconcile=None) as gw2:
        # In flight again (answered, not final): the two the crashed run left open, and only those.
        handles = {cid: gw2.handle(cid) for cid in ("resting", "unknown", "rejected", "filled")}
        recovered = {cid for cid, h in handles.items() if h is not None and h.state is HandleState.ANSWERED}
        assert recovered == {"resting", "unknown"}
        assert all(h is not None and h.state is HandleState.FINAL for cid, h in handles.items() if cid not in recovered)
        for cid in ("resting", "unknown"):
            handle = gw2.handle(cid)
            assert handle is not None
            assert handle.ack.receipt.status is CommandStatus.UNKNOWN_EXECUTION
        # Settled commands of the crashed run are retrievable too, with their last receipt.
        rejected = gw2.handle("rejected")
        assert rejected is not None and rejected.ack.receipt.status is CommandStatus.REJECTED
        assert recovering.sealed == {crashed_run: RunStatus.CRASHED_RECOVERED}
    assert resting.order_id is not None and unknown.ack.receipt.status is CommandStatus.UNKNOWN_EXECUTION
    with JournalReader(path) as reader:
        runs = {r.run_id: r for r in reader.runs()}
        assert runs[crashed_run].status is RunStatus.CRASHED_RECOVERED
        recovered_entries = [e for e in reader.entries() if e.kind == "Recovered"]
    assert sorted(e.command_id or "" for e in recovered_entries) == ["resting", "unknown"]


async def test_recovered_command_keeps_its_request_and_order_id(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    venue = ScriptedVenue()
    journal = Journal(path)
    gw = Gateway(venues=[venue], journal=journal, reconcile=None)
    await gw.start()
    handle = await gw.submit(order(client_order_id="keep-1", price="50100"))
    await journal.flush()
    journal.abandon()
    journal2 = Journal(path)
    (item,) = await journal2.open_run(["fake"])
    await journal2.close()
    assert item.command.command_id == "keep-1"
    assert item.command.request == handle.request
    assert item.command.order_id == handle.order_id
    assert item.last_receipt is not None and item.last_receipt.order_state is OrderState.NEW


async def test_intent_without_ack_is_recovered(tmp_path: Path) -> None:
    # The process died between the intent and the answer: the order may be at the venue.
    path = tmp_path / "j.db"
    journal = Journal(path)
    await journal.open_run(["fake"])
    request = order(client_order_id="in-flight")
    pending = PendingCommand(
        command_id="in-flight",
        operation=CommandOperation.CREATE_ORDER,
        venue="fake",
        instrument=BTC,
        client_order_id="in-flight",
        order_id=None,
        sent_at=utc_now(),
        recv_window_ms=5000,
        request=request,
    )
    await journal.record_intent(pending, 1)
    journal.abandon()
    journal2 = Journal(path)
    recovered = await journal2.open_run(["fake"])
    await journal2.close()
    assert [(r.command.command_id, r.last_receipt) for r in recovered] == [("in-flight", None)]
    assert journal2.last_sequence == 2  # the Recovered copy took the next sequence


async def test_recovery_survives_a_second_crash(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    venue = ScriptedVenue()
    venue.script.append(CommandStatus.UNKNOWN_EXECUTION)
    j1 = Journal(path)
    gw = Gateway(venues=[venue], journal=j1, reconcile=None)
    await gw.start()
    await gw.submit(order(client_order_id="twice"))
    await j1.flush()
    j1.abandon()
    j2 = Journal(path)
    assert [r.command.command_id for r in await j2.open_run(["fake"])] == ["twice"]
    j2.abandon()  # dies again before reconciling
    j3 = Journal(path)
    again = await j3.open_run(["fake"])
    await j3.close()
    assert [r.command.command_id for r in again] == ["twice"]
    assert again[0].last_receipt is not None
    assert again[0].last_receipt.status is CommandStatus.UNKNOWN_EXECUTION


async def test_running_run_whose_tail_is_a_clean_end_is_sealed_ended(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    async with Gateway(venues=[ScriptedVenue()], journal=path, reconcile=None):
        pass
    conn = sqlite3.connect(path)
    conn.execute("UPDATE runs SET status = 'RUNNING'")  # died after RunEnded, before the index update
    conn.commit()
    conn.close()
    journal = Journal(path)
    await journal.open_run(["fake"])
    await journal.close()
    assert list(journal.sealed.values()) == [RunStatus.ENDED]


async def test_cleanly_ended_run_hands_over_unknowns_once(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    venue = ScriptedVenue()
    venue.script.append(CommandStatus.UNKNOWN_EXECUTION)
    async with Gateway(venues=[venue], journal=path, reconcile=None) as gw:
        await gw.submit(order(client_order_id="u-1"))
    j2 = Journal(path)
    assert [r.command.command_id for r in await j2.open_run(["fake"])] == ["u-1"]
    await j2.close()
    # j2 adopted it; its own clean end leaves the command open, so j3 gets it again (from j2).
    j3 = Journal(path)
    assert [r.run_id for r in await j3.open_run(["fake"])] == [j2.run_id]
    await j3.close()


async def test_accepted_cancel_is_final_unknown_cancel_is_recovered(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    journal = Journal(path)
    gw = Gateway(venues=[ScriptedVenue()], journal=journal, reconcile=None)
    await gw.start()
    cx = await gw.cancel(CancelRequest(venue="fake", instrument=BTC, order_id="77"))
    pending = PendingCommand(
        command_id="cx-unknown",
        operation=CommandOperation.CANCEL_ORDER,
        venue="fake",
        instrument=BTC,
        client_order_id=None,
        order_id="78",
        sent_at=utc_now(),
        recv_window_ms=5000,
        request=CancelRequest(venue="fake", instrument=BTC, order_id="78"),
    )
    await journal.record_intent(pending, gw.bus.next_sequence())
    await journal.flush()
    journal.abandon()
    j2 = Journal(path)
    recovered = await j2.open_run(["fake"])
    await j2.close()
    assert cx.ack.receipt.status is CommandStatus.ACCEPTED
    assert [r.command.command_id for r in recovered] == ["cx-unknown"]
    assert recovered[0].command.order_id == "78"


# ---------------------------------------------------------------------- corruption


async def _crashed_run_with(path: Path, cid: str, price: str) -> str:
    venue = ScriptedVenue()
    venue.script.append(CommandStatus.UNKNOWN_EXECUTION)
    journal = Journal(path)
    gw = Gateway(venues=[venue], journal=journal, reconcile=None)
    await gw.start()
    await gw.submit(order(client_order_id=cid, price=price))
    await journal.flush()
    journal.abandon()
    assert journal.run_id is not None
    return journal.run_id


def _entry_id(path: Path, run_id: str, kind: str) -> int:
    with JournalReader(path) as reader:
        return next(e.id for e in reader.entries(run_id) if e.kind == kind)


async def test_flipped_byte_quarantines_that_run_only(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    run_a = await _crashed_run_with(path, "a-1", "50000")
    j = Journal(path)
    await j.open_run(["fake"])  # adopts a-1
    # Run B: a second crashed run, with one more command in flight.
    pending = PendingCommand(
        command_id="b-1",
        operation=CommandOperation.CREATE_ORDER,
        venue="fake",
        instrument=BTC,
        client_order_id="b-1",
        order_id=None,
        sent_at=utc_now(),
        recv_window_ms=5000,
        request=order(client_order_id="b-1"),
    )
    await j.record_intent(pending, j.last_sequence + 1)
    j.abandon()
    run_b = j.run_id
    assert run_b is not None

    flip_body_byte(path, _entry_id(path, run_a, "Intent"))
    j3 = Journal(path)
    recovered = await j3.open_run(["fake"])
    await j3.close()
    assert [q.run_id for q in j3.quarantined] == [run_a]
    assert "fails the checksum chain" in j3.quarantined[0].detail
    # Run B still recovers normally: its own command and the copy of a-1 it had adopted.
    assert sorted(r.command.command_id for r in recovered) == ["a-1", "b-1"]
    with JournalReader(path) as reader:
        statuses = {r.run_id: r.status for r in reader.runs()}
        manifest = reader.runs()[-1].manifest
    assert statuses[run_a] is RunStatus.QUARANTINED
    assert statuses[run_b] is RunStatus.CRASHED_RECOVERED
    assert manifest["quarantined"] == [run_a]


async def test_raw_file_corruption_of_a_pending_run_quarantines_it_and_never_replays_it(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    async with Gateway(venues=[ScriptedVenue()], journal=path, reconcile=None) as gw:
        await gw.submit(order(client_order_id="ok-1", price="50200"))
    clean_run = JournalReader(path).runs()[0].run_id
    j = Journal(path)
    await j.open_run(["fake"])
    bad_run = j.run_id
    await j.close()
    bad = await _crashed_run_with(path, "bad-1", "50123.4")
    flip_file_bytes(path, b'"price":"50123.4"', b'"price":"50123.5"')
    j2 = Journal(path)
    recovered = await j2.open_run(["fake"])
    await j2.close()
    assert [q.run_id for q in j2.quarantined] == [bad]
    assert [r.command.command_id for r in recovered] == []  # bad-1 is never replayed from a broken run
    assert j2.settled_receipt("bad-1") is None  # nor trusted as a source of receipts
    with JournalReader(path) as reader:
        statuses = {r.run_id: r.status for r in reader.runs()}
    assert bad_run is not None
    assert statuses[clean_run] is RunStatus.ENDED and statuses[bad_run] is RunStatus.ENDED


# ---------------------------------------------------------------------- write failure


READ_ONLY = "attempt to write a readonly database"  # SQLite's own error once Journal.fail_writes() is on


@pytest.mark.parametrize("durability", ["process", "power"])
async def test_write_failure_halts_submits_and_nothing_unjournaled_is_sent(tmp_path: Path, durability: str) -> None:
    path = tmp_path / "j.db"
    venue = ScriptedVenue()
    journal = Journal(path, durability=durability)  # type: ignore[arg-type]
    async with Gateway(venues=[venue], journal=journal, reconcile=None) as gw:
        await gw.submit(order())
        journal.fail_writes()  # SQLite refuses every write from now on, as a read-only or lost disk would
        if durability == "process":
            # The intent log takes this intent before the send; the database fails at the flush.
            logged = await gw.submit(order())
            assert logged.ack.receipt.status is CommandStatus.ACCEPTED
            with pytest.raises(JournalWriteError, match=READ_ONLY):
                await journal.flush()
        refused = await gw.submit(order())
        assert refused.ack.receipt.status is CommandStatus.REJECTED
        assert refused.ack.receipt.safe_to_resubmit
        assert gw.halted is not None and "journal write failed" in gw.halted and READ_ONLY in gw.halted
        later = await gw.submit(order())
        assert later.ack.receipt.message.startswith("gateway halted: journal write failed")
    assert len(venue.sent) == (2 if durability == "process" else 1)
    if durability == "process":
        # Every order that was sent is in the journal: the next start restores it from the log.
        async with Gateway(venues=[ScriptedVenue()], journal=path, reconcile=None):
            pass
        with JournalReader(path) as reader:
            intents = {e.command_id for e in reader.entries() if e.kind == "Intent"}
        assert {r.client_order_id for r in venue.sent} <= intents


async def test_record_intent_raises_once_the_file_is_read_only(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    journal = Journal(path)
    await journal.open_run(["fake"])
    journal.fail_writes()
    pending = PendingCommand(
        command_id="ro-1",
        operation=CommandOperation.CREATE_ORDER,
        venue="fake",
        instrument=BTC,
        client_order_id="ro-1",
        order_id=None,
        sent_at=utc_now(),
        recv_window_ms=5000,
        request=order(),
    )
    await journal.record_intent(pending, 1)  # the intent log takes it; the database refuses it at the flush
    with pytest.raises(
        JournalWriteError, match=r"write failed: OperationalError: attempt to write a readonly database"
    ):
        await journal.flush()
    with pytest.raises(JournalWriteError, match=r"failed earlier and is read-only now"):
        await journal.record_intent(pending, 2)
    await journal.close()


async def test_open_run_fails_loudly_on_an_unwritable_path(tmp_path: Path) -> None:
    venue = ScriptedVenue()
    gw = Gateway(venues=[venue], journal=tmp_path / "missing-dir" / "j.db", reconcile=None)
    with pytest.raises(Exception, match="cannot open journal"):
        await gw.start()


# ---------------------------------------------------------------------- group commit


async def test_power_mode_group_commit_shares_flushes_and_each_waits_for_its_own(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    journal = Journal(path, durability="power")
    await journal.open_run(["fake"])
    flushes_before = journal.flushes
    seq = iter(range(1, 10_000))

    async def submitter(n: int) -> None:
        for i in range(10):
            cid = f"s{n}-{i}"
            pending = PendingCommand(
                command_id=cid,
                operation=CommandOperation.CREATE_ORDER,
                venue="fake",
                instrument=BTC,
                client_order_id=cid,
                order_id=None,
                sent_at=utc_now(),
                recv_window_ms=5000,
                request=order(client_order_id=cid),
            )
            await journal.record_intent(pending, next(seq))
            # Its own flush is done: a separate connection sees it.
            conn = sqlite3.connect(path)
            try:
                assert conn.execute("SELECT COUNT(*) FROM entries WHERE command_id = ?", (cid,)).fetchone() == (1,)
            finally:
                conn.close()

    await asyncio.gather(*(submitter(n) for n in range(50)))
    flushes = journal.flushes - flushes_before
    await journal.close()
    assert flushes < 500 / 2, f"{flushes} flushes for 500 intents: group commit did not batch"
    with JournalReader(path) as reader:
        assert all(r.ok for r in reader.verify())


async def test_settled_receipt_reads_the_latest_receipt_of_any_run(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    async with Gateway(venues=[ScriptedVenue()], journal=path, reconcile=None) as gw:
        await gw.submit(order(client_order_id="old-1"))
    journal = Journal(path)
    await journal.open_run(["fake"])
    receipt = journal.settled_receipt("old-1")
    assert journal.settled_receipt("never") is None
    await journal.close()
    assert receipt is not None and receipt.status is CommandStatus.ACCEPTED


async def test_no_secret_reaches_the_file(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    venue = ScriptedVenue()
    venue.api_secret = "s3cr3t-never-journaled"  # type: ignore[attr-defined]
    async with Gateway(venues=[venue], journal=path, reconcile=None) as gw:
        await gw.submit(order())
    for file in sorted(tmp_path.iterdir()):  # noqa: ASYNC240 - test teardown, nothing else runs
        assert b"s3cr3t" not in file.read_bytes()


def test_journal_implements_the_port(tmp_path: Path) -> None:
    from gateway.ports import JournalPort

    assert isinstance(Journal(tmp_path / "j.db"), JournalPort)


def test_durability_is_checked() -> None:
    with pytest.raises(ValueError, match=r"^durability must be 'process' or 'power', got 'disk'$"):
        Journal("x.db", durability="disk")  # type: ignore[arg-type]


async def test_events_after_a_failed_write_are_not_buffered(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    venue = ScriptedVenue()
    journal = Journal(path)
    async with Gateway(venues=[venue], journal=journal, reconcile=None) as gw:
        journal.fail_writes()
        await gw.submit(order())  # in the intent log before its send; the database fails at the flush
        with pytest.raises(JournalWriteError, match=READ_ONLY):
            await journal.flush()
        for _ in range(3):
            await gw.submit(order())
        # Nothing was buffered since: on this failed journal a flush with anything to write raises.
        await journal.flush()
    assert len(venue.sent) == 1


@pytest.mark.parametrize(("durability", "level"), [("process", 1), ("power", 2)])
async def test_durability_sets_the_sync_level(tmp_path: Path, durability: str, level: int) -> None:
    journal = Journal(tmp_path / "j.db", durability=durability)  # type: ignore[arg-type]
    await journal.open_run(["fake"])
    assert journal.pragmas() == {"journal_mode": "wal", "synchronous": level}
    await journal.close()


async def test_unknown_ack_after_a_terminal_stream_update_is_still_reconciled(tmp_path: Path) -> None:
    # The stream can beat the answer: FILLED arrives, then the send times out (UNKNOWN). The
    # order is settled, the command's receipt is not: recovery hands it to the reconciler.
    path = tmp_path / "j.db"
    venue = ScriptedVenue()
    journal = Journal(path)
    gw = Gateway(venues=[venue], journal=journal, reconcile=None)
    await gw.start()
    handle = await gw.submit(order(client_order_id="raced"))
    venue.push(
        OrderReport(
            venue="fake", instrument=BTC, order_id=handle.order_id or "?", client_order_id="raced",
            state=OrderState.FILLED, filled_quantity=Decimal("0.01"),
        )
    )  # fmt: skip
    unknown = CommandReceipt(
        operation=CommandOperation.CREATE_ORDER, status=CommandStatus.UNKNOWN_EXECUTION, venue="fake",
        instrument=BTC, client_order_id="raced",
    )  # fmt: skip
    from gateway.model import Receipt

    journal.record_event(Receipt(sequence=gw.bus.next_sequence(), command_id="raced", receipt=unknown))
    await journal.flush()
    journal.abandon()
    j2 = Journal(path)
    recovered = await j2.open_run(["fake"])
    await j2.close()
    assert [r.command.command_id for r in recovered] == ["raced"]


async def test_the_drills_refuse_a_journal_that_is_not_open(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.db")
    with pytest.raises(JournalError, match=r"is not open$"):
        journal.fail_writes()
    with pytest.raises(JournalError, match=r"is not open$"):
        journal.pragmas()
    await journal.open_run(["fake"])
    journal.abandon()
    with pytest.raises(JournalWriteError, match=r"is closed$"):
        await journal.record_intent(
            PendingCommand(
                command_id="late-1",
                operation=CommandOperation.CREATE_ORDER,
                venue="fake",
                instrument=BTC,
                client_order_id="late-1",
                order_id=None,
                sent_at=utc_now(),
                recv_window_ms=5000,
                request=order(),
            ),
            1,
        )
    with pytest.raises(JournalError, match=r"is not open$"):
        journal.fail_writes()
