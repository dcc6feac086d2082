"""`gateway demo` (issue 14): it starts on a held position, another client trades and Bybit liquidates during the run,
and the strict judge still finds the gate's positions equal to the venues' fills."""

from __future__ import annotations

import argparse
import io

from rich.console import Console

from gateway.demo import Demo, add_arguments


async def test_the_demo_follows_a_held_position_an_outside_fill_and_a_liquidation() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--plain", "--duration", "6", "--interval", "0.05", "--seed", "14"])
    out = io.StringIO()
    demo = Demo(args, Console(file=out, width=240))
    assert await demo.run() == 0, out.getvalue()[-3000:]
    assert demo.account is not None and demo.record is not None
    assert [label.split(" ")[0] for label in demo.account.done] == ["held", "outside", "liquidation"]
    counts = demo.record.judge().counts
    assert counts["exposure_mismatches"] == counts["creates_wrong"] == counts["cancels_wrong"] == 0
    truth = demo.sim.truth.orders() if demo.sim is not None else []
    venue_made = [o for o in truth if o.client_order_id.startswith(("web-", "~auto-venue-"))]
    assert {o.client_order_id for o in venue_made} >= {"web-held-binance", "web-held-bybit", "web-manual-1"}
    assert any(o.client_order_id.startswith("~auto-venue-liq") and o.status == "FILLED" for o in venue_made)
