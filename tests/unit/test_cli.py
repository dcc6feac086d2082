"""`gateway sim` really serves: start it as a user would, read its URLs, trade against it, stop it."""

from __future__ import annotations

import importlib
import time

import aiohttp

from benchmarks.simproc import simulator_process
from gateway.cli import SUBCOMMANDS, build_parser


async def test_gateway_sim_serves_and_prints_its_urls_and_credentials() -> None:
    async with simulator_process(seed=3) as info:
        assert info["api_key"] and info["api_secret"]
        rest = info["binance"]["rest_url"]
        assert info["binance"]["ws_api_url"].startswith("ws://127.0.0.1:")
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{rest}/fapi/v1/time") as resp:
                assert resp.status == 200
                server_ms = (await resp.json())["serverTime"]
            async with session.get(f"{info['base_url']}/admin/truth") as resp:
                truth = await resp.json()
    assert abs(server_ms - time.time() * 1000) < 5000
    assert truth["binance"]["orders"] == [] and truth["binance"]["duplicates"] == []


def test_every_subcommand_is_wired() -> None:
    """Every registered subcommand parses, and its "module:function" references resolve to callables."""
    argvs = {
        "demo": ["demo", "--duration", "1"],
        "sim": ["sim", "--json"],
        "journal": ["journal", "runs"],
        "bench": ["bench", "--quick"],
        "replica": ["replica", "--nats", "nats://127.0.0.1:4222", "--gateway-id", "g1"],
    }
    assert set(argvs) == {command.name for command in SUBCOMMANDS}
    parser = build_parser()
    for command in SUBCOMMANDS:
        assert parser.parse_args(argvs[command.name]).command == command.name
        for ref in (command.add_arguments, command.run):
            module, _, function = ref.partition(":")
            assert callable(getattr(importlib.import_module(module), function)), ref
