"""Throughput of one verifier three ways on the same rows: in-process, through `prover serve` (loopback), and on Ray.

    python bench/service_throughput.py --domain code --rows 64 --workers 2
    python bench/service_throughput.py --domain math --rows 400

Each backend gets an untimed warm-up pass (sandboxes/actors started), then one timed
pass over the same rows; the verdicts of every backend must equal the in-process ones.
Prints rows/s per backend and the ratios to in-process side by side.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prover.serve import ServeConfig, ServeThread  # noqa: E402
from prover.verify_rows import parse_row  # noqa: E402
from prover.verifiers import get_verifier  # noqa: E402
from prover.verifiers.ray_pool import RayConfig, make_ray_verifier  # noqa: E402
from prover.verifiers.remote import RemoteConfig, make_remote_verifier  # noqa: E402


def code_rows(n: int) -> list[dict]:
    bodies = ["return a + b", "return a - b", "return sum([a, b])", "raise ValueError('x')", "return (a ^ b) + 2 * (a & b)"]
    return [{"id": f"c{i}", "prompt": "def add(a, b):\n", "entry_point": "add",
             "tests": ["assert add(1, 2) == 3", "assert add(-4, 4) == 0", "assert add(10, 5) == 15"],
             "response": f"```python\ndef add(a, b):\n    {bodies[i % len(bodies)]}\n```"} for i in range(n)]


def math_rows(n: int) -> list[dict]:
    cases = [("72", "\\boxed{72}"), ("\\frac{1}{2}", "\\boxed{0.5}"), ("x^2+2x+1", "\\boxed{(x+1)^2}"), ("3", "#### 4"),
             ("\\sqrt{2}", "\\boxed{2^{1/2}}")]
    return [{"id": f"m{i}", "answer": cases[i % len(cases)][0], "response": cases[i % len(cases)][1]} for i in range(n)]


def timed(verifier, problems, responses) -> tuple[float, list]:
    verifier.verify(problems[: max(4, len(problems) // 8)], responses[: max(4, len(problems) // 8)])  # warm-up, untimed
    t0 = time.perf_counter()
    verdicts = verifier.verify(problems, responses)
    return time.perf_counter() - t0, verdicts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--domain", choices=["code", "math"], default="code")
    ap.add_argument("--rows", type=int, default=64)
    ap.add_argument("--workers", type=int, default=2, help="checkers in total, for every backend")
    ap.add_argument("--batch-rows", type=int, default=8, help="rows per HTTP request / Ray chunk")
    ap.add_argument("--skip-ray", action="store_true")
    ap.add_argument("--json", default="", help="also write the numbers to this JSON file")
    args = ap.parse_args(argv)

    rows = (code_rows if args.domain == "code" else math_rows)(args.rows)
    pairs = [parse_row(args.domain, r) for r in rows]
    problems, responses = [p for p, _ in pairs], [r for _, r in pairs]
    from prover.serve.server import domain_config

    scfg = ServeConfig(port=0, domains=(args.domain,), workers=args.workers, max_queue_rows=max(1024, args.rows))
    results: dict[str, float] = {}

    with get_verifier(args.domain, domain_config(args.domain, scfg)) as local:
        secs, want = timed(local, problems, responses)
    results["in-process"] = secs
    key = [(v.status, v.feedback) for v in want]

    with ServeThread(scfg).start() as srv, make_remote_verifier(args.domain, RemoteConfig(
            urls=(srv.url,), batch_rows=args.batch_rows, max_inflight_per_url=max(2, args.workers))) as remote:
        secs, got = timed(remote, problems, responses)
    assert [(v.status, v.feedback) for v in got] == key, "service verdicts differ from in-process"
    results["service"] = secs

    if not args.skip_ray:
        actors = max(1, min(2, args.workers))
        per_actor = ServeConfig(port=0, domains=(args.domain,), workers=max(1, args.workers // actors))
        with make_ray_verifier(args.domain, RayConfig(actors=actors, num_cpus=0.5, batch_rows=args.batch_rows,
                                                      local_num_cpus=max(2, args.workers), local_object_store_mb=100),
                               domain_config(args.domain, per_actor)) as ray_pool:
            secs, got = timed(ray_pool, problems, responses)
        assert [(v.status, v.feedback) for v in got] == key, "Ray verdicts differ from in-process"
        results["ray"] = secs

    base = results["in-process"]
    print(f"{args.rows} {args.domain} rows, {args.workers} checkers, {args.batch_rows} rows per request/chunk")
    print(f"{'backend':<12}{'seconds':>10}{'rows/s':>10}{'vs in-process':>16}")
    for name, secs in results.items():
        print(f"{name:<12}{secs:>10.2f}{args.rows / secs:>10.1f}{base / secs:>15.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps({k: {"seconds": v, "rows_per_s": args.rows / v, "ratio": base / v}
                                               for k, v in results.items()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
