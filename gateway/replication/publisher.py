"""``AuditPublisher``: tails a journal and appends every entry, in journal order, to the gateway id's stream.

The journal is the source of truth and the only buffer: the publisher reads committed rows
from its own read-only SQLite connection (woken by the journal's commit hook, or a slow poll),
so a NATS outage or a publisher crash loses nothing, and nothing is ever held in memory beyond
the window of publishes awaiting their ack.

Where to start is the stream's own tail, persisted by JetStream: each message carries the
journal id and entry id it came from, so a restarted publisher whose journal wrote the tail
resumes at the next entry (no gap, no duplicate); otherwise it starts at the journal's current
run. ``Nats-Msg-Id`` makes a retried publish a duplicate JetStream drops.

Fencing: this publisher is the only writer of the stream while it holds the lead, so it knows
where each publish must land: the first of a window carries ``Nats-Expected-Last-Sequence``
(the tail it just read), each later one ``Nats-Expected-Last-Msg-Id`` (its predecessor's id);
JetStream refuses every publish after another node's ``Lead`` marker. Publishes are
pipelined (a bounded window of acks awaited asynchronously); after any failure the publisher
waits for the window to settle, re-reads the stream's tail and resumes after it if the tail is
its own, or stops as ``Fenced`` (and halts the gateway's sends) if another node wrote it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson
from nats.js.api import PubAck
from nats.js.errors import NotFoundError

from gateway.journal import JournalEntry
from gateway.journal.store import ENTRY_COLUMNS, connect, first_id, rows_to_entries
from gateway.replication.errors import Fenced
from gateway.replication.link import NatsLink
from gateway.replication.wire import (
    H_ENTRY,
    H_EPOCH,
    H_JOURNAL,
    H_KIND,
    H_NODE,
    H_RUN,
    H_SEQ,
    ITEM_KINDS,
    WireMessage,
    entry_headers,
)

__all__ = ["AuditPublisher", "read_tail"]

log = logging.getLogger(__name__)

_READ_BATCH = 512
_POLL = 0.25  # seconds between looks at the journal when no commit hook woke us


@dataclass(slots=True)
class _InFlight:
    entry: JournalEntry | None  # None: a digest
    future: asyncio.Future[PubAck]
    run_id: str
    sequence: int


async def read_tail(link: NatsLink) -> WireMessage | None:
    """The stream's last message, read from the stream leader (a direct get may lag on a replica)."""
    last = await link.last_stream_seq()
    if last == 0:
        return None
    try:
        raw = await link.js.get_msg(link.names.stream, seq=last)
    except NotFoundError:
        return None
    headers = dict(raw.headers or {})
    return WireMessage(int(raw.seq or last), headers.get(H_KIND, ""), headers, raw.data or b"")


class AuditPublisher:
    """See the module docstring. ``start()`` runs it as a task; ``close()`` drains it (bounded)."""

    def __init__(
        self,
        link: NatsLink,
        journal_path: str | Path,
        *,
        journal_id: str,
        run_id: str,
        epoch: int = 0,
        node: str = "primary",
        window: int = 256,
        ack_timeout: float = 2.0,
        on_fenced: Callable[[Fenced], None] | None = None,
    ):
        self.link = link
        self.journal_path = Path(journal_path)
        self.journal_id = journal_id
        self.run_id = run_id
        self.epoch = epoch
        self.node = node
        self.window = window
        self.ack_timeout = ack_timeout
        self.on_fenced = on_fenced
        self.fenced: Fenced | None = None
        self.published = 0  # messages acknowledged by JetStream
        self.failures = 0  # windows that broke (outage, timeout) and were resumed from the tail
        self.acked_entry = 0  # the last journal entry id JetStream holds
        self.last_stream_seq = 0
        self.digests: dict[tuple[str, int, str], str] = {}  # (run, sequence, "item" | "end") -> digest
        self._acked: dict[str, int] = {}  # run -> highest sequence acknowledged
        self._waiters: list[tuple[str, int, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._conn: sqlite3.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._idle = asyncio.Event()
        self._claimed = False  # published at least once this session: a foreign tail now means fenced
        self._inflight: deque[_InFlight] = deque()

    def __repr__(self) -> str:
        return f"<AuditPublisher {self.link.gateway_id} epoch={self.epoch} acked_entry={self.acked_entry}>"

    # ------------------------------------------------------------------ control

    def start(self) -> None:
        self._db()
        self._task = asyncio.create_task(self._run(), name=f"audit-publisher:{self.link.gateway_id}")

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = connect(self.journal_path, read_only=True)
        return self._conn

    def _run_start(self) -> int:
        """The entry before this journal's current run: where a journal new to the stream starts."""
        return max(0, first_id(self._db(), self.run_id) - 1)

    async def claim(self, expected_last_seq: int, tail: WireMessage | None) -> int:
        """Append the ``Lead`` marker right after stream sequence ``expected_last_seq`` (the fence).

        Raises JetStream's wrong-last-sequence error if the stream moved on meanwhile: the caller
        reads on and tries again. ``tail`` is the message at ``expected_last_seq``: if this journal
        wrote it, publishing resumes after its entry, otherwise at this journal's current run.
        """
        cursor = tail.entry_id if tail is not None and tail.journal_id == self.journal_id else self._run_start()
        headers = {
            "Nats-Msg-Id": f"{self.link.gateway_id}:lead:{self.epoch}",
            "Nats-Expected-Last-Sequence": str(expected_last_seq),
            H_KIND: "Lead",
            H_EPOCH: str(self.epoch),
            H_NODE: self.node,
            H_JOURNAL: self.journal_id,
            H_ENTRY: str(cursor),
            H_RUN: self.run_id,
        }
        body = orjson.dumps({"epoch": self.epoch, "node": self.node, "journal": self.journal_id})
        ack = await self.link.js.publish(self.link.names.subject, body, headers=headers)
        self._claimed = True
        self.last_stream_seq = int(ack.seq)
        return int(ack.seq)

    def stop_now(self, reason: Fenced) -> None:
        """Lost the lead: publish nothing more (what is left stays in the journal)."""
        if self.fenced is None:
            self._fence(reason)
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def nudge(self) -> None:
        """New rows were committed (the journal's commit hook)."""
        self._wake.set()

    async def wait_acked(self, run_id: str, sequence: int) -> None:
        """Return once JetStream acknowledged the entry with ``sequence`` of ``run_id`` (raises ``Fenced``)."""
        if self.fenced is not None:
            raise self.fenced
        if self._acked.get(run_id, 0) >= sequence:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((run_id, sequence, fut))
        self.nudge()
        try:
            await fut
        finally:
            if not fut.done():
                fut.cancel()
            with contextlib.suppress(ValueError):
                self._waiters.remove((run_id, sequence, fut))

    async def drain(self, timeout: float) -> bool:
        """Wait until everything committed so far is acknowledged (bounded); True if it was."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self.fenced is None and (self._task is not None and not self._task.done()):
            self._idle.clear()
            self.nudge()
            if self._caught_up():
                return True
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._idle.wait()
        return self._caught_up()

    def _caught_up(self) -> bool:
        return not self._inflight and not self._read(self.acked_entry, 1)

    async def close(self, timeout: float = 5.0) -> None:
        if self._task is None:
            return
        with contextlib.suppress(Exception):
            await self.drain(timeout)
        self._closing = True
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
        self._task = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # ------------------------------------------------------------------ the loop

    async def _run(self) -> None:
        delay = 0.05
        while not self._closing:
            try:
                cursor, expect = await self._resync()
                delay = 0.05
                await self._pump(cursor, expect)
            except Fenced as exc:
                self._fence(exc)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # an outage or a timeout: resume from the stream's tail
                self.failures += 1
                log.warning("audit publisher %s: %r; resuming from the stream tail", self.link.gateway_id, exc)
                await asyncio.sleep(delay)
                delay = min(1.0, delay * 2)

    async def _resync(self) -> tuple[int, int]:
        """Where to go on: (last journal entry the stream holds, the stream's last sequence)."""
        tail = await read_tail(self.link)
        last = tail.stream_seq if tail is not None else 0
        if tail is not None and tail.journal_id == self.journal_id and tail.epoch == self.epoch:
            self._claimed = True
            return tail.entry_id, last
        if self._claimed or (tail is not None and tail.epoch > self.epoch):
            who = "nobody" if tail is None else f"{tail.node or '?'} at epoch {tail.epoch}"
            raise Fenced(f"the audit stream was written by {who} after us (epoch {self.epoch}): we lost the lead")
        return self._run_start(), last

    async def _pump(self, cursor: int, expect: int) -> None:
        js = self.link.js
        subject = self.link.names.subject
        inflight: deque[_InFlight] = deque()
        self._inflight = inflight
        previous: str | None = None  # the Nats-Msg-Id of the publish before this one
        try:
            while True:
                room = self.window - len(inflight)
                rows = self._read(cursor, min(_READ_BATCH, room)) if room > 0 else []
                for entry in rows:
                    headers = entry_headers(
                        entry, gateway_id=self.link.gateway_id, epoch=self.epoch, node=self.node,
                        journal_id=self.journal_id,
                    )  # fmt: skip
                    self._expect(headers, expect, previous)
                    previous = headers["Nats-Msg-Id"]
                    fut = await js.publish_async(subject, entry.body, headers=headers)
                    expect += 1
                    cursor = entry.id
                    inflight.append(_InFlight(entry, fut, entry.run_id, entry.sequence))
                    key = (entry.run_id, entry.sequence, "end" if entry.kind == "RunEnded" else "item")
                    if entry.kind in ITEM_KINDS or entry.kind == "RunEnded":
                        value = self.digests.pop(key, None)
                        if value is not None:
                            digest_in_flight, previous = await self._publish_digest(entry, key, value, expect, previous)
                            inflight.append(digest_in_flight)
                            expect += 1
                if not inflight:
                    self._idle.set()
                    self._wake.clear()
                    if not self._read(cursor, 1):
                        with contextlib.suppress(TimeoutError):
                            async with asyncio.timeout(_POLL):
                                await self._wake.wait()
                    continue
                head = inflight[0]
                if not head.future.done() and rows and len(inflight) < self.window:
                    continue  # keep filling the window; acks are collected when it is full or idle
                async with asyncio.timeout(self.ack_timeout):
                    ack = await head.future
                inflight.popleft()
                self._acked_one(head, ack)
                while inflight and inflight[0].future.done():
                    item = inflight.popleft()
                    self._acked_one(item, item.future.result())
        finally:
            for item in inflight:  # abandoned: releases nats-py's pending-publish slot
                item.future.cancel()
            inflight.clear()

    @staticmethod
    def _expect(headers: dict[str, str], expect: int, previous: str | None) -> None:
        """The fence: the first publish of a window names the stream's last sequence (just read from
        it), every later one the message id of the publish before it. A sequence alone would not do
        once pipelined: after another node's message took one slot, our *next* predicted sequence
        would match again; a message id only ever matches our own previous message."""
        if previous is None:
            headers["Nats-Expected-Last-Sequence"] = str(expect)
        else:
            headers["Nats-Expected-Last-Msg-Id"] = previous

    async def _publish_digest(
        self, entry: JournalEntry, key: tuple[str, int, str], value: str, expect: int, previous: str | None
    ) -> tuple[_InFlight, str]:
        run_id, sequence, when = key
        headers = {
            "Nats-Msg-Id": f"{self.link.gateway_id}:{run_id}:{sequence}:Digest:{when}",
            H_KIND: "Digest",
            H_RUN: run_id,
            H_SEQ: str(sequence),
            H_EPOCH: str(self.epoch),
            H_NODE: self.node,
            H_JOURNAL: self.journal_id,
            H_ENTRY: str(entry.id),
        }
        self._expect(headers, expect, previous)
        body = orjson.dumps({"digest": value, "at": when})
        fut = await self.link.js.publish_async(self.link.names.subject, body, headers=headers)
        return _InFlight(None, fut, run_id, -1), headers["Nats-Msg-Id"]

    def _acked_one(self, item: _InFlight, ack: object) -> None:
        self._claimed = True
        self.published += 1
        self.last_stream_seq = int(getattr(ack, "seq", 0) or self.last_stream_seq)
        if item.entry is None:
            return
        self.acked_entry = item.entry.id
        done = self._acked[item.run_id] = max(item.sequence, self._acked.get(item.run_id, 0))
        for run_id, sequence, fut in list(self._waiters):
            if run_id == item.run_id and sequence <= done and not fut.done():
                fut.set_result(None)

    def _fence(self, exc: Fenced) -> None:
        log.error("audit publisher %s: %s", self.link.gateway_id, exc)
        self.fenced = exc
        for _, _, fut in self._waiters:
            if not fut.done():
                fut.set_exception(exc)
        self._idle.set()
        if self.on_fenced is not None:
            self.on_fenced(exc)

    def _read(self, after: int, limit: int) -> list[JournalEntry]:
        if limit <= 0:
            return []
        query = f"SELECT {ENTRY_COLUMNS} FROM entries WHERE id > ? ORDER BY id LIMIT ?"
        rows = self._db().execute(query, (after, limit))
        return list(rows_to_entries(rows))
