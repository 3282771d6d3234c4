#!/usr/bin/env python
"""pass@k evaluation of a prover (the same as ``prover eval``; see ``prover/eval/cli.py`` or --help)."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from prover.eval.cli import main, print_report, resolve_config  # noqa: E402,F401

if __name__ == "__main__":
    sys.exit(main())
