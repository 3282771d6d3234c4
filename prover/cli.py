"""``prover`` command line: thin wrappers around the library.

    prover verify --domain lean --input IN.jsonl --output OUT.jsonl [--workers N] [--timeout S] [--backend wasm|native]
    prover eval [--config FILE] [--key value ...]    (prover.eval.cli; prover eval --help lists every key)
    prover train [--config FILE] [--key value ...]   (prover.rl.cli; prover train --help lists every key)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path
from typing import Any, Sequence

from tqdm import tqdm

from prover.types import Problem, Verdict
from prover.verifiers.base import RowError, require_str

log = logging.getLogger("prover")


def read_rows(path: Path, domain: str) -> tuple[list[tuple[int, Problem, str]], list[tuple[int, str, str]]]:
    """Parse an input JSONL. Returns (good rows, bad rows as (line, id or '', message))."""
    from prover.data import problem_from_row

    good: list[tuple[int, Problem, str]] = []
    bad: list[tuple[int, str, str]] = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            row_id = ""
            try:
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise RowError("<row>", "each line must be a JSON object")
                row_id = str(row.get("id", ""))
                problem = problem_from_row(row, domain, index=lineno - 1)
                response = require_str(row, "response", allow_empty=True)
            except json.JSONDecodeError as e:
                bad.append((lineno, row_id, f"{path}:{lineno}: not valid JSON ({e.msg} at column {e.colno})"))
                continue
            except RowError as e:
                bad.append((lineno, row_id, f"{path}:{lineno}: {e}"))
                continue
            except ValueError as e:
                bad.append((lineno, row_id, f"{path}:{lineno}: {e}"))
                continue
            good.append((lineno, problem, response))
    return good, bad


def _verifier_config(domain: str, args: argparse.Namespace) -> Any:
    """The domain's verifier config from the flags it has (one factory: ``prover.verifiers``)."""
    from prover.verifiers import verifier_config, verifier_config_class

    fields = {f.name for f in dataclasses.fields(verifier_config_class(domain))}
    opts: dict[str, Any] = {"backend": args.backend} if domain == "lean" else {}
    for key, value in (("workers", args.workers), ("timeout_s", args.timeout), ("feedback_cap", args.feedback_cap)):
        if value and key in fields:
            opts[key] = value
    return verifier_config(domain, opts)


def cmd_verify(args: argparse.Namespace) -> int:
    return run_verify(args)


def run_verify(args: argparse.Namespace, verifier: Any = None) -> int:
    """``prover verify``; pass ``verifier`` to reuse a running one (it is then not closed)."""
    inp, out = Path(args.input), Path(args.output)
    if not inp.is_file():
        print(f"error: input file {inp} does not exist", file=sys.stderr)
        return 2
    good, bad = read_rows(inp, args.domain)
    for lineno, _, msg in bad:
        print(f"error: {msg}", file=sys.stderr)
    results: dict[int, dict[str, Any]] = {}
    for lineno, row_id, msg in bad:
        results[lineno] = {"id": row_id, "line": lineno, "status": "error", "reward": 0.0, "feedback": msg,
                           "input_error": True}
    if good:
        from prover.verifiers import get_verifier

        owned = verifier is None
        if owned:
            verifier = get_verifier(args.domain, _verifier_config(args.domain, args))
        try:
            bar = tqdm(total=len(good), desc=f"verify {args.domain}", unit="row", file=sys.stderr)
            chunk = max(1, args.chunk)
            out.parent.mkdir(parents=True, exist_ok=True)
            for i in range(0, len(good), chunk):
                part = good[i : i + chunk]
                verdicts: list[Verdict] = verifier.verify([p for _, p, _ in part], [r for _, _, r in part])
                for (lineno, problem, _), v in zip(part, verdicts):
                    results[lineno] = {"id": problem.id, "line": lineno, **v.to_json()}
                bar.update(len(part))
            bar.close()
        finally:
            if owned:
                verifier.close()
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for lineno in sorted(results):
            f.write(json.dumps(results[lineno], ensure_ascii=False) + "\n")
    tmp.replace(out)
    counts: dict[str, int] = {}
    for r in results.values():
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    print(f"wrote {len(results)} verdicts to {out}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())),
          file=sys.stderr)
    return 2 if bad else 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="prover", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    v = sub.add_parser("verify", help="verify a JSONL of responses (lean, code or math)")
    v.add_argument("--domain", choices=["lean", "code", "math"], required=True)
    v.add_argument("--input", required=True, help="JSONL; lean rows: id, formal_statement, header?, response")
    v.add_argument("--output", required=True, help="JSONL of verdicts, one per input row, in input order")
    v.add_argument("--workers", type=int, default=0, help="parallel checkers (default: the domain's default)")
    v.add_argument("--timeout", type=float, default=0.0, help="seconds per check (default: the domain's default)")
    v.add_argument("--backend", choices=["wasm", "native"], default="wasm", help="Lean backend")
    v.add_argument("--feedback-cap", type=int, default=0, help="characters of feedback kept")
    v.add_argument("--chunk", type=int, default=256, help="rows verified per batch")
    v.set_defaults(func=cmd_verify)
    for name, what in (("eval", "pass@k evaluation"), ("train", "GRPO training with error-correction replay")):
        sub.add_parser(name, help=f"{what}; every option passes through (prover {name} --help)", add_help=False)
    return p


# `prover train ...` / `prover eval ...`: every option goes to the command's own config loader.
COMMANDS = {"train": "prover.rl.cli", "eval": "prover.eval.cli"}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in COMMANDS:
        import importlib

        return int(importlib.import_module(COMMANDS[argv[0]]).main(argv[1:]))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
