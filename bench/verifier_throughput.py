"""Lean verifier throughput: warm pool versus one Lean start per proof, and 1 vs 2 workers.

    .venv/bin/python bench/verifier_throughput.py [--proofs 40] [--cold 2] [--backend wasm]

Measured side by side in one run, on the same proofs:
  * cold: `lean FILE.lean` started once per proof (what a naive verifier does);
    run on the first ``--cold`` proofs only (a wasm start takes minutes);
  * warm, 1 worker: the pooled checker, already started;
  * warm, 2 workers: the same proofs through a pool of two (needs ~10 GB for wasm).
Prints checks/second of each and the ratios. Start-up of the pools is reported
separately and not counted in warm throughput (it is paid once per run).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prover.types import Problem  # noqa: E402
from prover.verifiers.lean import LeanConfig, LeanVerifier  # noqa: E402
from prover.verifiers.lean.runtime import find_bun, wasm_runtime_dir  # noqa: E402

FAMILIES = [
    ("theorem t{i} (a b : Nat) : a + {i} + b = b + a + {i} := by omega", True),
    ("theorem t{i} : {i} * 2 = {i} + {i} := by decide", True),
    ("theorem t{i} (xs : List Nat) : (xs ++ [{i}]).length = xs.length + 1 := by simp", True),
    ("theorem t{i} (n : Nat) : n + {i} = {i} + n := by\n  intro h", False),
]


def proofs(n: int, start: int = 0) -> list[tuple[Problem, str, bool]]:
    out = []
    for i in range(start, start + n):
        code, ok = FAMILIES[i % len(FAMILIES)]
        code = code.format(i=i)
        stmt = code.split(":= by")[0] + ":= by"
        out.append((Problem(id=f"t{i}", domain="lean", statement=stmt), f"```lean4\n{code}\n```", ok))
    return out


def cold_check(code: str) -> float:
    """Start Lean once for one proof file; returns seconds."""
    runtime = wasm_runtime_dir()
    with tempfile.TemporaryDirectory(dir="/tmp") as d:
        f = Path(d) / "Proof.lean"
        f.write_text(code + "\n")
        t0 = time.monotonic()
        subprocess.run([str(find_bun()), str(runtime / "bin" / "lean.js"), "Proof.lean"], cwd=d,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=1800)
        return time.monotonic() - t0


def warm(workers: int, items: list[tuple[Problem, str, bool]], backend: str) -> tuple[float, float, int]:
    t0 = time.monotonic()
    v = LeanVerifier(LeanConfig(workers=workers, backend=backend, timeout_s=120))
    start = time.monotonic() - t0
    try:
        # Warm-up, not timed: every worker checks every family a few times (the first use of a
        # tactic in a fresh worker is slow), on other theorems than the timed ones.
        warmup = proofs(3 * len(FAMILIES) * workers, start=10_000)
        v.verify([p for p, _, _ in warmup], [r for _, r, _ in warmup])
        t1 = time.monotonic()
        verdicts = v.verify([p for p, _, _ in items], [r for _, r, _ in items], progress=True)
        took = time.monotonic() - t1
    finally:
        v.close()
    agree = sum(int(vd.valid == ok) for vd, (_, _, ok) in zip(verdicts, items))
    return start, len(items) / took, agree


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--proofs", type=int, default=120)
    ap.add_argument("--cold", type=int, default=2, help="proofs checked with one Lean start each (0: skip)")
    ap.add_argument("--backend", default="wasm", choices=["wasm", "native"])
    ap.add_argument("--skip-two", action="store_true", help="skip the 2-worker pool (needs ~10 GB for wasm)")
    args = ap.parse_args()
    items = proofs(args.proofs)

    cold_times = [cold_check(r.split("```lean4\n")[1].split("\n```")[0]) for _, r, _ in items[: args.cold]]
    start1, rate1, agree1 = warm(1, items, args.backend)
    print(f"warm pool, 1 worker: {rate1:.2f} checks/s ({agree1}/{len(items)} verdicts as expected; start {start1:.0f}s)")
    if cold_times:
        cold_rate = len(cold_times) / sum(cold_times)
        print(f"cold (one Lean start per proof): {cold_rate:.4f} checks/s over {len(cold_times)} proofs")
        print(f"ratio warm(1) / cold: {rate1 / cold_rate:.0f}x")
    if not args.skip_two:
        start2, rate2, agree2 = warm(2, items, args.backend)
        print(f"warm pool, 2 workers: {rate2:.2f} checks/s ({agree2}/{len(items)} as expected; start {start2:.0f}s)")
        print(f"ratio warm(2) / warm(1): {rate2 / rate1:.2f}x")


if __name__ == "__main__":
    main()
