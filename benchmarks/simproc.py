"""Start the simulator in a separate process (so its CPU is not ours) and read its URLs and credentials.

The simulator runs on uvloop when it is installed (``make bench`` installs it): a faster floor
leaves more of every row's cost on the client side, which is what the benchmarks measure. The
loop it ran on and its pid (for its CPU time) are added to the line it prints.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any


@contextlib.asynccontextmanager
async def simulator_process(seed: int = 1, *extra: str) -> AsyncIterator[dict[str, Any]]:
    """Yield the `gateway sim --json` line as a dict (plus ``pid`` and ``loop``); terminate the process on exit."""
    loop = "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _SERVE,
        loop,
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
        yield {**json.loads(line), "pid": proc.pid, "loop": loop}
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                proc.kill()
                await proc.wait()


# `gateway sim` on the loop named by argv[1]: the policy is set before the CLI's asyncio.run.
_SERVE = """
import asyncio, sys
if sys.argv[1] == "uvloop":
    import uvloop
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
from gateway.cli import main
sys.exit(main(sys.argv[2:]))
"""
