"""Write-ahead command journal: one SQLite file (plus an intent log), runs with manifests, crash recovery.

The promise: a command is in the journal before it leaves the process, or it was never
sent; after any crash, every command that might have executed is found and reconciled.

Layout
------
Two tables. ``entries`` is append-only: each row is one audit item, in write order (``id``):

- ``RunStarted``   the run's manifest (run id, parent run id, started at, versions, venues,
                   durability, the predecessors this boot sealed or quarantined);
- ``Intent``       a command's full request, client order id, venue and transport, made
                   durable *before* the send (the intent log in ``process`` mode, a
                   fsynced commit in ``power`` mode; see below);
- ``Recovered``    the same, copied into a new run for a command a predecessor left without a
                   final outcome, so a crash during recovery loses nothing either;
- ``Ack`` / ``Receipt`` / ``OrderUpdate`` / ``RecoveryScheduled`` / ``RecoveryCompleted``
                   lifecycle events from the bus tap, after the fact (``model_dump_json``);
- ``RunEnded``     written by a clean ``close()``.

Every entry carries a bus ``sequence`` (run markers carry the last sequence seen, they take
none) and ``checksum = sha256(previous checksum | run, sequence, kind, ids | body)``: one
chain per run, starting from the run id. ``runs`` is the mutable index of runs (status,
whether a successor has taken over its open commands); it is a cache of what the entries
say, never the evidence.

Durability levels
-----------------
``process`` (default): survives the process being killed. An intent is written with one
``write()`` to the *intent log* (``<journal>-intents``, append-only, one CRC-checked line per
intent) before ``record_intent`` returns, so it is in the kernel before the send; the row
reaches SQLite (WAL, ``synchronous=NORMAL``) with the next batched flush, together with the
buffered lifecycle events, within ``flush_interval`` (20 ms) or at once when 512 rows wait.
After each flush the log is truncated; a clean close removes it. On the next start, logged
intents the database lacks (a crash came between the write and the flush) are appended to
their own run, continuing its checksum chain, before recovery scans it; a torn last line or a
damaged one is skipped (its send never started: the write had not returned). The OS may still
lose either file on power failure. ``power``: ``synchronous=FULL``; the commit that holds an
intent is fsynced before ``record_intent`` returns (no intent log).

Group commit (``power``): ``record_intent`` queues its row and waits for *its* commit. One
flusher task writes everything queued in one transaction, one fsync, on a writer thread;
intents arriving meanwhile form the next batch, so N concurrent submitters share about one
fsync per flush instead of paying N. ``group_commit=False`` gives one transaction per intent
in either mode (the benchmark's baseline). Lifecycle events never wait: they are buffered and
ride along with the next commit (or a 20 ms timer), in both modes.

Checkpoints (copying the WAL back into the database file, the only step that fsyncs in
``process`` mode) are switched off on the writing connection and run PASSIVE on a second
connection on their own thread every few thousand rows, so no submit ever waits for one.

Cost (``benchmarks/bench_journal.py``): in ``process`` mode a submit waits for serializing its
intent and one ``write()`` (a few µs); the batched flush (serializing events, chaining, the
SQLite insert and one commit per batch) runs on the loop between sends and costs a few tens
of µs per command in total. ``locking_mode=EXCLUSIVE`` would save more but lock every other
reader (the CLI, a replica) out of a live journal, so it is not used.

That buffering is deliberate and safe: an ack lost in a crash leaves an intent without an
outcome, which recovery hands to the reconciler. Losing an *intent* is what must never
happen, and it cannot: ``record_intent`` returns only after the intent is in the log (or, in
``power`` mode, committed) and raises if that fails, which makes ``Gateway`` halt new submits
instead of sending unjournaled orders; after one failed write (log or database) every later
``record_intent`` raises too.

Recovery (``open_run``)
-----------------------
1. every chain is verified; a run whose entries fail it is QUARANTINED: read-only, reported
   (log, manifest, ``journal.quarantined``), never replayed and never a source of receipts;
2. runs still marked RUNNING are sealed: ENDED if their tail is a ``RunEnded``, otherwise
   CRASHED_RECOVERED;
3. every command a predecessor (any run not yet taken over, crashed or cleanly closed) left
   without a final outcome is copied into the new run as ``Recovered`` and returned, for
   ``Gateway`` to adopt and reconcile with trigger STARTUP.

A *final outcome* is what ``gateway.fold.is_final`` says of the command folded from its
entries, the rule a live gateway applies to its handle: REJECTED (a receipt, or proved ABSENT);
an ACCEPTED cancel (its receipt or a SYNCHRONIZED report); an ACCEPTED create whose order
reached a terminal state (in the receipt, an ``OrderUpdate`` or a report). A terminal stream
update after an UNKNOWN ack settles the order, not the command's receipt: that command is
still reconciled so its handle can resolve.
Everything else is returned: intent only (the process died around the
send), UNKNOWN_EXECUTION, and ACCEPTED orders still resting (NEW / PARTIALLY_FILLED): they
may have filled while nobody was listening.

Deliberately not done
---------------------
- No pruning or rotation: the file grows; boot verification is linear in its size.
- The chain proves content and order, not completeness of a crashed tail (a clean end is
  proved by ``RunEnded``); it is an integrity check against corruption, not a signature.
- One live gateway per file: nothing stops two processes from opening the same journal,
  and the second would seal the first's run as crashed.
- Secrets are never written: requests carry none and venue credentials never reach here.
- A sequence consumed by an intent whose write failed leaves a gap in the audit stream;
  the gateway is halted at that point, and the replica reports the gap.
- Readers (CLI, ``JournalReader``) see a live run's intents once they are flushed (≤ 20 ms);
  a crashed run's logged intents once the next start has restored them.

Modules
-------
``records`` the vocabulary (statuses, errors, ``IntentEntry``, results); ``codec`` rows, the
checksum chain and intent-log lines (pure); ``store`` the schema, connections and the one
chained insert; ``reader`` ``JournalReader`` and the chain check; ``recovery`` what ``open_run``
does, with ``unresolved_commands`` deciding finality; ``checkpoint`` background checkpoints;
``writer`` ``Journal`` and its flush path; ``cli`` ``gateway journal ...``.
"""

from __future__ import annotations

from gateway.journal.codec import JournalEntry, decode_intent, encode_intent
from gateway.journal.reader import JournalReader
from gateway.journal.records import (
    AuditItem,
    Durability,
    IntentEntry,
    JournalError,
    JournalWriteError,
    RunInfo,
    RunStatus,
    VerifyResult,
)
from gateway.journal.writer import Journal

__all__ = [
    "AuditItem",
    "Durability",
    "IntentEntry",
    "Journal",
    "JournalEntry",
    "JournalError",
    "JournalReader",
    "JournalWriteError",
    "RunInfo",
    "RunStatus",
    "VerifyResult",
    "decode_intent",
    "encode_intent",
]
