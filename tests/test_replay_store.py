"""AttemptStore: round trip, bounds, stats, atomicity, and a SIGKILL crash test."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from prover.replay import AttemptStore, ProblemStats
from prover.types import Attempt, Problem, Status, Verdict

REPO = Path(__file__).resolve().parents[1]


def prob(i: int | str = 0) -> Problem:
    return Problem(id=f"p{i}", domain="lean", statement=f"theorem t{i} : {i} = {i} := by",
                   meta={"source": "test", "∀": "unicode ok"})


def att(p: Problem, response: str = "```lean4\nbad\n```", turn: str = "first", aid: str = "",
        parent: str = "") -> Attempt:
    return Attempt(problem_id=p.id, prompt=({"role": "user", "content": f"prove {p.id}"},),
                   response=response, turn=turn, id=aid, parent_id=parent)


BAD = Verdict(Status.INVALID, 0.0, feedback="error: unsolved goals", details={"messages": [1, 2]},
              timings={"total": 0.5})
GOOD = Verdict(Status.VALID, 1.0, timings={"total": 0.2})
ERR = Verdict.infra_error("checker crashed")
TIMEOUT = Verdict(Status.TIMEOUT, 0.0, feedback="timeout")


def test_round_trip(tmp_path):
    with AttemptStore(tmp_path / "r.sqlite") as store:
        p = prob(1)
        res = store.add(p, att(p, aid="a1"), BAD, step=7)
        assert res.ids == ("a1",) and res.failures == 1
        got = store.get("a1")
        assert got.problem == p and got.verdict == BAD and got.step == 7 and not got.correct
        assert got.attempt == att(p, aid="a1")
        assert got.attempt.messages() == [{"role": "user", "content": "prove p1"}]
        assert store.get("missing") is None
        assert len(store) == 1 and store.count(correct=True) == 0
        assert store.integrity_ok()


def test_errors_not_stored_but_counted_and_ids_generated(tmp_path):
    with AttemptStore(tmp_path / "r.sqlite") as store:
        p = prob(1)
        res = store.add_many([(p, att(p), ERR), (p, att(p), TIMEOUT), (p, att(p), GOOD)])
        assert res.ids[0] == "" and all(res.ids[1:]) and res.ids[1] != res.ids[2]
        assert (res.failures, res.successes, res.errors) == (1, 1, 1)
        assert len(store) == 1 and store.count(correct=True) == 1
        assert store.problem_stats()["p1"] == ProblemStats("p1", successes=1, failures=1, errors=1, last_step=0)


def test_stats_only_for_first_turns_and_categories(tmp_path):
    with AttemptStore(tmp_path / "r.sqlite") as store:
        a, b, c = prob("a"), prob("b"), prob("c")
        store.add_many([(a, att(a), BAD), (a, att(a), GOOD), (b, att(b), BAD), (c, att(c), GOOD),
                        (b, att(b, turn="fix"), GOOD)], step=3)
        stats = store.problem_stats()
        assert stats["pa"].category == "mixed"
        assert stats["pb"].category == "unsolved" and stats["pb"].successes == 0  # the fix is not counted
        assert stats["pc"].category == "solved"
        assert set(store.problem_stats(["pa", "zz"])) == {"pa"}


def test_bounded_most_recent(tmp_path):
    with AttemptStore(tmp_path / "r.sqlite", capacity=5, success_capacity=2) as store:
        for i in range(12):
            p = prob(i)
            store.add_many([(p, att(p, aid=f"f{i}"), BAD), (p, att(p, aid=f"s{i}"), GOOD)], step=i)
        assert len(store) == 5 and store.count(correct=True) == 2
        assert [s.id for s in store.recent(limit=10)] == [f"f{i}" for i in range(11, 6, -1)]
        assert [s.id for s in store.recent(correct=True)] == ["s11", "s10"]
        assert len(store.problem_stats()) == 12  # stats are not trimmed


def test_duplicates_ignored(tmp_path):
    with AttemptStore(tmp_path / "r.sqlite") as store:
        p = prob(1)
        store.add(p, att(p, aid="same"), BAD)
        res = store.add(p, att(p, aid="same"), BAD)
        assert res.duplicates == 1 and res.failures == 0
        assert len(store) == 1 and store.problem_stats()["p1"].failures == 1


def test_add_many_is_atomic(tmp_path):
    with AttemptStore(tmp_path / "r.sqlite") as store:
        p, q = prob(1), prob(2)
        with pytest.raises(ValueError, match="paired with problem"):
            store.add_many([(p, att(p), BAD), (q, att(p), BAD)])
        assert len(store) == 0 and store.problem_stats() == {}


def test_uses_and_dropped_candidates(tmp_path):
    with AttemptStore(tmp_path / "r.sqlite") as store:
        rows = []
        for i in range(4):
            p = prob(i)
            rows.append((p, att(p, aid=f"f{i}"), BAD))
        p = prob(9)
        rows.append((p, att(p, aid="fix9", turn="fix"), BAD))
        store.add_many(rows)
        assert [c.attempt_id for c in store.candidates(correct=False)] == ["f3", "f2", "f1", "f0"]
        assert len(store.candidates(correct=False, turns=None)) == 5
        store.mark_used(["f3", "f3", "f2"])
        assert [c.attempt_id for c in store.candidates(correct=False, max_uses=1)] == ["f1", "f0"]
        assert [c.attempt_id for c in store.candidates(correct=False, max_uses=2)] == ["f2", "f1", "f0"]
        store.mark_dropped(["f1"], "prompt_too_long")
        assert store.get("f1").dropped == "prompt_too_long"
        assert [c.attempt_id for c in store.candidates(correct=False, max_uses=0)] == ["f3", "f2", "f0"]
        assert [s.id for s in store.get_many(["f0", "nope", "f3"])] == ["f0", "f3"]


def test_persists_across_reopen(tmp_path):
    path = tmp_path / "r.sqlite"
    with AttemptStore(path) as store:
        p = prob(1)
        store.add(p, att(p, aid="keep"), BAD)
        store.mark_used(["keep"])
    with AttemptStore(path) as store:
        assert store.get("keep").uses == 1 and len(store) == 1
        mode = store._read("PRAGMA journal_mode")[0][0]
        assert mode == "wal"
    with pytest.raises(RuntimeError, match="closed"):
        store.get("keep")


WRITER = """
import sys
from prover.replay import AttemptStore
from prover.types import Attempt, Problem, Status, Verdict
store = AttemptStore(sys.argv[1], capacity=100000)
bad = Verdict(Status.INVALID, 0.0, feedback="error: " + "x" * 2000)
batch = 0
while True:
    rows = []
    for k in range(50):
        p = Problem(id=f"p{batch}-{k}", domain="lean", statement="theorem t : 1 = 1 := by")
        rows.append((p, Attempt(problem_id=p.id, prompt=({"role": "user", "content": "q"},),
                                response="r" * 500, id=f"b{batch}-{k}"), bad))
    store.add_many(rows, step=batch)
    print(batch, flush=True)  # batch committed
    batch += 1
"""


def test_sigkill_mid_run_loses_nothing_committed(tmp_path):
    path = tmp_path / "crash.sqlite"
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE,
                             text=True, cwd=REPO)
    committed = -1
    deadline = time.time() + 120
    try:
        while committed < 5 and time.time() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            committed = int(line)
    finally:
        os.kill(child.pid, signal.SIGKILL)  # mid-run: the writer is inside its next transaction
        child.wait(timeout=30)
    assert committed >= 5, "the writer did not get going"
    with AttemptStore(path, capacity=100000) as store:
        assert store.integrity_ok()
        n = len(store)
        assert n >= 50 * (committed + 1) and n % 50 == 0  # whole batches only
        for b in range(committed + 1):
            got = store.get(f"b{b}-49")
            assert got is not None and got.response == "r" * 500 and got.verdict.feedback.startswith("error:")
        p = Problem(id="after", domain="lean", statement="theorem t : 1 = 1 := by")
        store.add(p, Attempt(problem_id="after", prompt=(), response="x"), BAD)  # still writable
        assert len(store) == n + 1
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    raw.close()
