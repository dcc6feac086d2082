"""Portfolio gate: check-and-reserve exposure under one lock, with in-process and Redis ledgers."""

from risk.errors import RiskRejected
from risk.gate import PortfolioGate
from risk.ledger import InMemoryLedger, Ledger, LedgerSnapshot, ReservationRequest
from risk.limits import RiskLimits
from risk.redis_ledger import RedisLedger

__all__ = [
    "InMemoryLedger",
    "Ledger",
    "LedgerSnapshot",
    "PortfolioGate",
    "RedisLedger",
    "ReservationRequest",
    "RiskLimits",
    "RiskRejected",
]
