"""JSON log lines: each parses, a record about a command carries its fields, and no secret reaches any line."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import orjson
import pytest

from gateway import CommandStatus, Gateway, OrderRequest, OrderType, Side, Transport
from gateway.logs import COMMAND_FIELDS, configure, redact
from reconcile import ReconcilePolicy
from tests.reconcile.conftest import VENUES, wait_until
from venues.sim import Fault, FaultKind, SimExchange


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    out = io.StringIO()
    configure(json=True, level=logging.DEBUG, stream=out)
    yield out
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])


def lines(out: io.StringIO) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


@pytest.mark.parametrize("venue_name", ["binance", "bybit"])
async def test_command_records_carry_their_fields_and_no_secret(json_logs: io.StringIO, venue_name: str) -> None:
    async with SimExchange(seed=5) as sim:
        venue = VENUES[venue_name](sim)
        policy = ReconcilePolicy(grace_seconds=0.5, deadline_seconds=10, interval_seconds=0.1)
        async with Gateway(venues=[venue], reconcile=policy) as gw:
            cids = [gw.new_client_order_id() for _ in range(3)]
            sim.faults.add(
                Fault(FaultKind.ACCEPT_THEN_TIMEOUT, venue=venue_name, client_order_id=cids[0], executed=True)
            )
            sim.faults.add(Fault(FaultKind.REJECT_CODE, venue=venue_name, client_order_id=cids[1]))
            handles = [
                await gw.submit(
                    OrderRequest(
                        venue=venue_name,
                        instrument="BTC/USDT:USDT",
                        side=Side.BUY,
                        type=OrderType.LIMIT,
                        quantity=Decimal("0.001"),
                        price=Decimal("40000"),
                        client_order_id=cid,
                        transport=Transport.REST,
                    )
                )
                for cid in cids
            ]
            assert handles[0].ack.receipt.status is CommandStatus.UNKNOWN_EXECUTION
            await handles[0].resolved(timeout=20)
            await wait_until(lambda: any(r.get("message", "").count("via") for r in lines(json_logs)))
        secrets = (sim.api_key, sim.api_secret)
    records = lines(json_logs)  # every line parses
    assert records and all({"ts", "level", "logger", "message"} <= set(r) for r in records)
    about = {cid: [r for r in records if r.get("command_id") == cid] for cid in cids}
    for cid, found in about.items():
        assert found, f"no record about {cid}"
        for record in found:
            assert record["venue"] == venue_name and record["instrument"] == "BTC/USDT:USDT"
            assert record["operation"] == "CREATE_ORDER" and record["client_order_id"] == cid
    statuses = {cid: " ".join(r["message"] for r in found) for cid, found in about.items()}
    assert "UNKNOWN_EXECUTION" in statuses[cids[0]] and "SYNCHRONIZED" in statuses[cids[0]]
    assert "REJECTED" in statuses[cids[1]] and "ACCEPTED" in statuses[cids[2]]
    text = json_logs.getvalue()
    for secret in secrets:
        assert secret not in text
    assert "signature=" not in text.replace("signature=***", "")


def test_redaction_masks_signatures_keys_and_registered_secrets(json_logs: io.StringIO) -> None:
    from gateway.logs import mask_secret

    mask_secret("registered-secret-value")
    log = logging.getLogger("gateway.test")
    log.warning(
        "GET /fapi/v1/order?symbol=BTCUSDT&timestamp=1&signature=abc123def with X-MBX-APIKEY: key-777 and %s",
        "registered-secret-value",
        extra={"command_id": "c-1", "venue": "binance"},
    )
    try:
        raise RuntimeError('{"X-BAPI-SIGN": "f00d", "X-BAPI-API-KEY": "k-9"} registered-secret-value')
    except RuntimeError:
        log.exception("failed")
    text = json_logs.getvalue()
    for leaked in ("abc123def", "key-777", "f00d", "k-9", "registered-secret-value"):
        assert leaked not in text, leaked
    first = lines(json_logs)[0]
    assert first["command_id"] == "c-1" and first["venue"] == "binance"
    assert set(first) - {"ts", "level", "logger", "message"} <= set(COMMAND_FIELDS)
    assert redact("a&signature=00ff&b") == "a&signature=***&b"


def test_log_json_on_the_cli_prints_json_lines(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from gateway.cli import main

    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        assert main(["--log-json", "journal", "verify", "--db", str(tmp_path / "none.db")]) == 2
        assert main(["journal", "--log-json", "--log-level", "debug", "runs", "--db", str(tmp_path / "x.db")]) == 2
        logging.getLogger("gateway").info("hello", extra={"command_id": "c-2"})
    finally:
        handler = root.handlers[-1]
        for h in list(root.handlers):
            root.removeHandler(h)
        for h in saved[0]:
            root.addHandler(h)
        root.setLevel(saved[1])
    assert isinstance(handler.formatter, logging.Formatter)
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert orjson.loads(line)["command_id"] == "c-2"
