"""``Journal``, the write-ahead writer (``JournalPort``): intents before their send, events after, one flush path.

The two durability levels differ only in where an intent becomes durable and where a batch is
written (package docstring, "Durability levels" and "Group commit"): ``process`` logs the
intent on the loop and writes batches on the loop; ``power`` writes batches on a writer thread
and makes ``record_intent`` wait for the commit that holds its intent. Either way a batch goes
through ``_take_batch`` -> ``_write_batch`` -> ``_written_batch`` or ``_failed_batch`` (where a failure
halts the journal). ``abandon`` and ``fail_writes`` are drills for tests: a killed process, a
failing disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import orjson

from gateway.journal.checkpoint import Checkpointer
from gateway.journal.codec import Row, decode_event, event_row, intent_line, intent_row
from gateway.journal.records import (
    AuditItem,
    Durability,
    IntentEntry,
    JournalError,
    JournalWriteError,
    RunStatus,
    VerifyResult,
)
from gateway.journal.recovery import replay_intent_log, start_run
from gateway.journal.store import SCHEMA, connect, insert_chained, transaction
from gateway.model import Ack, CommandReceipt, LifecycleEvent, Receipt, utc_now
from gateway.ports import PendingCommand, RecoveredCommand

__all__ = ["Journal", "JournalObserver"]

log = logging.getLogger(__name__)

_FLUSH_INTERVAL = 0.02  # seconds a buffered lifecycle event may wait for a flush
_FLUSH_BATCH = 512  # buffered events that force a flush at once

_Pending = Row | LifecycleEvent  # an intent is queued as its row, an event as itself (serialized at the flush)


class JournalObserver(Protocol):
    """What the journal reports to the gateway's metrics (``gateway.metrics.Metrics``)."""

    def intent_recorded(self, seconds: float) -> None: ...

    def batch_committed(self, size: int, seconds: float) -> None: ...


@dataclass(slots=True)
class _Batch:
    items: list[_Pending]
    waiters: list[asyncio.Future[None]]  # power mode: the record_intent calls waiting for this commit
    started: float = field(default_factory=time.perf_counter)


class Journal:
    """The write-ahead journal (``JournalPort``); see the package docstring."""

    def __init__(
        self,
        path: str | Path,
        *,
        durability: Durability = "process",
        group_commit: bool = True,
        flush_interval: float = _FLUSH_INTERVAL,
    ):
        if durability not in ("process", "power"):
            raise ValueError(f"durability must be 'process' or 'power', got {durability!r}")
        self.path = Path(path)
        self.durability: Durability = durability
        self.group_commit = group_commit
        self.flush_interval = flush_interval
        self.run_id: str | None = None
        self.parent_run_id: str | None = None
        self.last_sequence = 0
        self.quarantined: list[VerifyResult] = []
        self.sealed: dict[str, RunStatus] = {}
        self.flushes = 0  # transactions committed (benchmarks read it)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._prev = ""  # the open run's last checksum
        self._pending: list[_Pending] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._failed: str | None = None
        self._checkpointer = Checkpointer(self.path)
        self._closed = False
        self._listeners: list[Callable[[AuditItem], object]] = []
        self._commit_listeners: list[Callable[[], object]] = []
        self._observer: JournalObserver | None = None
        # process mode: intents reach the kernel through an append-only log before the send and
        # SQLite with the next batched flush (see "Durability levels" in the package docstring).
        self.intent_log_path = Path(f"{self.path}-intents")
        self._intent_fd: int | None = None

    def __repr__(self) -> str:
        return f"<Journal {self.path} {self.durability} run={self.run_id}>"

    # ------------------------------------------------------------------ listeners

    def subscribe(self, listener: Callable[[AuditItem], object]) -> None:
        """Receive every intent and lifecycle event as it is recorded (a live ``StateReplica``)."""
        self._listeners.append(listener)

    def on_commit(self, listener: Callable[[], object]) -> None:
        """Be called on the loop after each committed batch (a tailing reader, e.g. the NATS publisher)."""
        self._commit_listeners.append(listener)

    def observe(self, observer: JournalObserver) -> None:
        """Report each intent write and each committed batch (size, seconds) to ``observer``."""
        self._observer = observer

    def _notify(self, item: AuditItem) -> None:
        for listener in self._listeners:
            try:
                listener(item)
            except Exception:
                log.exception("journal listener failed on sequence %s", item.sequence)

    # ------------------------------------------------------------------ open / recovery

    async def open_run(self, venues: Sequence[str]) -> list[RecoveredCommand]:
        if self.run_id is not None:
            raise JournalError(f"journal {self.path} already has an open run {self.run_id}")
        loop = asyncio.get_running_loop()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="journal")
        try:
            return await loop.run_in_executor(self._executor, self._open_run_sync, list(venues))
        except sqlite3.Error as exc:
            raise JournalError(f"cannot open journal {self.path}: {exc}") from exc

    def _open_run_sync(self, venues: list[str]) -> list[RecoveredCommand]:
        conn = connect(self.path, read_only=False)
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise JournalError(f"journal {self.path} could not switch to WAL mode (got {mode})")
        conn.execute(f"PRAGMA synchronous={'FULL' if self.durability == 'power' else 'NORMAL'}")
        conn.execute("PRAGMA busy_timeout=5000")
        # Checkpoints (copying the WAL back into the database, with fsyncs) never run inside a
        # submit: the Checkpointer does them on its own connection and thread.
        conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.executescript(SCHEMA)
        self._conn = conn
        with self._lock:
            replay_intent_log(conn, self.intent_log_path, self.path)
            started = start_run(conn, path=self.path, venues=venues, durability=self.durability)
        self.run_id = started.run_id
        self.parent_run_id = started.parent_run_id
        self.last_sequence = started.last_sequence
        self._prev = started.tail
        self.quarantined = started.quarantined
        self.sealed = started.sealed
        if self.durability == "process" and self.group_commit:
            flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
            self._intent_fd = os.open(self.intent_log_path, flags, 0o600)
        return started.recovered

    # ------------------------------------------------------------------ recording

    async def record_intent(
        self,
        command: PendingCommand,
        sequence: int,
        *,
        recovered_from: str | None = None,
        last_receipt: CommandReceipt | None = None,
    ) -> None:
        """See ``_record_intent``; timed for the observer, if any."""
        observer = self._observer
        if observer is None:
            await self._record_intent(command, sequence, recovered_from=recovered_from, last_receipt=last_receipt)
            return
        started = time.perf_counter()
        await self._record_intent(command, sequence, recovered_from=recovered_from, last_receipt=last_receipt)
        observer.intent_recorded(time.perf_counter() - started)

    async def _record_intent(
        self,
        command: PendingCommand,
        sequence: int,
        *,
        recovered_from: str | None = None,
        last_receipt: CommandReceipt | None = None,
    ) -> None:
        """Durable before return (per the durability level), or raises ``JournalWriteError``.

        ``recovered_from`` records a ``Recovered`` entry instead: a command another journal left
        unsettled, adopted into this run (a standby taking over a primary's commands).
        """
        self._check_writable()
        row = intent_row(command, sequence, recovered_from=recovered_from, last_receipt=last_receipt)
        if sequence > self.last_sequence:
            self.last_sequence = sequence
        self._notify(
            IntentEntry(sequence=sequence, command=command, recovered_from=recovered_from, last_receipt=last_receipt)
        )
        if self.durability == "process":
            if self._intent_fd is None:  # group_commit=False: one transaction per intent
                self._pending.append(row)
                self._flush_sync(raise_errors=True)
                return
            # In the kernel (the intent log) before the send; in SQLite with the next flush.
            assert self.run_id is not None
            line = intent_line(self.run_id, row)
            try:
                if os.write(self._intent_fd, line) != len(line):
                    raise OSError("short write to the intent log")
            except OSError as exc:
                raise self._fail(exc) from exc
            self._pending.append(row)
            self._after_append()
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append(row)
        self._waiters.append(fut)
        if not self.group_commit:
            await self._flush_batch()
        else:
            self._kick()
        await fut

    def record_event(self, event: LifecycleEvent) -> None:
        """Buffer a lifecycle event; it is written with the next flush (see the package docstring)."""
        if self._closed or self.run_id is None or self._failed is not None:
            return  # after a failed write nothing more is buffered: the gateway is halted
        if event.sequence > self.last_sequence:
            self.last_sequence = event.sequence
        self._notify(event)
        self._pending.append(event)
        self._after_append()

    def _check_writable(self) -> None:
        if self._closed:
            raise JournalWriteError(f"journal {self.path} is closed")
        if self.run_id is None:
            raise JournalWriteError(f"journal {self.path} has no open run: call open_run() first")
        self._refuse_if_failed()

    def _refuse_if_failed(self) -> None:
        if self._failed is not None:
            raise JournalWriteError(f"journal {self.path} failed earlier and is read-only now: {self._failed}")

    def _fail(self, exc: BaseException) -> JournalWriteError:
        """The first failed write: from now on every ``record_intent`` raises (the gateway halts)."""
        self._failed = f"{exc.__class__.__name__}: {exc}"
        log.error("journal %s: write failed, refusing further intents: %s", self.path, self._failed)
        return JournalWriteError(f"journal {self.path} write failed: {self._failed}")

    # ------------------------------------------------------------------ when to flush

    def _after_append(self) -> None:
        """A full batch is written now; otherwise the timer writes it within ``flush_interval``."""
        if len(self._pending) >= _FLUSH_BATCH:
            self._flush_now()
        elif self._timer is None:
            self._flush_soon(self.flush_interval)

    def _flush_soon(self, delay: float) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self._closed or self._failed is not None or not self._pending:
            return
        self._flush_now()

    def _flush_now(self) -> None:
        """Start writing what is pending without waiting for it: on the loop (process), on the writer thread (power)."""
        if self.durability == "process":
            self._flush_sync(raise_errors=False)
        else:
            with contextlib.suppress(RuntimeError):  # no running loop: the next flush() writes it
                self._kick()

    def _kick(self) -> None:
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_loop(), name="journal:group-commit")

    async def _flush_loop(self) -> None:
        while self._pending:
            await self._flush_batch()

    async def flush(self) -> None:
        """Write every buffered event now (tests and ``close`` use it)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.durability == "power":
            if self._flusher is not None:
                with contextlib.suppress(Exception):
                    await self._flusher
            while self._pending:
                await self._flush_batch()
            return
        self._flush_sync(raise_errors=True)

    # ------------------------------------------------------------------ the flush path

    def _flush_sync(self, *, raise_errors: bool) -> None:
        """``process`` mode: write everything pending now, on the loop thread."""
        batch = self._take_batch()
        if batch is None:
            return
        try:
            self._write_batch(batch.items)
        except Exception as exc:
            error = self._failed_batch(batch, exc)
            if raise_errors:
                if error is exc:
                    raise
                raise error from exc
            return
        self._written_batch(batch)

    async def _flush_batch(self) -> None:
        """``power`` mode: write everything queued as one transaction on the writer thread."""
        batch = self._take_batch()
        if batch is None:
            return
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._write_batch, batch.items)
        except Exception as exc:
            self._failed_batch(batch, exc)
            return
        self._written_batch(batch)

    def _take_batch(self) -> _Batch | None:
        """Everything queued so far; what arrives while it is written forms the next batch."""
        if not self._pending:  # a waiter is only ever queued with its row
            return None
        batch = _Batch(self._pending, self._waiters)
        self._pending, self._waiters = [], []
        return batch

    def _write_batch(self, items: Sequence[_Pending]) -> None:
        self._refuse_if_failed()
        self._write(items)

    def _failed_batch(self, batch: _Batch, exc: Exception) -> JournalWriteError:
        """A batch's write failed: the journal fails with it (``_fail``) and its waiters get the error."""
        error = exc if isinstance(exc, JournalWriteError) else self._fail(exc)
        for fut in batch.waiters:
            if not fut.done():
                fut.set_exception(error)
        return error

    def _written_batch(self, batch: _Batch) -> None:
        """A batch is committed: the intent log holds nothing SQLite lacks, and its waiters may go on."""
        if self._intent_fd is not None:
            try:  # a failed truncate only costs a dedup at the next boot
                os.ftruncate(self._intent_fd, 0)
            except OSError as exc:
                log.warning("journal %s: could not truncate the intent log: %s", self.path, exc)
        for fut in batch.waiters:
            if not fut.done():
                fut.set_result(None)
        if self._observer is not None:
            self._observer.batch_committed(len(batch.items), time.perf_counter() - batch.started)
        for listener in self._commit_listeners:
            try:
                listener()
            except Exception:
                log.exception("journal commit listener failed")

    def _write(self, items: Sequence[_Pending], extra_sql: Callable[[sqlite3.Connection], None] | None = None) -> None:
        """One transaction: every item, chained in order. Thread-safe; raises on failure."""
        rows = [item if isinstance(item, tuple) else event_row(item) for item in items]
        with self._lock:
            conn = self._conn
            if conn is None:
                raise JournalWriteError(f"journal {self.path} is not open")
            assert self.run_id is not None
            with transaction(conn):
                tail = insert_chained(conn, self.run_id, self._prev, rows)
                if extra_sql is not None:
                    extra_sql(conn)
            self._prev = tail
            self.flushes += 1
            if not self._closed:
                self._checkpointer.rows_written(len(rows))

    # ------------------------------------------------------------------ reading

    def settled_receipt(self, command_id: str) -> CommandReceipt | None:
        for item in reversed(self._pending):
            if isinstance(item, Ack) and item.command_id == command_id:
                return item.ack.receipt
            if isinstance(item, Receipt) and item.command_id == command_id:
                return item.receipt
        if self._conn is None:
            return None
        with self._lock:
            row = self._conn.execute(
                "SELECT e.body FROM entries e JOIN runs r ON r.run_id = e.run_id"
                " WHERE e.command_id = ? AND e.kind IN ('Ack', 'Receipt') AND r.status != ?"
                " ORDER BY e.id DESC LIMIT 1",
                (command_id, RunStatus.QUARANTINED.value),
            ).fetchone()
        if row is None:
            return None
        event = decode_event(row[0])
        if isinstance(event, Ack):
            return event.ack.receipt
        if isinstance(event, Receipt):
            return event.receipt
        return None

    # ------------------------------------------------------------------ close

    async def close(self) -> None:
        if self._closed:
            return
        if self._conn is None:
            self._closed = True
            if self._executor is not None:
                self._executor.shutdown(wait=False)
            return
        try:
            await self.flush()
        except Exception as exc:
            log.error("journal %s: final flush failed: %s", self.path, exc)
        self._closed = True
        if self._failed is None and self.run_id is not None:
            await self._write_run_ended(self.run_id)
        self._checkpointer.close()
        with self._lock:
            with contextlib.suppress(Exception):
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        if self._intent_fd is not None:
            os.close(self._intent_fd)
            self._intent_fd = None
            if self._failed is None:  # after a failure the log may hold intents SQLite lacks
                with contextlib.suppress(OSError):
                    self.intent_log_path.unlink()

    # ------------------------------------------------------------------ drills and diagnostics

    def abandon(self) -> None:
        """Drop the journal as a killed process would: no flush, no ``RunEnded``, no clean close.

        Committed rows stay, and so does every line already in the intent log (the kernel keeps
        what ``write()`` took); buffered lifecycle events are lost. The next ``open_run`` on the
        file seals this run CRASHED_RECOVERED and hands its open commands to recovery. A crash
        drill for tests (a strategy's too); the journal cannot be used afterwards.
        """
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._pending.clear()
        self._closed = True
        if self._intent_fd is not None:
            os.close(self._intent_fd)
            self._intent_fd = None
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    self._conn.close()
                self._conn = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        self._checkpointer.close()

    def fail_writes(self) -> None:
        """Drill: from now on every database write fails inside SQLite, as on a read-only or lost disk.

        The writer's connection is switched to ``PRAGMA query_only``, so the next flush fails with
        SQLite's own error and the journal fails exactly as on a real write error: every later
        ``record_intent`` raises ``JournalWriteError`` and the gateway halts. The intent log is a
        separate file and keeps taking intents. For tests of how a strategy meets that halt.
        """
        with self._lock:
            if self._conn is None:
                raise JournalError(f"journal {self.path} is not open")
            self._conn.execute("PRAGMA query_only=ON")

    def pragmas(self) -> dict[str, str | int]:
        """``journal_mode`` and ``synchronous`` as SQLite reports them for the writer's connection.

        Confirms the durability level took effect (``synchronous`` 1 = NORMAL for ``process``,
        2 = FULL for ``power``); ``synchronous`` is per connection, so no other reader can see it.
        """
        with self._lock:
            if self._conn is None:
                raise JournalError(f"journal {self.path} is not open")
            (mode,) = self._conn.execute("PRAGMA journal_mode").fetchone()
            (level,) = self._conn.execute("PRAGMA synchronous").fetchone()
        return {"journal_mode": str(mode), "synchronous": int(level)}

    async def _write_run_ended(self, run_id: str) -> None:
        """The clean end: a ``RunEnded`` marker and the run marked ENDED, in one transaction."""
        ended = utc_now()
        marker: Row = (self.last_sequence, "RunEnded", None, None, None, orjson.dumps({"ended_at": ended}))

        def seal(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE runs SET status = ?, ended_at = ? WHERE run_id = ?",
                (RunStatus.ENDED.value, ended.isoformat(), run_id),
            )

        try:
            if self._executor is not None:
                await asyncio.get_running_loop().run_in_executor(self._executor, self._write, [marker], seal)
            else:
                self._write([marker], seal)
        except Exception as exc:
            log.error("journal %s: could not write RunEnded: %s", self.path, exc)
