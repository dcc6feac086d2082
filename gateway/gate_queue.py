"""GateQueue: the portfolio gate's bookkeeping (receipts, stream updates, reports), in order, on one task.

The event path only enqueues: a slow ledger (Redis) never blocks a stream update or a send.
Jobs run in the order they were queued, each one's failure logged and survived.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["GateQueue"]

log = logging.getLogger("gateway")

_Job = Callable[[], Awaitable[None]]


class GateQueue:
    """Started and closed with the gateway; jobs put before ``start`` are dropped (there is no run yet)."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[_Job] | None = None
        self._task: asyncio.Task[None] | None = None
        self._put = 0  # jobs queued so far
        self._done = 0  # jobs run so far (in queue order, so the first _done of them)
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    @property
    def running(self) -> bool:
        return self._task is not None

    def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._drain(), name="gateway:gate-notify")

    def put(self, fn: Callable[..., Awaitable[None]], *args: Any) -> None:
        """Queue ``fn(*args)`` behind every job queued before it."""
        if self._queue is None:
            return
        self._put += 1
        self._queue.put_nowait(lambda: fn(*args))

    @property
    def done_count(self) -> int:
        """How many jobs have run so far."""
        return self._done

    async def done_beyond(self, count: int) -> None:
        """Return once more than ``count`` jobs have run (an event to wait on, never a poll)."""
        if self._done > count:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((count + 1, waiter))
        await waiter

    async def caught_up(self) -> None:
        """Return once every job queued before this call has run: at once when none is pending."""
        if self._task is None or self._done >= self._put:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((self._put, waiter))
        await waiter

    def empty(self) -> bool:
        return self._queue is None or self._queue.empty()

    async def join(self) -> None:
        """Wait until every job queued so far has run (e.g. before reading the gate's snapshot)."""
        if self._queue is not None:
            await self._queue.join()

    async def close(self) -> None:
        """Run what is queued, then stop the task."""
        if self._queue is None or self._task is None:
            return
        await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        self._wake(everyone=True)

    async def _drain(self) -> None:
        assert self._queue is not None
        while True:
            job = await self._queue.get()
            try:
                await job()
            except Exception:
                log.exception("portfolio gate bookkeeping failed")
            finally:
                self._queue.task_done()
                self._done += 1
                if self._waiters:
                    self._wake()

    def _wake(self, everyone: bool = False) -> None:
        waiting = []
        for target, waiter in self._waiters:
            if everyone or target <= self._done:
                if not waiter.done():
                    waiter.set_result(None)
            else:
                waiting.append((target, waiter))
        self._waiters = waiting
