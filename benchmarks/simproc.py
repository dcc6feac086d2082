"""Start the simulator in a separate process (so its CPU is not ours) and read its URLs and credentials.

Started as a user would (``gateway sim --json``), so it runs on uvloop when that is installed
(``make bench`` installs it; gateway/loop.py): a faster floor leaves more of every row's cost on
the client side, which is what the benchmarks measure. Its loop and its pid (for its CPU time)
are added to the line it prints.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any

from gateway.loop import choice


@contextlib.asynccontextmanager
async def simulator_process(seed: int = 1, *extra: str) -> AsyncIterator[dict[str, Any]]:
    """Yield the `gateway sim --json` line as a dict (plus ``pid`` and ``loop``); terminate the process on exit."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        "sim",
        "--json",
        "--seed",
        str(seed),
        *extra,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        if not line:
            raise RuntimeError("the simulator process exited before printing its URLs")
        yield {**json.loads(line), "pid": proc.pid, "loop": choice()}
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                proc.kill()
                await proc.wait()
