"""``prover eval`` / ``scripts/eval_prover.py``: pass@k evaluation, optionally with one-shot error correction.

    prover eval --model PATH --dataset minif2f --split test --k 1,8,32 --correction
    prover eval --config configs/eval_minif2f_core.yaml --limit 20
    prover eval --dataset mbpp --policy_options.dtype bfloat16 --verifier_options.timeout_s 20

Settings: the defaults of ``EvalConfig``, then the YAML file given with --config
(keys are the field names), then ``--key value`` flags (the same syntax as
``prover train``: ``--top-p 0.9`` = ``--top_p 0.9``; ``--flag`` / ``--no-flag``;
mapping settings by key, ``--policy_options.KEY VALUE``). ``--print-config``
prints the resolved settings and stops. The run directory receives
attempts.jsonl (one line per attempt: prompt, response, verdict, feedback),
summary.json and passk.png; running the same command again resumes an
interrupted run without redoing finished attempts.

MiniF2F and ProofNet need Mathlib, so the native Lean backend (`lake -R
-Kmathlib=true build checker`); on a machine without Mathlib evaluate on
--dataset minif2f_core (the MiniF2F statements core Lean can state, wasm backend).
"""

from __future__ import annotations

import json
import sys
from typing import Any, Sequence

from prover import config as _config
from prover.config import ConfigError
from prover.eval.config import MATHLIB_HINT, EvalConfig


def resolve_config(argv: Sequence[str] | None = None) -> tuple[EvalConfig, dict[str, str]]:
    """Defaults < YAML (--config) < command line; returns (config, the special flags given)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--"]:  # `prover eval -- --model ...` passes the separator through
        argv = argv[1:]
    special, rest = _config.split_argv(argv, "config", "print_config")
    cfg = _config.load(EvalConfig, special.get("config"), rest, example="configs/eval_minif2f_core.yaml")
    return cfg, special


def print_report(summary: dict[str, Any]) -> None:
    head = f"{summary['dataset']} {summary['split']}: {summary['problems']} problems, n={summary['n']}"
    print(head)
    print("  attempts only:   " + "  ".join(f"{k}={v:.4f}" for k, v in summary["pass@k"].items()))
    corr = summary.get("correction")
    if corr:
        print(f"  with correction (budget {corr['budget']} chains): "
              + "  ".join(f"{k}={v:.4f}" for k, v in corr["pass@k"].items()))
        print(f"  fixes: {corr['fixes_valid']} of {corr['fixes_tried']} failed attempts fixed ({corr['fix_rate']:.3f})")
        for row in corr["equal_budget"]:
            print(f"  budget {row['generations']:>4}: {row['attempts']} attempts {row['pass_attempts_only']:.4f}"
                  f"  vs  {row['corrected_chains']} attempts + corrections {row['pass_with_correction']:.4f}"
                  f"  (gain {row['gain']:+.4f})")
    print("  by source:")
    for source, row in summary["by_source"].items():
        extra = ""
        if "pass@k_corrected" in row and row["pass@k_corrected"]:
            extra = "  | corrected " + "  ".join(f"{k}={v:.3f}" for k, v in row["pass@k_corrected"].items())
        print(f"    {source:<14} {row['problems']:>4}  " + "  ".join(f"{k}={v:.3f}" for k, v in row["pass@k"].items())
              + extra)
    if summary.get("statuses"):
        print("  statuses: " + json.dumps(summary["statuses"]))
    print(f"  run dir: {summary['run_dir']}")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        print(_config.help_text(EvalConfig))
        return 0
    try:
        cfg, special = resolve_config(argv)
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        return 2
    if special.get("print_config", "false").lower() not in ("false", "0", "no", "off"):
        print(json.dumps(cfg.to_json(), indent=2, ensure_ascii=False))
        return 0
    from prover.data import DataError
    from prover.eval.run import EvalError, run_eval

    try:
        summary = run_eval(cfg)
    except (EvalError, DataError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except RuntimeError as e:
        if type(e).__name__ == "LeanSetupError" and cfg.lean_backend == "native":
            print(f"error: {e}\n{MATHLIB_HINT}", file=sys.stderr)
            return 2
        raise
    print_report(summary)
    return 0


__all__ = ["main", "print_report", "resolve_config"]
