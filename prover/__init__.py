"""prover: a Kimina-style Lean 4 prover pipeline that learns from its own failures."""

from prover.types import Attempt, Problem, Sample, Status, Verdict

__all__ = ["Attempt", "Problem", "Sample", "Status", "Verdict"]
__version__ = "0.1.0"
