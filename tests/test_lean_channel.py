"""The notify channel against the real wasm Lean (the session's warm pool, no new worker).

The checker must announce every answer on its stdout once the file is in place (the worker
would otherwise fall back to polling: ``channel`` turns ``poll``), the answers stay bound to
their requests, the checker reports its protocol costs (``wire``), and the old polling channel
still works on the same worker. The stand-in tests in test_lean_pool.py cover forged and early
wake-up lines, a checker that never announces, and deadlines.
"""

from __future__ import annotations

import pytest

from prover.types import Problem, Status

pytestmark = [pytest.mark.lean, pytest.mark.slow]

ADD = Problem(id="add", domain="lean", statement="theorem add_comm' (a b : Nat) : a + b = b + a := by")


def block(code: str) -> str:
    return f"```lean4\n{code}\n```\n"


GOOD = block("theorem add_comm' (a b : Nat) : a + b = b + a := by\n  omega")
BAD = block("theorem add_comm' (a b : Nat) : a + b = b + a := by\n  rfl")


def test_every_answer_is_announced_and_bound(lean_verifier):
    pool = lean_verifier.pool
    assert pool.channel == "notify"
    verdicts = lean_verifier.verify([ADD] * 4, [GOOD, BAD, GOOD, BAD])
    assert [v.status for v in verdicts] == [Status.VALID, Status.INVALID, Status.VALID, Status.INVALID]
    workers = pool.workers()
    assert workers and all(w.channel == "notify" for w in workers), "a real checker answer was not announced"
    for w in workers:
        assert w._answered == w._next - 1  # the last request's line arrived, none beyond it
    for v in verdicts:
        # the checker's protocol costs came back with the answer, and the client's own times
        assert {"lean", "check", "send", "wait", "read", "checker_read", "checker_answer"} <= set(v.timings)
        assert v.timings["checker_answer"] * 1000 >= v.timings["lean"] * 1000 - 1  # handle runs inside answer


def test_polling_channel_on_the_same_worker(lean_verifier):
    pool = lean_verifier.pool
    try:
        pool.set_channel("poll")
        verdicts = lean_verifier.verify([ADD] * 2, [GOOD, BAD])
        assert [v.status for v in verdicts] == [Status.VALID, Status.INVALID]
    finally:
        pool.set_channel("notify")
    assert lean_verifier.check(ADD, GOOD).status == Status.VALID
    assert all(w.channel == "notify" for w in pool.workers())
