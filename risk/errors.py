"""RiskRejected lives with every other error in ``gateway.errors``; ``risk`` re-exports it."""

from __future__ import annotations

from gateway.errors import RiskRejected

__all__ = ["RiskRejected"]
