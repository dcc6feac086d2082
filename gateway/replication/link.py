"""The connection to NATS: connect (reconnecting forever), and create the gateway id's streams and buckets.

Creating is idempotent (an existing stream or bucket is used as it is), so the primary, a
standby and any replica can each call ``ensure`` in any order. ``replicas=3`` asks JetStream
for a replicated stream (a 3-node cluster): an acknowledged publish is then on a majority of
the nodes, which is what ``intents="before_send"`` relies on for host-loss durability.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from types import TracebackType

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, KeyValueConfig, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError
from nats.js.kv import KeyValue

from gateway.replication.wire import Names

__all__ = ["NatsLink"]

log = logging.getLogger(__name__)

_DUPLICATE_WINDOW = 120.0  # seconds JetStream remembers a Nats-Msg-Id


class NatsLink:
    """One NATS connection for one gateway id: its JetStream context, streams and buckets."""

    def __init__(
        self,
        servers: str | list[str],
        gateway_id: str,
        *,
        replicas: int = 1,
        heartbeat_ttl: float = 2.0,
        name: str | None = None,
        timeout: float = 2.0,
    ):
        self.servers = [s for s in servers.split(",") if s] if isinstance(servers, str) else list(servers)
        self.names = Names(gateway_id)
        self.replicas = replicas
        self.heartbeat_ttl = heartbeat_ttl
        self.client_name = name or f"gateway-{gateway_id}"
        self.timeout = timeout
        self.nc: Client | None = None
        self._js: JetStreamContext | None = None
        self.lead: KeyValue | None = None
        self.live: KeyValue | None = None
        self.connected = asyncio.Event()

    def __repr__(self) -> str:
        return f"<NatsLink {self.names.gateway_id} {','.join(self.servers)}>"

    @property
    def gateway_id(self) -> str:
        return self.names.gateway_id

    @property
    def js(self) -> JetStreamContext:
        assert self._js is not None, "call connect() first"
        return self._js

    async def connect(self) -> NatsLink:
        async def disconnected() -> None:
            self.connected.clear()

        async def reconnected() -> None:
            self.connected.set()

        async def error(exc: Exception) -> None:
            log.debug("nats %s: %r", self.client_name, exc)

        self.nc = await nats.connect(
            self.servers,
            name=self.client_name,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.1,
            connect_timeout=2,
            ping_interval=1,
            max_outstanding_pings=2,
            disconnected_cb=disconnected,
            reconnected_cb=reconnected,
            error_cb=error,
        )
        self.connected.set()
        self._js = self.nc.jetstream(timeout=self.timeout)
        return self

    async def ensure(self) -> NatsLink:
        """Create (or open) the audit stream, the alert stream and both buckets."""
        names = self.names
        await self._stream(
            StreamConfig(
                name=names.stream,
                subjects=[names.subject],
                storage=StorageType.FILE,
                num_replicas=self.replicas,
                duplicate_window=_DUPLICATE_WINDOW,
                discard=DiscardPolicy.NEW,  # never drop audit history to make room
                allow_direct=True,
            )
        )
        await self._stream(
            StreamConfig(
                name=names.alert_stream,
                subjects=[names.alert_subject],
                storage=StorageType.FILE,
                num_replicas=self.replicas,
                allow_direct=True,
            )
        )
        self.lead = await self._bucket(KeyValueConfig(bucket=names.lead_bucket, history=5, replicas=self.replicas))
        self.live = await self._bucket(
            KeyValueConfig(bucket=names.live_bucket, history=1, ttl=self.heartbeat_ttl, replicas=self.replicas)
        )
        return self

    async def open(self) -> NatsLink:
        """Connect and ensure, for callers that only read (replicas): nothing is created twice."""
        await self.connect()
        return await self.ensure()

    async def _stream(self, config: StreamConfig) -> None:
        assert config.name is not None
        try:
            await self.js.stream_info(config.name)
            return
        except NotFoundError:
            pass
        with contextlib.suppress(BadRequestError):  # created meanwhile by another node
            await self.js.add_stream(config)

    async def _bucket(self, config: KeyValueConfig) -> KeyValue:
        try:
            return await self.js.key_value(config.bucket)
        except NotFoundError:  # nats-py's BucketNotFoundError is one
            pass
        with contextlib.suppress(BadRequestError):
            return await self.js.create_key_value(config)
        return await self.js.key_value(config.bucket)

    async def last_stream_seq(self) -> int:
        info = await self.js.stream_info(self.names.stream)
        return int(info.state.last_seq)

    async def close(self) -> None:
        if self.nc is not None and not self.nc.is_closed:
            with contextlib.suppress(Exception):
                await self.nc.close()
        self.connected.clear()

    async def __aenter__(self) -> NatsLink:
        return await self.open()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
