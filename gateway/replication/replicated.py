"""``ReplicatedJournal``: a ``JournalPort`` decorator that puts the journal's audit stream on JetStream.

``Gateway(journal=ReplicatedJournal(Journal(path), link, ...))`` is the whole integration: the
Gateway already writes every intent through ``record_intent`` before the send and halts (refusing
every later command) when it raises; this decorator only adds reasons to raise.

Modes (``intents=``):

- ``"tail"`` (default): ``record_intent`` is the local journal's, nothing more; the publisher tails
  the journal on its own task, so the submit path never waits on NATS. An intent reaches
  JetStream within a flush (20 ms) and a round trip after the send: a host lost in between takes
  with it the commands whose intent had not reached JetStream yet (the mode's known window).
- ``"before_send"``: ``record_intent`` also flushes the journal and returns only after JetStream
  acknowledged the intent (on a replicated stream: stored on a majority); no ack within
  ``intent_timeout`` raises ``IntentNotReplicated``: no ack, no send.

With a ``Leadership`` (failover), every ``record_intent`` first checks the lease and raises
``Fenced`` once it ran out or the publisher was refused; ``open_run`` takes the stream (the
``Lead`` marker, after the ``follower`` read it to its end) and adopts every command the stream
shows without a final outcome and this journal does not know, as ``Recovered`` entries, so the
Gateway's own start-up recovery hands them to its reconciler (trigger STARTUP). The bus then
numbers on after the stream's last sequence, so one replica spans primary and standby.

The leader also keeps a live ``StateReplica`` of its run (fed by the journal's listener, seeded
with the run's first entries) and has the publisher append its digest every ``digest_every``
sequences and at the run's end, for every consumer to compare (``consumer.Divergence``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Literal

from nats.js.errors import BadRequestError

from gateway.journal import AuditItem, Journal, JournalReader
from gateway.model import CommandReceipt, LifecycleEvent
from gateway.ports import PendingCommand, RecoveredCommand
from gateway.replica import StateReplica
from gateway.replication.consumer import AuditConsumer
from gateway.replication.errors import Fenced, IntentNotReplicated, NotLeader
from gateway.replication.lease import Leadership
from gateway.replication.link import NatsLink
from gateway.replication.publisher import AuditPublisher
from gateway.replication.wire import digest

__all__ = ["IntentMode", "ReplicatedJournal"]

log = logging.getLogger(__name__)

IntentMode = Literal["tail", "before_send"]
_WRONG_LAST_SEQUENCE = 10071
_CLAIM_ATTEMPTS = 100


class ReplicatedJournal:
    """See the module docstring."""

    def __init__(
        self,
        inner: Journal,
        link: NatsLink,
        *,
        intents: IntentMode = "tail",
        node: str = "primary",
        leadership: Leadership | None = None,
        follower: AuditConsumer | None = None,
        digest_every: int = 1000,
        intent_timeout: float = 2.0,
        window: int = 256,
        drain_timeout: float = 5.0,
    ):
        if intents not in ("tail", "before_send"):
            raise ValueError(f"intents must be 'tail' or 'before_send', got {intents!r}")
        if leadership is not None and follower is None:
            raise ValueError("a leader needs the follower that read the stream to its end")
        self.inner = inner
        self.link = link
        self.intents: IntentMode = intents
        self.node = node
        self.leadership = leadership
        self.follower = follower
        self.digest_every = digest_every
        self.intent_timeout = intent_timeout
        self.window = window
        self.drain_timeout = drain_timeout
        self.publisher: AuditPublisher | None = None
        self.adopted: list[RecoveredCommand] = []
        self.live = StateReplica(strict=False)
        self._floor = 0
        self._next_digest = 0

    def __repr__(self) -> str:
        return f"<ReplicatedJournal {self.inner.path} {self.link.gateway_id} {self.intents} node={self.node}>"

    # ------------------------------------------------------------------ JournalPort

    @property
    def last_sequence(self) -> int:
        return max(self.inner.last_sequence, self._floor)

    @last_sequence.setter
    def last_sequence(self, value: int) -> None:
        self.inner.last_sequence = value

    @property
    def run_id(self) -> str | None:
        return self.inner.run_id

    async def open_run(self, venues: Sequence[str]) -> list[RecoveredCommand]:
        recovered = await self.inner.open_run(venues)
        run_id = self.inner.run_id
        assert run_id is not None
        with JournalReader(self.inner.path) as reader:
            journal_id = reader.runs()[0].run_id
            for item in reader.audit_items(run_id):
                self.live.apply(item)
        if self.leadership is not None and self.leadership.epoch == 0:
            # Taken here, after the Gateway started its venues: the lease starts running only
            # when the stream is about to be claimed (raises NotLeader if another node won).
            await self.leadership.acquire()
        epoch = self.leadership.epoch if self.leadership is not None else 0
        self.publisher = AuditPublisher(
            self.link, self.inner.path, journal_id=journal_id, run_id=run_id, epoch=epoch, node=self.node,
            window=self.window, on_fenced=self._publisher_fenced,
        )  # fmt: skip
        self._next_digest = (self.live.last_sequence or 0) + self.digest_every
        self.inner.subscribe(self._observe)
        if self.leadership is not None:
            self.leadership.on_lost(self.publisher.stop_now)
            await self._claim()
            self.adopted = await self._adopt({r.command.command_id for r in recovered})
        self.inner.on_commit(self.publisher.nudge)
        self.publisher.start()
        return [*recovered, *self.adopted]

    async def record_intent(self, command: PendingCommand, sequence: int) -> None:
        self._check_lead()
        await self.inner.record_intent(command, sequence)
        if self.intents != "before_send":
            return
        assert self.publisher is not None and self.inner.run_id is not None
        await self.inner.flush()
        self.publisher.nudge()
        try:
            async with asyncio.timeout(self.intent_timeout):
                await self.publisher.wait_acked(self.inner.run_id, sequence)
        except TimeoutError as exc:
            raise IntentNotReplicated(
                f"JetStream did not acknowledge intent {command.command_id} within {self.intent_timeout}s: not sent"
            ) from exc
        self._check_lead()  # the lease may have run out while we waited

    def record_event(self, event: LifecycleEvent) -> None:
        self.inner.record_event(event)

    def settled_receipt(self, command_id: str) -> CommandReceipt | None:
        return self.inner.settled_receipt(command_id)

    async def close(self) -> None:
        publisher = self.publisher
        run_id = self.inner.run_id
        if publisher is not None and run_id is not None and publisher.fenced is None:
            publisher.digests[(run_id, self.inner.last_sequence, "end")] = digest(self.live)
        await self.inner.close()
        if publisher is not None:
            publisher.nudge()  # the RunEnded marker was committed outside the batch path
            await publisher.close(self.drain_timeout)
        if self.leadership is not None:
            await self.leadership.close()

    # ------------------------------------------------------------------ leading

    def _check_lead(self) -> None:
        if self.publisher is not None and self.publisher.fenced is not None:
            raise self.publisher.fenced
        if self.leadership is not None:
            self.leadership.check()

    def _publisher_fenced(self, reason: Fenced) -> None:
        if self.leadership is not None:
            self.leadership.lose(reason)

    async def _claim(self) -> None:
        """The ``Lead`` marker right after the last message the follower applied; read on and retry if it moved."""
        assert self.publisher is not None and self.follower is not None and self.leadership is not None
        for _ in range(_CLAIM_ATTEMPTS):
            self.leadership.check()
            await self.follower.catch_up()
            try:
                await self.publisher.claim(self.follower.last_stream_seq, self.follower.last_message)
                return
            except BadRequestError as exc:
                if exc.err_code != _WRONG_LAST_SEQUENCE:
                    raise
        raise NotLeader(f"the audit stream kept moving: could not append the Lead marker in {_CLAIM_ATTEMPTS} tries")

    async def _adopt(self, own: set[str]) -> list[RecoveredCommand]:
        """Write the stream's unsettled commands this journal does not know as ``Recovered`` entries."""
        assert self.follower is not None
        self._floor = max(self._floor, self.follower.last_gateway_seq)
        sequence = self.last_sequence
        adopted: list[RecoveredCommand] = []
        with JournalReader(self.inner.path) as reader:
            for outcome in self.follower.unsettled():
                command = outcome.intent.command
                if command.command_id in own or reader.command_entries(command.command_id):
                    continue
                sequence += 1
                await self.inner.record_intent(
                    command, sequence, recovered_from=outcome.run_id, last_receipt=outcome.last_receipt
                )
                adopted.append(RecoveredCommand(command, outcome.run_id, outcome.last_receipt))
        if adopted:
            await self.inner.flush()
            log.warning("%s: node %s adopted %d unsettled command(s)", self.link.gateway_id, self.node, len(adopted))
        return adopted

    # ------------------------------------------------------------------ digests

    def _observe(self, item: AuditItem) -> None:
        self.live.apply(item)
        if item.sequence >= self._next_digest and self.publisher is not None and self.inner.run_id is not None:
            self.publisher.digests[(self.inner.run_id, item.sequence, "item")] = digest(self.live)
            self._next_digest = item.sequence + self.digest_every
