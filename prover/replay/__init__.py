"""Replay/correction core: failed attempts become training signal, in any domain."""

from prover.replay.config import ReplayConfig
from prover.replay.core import RecordResult, ReplayCore
from prover.replay.difficulty import DifficultyWeights, ProblemStats, weighted_order
from prover.replay.metrics import ReplayMetrics
from prover.replay.mixer import BatchMixer, MixedBatch, split_slots
from prover.replay.samples import DROP_REASONS, SampleBuilder, attempt_for
from prover.replay.shaping import RiskAwareShaper, shaped_reward
from prover.replay.store import AddResult, Candidate, AttemptStore, StoredAttempt

__all__ = [
    "AddResult",
    "BatchMixer",
    "Candidate",
    "DROP_REASONS",
    "DifficultyWeights",
    "AttemptStore",
    "MixedBatch",
    "ProblemStats",
    "RecordResult",
    "ReplayConfig",
    "ReplayCore",
    "ReplayMetrics",
    "RiskAwareShaper",
    "SampleBuilder",
    "StoredAttempt",
    "attempt_for",
    "shaped_reward",
    "split_slots",
    "weighted_order",
]
