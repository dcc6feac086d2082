"""Crash drill with real processes and SIGKILL, independent of any venue adapter.

A child process (``fake_crash_child.py``) submits through a journaled Gateway to a fake venue
whose ground truth is an append-only file, and is SIGKILLed after a seeded number of output
lines. The next boot must find every order the venue received: each has an ``Intent``
entry (0 lost), none was sent twice (0 duplicated), and every one of them is handed back
for reconciliation (the fake answers leave none of them final).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from pathlib import Path

import pytest

from gateway.journal import Journal, JournalReader, RunStatus

ROOT = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).resolve().parent / "fake_crash_child.py"
SEEDS = range(50)
PARALLEL = 2


async def drill(seed: int, directory: Path) -> dict[str, int]:
    rng = random.Random(seed)
    db, truth = directory / f"j-{seed}.db", directory / f"truth-{seed}.txt"
    orders = rng.randint(3, 12)
    durability = "power" if seed % 5 == 0 else "process"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(CHILD), str(db), str(truth), str(seed), str(orders), durability,
        stdout=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=str(ROOT),
    )  # fmt: skip
    kill_at = rng.randint(0, 2 * orders)
    lines = 0
    assert proc.stdout is not None
    try:
        while True:
            raw = await asyncio.wait_for(proc.stdout.readline(), 30)
            assert raw, f"seed {seed}: child exited by itself (rc {await proc.wait()})"
            if raw.startswith((b"I ", b"A ")):
                lines += 1
            if raw.startswith(b"done") or (lines >= kill_at and not raw.startswith(b"ready")):
                break
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGKILL)
        await proc.wait()
    assert proc.returncode == -signal.SIGKILL

    sent = truth.read_text().split() if truth.exists() else []
    journal = Journal(db)
    recovered = await journal.open_run(["fake"])
    await journal.close()
    with JournalReader(db) as reader:
        intents = {e.command_id for e in reader.entries() if e.kind == "Intent"}
        runs = reader.runs()
    lost = [cid for cid in sent if cid not in intents]
    assert lost == [], f"seed {seed}: orders at the venue without an intent: {lost}"
    assert len(sent) == len(set(sent)), f"seed {seed}: an order reached the venue twice"
    recovered_ids = {r.command.command_id for r in recovered}
    assert set(sent) <= recovered_ids, f"seed {seed}: not handed to the reconciler: {set(sent) - recovered_ids}"
    assert recovered_ids <= intents
    assert runs[0].status is RunStatus.CRASHED_RECOVERED
    assert all(r.ok for r in JournalReader(db).verify())
    return {"sent": len(sent), "intents": len(intents), "recovered": len(recovered_ids), "lines": lines}


@pytest.mark.slow
async def test_sigkill_at_random_points_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    seeds = list(SEEDS)
    stats = []
    for i in range(0, len(seeds), PARALLEL):
        stats += await asyncio.gather(*(drill(seed, tmp_path) for seed in seeds[i : i + PARALLEL]))
    assert len(stats) == 50
    # The seeds must actually kill mid-flight: some runs had orders out, some intents never sent.
    assert sum(s["sent"] for s in stats) > 0
    assert any(s["intents"] > s["sent"] for s in stats) or any(s["recovered"] > 0 for s in stats)
