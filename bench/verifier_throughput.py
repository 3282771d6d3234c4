"""Lean verifier cost per check: the pool's overhead over Lean's own time, per channel; and
in-process vs service vs Ray throughput on the same proofs.

    .venv/bin/python bench/verifier_throughput.py [--proofs 48] [--rounds 3] [--skip-ray] [--cold 0]

Two warm wasm workers (one verifier each, ``workers=1``) are started side by side, one per
transport: the pipe (``lean.channel: pipe``, the default: requests on the checker's stdin, answers
on its stdout, no files, no polling) and request files (``notify``: the checker polls for request
files and answers on its stdout; ``poll``: the answer is a file too, the client looks for it every
1-20 ms, the old way; both on the files worker). After an untimed warm-up of each, the proofs are
checked in ``--rounds`` rounds; each round checks them once over each channel, rotating which goes
first, so load on a shared machine falls on all three. Only one check runs at a time.

Per check, from the verdict's timings:
  * Lean time: the checker's ``ms`` (parse + elaborate + kernel replay, inside ``handle``);
  * pool time: from the pool handing the request to the worker until the answer is read and
    bound (``check``); overhead = pool time - Lean time, in ms and % of Lean time;
  * where the overhead goes: client send (encode; file write + rename, or stdin write), client wait minus the checker's
    busy time, client read (read, parse, binding check), the checker's idle wait for the request,
    its request read/delete, its own parse + answer outside ``handle``, its answer write.
Then throughput (checks/s) of the same proofs in-process, through `prover serve` on loopback
(the same warm pipe verifier behind HTTP) and on a local Ray cluster with one actor (its own
worker, started after the others are closed), as ratios to in-process. The last line is
``pool overhead per check: X% of Lean time (notify: Y%, old polling: Z%)``, X for the default.
"""

from __future__ import annotations

import argparse
import os
import statistics
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


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))] if xs else float("nan")


def run_batch(v, items) -> tuple[float, list]:
    t0 = time.monotonic()
    verdicts = v.verify([p for p, _, _ in items], [r for _, r, _ in items])
    return time.monotonic() - t0, verdicts


def summarize(name: str, verdicts: list) -> dict[str, float]:
    rows = [v.timings for v in verdicts if v.timings and "lean" in v.timings and "check" in v.timings]
    lean = [t["lean"] * 1000 for t in rows]
    over = [(t["check"] - t["lean"]) * 1000 for t in rows]
    share = 100 * sum(over) / max(sum(lean), 1e-9)
    print(f"\n[{name}] {len(rows)} checks: Lean time mean {statistics.mean(lean):.1f} ms "
          f"(p50 {pct(lean, .5):.0f}, p90 {pct(lean, .9):.0f})")
    print(f"[{name}] pool overhead per check: mean {statistics.mean(over):.1f} ms, p50 {pct(over, .5):.1f}, "
          f"p90 {pct(over, .9):.1f} ms; {share:.1f}% of Lean time (sum over sum)")

    def mean_ms(key: str) -> float:
        vals = [t[key] * 1000 for t in rows if key in t]
        return statistics.mean(vals) if vals else float("nan")

    busy = [(t["checker_read"] + t["checker_answer"]) * 1000 for t in rows if "checker_read" in t]
    wait_minus_busy = [t["wait"] * 1000 - b for t, b in zip([t for t in rows if "checker_read" in t], busy)]
    parts = [
        ("client send (encode; write + rename, or stdin write)", mean_ms("send")),
        ("client wait - checker busy (poll/wake latency + answer write)",
         statistics.mean(wait_minus_busy) if wait_minus_busy else float("nan")),
        ("  checker answer write (previous; file, or stdout line for notify)", mean_ms("checker_prev_write")),
        ("client read (file or stdout line, JSON, binding check)", mean_ms("read")),
        ("checker request read (file read + delete, or stdin payload)", mean_ms("checker_read")),
        ("checker parse + answer outside handle", mean_ms("checker_answer") - statistics.mean(lean)),
        ("pool thread hand-off (check - send - wait - read)",
         statistics.mean([(t["check"] - t.get("send", 0) - t.get("wait", 0) - t.get("read", 0)) * 1000 for t in rows])),
        ("checker idle wait for the request (not in pool time)", mean_ms("checker_wait")),
    ]
    for label, val in parts:
        print(f"[{name}]   {label:<66}{val:8.2f} ms")
    return {"share": share, "mean_over": statistics.mean(over), "mean_lean": statistics.mean(lean)}


CHANNELS = ("pipe", "notify", "poll")


def start_verifiers(backend: str, channels: tuple[str, ...]) -> dict[str, LeanVerifier]:
    """The pipe worker and the files worker (those ``channels`` need), started side by side (minutes each for wasm)."""
    from concurrent.futures import ThreadPoolExecutor

    cfgs = {"pipe": LeanConfig(workers=1, backend=backend, timeout_s=120, channel="pipe"),
            "files": LeanConfig(workers=1, backend=backend, timeout_s=120, channel="notify")}
    need = {"pipe"} | ({"files"} if set(channels) - {"pipe"} else set())
    cfgs = {k: c for k, c in cfgs.items() if k in need}
    with ThreadPoolExecutor(2) as ex:
        futs = {k: ex.submit(LeanVerifier, c) for k, c in cfgs.items()}
        out = {}
        for k, f in futs.items():
            try:
                out[k] = f.result()
            except BaseException:
                for v in out.values():
                    v.close()
                raise
    (w,) = out["pipe"].pool.workers()
    if w.transport != "pipe":
        raise SystemExit("the pipe worker serves request files (no wasm host script?); see the log above")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--proofs", type=int, default=48)
    ap.add_argument("--rounds", type=int, default=3, help="rounds of (pipe, notify, poll) over the same proofs")
    ap.add_argument("--cold", type=int, default=0, help="proofs checked with one Lean start each (0: skip)")
    ap.add_argument("--backend", default="wasm", choices=["wasm", "native"])
    ap.add_argument("--skip-service", action="store_true")
    ap.add_argument("--skip-ray", action="store_true", help="skip Ray (starts another worker, after the others are closed)")
    ap.add_argument("--channels", default=",".join(CHANNELS),
                    help="channels to measure, comma-separated (default pipe,notify,poll: two workers side by side; "
                         "pipe alone: one worker, no second checker idling beside it)")
    args = ap.parse_args()
    channels = tuple(c for c in CHANNELS if c in args.channels.split(","))
    if "pipe" not in channels:
        ap.error("--channels must include pipe (the default the throughput ratios are measured on)")
    items = proofs(args.proofs)
    print(f"machine: {os.cpu_count()} CPUs, load average at start {os.getloadavg()}")

    t0 = time.monotonic()
    vs = start_verifiers(args.backend, channels)
    print(f"{len(vs)} worker(s) started in {time.monotonic() - t0:.0f}s" + (" (side by side)" if len(vs) > 1 else ""))

    def on(ch: str) -> LeanVerifier:
        if ch == "pipe":
            return vs["pipe"]
        vs["files"].pool.set_channel(ch)
        return vs["files"]

    by_channel: dict[str, list] = {ch: [] for ch in channels}
    secs: dict[str, float] = {ch: 0.0 for ch in channels}
    rates: dict[str, float] = {}
    try:
        warmup = proofs(3 * len(FAMILIES), start=10_000)  # first use of a tactic in a fresh worker is slow
        for ch in channels:
            run_batch(on(ch), warmup)
        for r in range(args.rounds):
            k = r % len(channels)
            for ch in channels[k:] + channels[:k]:
                took, verdicts = run_batch(on(ch), items)
                agree = sum(int(vd.valid == ok) for vd, (_, _, ok) in zip(verdicts, items))
                if agree != len(items):
                    print(f"WARNING: {ch} round {r}: {agree}/{len(items)} verdicts as expected")
                by_channel[ch] += verdicts
                secs[ch] += took
        print(f"\nload average after the channel rounds: {os.getloadavg()}")
        res = {ch: summarize(ch, vds) for ch, vds in by_channel.items()}
        for ch in channels:
            print(f"in-process throughput, {ch}: {len(by_channel[ch]) / secs[ch]:.2f} checks/s")
        if "files" in vs:
            vs["files"].close()
        v = vs["pipe"]
        rates["in-process"] = len(items) / run_batch(v, items)[0]
        if not args.skip_service:
            from prover.serve import ServeConfig, ServeThread
            from prover.verifiers.remote import RemoteConfig, make_remote_verifier

            scfg = ServeConfig(port=0, domains=("lean",), workers=1, max_queue_rows=max(1024, len(items)))
            with ServeThread(scfg, {"lean": v}, own_verifiers=False).start() as srv, make_remote_verifier(
                    "lean", RemoteConfig(urls=(srv.url,), batch_rows=8, max_inflight_per_url=2)) as remote:
                run_batch(remote, items[:8])
                rates["service"] = len(items) / run_batch(remote, items)[0]
    finally:
        for v in vs.values():
            v.close()
    if not args.skip_ray:
        from prover.serve import ServeConfig
        from prover.serve.server import domain_config
        from prover.verifiers.ray_pool import RayConfig, make_ray_verifier

        with make_ray_verifier("lean", RayConfig(actors=1, num_cpus=0.5, batch_rows=8, local_num_cpus=2,
                                                 local_object_store_mb=100),
                               domain_config("lean", ServeConfig(port=0, domains=("lean",), workers=1))) as ray_pool:
            run_batch(ray_pool, proofs(3 * len(FAMILIES), start=10_000))
            rates["ray (1 actor)"] = len(items) / run_batch(ray_pool, items)[0]
    print(f"\nthroughput on the same {len(items)} proofs, one worker each:")
    for name, rate in rates.items():
        print(f"  {name:<16}{rate:8.2f} checks/s   {rate / rates['in-process']:.2f}x in-process")
    if args.cold:
        cold = [cold_check(r.split("```lean4\n")[1].split("\n```")[0]) for _, r, _ in items[: args.cold]]
        cold_rate = len(cold) / sum(cold)
        print(f"  {'cold (1 start/proof)':<16}{cold_rate:8.4f} checks/s   {cold_rate / rates['in-process']:.4f}x in-process")
    print(f"load average at the end: {os.getloadavg()}")
    # Lean time falls as a worker warms (Bun's JIT) and differs a little between the two workers, so
    # each channel's own share depends on which rounds it ran in; the final figures divide each
    # channel's mean overhead by the mean Lean time of all checks.
    lean_all = statistics.mean([vd.timings["lean"] * 1000 for vds in by_channel.values() for vd in vds
                                if vd.timings and "lean" in vd.timings])
    print(f"Lean time over all channels: mean {lean_all:.1f} ms; each channel's share of its own Lean time: "
          + ", ".join(f"{ch} {res[ch]['share']:.1f}%" for ch in channels))
    others = {"notify": "notify", "poll": "old polling"}
    rest = ", ".join(f"{others[ch]}: {100 * res[ch]['mean_over'] / lean_all:.1f}%" for ch in channels if ch != "pipe")
    print(f"pool overhead per check: {100 * res['pipe']['mean_over'] / lean_all:.1f}% of Lean time"
          + (f" ({rest})" if rest else ""))


if __name__ == "__main__":
    main()
