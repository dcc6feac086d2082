"""The conformance suite's harness: ``gateway sim`` served from a thread of its own, for clients nobody here wrote.

The clients (ccxt, pybit, binance-futures-connector, python-binance: the ``dev`` extra) are mostly
blocking (``requests``, ``websocket-client`` threads), so the simulator runs on its own event loop
in a background thread, exactly as ``gateway sim`` serves it; a test talks to it over loopback with
the client's default configuration apart from URLs and keys, and reads ground truth through
``served.call`` (on the simulator's loop, never from the test's thread). Every test ends by asserting
``sim.unserved`` is empty: the client called no path the simulator does not serve.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any, TypeVar

import pytest

from venues.sim import SimExchange

T = TypeVar("T")
TIMEOUT = 10.0


class Served:
    """A ``SimExchange`` running on an event loop in a daemon thread."""

    def __init__(self, **kw: Any):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="gateway-sim", daemon=True)
        self.thread.start()
        self.sim: SimExchange = self.call(lambda: SimExchange(**kw))
        asyncio.run_coroutine_threadsafe(self.sim.start(), self.loop).result(TIMEOUT)

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the simulator's loop and return its result (ground truth reads, mark moves)."""
        done: Future[T] = Future()

        def run() -> None:
            try:
                done.set_result(fn())
            except BaseException as exc:  # handed back to the caller's thread
                done.set_exception(exc)

        self.loop.call_soon_threadsafe(run)
        return done.result(TIMEOUT)

    def wait_until(self, predicate: Callable[[], Any], timeout: float = 5.0) -> None:
        """Wait until ``predicate`` (run on the simulator's loop) holds; fail after ``timeout``."""

        async def poll() -> None:
            deadline = self.loop.time() + timeout
            while not predicate():
                if self.loop.time() > deadline:
                    raise AssertionError("condition not met in time")
                await asyncio.sleep(0.005)

        asyncio.run_coroutine_threadsafe(poll(), self.loop).result(timeout + 1)

    @property
    def unserved(self) -> list[tuple[str, str]]:
        return self.call(lambda: [(r.method, r.path) for r in self.sim.unserved])

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.sim.close(), self.loop).result(TIMEOUT)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(TIMEOUT)
        self.loop.close()


@pytest.fixture
def served() -> Iterator[Served]:
    s = Served(seed=21)
    try:
        yield s
        assert s.unserved == [], "the client called paths the simulator does not serve"
    finally:
        s.close()


def rehost(urls: Any, base: str) -> Any:
    """A client's URL table with every ``scheme://host`` replaced by the simulator's (ws:// for sockets)."""
    if isinstance(urls, dict):
        return {k: rehost(v, base) for k, v in urls.items()}
    if isinstance(urls, list):
        return [rehost(v, base) for v in urls]
    if isinstance(urls, str):
        ws_base = base.replace("http://", "ws://")
        urls = re.sub(r"^wss?://[^/]+", ws_base, urls)
        return re.sub(r"^https?://[^/]+", base, urls)
    return urls
