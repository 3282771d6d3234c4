#!/usr/bin/env python
"""pass@k evaluation of a prover, with optional one-shot error correction.

    python scripts/eval_prover.py --model PATH --dataset minif2f --split test --k 1,8,32 [--correction]
    python scripts/eval_prover.py --config configs/eval_minif2f_core.yaml --limit 20
    prover eval ...                                   (the same)

Settings come from the defaults of ``prover.eval.EvalConfig``, then the YAML file
given with --config (keys are the field names), then the command line. The run
directory receives attempts.jsonl (one line per attempt: prompt, response,
verdict, feedback), summary.json and passk.png; running the same command again
resumes an interrupted run without redoing finished attempts.

MiniF2F and ProofNet need Mathlib, so the native Lean backend (`lake -R
-Kmathlib=true build checker`); on a machine without Mathlib evaluate on
--dataset minif2f_core (the MiniF2F statements core Lean can state, wasm backend).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any, Sequence

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from prover.eval.run import MATHLIB_HINT, EvalConfig, EvalError, config_fields, run_eval  # noqa: E402

MAPPING_FIELDS = ("policy_options", "verifier_options")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="eval_prover.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=None, help="YAML file of EvalConfig fields (the command line overrides it)")
    p.add_argument("--print-config", action="store_true", help="print the resolved settings as JSON and stop")
    for f in config_fields():
        help_text = f.metadata.get("help", "")
        if f.name in MAPPING_FIELDS:
            p.add_argument(_flag(f.name).removesuffix("s"), dest=f.name, action="append", metavar="KEY=VALUE",
                           default=argparse.SUPPRESS, help=f"{help_text} Repeatable; VALUE is read as YAML.")
            continue
        default = f.default if f.default is not dataclasses.MISSING else None
        kw: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS, "help": f"{help_text} (default: {default})"}
        if isinstance(default, bool):
            kw["action"] = argparse.BooleanOptionalAction
        elif f.name == "k":
            kw["type"] = str
            kw["help"] = f"{help_text} (default: {','.join(map(str, default))})"
        elif isinstance(default, (int, float)):
            kw["type"] = type(default)
        else:
            kw["type"] = str
        p.add_argument(_flag(f.name), **kw)
    return p


def _yaml_value(text: str) -> Any:
    import yaml

    return yaml.safe_load(text)


def _key_values(items: Sequence[str], flag: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"{flag} expects KEY=VALUE, got {item!r}")
        out[key.strip()] = _yaml_value(value)
    return out


def load_yaml_config(path: str | Path) -> dict[str, Any]:
    """Fields from a YAML mapping; unknown keys are an error naming the valid ones."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"config file {path} does not exist")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the config must be a YAML mapping of EvalConfig fields")
    names = {f.name for f in config_fields()}
    values: dict[str, Any] = {}
    for key, value in data.items():
        name = str(key).replace("-", "_")
        if name not in names:
            raise ValueError(f"{path}: unknown setting {key!r}; valid settings: {', '.join(sorted(names))}")
        values[name] = value
    return values


def resolve_config(argv: Sequence[str] | None = None) -> tuple[EvalConfig, argparse.Namespace]:
    """Defaults < YAML (--config) < command line."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--"]:  # `prover eval -- --model ...` passes the separator through
        argv = argv[1:]
    args = build_parser().parse_args(argv)
    values: dict[str, Any] = load_yaml_config(args.config) if args.config else {}
    for f in config_fields():
        if f.name not in vars(args):
            continue
        value = getattr(args, f.name)
        if f.name in MAPPING_FIELDS:
            value = {**dict(values.get(f.name) or {}), **_key_values(value, _flag(f.name).removesuffix("s"))}
        values[f.name] = value
    return EvalConfig(**values), args


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
    try:
        cfg, args = resolve_config(argv)
    except (TypeError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.print_config:
        print(json.dumps(cfg.to_json(), indent=2, ensure_ascii=False))
        return 0
    try:
        summary = run_eval(cfg)
    except EvalError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except RuntimeError as e:
        if type(e).__name__ == "LeanSetupError" and cfg.lean_backend == "native":
            print(f"error: {e}\n{MATHLIB_HINT}", file=sys.stderr)
            return 2
        raise
    print_report(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
