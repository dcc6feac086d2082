"""`gateway demo --metrics-port N` serves /metrics while it runs, and stops serving when it ends."""

from __future__ import annotations

import argparse
import asyncio
import io
import socket

import aiohttp
import pytest

pytest.importorskip("prometheus_client")

from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console

from gateway.demo import Demo, add_arguments


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_demo_serves_metrics_while_it_runs() -> None:
    port = free_port()
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--plain", "--duration", "3", "--interval", "0.05", "--metrics-port", str(port)])
    out = io.StringIO()
    demo = Demo(args, Console(file=out, width=200))
    run = asyncio.create_task(demo.run())
    url = f"http://127.0.0.1:{port}/metrics"
    commands = 0.0
    async with aiohttp.ClientSession() as session:
        while not run.done() and commands == 0:
            try:
                async with session.get(url) as resp:
                    assert resp.status == 200
                    text = await resp.text()
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)  # not serving yet
                continue
            families = {f.name: f for f in text_string_to_metric_families(text)}
            assert {"gateway_commands", "gateway_submit_ack_seconds", "gateway_unknown_open"} <= set(families)
            commands = sum(s.value for s in families["gateway_commands"].samples)
            if commands == 0:
                await asyncio.sleep(0.05)
        assert commands > 0, out.getvalue()[-2000:]
        assert await run == 0, out.getvalue()[-3000:]
        assert f"metrics: {url}" in out.getvalue()
        with pytest.raises(aiohttp.ClientConnectionError):
            async with session.get(url):
                pass
