"""The uncertain-outcome reconciler: settles every UNKNOWN_EXECUTION by venue evidence, never by guessing."""

from gateway.model import EvidenceSource, ReconcileOutcome, ReconcileReport, ReconcileTrigger
from reconcile.policy import ReconcilePolicy
from reconcile.reconciler import Reconciler

__all__ = ["EvidenceSource", "ReconcileOutcome", "ReconcilePolicy", "Reconciler", "ReconcileReport", "ReconcileTrigger"]
