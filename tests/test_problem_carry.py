"""Fail2Fix's preference on the generator source: a problem whose latest group had both solved and failed
samples is offered again (problems.keep_mixed) and drawn first by the mixer (replay.weight_mixed)."""

from __future__ import annotations

import random

import pytest

from prover.replay.difficulty import DifficultyWeights, ProblemStats, weighted_order
from prover.rl.config import config_from_argv
from prover.rl.metrics import Rollout
from prover.rl.problems import ProblemSource


def _source(*argv: str) -> ProblemSource:
    return ProblemSource(config_from_argv(["--problems.difficulty.window", "1000", *argv]))


def _group(problem, solved: list[bool], group: int = 0, origin: str = "fresh") -> list[Rollout]:
    return [Rollout(group=group, origin=origin, reward=float(s), solved=s, status="valid" if s else "invalid",
                    level=problem.meta["level"], problem_id=problem.id) for s in solved]


def test_a_mixed_problem_comes_back_until_a_group_has_one_outcome():
    src = _source()
    first = src.pool(1)
    assert len(first) == 16 and src.carried == {}
    mixed, failed, solved = first[0], first[1], first[2]
    src.observe([*_group(mixed, [True, False, False, True], 0), *_group(failed, [False] * 4, 1),
                 *_group(solved, [True] * 4, 2)])
    second = src.pool(1)
    assert second[0] == mixed and len(second) == 17  # carried first, then 16 new problems
    assert [p.id for p in second].count(mixed.id) == 1 and failed not in second and solved not in second
    src.observe(_group(mixed, [True] * 4))  # one outcome now: no longer carried
    assert mixed.id not in {p.id for p in src.pool(1)}


def test_correction_groups_and_errors_do_not_count():
    src = _source()
    prob = src.pool(1)[0]
    src.observe(_group(prob, [True, False, True, False], origin="fix"))
    assert src.carried == {}
    rows = _group(prob, [True, False])
    rows[1] = Rollout(group=0, origin="fresh", reward=None, solved=False, status="error", level=3, problem_id=prob.id)
    src.observe(rows)  # an infrastructure error is no outcome: one solved sample only
    assert src.carried == {}


def test_carry_is_capped_oldest_first_and_follows_the_level():
    src = _source("--problems.keep_mixed", "2")
    pool = src.pool(1)
    for i in range(3):
        src.observe(_group(pool[i], [True, False], group=i))
    assert list(src.carried) == [pool[1].id, pool[2].id]
    src.controller.level = 4  # a carried problem is offered at its own level only
    assert {p.id for p in src.pool(1)}.isdisjoint({pool[1].id, pool[2].id})
    off = _source("--problems.keep_mixed", "0")
    prob = off.pool(1)[0]
    off.observe(_group(prob, [True, False]))
    assert off.carried == {} and len(off.pool(1)) == 16


def test_carried_problems_survive_a_checkpoint():
    src = _source()
    prob = src.pool(1)[0]
    src.observe(_group(prob, [True, False, False, False]))
    state = src.state_dict()
    back = _source()
    back.load_state_dict(state)
    assert back.carried == src.carried and back.pool(1)[0] == prob
    old = dict(state)
    del old["carried"]  # a checkpoint from before keep_mixed
    legacy = _source()
    legacy.load_state_dict(old)
    assert legacy.carried == {}


def test_bad_keep_mixed_says_how_to_fix_it():
    with pytest.raises(Exception, match=r"problems.keep_mixed=-1: use 0 \(off\) or a count"):
        config_from_argv(["--problems.keep_mixed", "-1"])


def test_default_weights_draw_a_mixed_problem_as_often_as_a_whole_pool_of_new_ones():
    weights = DifficultyWeights()
    items = ["mixed"] + [f"new{i}" for i in range(16)]
    w = [weights.weight(ProblemStats("mixed", successes=2, failures=2))] + [weights.weight(None)] * 16
    rng = random.Random(0)
    firsts = [weighted_order(items, w, rng)[0] for _ in range(4000)]
    assert 0.45 < firsts.count("mixed") / len(firsts) < 0.55
    assert weights.weight(ProblemStats("s", successes=3)) < weights.weight(ProblemStats("u", failures=3)) < 1
