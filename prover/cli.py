"""``prover`` command line: thin wrappers around the library.

    prover verify --domain lean --input IN.jsonl --output OUT.jsonl [--workers N] [--timeout S] [--backend wasm|native]
    prover eval ...    (same as python scripts/eval_prover.py ...)
    prover train ...   (same as python scripts/train_prover.py ...)
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Sequence

from prover.verify_batch import add_verify_arguments, run_verify

log = logging.getLogger("prover")


def cmd_verify(args: argparse.Namespace) -> int:
    return run_verify(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="prover", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    v = sub.add_parser("verify", help="verify a JSONL of responses (lean, code or math); resumable, see prover/verify_batch.py")
    add_verify_arguments(v)
    v.set_defaults(func=cmd_verify)
    for name in ("eval", "train"):
        s = sub.add_parser(name, help=f"same as python scripts/{name}_prover.py", add_help=False)
        s.add_argument("rest", nargs=argparse.REMAINDER)
        s.set_defaults(func=None, script=name)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    if args.func is None:
        import runpy

        script = Path(__file__).resolve().parents[1] / "scripts" / f"{args.script}_prover.py"
        sys.argv = [str(script), *args.rest]
        runpy.run_path(str(script), run_name="__main__")
        return 0
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
