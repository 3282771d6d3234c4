"""Risk-aware shaping, metrics, ReplayConfig checks, and ReplayCore.record."""

from __future__ import annotations

import dataclasses

from dataclasses import fields

import pytest

from prover.replay import ReplayConfig, ReplayCore, ReplayMetrics, RiskAwareShaper, shaped_reward
from prover.types import Problem, Sample, Status, Verdict

OK = Verdict(Status.VALID, 1.0)
BAD = Verdict(Status.INVALID, 0.0, feedback="no")
TIMEOUT = Verdict(Status.TIMEOUT, 0.0)
ERR = Verdict.infra_error("down")


def sample(origin: str, correct_input: bool = False, src: str = "") -> Sample:
    return Sample("p", ({"role": "user", "content": "q"},), origin=origin, source_attempt_id=src,
                  input_was_correct=correct_input)


def test_shaped_reward():
    assert shaped_reward(sample("preserve", True), OK, 0.5) == 1.0
    assert shaped_reward(sample("preserve", True), BAD, 0.5) == -0.5
    assert shaped_reward(sample("preserve", True), TIMEOUT, 0.5) == -0.5
    assert shaped_reward(sample("preserve", True), ERR, 0.5) is None  # not the model's doing: no reward
    assert shaped_reward(sample("preserve", True), OK, 0.5, format_score=0.0) == -0.5  # badly formatted
    assert shaped_reward(sample("fresh"), OK, 0.5, format_score=0.0) == 0.0
    assert shaped_reward(sample("fix", False), BAD, 0.5) == 0.0
    assert shaped_reward(sample("fresh"), OK, 0.5) == 1.0
    assert RiskAwareShaper(0.0)(sample("preserve", True), BAD) == 0.0
    with pytest.raises(ValueError):
        RiskAwareShaper(-1)


def test_metrics_rates():
    m = ReplayMetrics()
    for s, v in [(sample("fix"), OK), (sample("fix"), BAD), (sample("retry"), BAD), (sample("fix"), ERR),
                 (sample("preserve", True), OK), (sample("preserve", True), BAD), (sample("fresh"), OK)]:
        m.record_outcome(s, v)
    assert m.correction_success_rate == pytest.approx(1 / 3)
    assert m.correct_to_wrong_rate == 0.5
    m.record_drop("prompt_too_long", 2)
    d = m.as_dict()
    assert d["replay/correction_success_rate"] == pytest.approx(1 / 3)
    assert d["replay/correct_to_wrong_rate"] == 0.5
    assert d["replay/drops/prompt_too_long"] == 2 and d["replay/drops_total"] == 2
    assert d["replay/infra_errors/fix"] == 1 and d["replay/success_rate/fresh"] == 1.0
    assert ReplayMetrics().as_dict()["replay/replay_ratio"] == 0.0


@pytest.mark.parametrize("kwargs, hint", [
    (dict(ratio=1.5), "[0, 1]"),
    (dict(capacity=0), "at least 1"),
    (dict(weight_mixed=-1), ">= 0"),
    (dict(empty_feedback="skip"), "retry"),
    (dict(db_path=""), "file path"),
    (dict(correct_to_wrong_penalty=-0.1), "0 disables"),
    (dict(max_uses=-1), "no limit"),
])
def test_config_errors_say_how_to_fix(kwargs, hint):
    with pytest.raises(ValueError) as err:
        ReplayConfig(**kwargs)
    assert hint in str(err.value)
    assert all(f.metadata.get("help") for f in fields(ReplayConfig))


def test_core_record_stores_and_shapes(tmp_path):
    cfg = ReplayConfig(db_path=str(tmp_path / "r.sqlite"), correct_to_wrong_penalty=0.25, preserve_fraction=0.5,
                       ratio=1.0)
    p = Problem(id="p", domain="math", prompt="1+1?", reference="2")
    with ReplayCore(cfg) as core:
        fresh = core.next_batch([p], 1).samples
        res = core.record(fresh * 3, [p] * 3, ["\\boxed{3}", "\\boxed{2}", "?"], [BAD, OK, ERR], step=1)
        assert core.rewards(fresh * 3, [BAD, OK, ERR]) == [0.0, 1.0, None] and res.stored == 2 and len(set(res.attempt_ids)) == 3
        assert core.metrics.store_failures == 1 and core.metrics.store_successes == 1
        batch = core.next_batch([p], 2, step=2)
        assert batch.counts == {"fix": 1, "preserve": 1}
        outs = [BAD if s.origin == "preserve" else OK for s in batch.samples]
        res2 = core.record(batch.samples, [batch.problem_of(s) for s in batch.samples], ["a", "b"], outs, step=2)
        by_origin = {s.origin: r for s, r in zip(batch.samples, core.rewards(batch.samples, outs))}
        assert by_origin == {"fix": 1.0, "preserve": -0.25}
        # the successful fix is stored (turn fix, parent = the failure); the failed check is not
        fix_id = res2.attempt_ids[[s.origin for s in batch.samples].index("fix")]
        stored_fix = core.store.get(fix_id)
        assert stored_fix.turn == "fix" and stored_fix.attempt.parent_id == res.attempt_ids[0]
        assert core.store.count(correct=False) == 1
        m = core.metrics.as_dict()
        assert m["replay/correction_success_rate"] == 1.0 and m["replay/correct_to_wrong_rate"] == 1.0
        assert m["replay/store_size"] == 1 and m["replay/store_successes"] == 2
        # first-attempt stats only: the fix does not make the problem look "solved more"
        assert core.store.problem_stats()["p"].successes == 1
        with pytest.raises(ValueError, match="lengths differ"):
            core.record(batch.samples, [p], ["a"], [OK])


def test_core_owns_its_state(tmp_path):
    """``ReplayCore.state_dict``/``load_state_dict``: the mixer RNG and the metrics counters survive a restart."""
    import json

    cfg = ReplayConfig(db_path=str(tmp_path / "r.sqlite"), ratio=1.0, preserve_fraction=0.5)
    p = Problem(id="p", domain="math", prompt="1+1?", reference="2")
    with ReplayCore(cfg) as core:
        fresh = core.next_batch([p], 1).samples
        core.record(fresh * 2, [p] * 2, ["a", "b"], [BAD, OK], step=1)
        state = json.loads(json.dumps(core.state_dict()))  # checkpoints store it as JSON
        rng, metrics = core.mixer.rng.getstate(), core.metrics.as_dict()
        draws = [core.mixer.rng.random() for _ in range(3)]
    with ReplayCore(dataclasses.replace(cfg, seed=123)) as again:
        again.load_state_dict(state)
        assert again.mixer.rng.getstate() == rng and again.metrics.as_dict() == metrics
        assert again.metrics.samples == {"fresh": 1}
        assert [again.mixer.rng.random() for _ in range(3)] == draws
