"""`gateway replica`: read to the end and print the contract's JSON; exit 1 on an unrecoverable gap."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway import CommandStatus, Gateway
from gateway.journal import Journal
from gateway.replication.replicated import ReplicatedJournal
from gateway.replication.server import NatsCluster
from tests.journal.helpers import order
from tests.unit.fakes import ScriptedVenue


async def _cli(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", "replica", *args, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


async def test_replica_json_then_a_gap_exits_1(
    tmp_path: Path, nats_server: NatsCluster, links: Callable[..., Any]
) -> None:
    link = await links(nats_server.url, "cli")
    venue = ScriptedVenue()
    venue.script.extend([CommandStatus.ACCEPTED, CommandStatus.UNKNOWN_EXECUTION, CommandStatus.REJECTED])
    async with Gateway(
        venues=[venue], journal=ReplicatedJournal(Journal(tmp_path / "j.db"), link), reconcile=None
    ) as gw:
        for i in range(3):
            await gw.submit(order(client_order_id=f"c-{i}"))
    rc, out = await _cli("--nats", nats_server.url, "--gateway-id", "cli", "--json")
    state = json.loads(out)
    assert rc == 0
    assert state["commands"] == 3 and state["unknown_open"] == 1
    assert state["by_status"] == {"ACCEPTED": 1, "REJECTED": 1, "UNKNOWN_EXECUTION": 1}
    assert state["last_sequence"] == 6 and state["divergences"] == []
    await link.js.delete_msg(link.names.stream, 3)
    rc, out = await _cli("--nats", nats_server.url, "--gateway-id", "cli", "--json")
    assert rc == 1 and "stream sequence(s) 3 are gone" in json.loads(out)["error"]
