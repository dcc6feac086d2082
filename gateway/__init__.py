"""Order gateway: send orders and cancels to crypto venues and report only what the evidence proves.

The bottom layer (``gateway.model``, ``gateway.errors``, ``gateway.filters``, ``gateway.ports``,
``gateway.fold``) imports nothing above it, and ``venues``, ``reconcile`` and ``risk`` import
only that layer from ``gateway``; so this package re-exports eagerly and any import order of
the public modules works (``import venues.base; import gateway`` as well as the reverse).
"""

from __future__ import annotations

from gateway.account import Balance, HedgeModeError, Position, PositionDrift, PositionMode
from gateway.accounts import PositionCheckPolicy
from gateway.core import Gateway
from gateway.errors import (
    DuplicateCommandError,
    GatewayClosedError,
    InvalidOrderError,
    ResolutionTimeout,
    UnknownInstrumentError,
    UnknownVenueError,
)
from gateway.handle import CommandHandle
from gateway.model import (
    Ack,
    AmendRequest,
    CancelAllRequest,
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

__version__ = "0.1.0"

__all__ = [
    "Ack",
    "AmendRequest",
    "Balance",
    "CancelAllRequest",
    "CancelRequest",
    "CommandAck",
    "CommandHandle",
    "CommandOperation",
    "CommandReceipt",
    "CommandStatus",
    "DuplicateCommandError",
    "Gateway",
    "GatewayClosedError",
    "HedgeModeError",
    "InvalidOrderError",
    "LifecycleEvent",
    "OrderReport",
    "OrderRequest",
    "OrderState",
    "OrderType",
    "OrderUpdate",
    "Position",
    "PositionCheckPolicy",
    "PositionDrift",
    "PositionMode",
    "Receipt",
    "RecoveryCompleted",
    "RecoveryScheduled",
    "ResolutionTimeout",
    "Side",
    "TimeInForce",
    "TradeReport",
    "Transport",
    "UnknownInstrumentError",
    "UnknownVenueError",
]
