"""Controlled experiments over training arms (``scripts/experiment.py``; docs/experiment.md)."""

from prover.experiment.config import ExperimentConfig, HeldOutOptions

__all__ = ["ExperimentConfig", "HeldOutOptions"]
