"""Worker answer binding and pool hygiene, fast, against a stand-in checker process.

The stand-in speaks the checker's protocol, both transports (a few lines of Python started like
the real checker, in its own process group): request files, or its stdin when the ``serve`` file
asks for the pipe. What it does per request is chosen by the request's code: echo a
valid-looking answer, forge one (wrong secret), hang, or exit. The real wasm Lean runs
the same paths in tests/test_lean_trust.py and tests/test_lean_verifier.py (slow).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from prover.verifiers.lean.pool import LeanPool
from prover.verifiers.lean.runtime import LaunchSpec
from prover.verifiers.lean.acceptance import wire_timings
from prover.verifiers.lean.config import LeanConfig
from prover.verifiers.lean.worker import (BadRequest, CheckerWorker, ForgedAnswer, WorkerDied, WorkerTimeout,
                                          parse_notify)

STAND_IN = r'''
import json, os, sys, time
d = sys.argv[1]
print("stand-in starting", flush=True)  # any other stdout line goes to checker.log
pipe = open(os.path.join(d, "serve")).read().startswith("serve pipe") and not os.environ.get("STAND_IN_NO_PIPE")
open(os.path.join(d, "ready"), "w").write("ready pipe\n" if pipe else "ready\n")
if pipe and os.environ.get("STAND_IN_DEAF"):  # never reads its stdin
    time.sleep(3600)
n = 0
while os.path.exists(os.path.join(d, "serve")):
    if pipe:
        header = sys.stdin.buffer.readline()
        if not header:
            sys.exit(0)  # the client is gone
        j = json.loads(sys.stdin.buffer.read(int(header)))
        assert sys.stdin.buffer.read(1) == b"\n"
    else:
        req = os.path.join(d, "req", f"{n}.json")
        if not os.path.exists(req):
            time.sleep(0.001)
            continue
        j = json.load(open(req))
        os.remove(req)
    code = j.get("code", "")
    if code == "hang":
        time.sleep(3600)
    if code == "crash":
        os._exit(3)
    ans = {"id": j["id"], "seq": j["seq"], "secret": j["secret"], "ok": True, "code": code}
    if code == "forge":
        ans["secret"] = "0" * 32
    if code == "line-next":  # plant a stdout answer for the next request, then answer this one honestly
        print(f"prover-checker answer {n + 1} " + json.dumps({"id": "x", "seq": n + 1, "secret": "guess"}), flush=True)
    if code == "forge-next":  # plant an answer for the next request, then answer this one honestly
        nxt = {"id": "x", "seq": n + 1, "secret": "guess", "ok": True}
        open(os.path.join(d, "resp", f"{n + 1}.json"), "w").write(json.dumps(nxt))
    if j.get("notify") and code != "no-notify":
        print(f"prover-checker answer {n} " + json.dumps(ans), flush=True)
    else:
        tmp = os.path.join(d, "resp", f"{n}.tmp")
        open(tmp, "w").write(json.dumps(ans))
        os.rename(tmp, os.path.join(d, "resp", f"{n}.json"))
    n += 1
'''


def _launcher(tmp_path: Path, pipe: bool = False, env: dict[str, str] | None = None):
    tmp_path.mkdir(parents=True, exist_ok=True)
    script = tmp_path / "stand_in.py"
    script.write_text(STAND_IN)
    counter = iter(range(10_000))

    def launch() -> LaunchSpec:
        d = tmp_path / f"w{next(counter)}"
        (d / "req").mkdir(parents=True)
        (d / "resp").mkdir()
        (d / "serve").write_text("serve\n")
        return LaunchSpec([sys.executable, str(script), str(d)], d, dict(env or {}), pipe_stdin=pipe)

    return launch


@pytest.fixture
def worker(tmp_path):
    w = CheckerWorker(_launcher(tmp_path)())
    w.wait_ready(30)
    yield w
    w.close()


def test_answer_echoes_id_seq_and_secret(worker):
    a = worker.request({"id": "r1", "code": "ok"}, 10)
    b = worker.request({"id": "r2", "code": "ok"}, 10)
    assert a["id"] == "r1" and a["seq"] == 0 and b["seq"] == 1
    assert len(a["secret"]) == 32 and a["secret"] != b["secret"]  # fresh per request


def test_forged_secret_is_refused_and_worker_killed(worker):
    with pytest.raises(ForgedAnswer):
        worker.request({"id": "r", "code": "forge"}, 10)
    assert not worker.alive()


def test_answer_planted_for_the_next_request_is_refused(worker):
    assert worker.request({"id": "r", "code": "forge-next"}, 10)["ok"]
    with pytest.raises(ForgedAnswer):
        worker.request({"id": "r2", "code": "ok"}, 10)


def test_unencodable_request_leaves_the_worker_untouched(worker):
    with pytest.raises(BadRequest):
        worker.request({"id": "r", "code": "bad \ud800 surrogate"}, 10)
    assert worker.alive() and worker.uses == 0
    assert worker.request({"id": "r", "code": "ok"}, 10)["seq"] == 0


def test_timeout_and_death(worker, tmp_path):
    with pytest.raises(WorkerTimeout):
        worker.request({"id": "r", "code": "hang"}, 0.5)
    assert not worker.alive()
    w2 = CheckerWorker(_launcher(tmp_path / "b")())
    try:
        w2.wait_ready(30)
        with pytest.raises(WorkerDied):
            w2.request({"id": "r", "code": "crash"}, 10)
    finally:
        w2.close()


def test_pool_hostile_batch_one_result_per_row_in_order_no_leak(tmp_path):
    (tmp_path / "p").mkdir()
    codes = ["ok", "bad \ud800", "forge", "ok", "crash", "ok", "hang", "ok", "ok"]

    async def main():
        pool = LeanPool(_launcher(tmp_path / "p"), workers=2, start_timeout_s=30)
        await pool.start()
        try:
            results = await asyncio.gather(*(pool.run({"id": f"r{i}", "code": c}, 2.0) for i, c in enumerate(codes)))
            # every worker is back (or replaced) and none is held
            for _ in range(100):
                if pool._idle.qsize() == pool.n_workers:
                    break
                await asyncio.sleep(0.05)
            return results, pool.stats, pool._idle.qsize(), len(pool.workers()), len(pool._taken)
        finally:
            await pool.close()

    results, stats, idle, alive, taken = asyncio.run(main())
    assert len(results) == len(codes)
    for i, (c, r) in enumerate(zip(codes, results)):
        if c == "ok":
            assert r.answer is not None and r.answer["id"] == f"r{i}", (i, r)  # its own answer, in order
        elif c == "hang":
            assert r.timed_out
        else:
            assert r.answer is None and r.error, (c, r)
    assert "encoded" in results[1].error and "not bound" in results[2].error
    assert stats.forged == 1 and stats.deaths == 1 and stats.timeouts == 1  # each costs one worker, no retry
    assert taken == 0 and idle == alive == 2


def test_pool_waiters_are_served_in_arrival_order(tmp_path):
    (tmp_path / "q").mkdir()

    async def main():
        pool = LeanPool(_launcher(tmp_path / "q"), workers=1, start_timeout_s=30)
        await pool.start(wait=False)  # requests queue up while the worker starts (> 1 s of health checks)
        order: list[int] = []

        async def one(i: int):
            await asyncio.sleep(0.01 * i)
            r = await pool.run({"id": f"r{i}", "code": "ok"}, 5.0)
            order.append(r.answer["seq"])

        try:
            await asyncio.gather(*(one(i) for i in range(6)))
        finally:
            await pool.close()
        return order

    assert asyncio.run(main()) == list(range(6))


def test_pool_recycles_at_the_use_count(tmp_path):
    async def main():
        pool = LeanPool(_launcher(tmp_path / "r"), workers=1, start_timeout_s=30, max_uses=2)
        await pool.start()
        try:
            first = pool.workers()[0]
            seqs = [(await pool.run({"id": f"r{i}", "code": "ok"}, 5.0)).answer["seq"] for i in range(5)]
            return seqs, pool.stats.recycled, first in pool.workers(), len(pool.workers())
        finally:
            await pool.close()

    seqs, recycled, first_alive, alive = asyncio.run(main())
    assert seqs == [0, 1, 0, 1, 0]  # a fresh worker (sequence restarts) after every two checks
    assert recycled == 2 and not first_alive and alive == 1


def test_worker_dead_while_idle_is_replaced_not_blamed_on_the_next_row(tmp_path):
    """A worker killed while idle (OOM killer, an operator) costs the next row nothing: it is
    replaced before that row's request is sent, and the row gets its own answer."""
    (tmp_path / "d").mkdir()

    async def main():
        pool = LeanPool(_launcher(tmp_path / "d"), workers=1, start_timeout_s=30)
        await pool.start()
        try:
            first = await pool.run({"id": "a", "code": "ok"}, 5.0)
            (idle,) = pool.workers()
            idle.kill()
            second = await pool.run({"id": "b", "code": "ok"}, 5.0)
            return first, second, pool.stats.deaths, len(pool.workers())
        finally:
            await pool.close()

    first, second, deaths, alive = asyncio.run(main())
    assert first.answer["id"] == "a"
    assert second.answer is not None and second.answer["id"] == "b", second
    assert deaths == 1 and alive == 1


def test_parse_notify():
    assert parse_notify(b'prover-checker answer 12 {"a": 1}\n') == (12, b'{"a": 1}')
    assert parse_notify(b"prover-checker answer 0 x") == (0, b"x")
    for bad in (b"prover-checker answer\n", b"prover-checker answer -1 {}\n", b"prover-checker answer 1x {}\n",
                b"xprover-checker answer 1 {}\n", b"prover-checker answer " + b"9" * 40 + b" {}\n",
                b"prover-checker answer 3\n", b"[DEBUG] 3\n"):
        assert parse_notify(bad) is None


def test_notify_channel_answers_on_stdout_bound_to_the_request(worker):
    assert worker.channel == "notify"
    for i in range(3):
        ans = worker.request({"id": f"r{i}", "code": "ok"}, 10)
        assert (ans["id"], ans["seq"]) == (f"r{i}", i)
    assert worker.channel == "notify"  # every answer came on stdout: no fallback
    assert not list((worker.workdir / "resp").iterdir())  # and no answer file was written
    assert set(worker.timing) == {"send", "wait", "read"}
    assert "stand-in starting" in worker.log_tail()  # other stdout lines still reach the log


def test_stdout_answers_are_refused_unless_bound(worker, tmp_path):
    with pytest.raises(ForgedAnswer):  # wrong secret, delivered on stdout
        worker.request({"id": "r", "code": "forge"}, 10)
    assert not worker.alive()
    w2 = CheckerWorker(_launcher(tmp_path / "b")())
    try:
        w2.wait_ready(30)
        assert w2.request({"id": "r", "code": "line-next"}, 10)["seq"] == 0
        with pytest.raises(ForgedAnswer):  # the answer planted for request 1 does not echo its secret
            w2.request({"id": "r", "code": "ok"}, 10)
        assert not w2.alive()
    finally:
        w2.close()


def test_checker_that_never_announces_falls_back_to_polling(worker):
    assert worker.request({"id": "r", "code": "no-notify"}, 10)["seq"] == 0
    assert worker.channel == "poll"
    assert worker.request({"id": "r", "code": "ok"}, 10)["seq"] == 1


def test_poll_channel_still_works(tmp_path):
    w = CheckerWorker(_launcher(tmp_path)(), channel="poll")
    try:
        w.wait_ready(30)
        assert w.request({"id": "r", "code": "ok"}, 10)["seq"] == 0
        with pytest.raises(WorkerTimeout):
            w.request({"id": "r", "code": "hang"}, 0.5)
    finally:
        w.close()


def test_channel_settings_are_checked(tmp_path):
    with pytest.raises(ValueError, match="channel"):
        LeanConfig(channel="carrier-pigeon")
    with pytest.raises(ValueError, match="channel"):
        LeanPool(_launcher(tmp_path), channel="carrier-pigeon")
    assert LeanConfig().channel == "auto" and LeanConfig(channel="pipe").channel == "pipe"
    pool = LeanPool(_launcher(tmp_path))
    pool.set_channel("poll")
    assert pool.channel == "poll"


def test_wire_timings_keeps_only_well_formed_checker_values():
    got = wire_timings({"send": 0.001, "wait": 0.2, "read": 0.0005},
                       {"wait_us": 1500, "read_us": 200, "answer_us": "x", "slept_us": -3, "prev_write_us": True,
                        "extra_us": 9})
    assert got == {"send": 0.001, "wait": 0.2, "read": 0.0005, "checker_wait": 0.0015, "checker_read": 0.0002}
    assert wire_timings(None, None) == {}
    assert wire_timings({}, ["not", "a", "map"]) == {}


# -- the pipe transport: requests on the checker's stdin, answers on its stdout ----------------

@pytest.fixture
def pipe_worker(tmp_path):
    w = CheckerWorker(_launcher(tmp_path, pipe=True)())
    w.wait_ready(30)
    yield w
    w.close()


def test_pipe_requests_and_answers_use_no_files(pipe_worker):
    assert (pipe_worker.channel, pipe_worker.transport) == ("pipe", "pipe")
    big = "x" * 300_000  # several times a pipe's buffer: written in pieces as the checker reads
    for i, code in enumerate(["ok", big, "ok ünïcode ∀"]):
        ans = pipe_worker.request({"id": f"r{i}", "code": code}, 10)
        assert (ans["id"], ans["seq"], ans["code"]) == (f"r{i}", i, code)
    assert not list((pipe_worker.workdir / "req").iterdir()) and not list((pipe_worker.workdir / "resp").iterdir())
    assert pipe_worker.channel == "pipe"


def test_pipe_answers_are_refused_unless_bound(pipe_worker, tmp_path):
    # a file planted for the next request is never looked at on the pipe
    assert pipe_worker.request({"id": "r", "code": "forge-next"}, 10)["seq"] == 0
    assert pipe_worker.request({"id": "r2", "code": "ok"}, 10)["seq"] == 1
    with pytest.raises(ForgedAnswer):  # a stdout line for the next request does not carry its secret
        pipe_worker.request({"id": "r", "code": "line-next"}, 10)
        pipe_worker.request({"id": "r", "code": "ok"}, 10)
    assert not pipe_worker.alive()
    w2 = CheckerWorker(_launcher(tmp_path / "b", pipe=True)())
    try:
        w2.wait_ready(30)
        with pytest.raises(ForgedAnswer):
            w2.request({"id": "r", "code": "forge"}, 10)
        assert not w2.alive()
    finally:
        w2.close()


def test_pipe_deadlines_and_death(pipe_worker, tmp_path):
    with pytest.raises(WorkerTimeout):
        pipe_worker.request({"id": "r", "code": "hang"}, 0.5)
    assert not pipe_worker.alive()
    crash = CheckerWorker(_launcher(tmp_path / "c", pipe=True)())
    try:
        crash.wait_ready(30)
        with pytest.raises(WorkerDied):
            crash.request({"id": "r", "code": "crash"}, 10)
        with pytest.raises(WorkerDied):  # and the next request finds it gone
            crash.request({"id": "r", "code": "ok"}, 10)
    finally:
        crash.close()


def test_pipe_write_is_bounded_when_the_checker_does_not_read(tmp_path):
    w = CheckerWorker(_launcher(tmp_path, pipe=True, env={"STAND_IN_DEAF": "1"})())
    try:
        w.wait_ready(30)
        with pytest.raises(WorkerTimeout, match="did not take its request"):
            w.request({"id": "r", "code": "x" * 1_000_000}, 0.5)  # far more than the pipe holds
        assert not w.alive()
    finally:
        w.close()


def test_checker_that_cannot_serve_its_stdin_gets_request_files(tmp_path):
    w = CheckerWorker(_launcher(tmp_path, pipe=True, env={"STAND_IN_NO_PIPE": "1"})())
    try:
        w.wait_ready(30)
        assert (w.transport, w.channel) == ("files", "notify")
        assert w.request({"id": "r", "code": "ok"}, 10)["seq"] == 0
    finally:
        w.close()


def test_pipe_checker_stops_when_the_client_goes(pipe_worker):
    assert pipe_worker.request({"id": "r", "code": "ok"}, 10)["ok"]
    pipe_worker.proc.stdin.close()  # what the client's death does to the pipe
    assert pipe_worker.proc.wait(timeout=10) == 0


def test_transport_is_fixed_at_start(worker, tmp_path):
    pipe_worker = CheckerWorker(_launcher(tmp_path / "pw", pipe=True)())
    nopipe = CheckerWorker(_launcher(tmp_path / "np")(), channel="pipe")
    try:
        with pytest.raises(ValueError, match="fixed at start"):
            pipe_worker.set_channel("poll")
        with pytest.raises(ValueError, match="fixed at start"):
            worker.set_channel("pipe")
        pipe_worker.set_channel("auto")
        worker.set_channel("poll")
        assert (pipe_worker.channel, worker.channel) == ("pipe", "poll")
        assert worker.request({"id": "r", "code": "ok"}, 10)["seq"] == 0
        # asked for the pipe, a launch that cannot read its stdin gets request files
        assert (nopipe.transport, nopipe.channel) == ("files", "notify")
    finally:
        pipe_worker.close()
        nopipe.close()


def test_pool_on_the_pipe_one_verdict_per_row_in_order(tmp_path):
    async def main():
        pool = LeanPool(_launcher(tmp_path, pipe=True), workers=2, start_timeout_s=30)
        await pool.start()
        try:
            codes = ["ok", "hang", "ok", "crash", "forge", "ok"] * 2
            outs = await asyncio.gather(*(pool.run({"id": f"r{i}", "code": c}, 1.0) for i, c in enumerate(codes)))
            with pytest.raises(ValueError, match="fixed at start"):
                pool.set_channel("notify")
            return codes, outs, [w.transport for w in pool.workers()]
        finally:
            await pool.close()

    codes, outs, transports = asyncio.run(main())
    for i, (c, o) in enumerate(zip(codes, outs)):
        if c == "ok":
            assert o.answer is not None and o.answer["id"] == f"r{i}"
        elif c == "hang":
            assert o.answer is None and o.timed_out
        else:
            assert o.answer is None and o.error
    assert transports and set(transports) == {"pipe"}
