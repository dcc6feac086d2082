"""The exchange simulator: a real aiohttp server speaking Binance USD-M and Bybit v5, with faults and ground truth."""

from venues.sim.engine import EngineReject, MatchingEngine, RejectReason, SimFill, SimInstrument, SimOrder, WriteAttempt
from venues.sim.faults import Fault, FaultCampaign, FaultKind, FaultPlan
from venues.sim.server import GroundTruth, RequestRecord, SimExchange, SimVenue

__all__ = [
    "EngineReject",
    "Fault",
    "FaultCampaign",
    "FaultKind",
    "FaultPlan",
    "GroundTruth",
    "MatchingEngine",
    "RejectReason",
    "RequestRecord",
    "SimExchange",
    "SimFill",
    "SimInstrument",
    "SimOrder",
    "SimVenue",
    "WriteAttempt",
]
