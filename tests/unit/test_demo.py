"""`gateway demo` end to end (short): every command judged strictly, cancels repeated, each row's own fault."""

from __future__ import annotations

import argparse
import io

from rich.console import Console

from gateway.demo import Demo, add_arguments


async def test_a_short_demo_passes_the_strict_judge_with_repeated_cancels() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--plain", "--duration", "6", "--interval", "0.05", "--seed", "5"])
    out = io.StringIO()
    demo = Demo(args, Console(file=out, width=200))
    assert await demo.run() == 0, out.getvalue()[-3000:]
    assert "OK: every command matches the truth" in out.getvalue()
    assert demo.record is not None
    counts = demo.record.judge().counts
    assert counts["creates"] > 20 and counts["cancels"] > 5 and counts["repeated_cancels"] >= 1
    assert counts["creates_wrong"] == counts["cancels_wrong"] == counts["stale_handles"] == 0
    # issue 15: the demo amends and batches through the faults too, and every amend is judged correct
    assert counts["amends"] >= 1 and counts["amends_wrong"] == 0 and any(r.op == "batch" for r in demo.rows)
    cancels = [r for r in demo.rows if r.op == "cancel"]
    for row in cancels:
        assert row.handle is not None
        own = [a.fault for a in demo.record.attempts_of(row.handle) if a.fault]
        # The fault column names this cancel's own fault, never the one its target order met.
        assert row.fault == (own[0].lower().replace("_", "-") if own else "")
