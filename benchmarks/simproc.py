"""Start the simulator in a separate process (so its CPU is not ours) and read its URLs and credentials."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any


@contextlib.asynccontextmanager
async def simulator_process(seed: int = 1, *extra: str) -> AsyncIterator[dict[str, Any]]:
    """Yield the `gateway sim --json` line as a dict; terminate the process on exit."""
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
        yield json.loads(line)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                proc.kill()
                await proc.wait()
