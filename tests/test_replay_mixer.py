"""BatchMixer: ratio when the store has failures, fresh otherwise, difficulty weights, uses."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from prover.prompts import PromptLimiter
from prover.replay import (
    BatchMixer,
    DifficultyWeights,
    AttemptStore,
    ProblemStats,
    ReplayConfig,
    ReplayMetrics,
    SampleBuilder,
    split_slots,
    weighted_order,
)
from prover.types import Attempt, Problem, Status, Verdict

BAD = Verdict(Status.INVALID, 0.0, feedback="error: type mismatch")
GOOD = Verdict(Status.VALID, 1.0)


def prob(name: str) -> Problem:
    return Problem(id=name, domain="math", prompt=f"What is {name}?", reference="1")


def att(p: Problem, aid: str, response: str = "The answer is \\boxed{2}.") -> Attempt:
    return Attempt(problem_id=p.id, prompt=({"role": "user", "content": p.prompt},), response=response, id=aid)


def make(tmp_path, *, limiter=None, seed=0, **kw):
    cfg = ReplayConfig(db_path=str(tmp_path / "r.sqlite"), seed=seed, **kw)
    store = AttemptStore(cfg.db_path, cfg.capacity, cfg.success_capacity)
    metrics = ReplayMetrics()
    b = SampleBuilder(cfg, limiter, drops=metrics.drops)
    return store, BatchMixer(store, cfg, b, metrics, random.Random(seed)), metrics


FRESH = [prob(f"fresh{i}") for i in range(20)]


def fill(store, n_fail: int, n_ok: int = 0) -> None:
    rows = []
    for i in range(n_fail):
        p = prob(f"f{i}")
        rows.append((p, att(p, f"fail{i}"), BAD))
    for i in range(n_ok):
        p = prob(f"s{i}")
        rows.append((p, att(p, f"ok{i}"), GOOD))
    store.add_many(rows)


def test_split_slots():
    cfg = ReplayConfig(db_path=":memory:", ratio=0.5, preserve_fraction=0.25, retry_fraction=0.5)
    assert split_slots(16, cfg) == (3, 3, 2)
    assert split_slots(16, ReplayConfig(db_path=":memory:", preserve_fraction=0.0)) == (8, 0, 0)
    assert split_slots(4, ReplayConfig(db_path=":memory:", ratio=0.0)) == (0, 0, 0)


def test_empty_store_gives_fresh_only(tmp_path):
    store, mixer, metrics = make(tmp_path)
    batch = mixer.next_batch(FRESH, 8)
    assert len(batch) == 8 and batch.counts == Counter({"fresh": 8})
    assert batch.achieved_ratio == 0.0 and batch.target_ratio == 0.5
    assert {p.id for p in batch.fresh_used} == {s.problem_id for s in batch.samples}
    assert metrics.as_dict()["replay/last_replay_ratio"] == 0.0


def test_ratio_is_met_when_store_has_failures(tmp_path):
    store, mixer, metrics = make(tmp_path, preserve_fraction=0.25, retry_fraction=0.5)
    fill(store, 20, 5)
    batch = mixer.next_batch(FRESH, 16)
    assert batch.counts == Counter({"fresh": 8, "fix": 3, "retry": 3, "preserve": 2})
    assert batch.achieved_ratio == 0.5
    for s in batch.samples:
        assert batch.problem_of(s).id == s.problem_id
        if s.origin != "fresh":
            src = batch.sources[s.source_attempt_id]
            assert src.problem.id == s.problem_id
            assert src.correct == (s.origin == "preserve") == s.input_was_correct
    assert metrics.replay_ratio == 0.5 and metrics.samples["fix"] == 3


def test_store_short_of_failures_fills_with_fresh(tmp_path):
    store, mixer, _ = make(tmp_path, preserve_fraction=0.0)
    fill(store, 2)
    batch = mixer.next_batch(FRESH, 8)
    assert batch.counts == Counter({"fix": 2, "fresh": 6}) and batch.achieved_ratio == 0.25


def test_each_failure_replayed_max_uses_times(tmp_path):
    store, mixer, _ = make(tmp_path, preserve_fraction=0.0, ratio=1.0, max_uses=1)
    fill(store, 6)
    first = mixer.next_batch(FRESH, 4)
    second = mixer.next_batch(FRESH, 4)
    ids1 = {s.source_attempt_id for s in first.samples}
    ids2 = {s.source_attempt_id for s in second.samples if s.origin == "fix"}
    assert len(ids1) == 4 and len(ids2) == 2 and not ids1 & ids2
    assert second.counts == Counter({"fix": 2, "fresh": 2})
    assert all(store.get(i).uses == 1 for i in ids1 | ids2)


def test_dropped_candidates_are_replaced_and_excluded(tmp_path):
    # fix prompts of the long responses do not fit; they are dropped once, counted, and skipped later
    words = lambda msgs: sum(len(m["content"].split()) for m in msgs)  # noqa: E731
    store, mixer, metrics = make(tmp_path, limiter=PromptLimiter(words, 60), preserve_fraction=0.0, ratio=1.0)
    rows = []
    for i in range(3):
        p = prob(f"long{i}")
        rows.append((p, att(p, f"long{i}", response="word " * 100), BAD))
    for i in range(3):
        p = prob(f"short{i}")
        rows.append((p, att(p, f"short{i}"), BAD))
    store.add_many(rows)
    batch = mixer.next_batch(FRESH, 3)
    assert {s.source_attempt_id for s in batch.samples} == {"short0", "short1", "short2"}
    again = mixer.next_batch(FRESH, 3)  # only the long ones are left: all dropped, fresh instead
    assert again.counts == Counter({"fresh": 3}) and metrics.drops["prompt_too_long"] == 3
    assert all(store.get(f"long{i}").dropped == "prompt_too_long" for i in range(3))
    mixer.next_batch(FRESH, 3)
    assert metrics.drops["prompt_too_long"] == 3  # dropped once, never considered again


def test_difficulty_weights():
    w = DifficultyWeights(mixed=1.0, unsolved=0.3, solved=0.1, unseen=0.7)
    assert w.weight(ProblemStats("a", successes=2, failures=1)) == 1.0
    assert w.weight(ProblemStats("a", failures=3)) == 0.3
    assert w.weight(ProblemStats("a", successes=3)) == 0.1
    assert w.weight(None) == w.weight(ProblemStats("a")) == 0.7
    rng = random.Random(1)
    firsts = Counter(weighted_order(["m", "u", "s"], [1.0, 0.3, 0.1], rng)[0] for _ in range(2000))
    assert firsts["m"] > firsts["u"] > firsts["s"]
    assert weighted_order(["a", "b"], [0.0, 1.0], rng) == ["b"]  # weight 0: never picked


def test_mixer_prefers_mixed_problems(tmp_path):
    store, mixer, _ = make(tmp_path, preserve_fraction=0.0, ratio=1.0, max_uses=0,
                           weight_mixed=1.0, weight_unsolved=0.05)
    rows = []
    for i in range(10):
        p = prob(f"mixed{i}")
        rows += [(p, att(p, f"m{i}"), BAD), (p, att(p, f"mok{i}"), GOOD)]
        q = prob(f"hard{i}")
        rows.append((q, att(q, f"h{i}"), BAD))
    store.add_many(rows)
    picked = Counter()
    for _ in range(30):
        for s in mixer.next_batch(FRESH, 4).samples:
            picked["mixed" if s.problem_id.startswith("mixed") else "hard"] += 1
    assert picked["mixed"] > 4 * picked["hard"]


def test_fresh_selection_uses_difficulty(tmp_path):
    store, mixer, _ = make(tmp_path, ratio=0.0, weight_solved=0.0)
    solved = prob("fresh0")
    store.add(solved, att(solved, "x"), GOOD)
    for _ in range(5):
        batch = mixer.next_batch(FRESH[:5], 5)
        assert "fresh0" not in {s.problem_id for s in batch.samples}  # weight 0: skipped
        assert len(batch) == 4  # fewer only because fresh problems ran out


def test_batch_size_must_be_positive(tmp_path):
    _, mixer, _ = make(tmp_path)
    with pytest.raises(ValueError):
        mixer.next_batch(FRESH, 0)
