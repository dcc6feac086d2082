"""``Node``: one gateway process of a gateway id, primary or standby: follow, take the lead, then serve.

The primary and a standby run the same steps; the primary just finds nobody leading:

1. read the audit stream to its end (``AuditConsumer``: the replica, the unsettled commands);
2. keep following it while the current leader's heartbeat is alive;
3. when it is gone (or there never was one) take the next epoch by compare-and-set
   (``Leadership.acquire``, in the journal's ``open_run`` once the venues are up: losing the
   race to another standby raises ``NotLeader`` there, and the caller follows again);
4. return a ``ReplicatedJournal`` over this node's own journal, for ``Gateway(journal=...)``:
   its ``open_run`` appends the ``Lead`` marker and adopts the unsettled commands, and the
   Gateway's start-up recovery reconciles them (trigger STARTUP) before serving new submits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

from gateway.journal import Durability, Journal
from gateway.replication.consumer import AuditConsumer
from gateway.replication.errors import NotLeader
from gateway.replication.lease import Leadership, LeaseConfig
from gateway.replication.link import NatsLink
from gateway.replication.replicated import IntentMode, ReplicatedJournal

__all__ = ["Node"]

log = logging.getLogger(__name__)


class Node:
    """See the module docstring."""

    def __init__(
        self,
        link: NatsLink,
        node: str,
        journal_path: str | Path,
        *,
        intents: IntentMode = "tail",
        lease: LeaseConfig | None = None,
        durability: Durability = "process",
        digest_every: int = 1000,
        intent_timeout: float = 2.0,
    ):
        self.link = link
        self.node = node
        self.journal_path = Path(journal_path)
        self.intents: IntentMode = intents
        self.lease = lease or LeaseConfig(ttl=link.heartbeat_ttl)
        self.durability: Durability = durability
        self.digest_every = digest_every
        self.intent_timeout = intent_timeout
        self.follower = AuditConsumer(link, node=node)
        self.leadership = Leadership(link, node, self.lease)
        self.vacant_at: float | None = None  # monotonic: when the leader was declared gone

    def __repr__(self) -> str:
        return f"<Node {self.node} of {self.link.gateway_id}>"

    async def take_lead(self, stop: asyncio.Event | None = None, *, acquire_now: bool = False) -> ReplicatedJournal:
        """Follow until the lead is free and return the journal to start a Gateway with.

        The epoch is taken by that journal's ``open_run`` (``Gateway.start``, once the venues are
        up), so the lease never runs while the venues connect; ``acquire_now`` takes it here.
        """
        while True:
            await self.follower.catch_up()
            vacancy = asyncio.create_task(self.leadership.wait_for_vacancy(stop))
            try:
                while not vacancy.done():
                    with contextlib.suppress(TimeoutError):
                        await self.follower.step(timeout=self.lease.interval)
            finally:
                vacancy.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await vacancy
            if stop is not None and stop.is_set():
                raise asyncio.CancelledError("stopped while following")
            self.vacant_at = time.monotonic()
            if not acquire_now:
                return self.journal()  # its open_run takes the epoch (after the Gateway's venues started)
            try:
                await self.leadership.acquire()
            except NotLeader as exc:
                log.warning("%s: %s; following the new leader", self.node, exc)
                continue
            return self.journal()

    def journal(self) -> ReplicatedJournal:
        return ReplicatedJournal(
            Journal(self.journal_path, durability=self.durability),
            self.link,
            intents=self.intents,
            node=self.node,
            leadership=self.leadership,
            follower=self.follower,
            digest_every=self.digest_every,
            intent_timeout=self.intent_timeout,
        )
