"""Portfolio gate: check-and-reserve exposure under one lock, with in-process and Redis ledgers."""

from risk.errors import RiskRejected

__all__ = ["RiskRejected"]
