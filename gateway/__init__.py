"""Order gateway: send orders and cancels to crypto venues and report only what the evidence proves.

Public names load lazily (PEP 562) so that ``gateway.model`` (the bottom of the dependency
graph, imported by every venue adapter) never drags in ``gateway.core`` and its adapters.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "Gateway": "gateway.core",
    "UnknownVenueError": "gateway.core",
    "CommandHandle": "gateway.handle",
    "ResolutionTimeout": "gateway.handle",
    "InvalidOrderError": "venues.base",
    **{
        name: "gateway.model"
        for name in (
            "Ack",
            "CancelRequest",
            "CommandAck",
            "CommandOperation",
            "CommandReceipt",
            "CommandStatus",
            "LifecycleEvent",
            "OrderReport",
            "OrderRequest",
            "OrderState",
            "OrderType",
            "OrderUpdate",
            "Receipt",
            "RecoveryCompleted",
            "RecoveryScheduled",
            "Side",
            "TimeInForce",
            "TradeReport",
            "Transport",
        )
    },
}

__all__ = [
    "Ack",
    "CancelRequest",
    "CommandAck",
    "CommandHandle",
    "CommandOperation",
    "CommandReceipt",
    "CommandStatus",
    "Gateway",
    "InvalidOrderError",
    "LifecycleEvent",
    "OrderReport",
    "OrderRequest",
    "OrderState",
    "OrderType",
    "OrderUpdate",
    "Receipt",
    "RecoveryCompleted",
    "RecoveryScheduled",
    "ResolutionTimeout",
    "Side",
    "TimeInForce",
    "TradeReport",
    "Transport",
    "UnknownVenueError",
]
assert sorted(__all__) == sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gateway' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


if TYPE_CHECKING:
    from gateway.core import Gateway, UnknownVenueError
    from gateway.handle import CommandHandle, ResolutionTimeout
    from gateway.model import (
        Ack,
        CancelRequest,
        CommandAck,
        CommandOperation,
        CommandReceipt,
        CommandStatus,
        LifecycleEvent,
        OrderReport,
        OrderRequest,
        OrderState,
        OrderType,
        OrderUpdate,
        Receipt,
        RecoveryCompleted,
        RecoveryScheduled,
        Side,
        TimeInForce,
        TradeReport,
        Transport,
    )
    from venues.base import InvalidOrderError
