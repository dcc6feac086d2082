"""``AuditConsumer``: the audit stream into a ``StateReplica``, from any point, checked as it goes.

- **Where from**: the stream's start, any stream sequence N (a position a consumer saved), or a
  journal snapshot (``seed_from_journal``: the replica is built from a copy of the journal and
  every stream item it already holds is skipped).
- **Duplicates** (a redelivery, an item the snapshot held) are skipped; **gaps** in the stream
  sequence (a delivery that never came) are fetched again from the stream leader by sequence;
  a message that is gone (deleted, expired) is ``UnrecoverableGap``. Within a run, every entry's
  checksum must continue the run's chain as the journal wrote it, so an entry missing or altered
  between the journal and the stream is caught too.
- **Divergence**: a per-run replica is digested at every ``Digest`` the leader published; a
  different digest is a ``Divergence``, kept, logged and published on the alert stream.
- **What a standby needs**: the commands without a final outcome (the journal's own recovery
  fold, ``gateway.journal.recovery.CommandOutcome``), the last gateway sequence and epoch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from gateway.journal import IntentEntry, JournalReader
from gateway.journal.codec import chain
from gateway.journal.recovery import CommandOutcome
from gateway.model import CommandStatus
from gateway.replica import StateReplica
from gateway.replication.errors import UnrecoverableGap
from gateway.replication.link import NatsLink
from gateway.replication.wire import H_KIND, H_SEQ, ITEM_KINDS, MARKER_KINDS, WireMessage, digest

__all__ = ["AuditConsumer", "Divergence"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Divergence:
    """The leader's digest of a run at a sequence differs from the one this consumer computed."""

    run_id: str
    sequence: int
    stream_seq: int
    leader: str
    theirs: str
    ours: str

    def line(self) -> str:
        return (
            f"DIVERGED at {self.run_id} sequence {self.sequence} (stream {self.stream_seq}): "
            f"leader {self.leader} digest {self.theirs}, ours {self.ours}"
        )


class AuditConsumer:
    """See the module docstring."""

    def __init__(self, link: NatsLink, *, node: str = "replica", start_seq: int = 1, alerts: bool = True):
        self.link = link
        self.node = node
        self.alerts = alerts
        self.replica = StateReplica(strict=False)
        self.last_stream_seq = start_seq - 1
        self.last_message: WireMessage | None = None
        self.last_gateway_seq = 0
        self.skip_through = 0  # gateway sequences a journal snapshot already applied
        self.epoch = 0
        self.leader = ""
        self.duplicates = 0
        self.refetched = 0
        self.digests_checked = 0
        self.divergences: list[Divergence] = []
        self.outcomes: dict[str, CommandOutcome] = {}  # commands without a final outcome
        self._chains: dict[str, str] = {}  # run -> the last checksum seen
        self._run_id: str | None = None
        self._run_replica = StateReplica(strict=False)
        self._run_complete = False  # the run replica saw its run from RunStarted on
        self._sub: Any = None

    def __repr__(self) -> str:
        return f"<AuditConsumer {self.link.gateway_id} at stream {self.last_stream_seq}>"

    # ------------------------------------------------------------------ starting points

    def seed_from_journal(self, path: str | Path) -> None:
        """Build the replica from a journal snapshot; stream items up to its last sequence are skipped."""
        with JournalReader(path) as reader:
            for run in reader.runs():
                for item in reader.audit_items(run.run_id):
                    self.replica.apply(item)
                    self._fold(item, run.run_id)
        self.skip_through = self.replica.last_sequence or 0
        self.last_gateway_seq = self.skip_through

    # ------------------------------------------------------------------ reading

    async def catch_up(self, timeout: float = 30.0) -> int:
        """Read to the stream's current end; returns the last stream sequence applied."""
        target = await self.link.last_stream_seq()
        async with asyncio.timeout(timeout):
            while self.last_stream_seq < target:
                await self.step(timeout=timeout)
        return self.last_stream_seq

    async def follow(self, stop: asyncio.Event) -> None:
        """Apply messages as they come until ``stop`` is set."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await self.step(timeout=0.5)

    async def step(self, timeout: float) -> None:
        """Receive one message (raises ``TimeoutError`` when none came) and apply it and any gap before it."""
        msg = await self._receive(timeout)
        if msg.stream_seq <= self.last_stream_seq:
            self.duplicates += 1
            return
        for missing in range(self.last_stream_seq + 1, msg.stream_seq):
            self.apply(await self._refetch(missing))
            self.refetched += 1
        self.apply(msg)

    async def _subscription(self) -> Any:
        if self._sub is None:
            self._sub = await self.link.js.subscribe(
                self.link.names.subject,
                stream=self.link.names.stream,
                ordered_consumer=True,
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                config=ConsumerConfig(opt_start_seq=self.last_stream_seq + 1),
                idle_heartbeat=2.0,
            )
        return self._sub

    async def _receive(self, timeout: float) -> WireMessage:
        sub = await self._subscription()
        try:
            msg = await sub.next_msg(timeout=timeout)
        except Exception as exc:  # nats-py's own TimeoutError is not the builtin one
            if type(exc).__name__ == "TimeoutError":
                raise TimeoutError from exc
            raise
        headers = dict(msg.headers or {})
        return WireMessage(int(msg.metadata.sequence.stream), headers.get(H_KIND, ""), headers, msg.data or b"")

    async def _refetch(self, stream_seq: int) -> WireMessage:
        try:
            raw = await self.link.js.get_msg(self.link.names.stream, seq=stream_seq)
        except NotFoundError as exc:
            raise UnrecoverableGap([stream_seq], "deleted or expired from the stream") from exc
        headers = dict(raw.headers or {})
        return WireMessage(stream_seq, headers.get(H_KIND, ""), headers, raw.data or b"")

    async def close(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None

    # ------------------------------------------------------------------ applying

    def apply(self, msg: WireMessage) -> None:
        """Apply one message in stream order (``step`` guarantees the order and completeness)."""
        self.last_stream_seq = msg.stream_seq
        self.last_message = msg
        kind = msg.kind
        if kind == "Lead":
            self.epoch = max(self.epoch, msg.epoch)
            self.leader = msg.node
            return
        if kind == "Digest":
            self._check_digest(msg)
            return
        if kind in ITEM_KINDS or kind in MARKER_KINDS:
            self._check_chain(msg)
        if kind == "RunStarted":
            self._new_run(msg.run_id, complete=True)
            return
        if kind not in ITEM_KINDS:
            return
        if msg.run_id != self._run_id:
            self._new_run(msg.run_id, complete=False)
        sequence = int(msg.headers.get(H_SEQ, "0"))
        if sequence <= self.skip_through:
            self.duplicates += 1
            return
        item = msg.item()
        if not self.replica.apply(item):
            self.duplicates += 1
        self._run_replica.apply(item)
        self.last_gateway_seq = max(self.last_gateway_seq, item.sequence)
        self._fold(item, msg.run_id)

    def _new_run(self, run_id: str, *, complete: bool) -> None:
        self._run_id = run_id
        self._run_replica = StateReplica(strict=False)
        self._run_complete = complete

    def _check_chain(self, msg: WireMessage) -> None:
        entry = msg.entry()
        prev = self._chains.get(entry.run_id, entry.run_id if entry.kind == "RunStarted" else None)
        if prev is not None and entry.checksum:
            expected = chain(
                prev, entry.run_id, entry.sequence, entry.kind, entry.command_id, entry.client_order_id,
                entry.venue, entry.body,
            )  # fmt: skip
            if expected != entry.checksum:
                raise UnrecoverableGap(
                    [msg.stream_seq],
                    f"run {entry.run_id}'s checksum chain breaks at sequence {entry.sequence} ({entry.kind}): "
                    "an entry is missing or altered between the journal and the stream",
                )
        self._chains[entry.run_id] = entry.checksum

    def _fold(self, item: Any, run_id: str) -> None:
        """``gateway.journal.recovery.unresolved_commands``, incrementally; final commands are dropped."""
        if isinstance(item, IntentEntry):
            prior = self.outcomes.get(item.command_id)
            outcome = CommandOutcome(item, run_id, item.last_receipt)
            if prior is not None and item.recovered_from is not None:
                outcome.last_receipt = outcome.last_receipt or prior.last_receipt
            self.outcomes[item.command_id] = outcome
            return
        found = self.outcomes.get(item.command_id)
        if found is not None:
            found.apply(item)
            if found.is_final():
                del self.outcomes[item.command_id]

    def unsettled(self) -> list[CommandOutcome]:
        """Commands the stream shows without a final outcome, in intent order."""
        return sorted(self.outcomes.values(), key=lambda o: o.intent.sequence)

    # ------------------------------------------------------------------ divergence

    def _check_digest(self, msg: WireMessage) -> None:
        theirs = str(msg.json().get("digest", ""))
        replica = self._run_replica
        if msg.run_id != self._run_id or not self._run_complete or replica.last_sequence != msg.sequence:
            return  # this consumer did not see the whole run up to there: nothing comparable
        self.digests_checked += 1
        ours = digest(replica)
        if ours == theirs:
            return
        found = Divergence(msg.run_id, msg.sequence, msg.stream_seq, msg.node, theirs, ours)
        self.divergences.append(found)
        log.error("%s %s: %s", self.link.gateway_id, self.node, found.line())
        if self.alerts:
            self._publish_alert(found)

    def _publish_alert(self, found: Divergence) -> None:
        body = orjson.dumps({"kind": "Divergence", "node": self.node, "line": found.line(), **asdict(found)})
        headers = {"Nats-Msg-Id": f"{self.node}:{found.run_id}:{found.sequence}:divergence"}
        task = asyncio.get_running_loop().create_task(
            self.link.js.publish(self.link.names.alert_subject, body, headers=headers)
        )
        task.add_done_callback(_log_failed_alert)

    # ------------------------------------------------------------------ reading out

    def state(self) -> dict[str, Any]:
        """What ``gateway replica --json`` prints (contract: commands, by_status, unknown_open, last_sequence)."""
        by_status: Counter[str] = Counter()
        unknown_open = 0
        for state in self.replica.commands.values():
            status = state.status
            by_status[status.value if status is not None else "NO_ACK"] += 1
            if not state.final and state.current is None and status in (None, CommandStatus.UNKNOWN_EXECUTION):
                unknown_open += 1
        return {
            "gateway_id": self.link.gateway_id,
            "commands": len(self.replica.commands),
            "by_status": dict(sorted(by_status.items())),
            "unknown_open": unknown_open,
            "last_sequence": self.replica.last_sequence or 0,
            "last_stream_seq": self.last_stream_seq,
            "epoch": self.epoch,
            "leader": self.leader,
            "duplicates_skipped": self.duplicates + self.replica.duplicates,
            "refetched": self.refetched,
            "digests_checked": self.digests_checked,
            "divergences": [d.line() for d in self.divergences],
        }


def _log_failed_alert(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("divergence alert not published: %r", task.exception())
