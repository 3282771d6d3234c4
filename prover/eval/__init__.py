"""Evaluation: pass@k (unbiased estimator) with optional one-shot error correction.

    from prover.eval import EvalConfig, run_eval
    summary = run_eval(EvalConfig(dataset="minif2f_core", k=(1, 8), few_shot=4, correction=True))
"""

from prover.eval.passk import by_group, mean_pass_at_k, pass_at_k, pass_curve
from prover.eval.report import ProblemResult, equal_budget, plot_passk, summarize, write_outputs
from prover.eval.run import AttemptLog, EvalConfig, EvalError, load_problems, run_eval

__all__ = [
    "AttemptLog",
    "EvalConfig",
    "EvalError",
    "ProblemResult",
    "by_group",
    "equal_budget",
    "load_problems",
    "mean_pass_at_k",
    "pass_at_k",
    "pass_curve",
    "plot_passk",
    "run_eval",
    "summarize",
    "write_outputs",
]
