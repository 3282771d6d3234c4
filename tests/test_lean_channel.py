"""The worker transports against the real wasm Lean.

The session's warm pool runs on the default, the pipe (requests on the checker's stdin through the
wasm host script, answers on its stdout): every answer must come that way, bound to its request,
with no file written, and with the checker's protocol costs (``wire``). A second worker started on
request files (``lean.channel: notify``, what the native backend uses) runs notify and the old
polling channel on the same checker, and refuses answer files planted with a "valid" body. The
stand-in tests in test_lean_pool.py cover forged and early answers, a checker that does not read,
deadlines and death.
"""

from __future__ import annotations

import pytest

from lean_helpers import plant_valid_answer_files

from prover.types import Problem, Status
from prover.verifiers.lean import LeanConfig, LeanVerifier

pytestmark = [pytest.mark.lean, pytest.mark.slow]

ADD = Problem(id="add", domain="lean", statement="theorem add_comm' (a b : Nat) : a + b = b + a := by")


def block(code: str) -> str:
    return f"```lean4\n{code}\n```\n"


GOOD = block("theorem add_comm' (a b : Nat) : a + b = b + a := by\n  omega")
BAD = block("theorem add_comm' (a b : Nat) : a + b = b + a := by\n  rfl")
# a long proof: its request is several of the wasm runtime's 1 KiB stdin reads long
LONG = block("theorem add_comm' (a b : Nat) : a + b = b + a := by\n" + "  have : True := trivial\n" * 200 + "  omega")


def test_every_answer_travels_on_the_pipe_bound_to_its_request(lean_verifier):
    pool = lean_verifier.pool
    assert lean_verifier.channel == "auto"
    verdicts = lean_verifier.verify([ADD] * 5, [GOOD, BAD, LONG, GOOD, BAD])
    assert [v.status for v in verdicts] == [Status.VALID, Status.INVALID, Status.VALID, Status.VALID, Status.INVALID]
    workers = pool.workers()
    assert workers and all((w.transport, w.channel) == ("pipe", "pipe") for w in workers), \
        "the wasm checker did not serve its stdin (host script missing?)"
    for w in workers:
        assert w._answered == w._next - 1  # the last request's line arrived, none beyond it
        assert not list((w.workdir / "req").iterdir()) and not list((w.workdir / "resp").iterdir())
    for v in verdicts:
        # the checker's protocol costs came back with the answer, and the client's own times
        assert {"lean", "check", "send", "wait", "read", "checker_read", "checker_answer"} <= set(v.timings)
        assert v.timings["checker_answer"] * 1000 >= v.timings["lean"] * 1000 - 1  # handle runs inside answer
    with pytest.raises(ValueError, match="fixed at start"):
        pool.set_channel("poll")


def test_request_files_notify_and_poll_on_a_files_worker():
    v = LeanVerifier(LeanConfig(workers=1, timeout_s=60.0, channel="notify"))
    try:
        (w,) = v.pool.workers()
        assert (w.transport, w.channel) == ("files", "notify")
        assert [x.status for x in v.verify([ADD] * 2, [GOOD, BAD])] == [Status.VALID, Status.INVALID]
        assert w.channel == "notify", "a real checker answer did not come on stdout"
        v.pool.set_channel("poll")
        assert [x.status for x in v.verify([ADD] * 2, [GOOD, BAD])] == [Status.VALID, Status.INVALID]
        assert w.channel == "poll" and w.uses == 4
        # answer files planted with a "valid" body are refused as forged and the worker replaced
        plant_valid_answer_files(w)
        forged = v.pool.stats.forged
        (x,) = v.verify([ADD], [BAD])
        assert x.status is Status.ERROR and "not bound to its request" in x.feedback
        assert v.pool.stats.forged == forged + 1 and w not in v.pool.workers()
        assert not w.workdir.exists()  # its replacement gets a fresh directory (stand-in tests check it)
    finally:
        v.close()
