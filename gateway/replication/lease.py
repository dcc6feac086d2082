"""Who leads a gateway id: an epoch key taken by compare-and-set, a heartbeat key with a TTL, and a local lease.

- ``epoch`` (bucket ``gw_<id>_lead``, no TTL): ``{"epoch": n, "node": ...}``. A node takes the
  lead by updating it from the revision it read (``kv.update(last=rev)``); of two standbys
  racing, one wins and the other goes back to following.
- ``heartbeat`` (bucket ``gw_<id>_live``, the bucket's TTL = ``ttl``): the leader rewrites it
  every ``interval`` with a compare-and-set on its own last revision, so a write by anyone
  else (or the key ageing out) ends its lead at once.
- The **lease**: the leader may send only while ``now < last renewal sent + lease``, where
  ``lease = ttl - margin`` on its own monotonic clock, measured from *before* the renewal was
  sent. A follower declares the leader dead only after seeing no new heartbeat for ``ttl``
  on its clock, measured from *after* it read one. So a partitioned leader stops sending at
  least ``margin`` before anyone can take over: the margin must cover a send already past
  its checks (a venue request timeout). This is the part no JetStream header can do for a
  leader that cannot reach JetStream at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable

import orjson
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

from gateway.replication.errors import Fenced, NotLeader
from gateway.replication.link import NatsLink

__all__ = ["Leadership", "LeaseConfig"]

log = logging.getLogger(__name__)

EPOCH_KEY = "epoch"
HEARTBEAT_KEY = "heartbeat"


class LeaseConfig:
    """Heartbeat timing. ``ttl`` is the link's heartbeat TTL; ``margin`` covers a send already under way."""

    def __init__(self, ttl: float = 2.0, interval: float = 0.2, margin: float = 1.0):
        if not 0 < interval < ttl - margin:
            raise ValueError(f"need 0 < interval ({interval}) < ttl - margin ({ttl - margin})")
        self.ttl = ttl
        self.interval = interval
        self.margin = margin

    @property
    def lease(self) -> float:
        return self.ttl - self.margin

    def __repr__(self) -> str:
        return f"LeaseConfig(ttl={self.ttl}, interval={self.interval}, margin={self.margin})"


class Leadership:
    """One node's view of the lead: follow the heartbeat, take the epoch, renew, and fence itself."""

    def __init__(self, link: NatsLink, node: str, config: LeaseConfig | None = None):
        self.link = link
        self.node = node
        self.config = config or LeaseConfig(ttl=link.heartbeat_ttl)
        self.instance = secrets.token_hex(4)
        self.epoch = 0
        self.lost: Fenced | None = None
        self.acquired_at: float | None = None  # monotonic
        self._valid_until = 0.0
        self._hb_rev = 0
        self._task: asyncio.Task[None] | None = None
        self._on_lost: list[Callable[[Fenced], None]] = []

    def __repr__(self) -> str:
        return f"<Leadership {self.link.gateway_id} node={self.node} epoch={self.epoch}>"

    # ------------------------------------------------------------------ following

    async def current(self) -> tuple[int, str, int]:
        """``(epoch, node, revision)`` of the epoch key; ``(0, "", 0)`` when nobody ever led."""
        assert self.link.lead is not None
        try:
            entry = await self.link.lead.get(EPOCH_KEY)
        except KeyNotFoundError:
            return 0, "", 0
        data = orjson.loads(entry.value or b"{}")
        return int(data.get("epoch", 0)), str(data.get("node", "")), int(entry.revision or 0)

    async def _heartbeat_revision(self) -> int | None:
        assert self.link.live is not None
        try:
            entry = await self.link.live.get(HEARTBEAT_KEY)
        except KeyNotFoundError:
            return None
        return int(entry.revision or 0)

    async def wait_for_vacancy(self, stop: asyncio.Event | None = None) -> None:
        """Return once no heartbeat changed for ``ttl`` (measured here), or none exists at all.

        Reads the key every ``interval``: a bounded poll, because an aged-out key announces nothing.
        """
        seen = await self._heartbeat_revision()
        if seen is None:
            return
        changed_at = time.monotonic()
        while stop is None or not stop.is_set():
            await asyncio.sleep(self.config.interval)
            try:
                revision = await self._heartbeat_revision()
            except Exception as exc:  # cannot read: we know nothing new, and must not take over on it
                log.debug("heartbeat read failed: %r", exc)
                changed_at = time.monotonic()
                continue
            if revision is None:
                return
            if revision != seen:
                seen, changed_at = revision, time.monotonic()
            elif time.monotonic() - changed_at >= self.config.ttl:
                return

    # ------------------------------------------------------------------ leading

    async def acquire(self) -> int:
        """Take the next epoch by compare-and-set, write the first heartbeat, start renewing. Raises ``NotLeader``."""
        assert self.link.lead is not None and self.link.live is not None
        epoch, holder, revision = await self.current()
        value = orjson.dumps({"epoch": epoch + 1, "node": self.node, "instance": self.instance})
        sent = time.monotonic()
        try:
            if revision:
                await self.link.lead.update(EPOCH_KEY, value, last=revision)
            else:
                await self.link.lead.create(EPOCH_KEY, value)
        except KeyWrongLastSequenceError as exc:
            raise NotLeader(f"another node took epoch {epoch + 1} first") from exc
        self.epoch = epoch + 1
        self._hb_rev = await self.link.live.put(HEARTBEAT_KEY, self._heartbeat_value())
        self._valid_until = sent + self.config.lease
        self.acquired_at = time.monotonic()
        log.warning("%s: %s took the lead at epoch %d (was %s)", self.link.gateway_id, self.node, self.epoch, holder)
        self._task = asyncio.create_task(self._renew(), name=f"heartbeat:{self.link.gateway_id}")
        return self.epoch

    def _heartbeat_value(self) -> bytes:
        return orjson.dumps({"node": self.node, "epoch": self.epoch, "instance": self.instance})

    async def _renew(self) -> None:
        assert self.link.live is not None
        while self.lost is None:
            await asyncio.sleep(self.config.interval)
            if time.monotonic() >= self._valid_until:
                self.lose(Fenced(f"lease of epoch {self.epoch} ran out: NATS unreachable for {self.config.lease}s"))
                return
            sent = time.monotonic()
            try:
                async with asyncio.timeout(max(0.05, self._valid_until - sent)):
                    value = self._heartbeat_value()
                    self._hb_rev = await self.link.live.update(HEARTBEAT_KEY, value, last=self._hb_rev)
            except KeyWrongLastSequenceError:
                self.lose(Fenced(f"heartbeat of epoch {self.epoch} was overwritten or expired: another node leads"))
                return
            except Exception as exc:  # unreachable: the lease runs on and ends the lead if this lasts
                log.warning("%s: heartbeat renewal failed: %r", self.link.gateway_id, exc)
                continue
            self._valid_until = sent + self.config.lease

    def on_lost(self, callback: Callable[[Fenced], None]) -> None:
        self._on_lost.append(callback)

    def lose(self, reason: Fenced) -> None:
        """Stop leading (idempotent): every later ``check`` raises."""
        if self.lost is not None:
            return
        self.lost = reason
        log.error("%s: node %s lost the lead: %s", self.link.gateway_id, self.node, reason)
        for callback in self._on_lost:
            with contextlib.suppress(Exception):
                callback(reason)

    def check(self) -> None:
        """Raise ``Fenced`` unless this node holds a live lease (called before every send)."""
        if self.lost is not None:
            raise self.lost
        if self.epoch == 0:
            raise Fenced("this node never took the lead")
        if time.monotonic() >= self._valid_until:
            self.lose(Fenced(f"lease of epoch {self.epoch} ran out"))
            raise self.lost  # type: ignore[misc]

    async def close(self) -> None:
        """Stop renewing (the heartbeat ages out after ``ttl``); nothing is released early on purpose."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
