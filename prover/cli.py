"""``prover`` command line: thin wrappers around the library.

    prover verify --domain lean --input IN.jsonl --output OUT.jsonl [--workers N] [--timeout S] [--backend wasm|native]
    prover serve [--host 127.0.0.1] [--port 8000] [--domains lean,code,math] [--workers N]   (prover.serve)
    prover eval [--config FILE] [--key value ...]    (prover.eval.cli; prover eval --help lists every key)
    prover train [--config FILE] [--key value ...]   (prover.rl.cli; prover train --help lists every key)
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
    from prover.serve import add_arguments as serve_arguments, run as run_serve

    sv = sub.add_parser("serve", help="HTTP verification service: own API + kimina-lean-server's routes (docs/serve.md)")
    serve_arguments(sv)
    sv.set_defaults(func=run_serve)
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
