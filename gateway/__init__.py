"""Order gateway: send orders and cancels to crypto venues and report only what the evidence proves."""

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
__version__ = "0.1.0"
