"""Verifier pools as Ray actors on a small local Ray cluster (real code sandbox inside the actors)."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from prover.types import Status
from prover.verifiers.code import CodeVerifier, CodeVerifierConfig
from prover.verifiers.ray_pool import RayConfig, make_ray_verifier
try:
    from serve_helpers import code_row
except ImportError:  # run from the repository root
    from tests.serve_helpers import code_row

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow


def rows_to_pairs(rows):
    return [CodeVerifier.problem_from_row(r) for r in rows], [r["response"] for r in rows]


@pytest.fixture(scope="module")
def pool():
    p = make_ray_verifier("code", RayConfig(actors=2, num_cpus=1, memory_mb=256, batch_rows=2, chunks_per_actor=1,
                                           retries=2, local_num_cpus=2, local_object_store_mb=80),
                          CodeVerifierConfig(workers=1))
    yield p
    p.close()


def test_ray_pool_matches_in_process_verifier(pool):
    rows = [code_row("ok"), code_row("bad", "return a - b"), code_row("boom", "raise ValueError('x')"), code_row("ok2"),
            code_row("loop", "while True: pass")]
    problems, responses = rows_to_pairs(rows)
    got = pool.verify(problems, responses)
    with CodeVerifier(CodeVerifierConfig(workers=1)) as local:
        want = local.verify(problems, responses)
    # a busy loop meets the CPU or the wall-clock limit first depending on the machine's load: the
    # feedback of a timeout names which one; everything else must match exactly
    def key(v):
        return (v.status, v.reward, "" if v.status is Status.TIMEOUT else v.feedback)

    assert [key(v) for v in got] == [key(v) for v in want]
    assert got[4].status is Status.TIMEOUT
    assert pool.problem_from_row(rows[0]).id == "ok"


def test_killed_actor_mid_batch_every_row_gets_a_verdict(pool):
    rows = [code_row(f"r{i}", sleep_s=1.0) for i in range(8)]
    problems, responses = rows_to_pairs(rows)
    pids = pool.actor_pids()
    out: dict = {}
    t = threading.Thread(target=lambda: out.setdefault("v", pool.verify(problems, responses)))
    t.start()
    time.sleep(2.0)  # both actors are busy with their first chunk
    os.kill(pids[0], signal.SIGKILL)
    t.join(300)
    verdicts = out["v"]
    assert len(verdicts) == len(rows)
    assert all(v.status is Status.VALID for v in verdicts), [(v.status, v.feedback) for v in verdicts]
    new = pool.actor_pids()
    assert new[0] != pids[0] and new[1] == pids[1]  # the dead actor was restarted, the other kept
