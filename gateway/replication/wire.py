"""What goes over NATS: stream, subject and bucket names per gateway id, message headers, and the state digest.

One JetStream stream per gateway id holds its audit stream, written only by the gateway that
holds the lead (so its stream sequence is predictable and fences: see ``publisher``):

- every journal entry, in journal order, body as stored (``Intent`` / ``Recovered`` /
  lifecycle events / ``RunStarted`` / ``RunEnded``), with the entry's run, sequence and
  checksum in headers, so a consumer re-checks each run's chain;
- ``Digest`` messages (the leader's ``StateReplica`` digest after a given sequence);
- ``Lead`` markers: a node took the lead at an epoch (the fence every older writer hits).

Divergence alerts go to a second stream (``<stream>_ALERTS``): a replica must never be able to
write into the leader's sequence, or any replica could fence the primary.

``Nats-Msg-Id`` is ``<gateway id>:<run>:<sequence>`` (run markers, which take no sequence of
their own, add their kind), so a retried publish is never stored twice.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

import orjson

from gateway.journal import AuditItem, JournalEntry
from gateway.journal.codec import EVENT_KINDS, INTENT_KINDS
from gateway.replica import StateReplica

__all__ = [
    "ITEM_KINDS",
    "MARKER_KINDS",
    "Names",
    "WireMessage",
    "digest",
    "entry_headers",
    "msg_id",
]

ITEM_KINDS = INTENT_KINDS | EVENT_KINDS
MARKER_KINDS = frozenset({"RunStarted", "RunEnded"})

H_KIND = "Gw-Kind"
H_RUN = "Gw-Run"
H_SEQ = "Gw-Seq"
H_CMD = "Gw-Cmd"
H_CID = "Gw-Cid"
H_VENUE = "Gw-Venue"
H_SUM = "Gw-Sum"
H_EPOCH = "Gw-Epoch"
H_NODE = "Gw-Node"
H_JOURNAL = "Gw-Journal"
H_ENTRY = "Gw-Entry"

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True, slots=True)
class Names:
    """Every NATS name one gateway id uses."""

    gateway_id: str

    def __post_init__(self) -> None:
        if not _ID.match(self.gateway_id):
            raise ValueError(f"gateway id must match {_ID.pattern} (it names NATS streams), got {self.gateway_id!r}")

    @property
    def stream(self) -> str:
        return f"GW_{self.gateway_id}"

    @property
    def subject(self) -> str:
        return f"gw.{self.gateway_id}.audit"

    @property
    def alert_stream(self) -> str:
        return f"GW_{self.gateway_id}_ALERTS"

    @property
    def alert_subject(self) -> str:
        return f"gw.{self.gateway_id}.alert"

    @property
    def lead_bucket(self) -> str:
        """The epoch key (compare-and-set, no TTL)."""
        return f"gw_{self.gateway_id}_lead"

    @property
    def live_bucket(self) -> str:
        """The leader's heartbeat key (the bucket's TTL is the heartbeat's)."""
        return f"gw_{self.gateway_id}_live"


def msg_id(gateway_id: str, run_id: str, sequence: int, kind: str) -> str:
    suffix = f":{kind}" if kind in MARKER_KINDS else ""
    return f"{gateway_id}:{run_id}:{sequence}{suffix}"


def entry_headers(entry: JournalEntry, *, gateway_id: str, epoch: int, node: str, journal_id: str) -> dict[str, str]:
    headers = {
        "Nats-Msg-Id": msg_id(gateway_id, entry.run_id, entry.sequence, entry.kind),
        H_KIND: entry.kind,
        H_RUN: entry.run_id,
        H_SEQ: str(entry.sequence),
        H_SUM: entry.checksum,
        H_EPOCH: str(epoch),
        H_NODE: node,
        H_JOURNAL: journal_id,
        H_ENTRY: str(entry.id),
    }
    if entry.command_id:
        headers[H_CMD] = entry.command_id
    if entry.client_order_id:
        headers[H_CID] = entry.client_order_id
    if entry.venue:
        headers[H_VENUE] = entry.venue
    return headers


@dataclass(frozen=True, slots=True)
class WireMessage:
    """One message of the audit stream, as a consumer sees it."""

    stream_seq: int
    kind: str
    headers: Mapping[str, str]
    body: bytes

    @property
    def epoch(self) -> int:
        return int(self.headers.get(H_EPOCH, "0"))

    @property
    def node(self) -> str:
        return self.headers.get(H_NODE, "")

    @property
    def journal_id(self) -> str:
        return self.headers.get(H_JOURNAL, "")

    @property
    def entry_id(self) -> int:
        return int(self.headers.get(H_ENTRY, "0"))

    @property
    def run_id(self) -> str:
        return self.headers.get(H_RUN, "")

    @property
    def sequence(self) -> int:
        return int(self.headers.get(H_SEQ, "0"))

    def entry(self) -> JournalEntry:
        """The journal entry this message carries (a journal-entry kind only)."""
        h = self.headers
        return JournalEntry(
            self.entry_id,
            self.run_id,
            self.sequence,
            self.kind,
            h.get(H_CMD),
            h.get(H_CID),
            h.get(H_VENUE),
            self.body,
            h.get(H_SUM, ""),
        )

    def item(self) -> AuditItem:
        decoded = self.entry().decode()
        assert not isinstance(decoded, dict), f"{self.kind} is not an audit item"
        return decoded

    def json(self) -> dict[str, object]:
        parsed: dict[str, object] = orjson.loads(self.body) if self.body else {}
        return parsed


def _canonical(value: object) -> object:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, Enum):
        return value.value
    return value


def digest(replica: StateReplica) -> str:
    """The replica's comparable digest: sha256 over every command's ``summary()``, canonicalised and sorted."""
    rows = sorted([_canonical(v) for v in summary] for summary in replica.snapshot().values())
    return hashlib.sha256(orjson.dumps(rows)).hexdigest()[:32]
