"""A loopback TCP proxy the tests can cut and heal: a network partition between one client and NATS.

While cut it is a black hole (connections stay open, bytes are dropped): the client is not told,
exactly as when a network partitions; it finds out only by its own timeouts.
"""

from __future__ import annotations

import asyncio
import contextlib

from gateway.replication.server import free_port


class Proxy:
    def __init__(self, target_port: int):
        self.target_port = target_port
        self.port = free_port()
        self.cut = False
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", self.port)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    if self.cut:
                        continue  # dropped on the floor
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}

    def partition(self) -> None:
        self.cut = True

    def heal(self) -> None:
        self.cut = False

    async def close(self) -> None:
        for writer in list(self._writers):
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
