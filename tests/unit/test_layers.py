"""The bottom layer holds: any import order of the public modules works, and the three folds are one.

``gateway.model`` / ``errors`` / ``filters`` / ``ports`` / ``fold`` import nothing above them,
so ``gateway`` can re-export eagerly; each order below runs in a fresh interpreter (an import
cycle only shows in the first import of a process).
"""

from __future__ import annotations

import itertools
import subprocess
import sys
from decimal import Decimal

import pytest

from gateway.fold import CommandFold, advances, is_final
from gateway.model import CommandOperation, CommandReceipt, CommandStatus, OrderReport, OrderState

PUBLIC = ["gateway", "venues.base", "reconcile", "risk", "venues.binance", "venues.bybit", "venues.sim"]
BOTTOM = ["gateway.model", "gateway.errors", "gateway.filters", "gateway.ports", "gateway.fold"]


@pytest.mark.parametrize("first", PUBLIC)
def test_every_public_module_imports_first(first: str) -> None:
    rest = [m for m in PUBLIC if m != first]
    code = "; ".join(f"import {m}" for m in [first, *rest]) + "; from gateway import Gateway, InvalidOrderError"
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_pairs_of_public_modules_import_in_either_order() -> None:
    code = "\n".join(
        f"subprocess.run([sys.executable, '-c', 'import {a}; import {b}'], check=True)"
        for a, b in itertools.permutations(["gateway", "venues.base", "reconcile", "risk"], 2)
    )
    subprocess.run([sys.executable, "-c", "import subprocess, sys\n" + code], check=True, capture_output=True)


def test_the_bottom_layer_imports_nothing_above_it() -> None:
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in BOTTOM)
        + "above = sorted(m for m in sys.modules if m.split('.')[0] in ('venues', 'reconcile', 'risk'))\n"
        + "assert not above, above\n"
    )
    # gateway/__init__ loads gateway.core, which composes reconcile: block the package init to
    # see what the bottom modules themselves pull in.
    stub = "import sys, types, pathlib; import importlib.util as u\n"
    stub += "spec = u.find_spec('gateway'); pkg = types.ModuleType('gateway')\n"
    stub += "pkg.__path__ = spec.submodule_search_locations\n"
    stub += "sys.modules['gateway'] = pkg\n"
    subprocess.run([sys.executable, "-c", stub + code], check=True, capture_output=True)


def _receipt(op: CommandOperation, status: CommandStatus, state: OrderState | None = None) -> CommandReceipt:
    return CommandReceipt(operation=op, status=status, venue="v", instrument="BTC/USDT:USDT", order_state=state)


def _order(state: OrderState, filled: str) -> OrderReport:
    return OrderReport(
        venue="v", instrument="BTC/USDT:USDT", order_id="1", state=state, filled_quantity=Decimal(filled)
    )


def test_the_most_advanced_view_never_regresses() -> None:
    partial, filled, new = (
        _order(OrderState.PARTIALLY_FILLED, "1"),
        _order(OrderState.FILLED, "2"),
        _order(OrderState.NEW, "0"),
    )
    assert advances(None, new) and advances(new, partial) and advances(partial, filled)
    assert not advances(partial, new)  # a lagging read, less filled
    assert not advances(filled, _order(OrderState.PARTIALLY_FILLED, "2"))  # a closed order never reopens
    fold = CommandFold(CommandOperation.CREATE_ORDER)
    for view in (partial, new, filled, partial):
        fold.order(view)
    assert fold.last_order == filled


@pytest.mark.parametrize(
    ("operation", "status", "state", "final"),
    [
        (CommandOperation.CREATE_ORDER, CommandStatus.REJECTED, None, True),
        (CommandOperation.CREATE_ORDER, CommandStatus.ACCEPTED, OrderState.NEW, False),
        (CommandOperation.CREATE_ORDER, CommandStatus.ACCEPTED, OrderState.FILLED, True),
        (CommandOperation.CREATE_ORDER, CommandStatus.UNKNOWN_EXECUTION, OrderState.FILLED, False),
        # A cancel's effect is proved by its acceptance: final whatever the receipt says of the order
        # (the live gateway and journal recovery used to disagree here).
        (CommandOperation.CANCEL_ORDER, CommandStatus.ACCEPTED, None, True),
        (CommandOperation.CANCEL_ORDER, CommandStatus.REJECTED, None, True),
        (CommandOperation.CANCEL_ORDER, CommandStatus.UNKNOWN_EXECUTION, OrderState.CANCELED, False),
    ],
)
def test_one_finality_rule(
    operation: CommandOperation, status: CommandStatus, state: OrderState | None, final: bool
) -> None:
    fold = CommandFold(operation)
    fold.ack(_receipt(operation, status, state))
    assert fold.final is final
    assert is_final(operation, fold.current, fold.order_state) is final
