#!/usr/bin/env python
"""RL training with error-correction replay (the same as ``prover train``; see ``prover/rl/cli.py`` or --help)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prover.rl.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
