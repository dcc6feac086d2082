"""What the reconciler remembers beyond its tracked set, each memory bounded.

- ``StreamMemory``: the latest stream view of each order, and when an order was first seen
  closed here (local clock): a cancel sent after that moment cannot have closed it, whatever
  the venue's clock says.
- ``CancelBook``: every cancel the gateway sent, by target, with its standing: whether another
  cancel accounts for a target's CANCELED.
- ``AbsentMemory``: the creates proved ABSENT, so a later sighting raises DIVERGED.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from gateway.model import OrderReport
from gateway.ports import PendingCommand
from reconcile.evidence import CancelRecord, CancelState
from reconcile.tracking import Key, order_keys, target_keys

__all__ = ["AbsentMemory", "CancelBook", "StreamMemory"]

_SEEN_LIMIT = 50_000
_CANCEL_MEMORY = 50_000  # target orders whose cancels are remembered (sibling evidence)
_ABSENT_LIMIT = 10_000
_ABSENT_MEMORY_SECONDS = 3600.0


class StreamMemory:
    """The user stream's latest view of each order, and when each order was first seen closed."""

    def __init__(self) -> None:
        self._seen: OrderedDict[Key, OrderReport] = OrderedDict()
        self._closed_seen: OrderedDict[tuple[str, str], float] = OrderedDict()

    def observe(self, order: OrderReport) -> None:
        for key in order_keys(order):
            self._seen[key] = order
            self._seen.move_to_end(key)
        while len(self._seen) > _SEEN_LIMIT:
            self._seen.popitem(last=False)
        if order.state.is_terminal:
            closed = (order.venue, order.order_id)
            if closed not in self._closed_seen:
                self._closed_seen[closed] = time.time()
                while len(self._closed_seen) > _SEEN_LIMIT:
                    self._closed_seen.popitem(last=False)

    def view(self, key: Key) -> OrderReport | None:
        return self._seen.get(key)

    def view_of(self, command: PendingCommand) -> OrderReport | None:
        """The stream's view of the order ``command`` names: by order id first, then client id."""
        order = None
        if command.order_id:
            order = self._seen.get(("oid", command.venue, command.order_id))
        if order is None and command.client_order_id:
            order = self._seen.get(("cid", command.venue, command.client_order_id))
        return order

    def closed_at(self, venue: str, order_id: str) -> float | None:
        """When (local epoch seconds) the stream first showed the order closed, if it did."""
        return self._closed_seen.get((venue, order_id))


class CancelBook:
    """Every cancel sent, filed under each key of its target."""

    def __init__(self) -> None:
        self._cancels: OrderedDict[Key, dict[str, CancelRecord]] = OrderedDict()

    def record(self, command: PendingCommand) -> CancelRecord | None:
        for key in target_keys(command):
            record = self._cancels.get(key, {}).get(command.command_id)
            if record is not None:
                return record
        return None

    def remember(self, command: PendingCommand, state: CancelState) -> None:
        record = self.record(command)
        if record is None:
            record = CancelRecord(command.command_id, command.sent_at.timestamp(), state)
        record.state = state
        for key in target_keys(command):
            self._cancels.setdefault(key, {})[command.command_id] = record
            self._cancels.move_to_end(key)
        while len(self._cancels) > _CANCEL_MEMORY:
            self._cancels.popitem(last=False)

    def file(self, keys: list[Key], record: CancelRecord) -> None:
        """File one record under ``keys`` (a cancel-all's standing toward one of its targets), replacing its last."""
        for key in keys:
            self._cancels.setdefault(key, {})[record.command_id] = record
            self._cancels.move_to_end(key)
        while len(self._cancels) > _CANCEL_MEMORY:
            self._cancels.popitem(last=False)

    def siblings(self, keys: list[Key], command_id: str) -> list[CancelRecord]:
        """The other cancels filed under any of ``keys`` (the target by either of its ids)."""
        found: dict[str, CancelRecord] = {}
        for key in keys:
            found.update(self._cancels.get(key, {}))
        found.pop(command_id, None)
        return list(found.values())


class AbsentMemory:
    """Creates proved ABSENT, by (venue, client order id), for an hour at most."""

    def __init__(self) -> None:
        self._absent: OrderedDict[tuple[str, str], tuple[PendingCommand, float]] = OrderedDict()

    def remember(self, command: PendingCommand, client_order_id: str) -> None:
        self._absent[(command.venue, client_order_id)] = (command, time.time())
        while len(self._absent) > _ABSENT_LIMIT:
            self._absent.popitem(last=False)

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._absent

    def sighted(self, order: OrderReport, skew_s: float) -> PendingCommand | None:
        """The ABSENT create ``order`` turns out to be, if any; it is forgotten then (one alarm each).

        An order created more than ``skew_s`` before that create was sent is an older order that
        held the same client id, not a sighting.
        """
        key = (order.venue, order.client_order_id or "")
        found = self._absent.get(key)
        if found is None:
            return None
        command, when = found
        if time.time() - when > _ABSENT_MEMORY_SECONDS:
            self._absent.pop(key, None)
            return None
        if order.created_at_ms is not None and order.created_at_ms < (command.sent_at.timestamp() - skew_s) * 1000:
            return None
        self._absent.pop(key, None)
        return command
