"""Every name of the public contract imports exactly as ARCHITECTURE.md writes it."""

from __future__ import annotations

import pytest


def test_contract_imports() -> None:
    from gateway import (  # noqa: F401
        CancelRequest,
        CommandAck,
        CommandHandle,
        CommandOperation,
        CommandReceipt,
        CommandStatus,
        Gateway,
        LifecycleEvent,
        OrderRequest,
        OrderState,
        OrderType,
        Side,
        TimeInForce,
        Transport,
    )
    from reconcile import ReconcileOutcome, ReconcilePolicy, ReconcileReport, ReconcileTrigger  # noqa: F401
    from risk import PortfolioGate, RiskLimits, RiskRejected  # noqa: F401
    from venues.binance import BinanceUsdm  # noqa: F401
    from venues.sim import Fault, SimExchange  # noqa: F401


def test_contract_imports_bybit() -> None:
    from venues.bybit import BybitLinear  # noqa: F401


def test_lifecycle_kinds_share_the_base() -> None:
    from gateway import LifecycleEvent
    from gateway.model import LIFECYCLE_KINDS

    assert {k.__name__ for k in LIFECYCLE_KINDS} == {
        "Ack",
        "Receipt",
        "RecoveryScheduled",
        "RecoveryCompleted",
        "OrderUpdate",
    }
    assert all(issubclass(k, LifecycleEvent) for k in LIFECYCLE_KINDS)


def test_handle_has_no_public_constructor() -> None:
    from gateway import CommandHandle

    with pytest.raises(TypeError, match="no public constructor"):
        CommandHandle(
            object(),
            command_id="x",
            operation=None,
            venue="v",
            instrument="i",  # type: ignore[arg-type]
            client_order_id=None,
            request=None,
        )
