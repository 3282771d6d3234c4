"""feedback_mode of error-fix turns: the verifier's feedback, another problem's (shuffled), or only "it failed"."""

from __future__ import annotations

import pytest

from prover.prompts import first_attempt
from prover.replay import ReplayConfig, ReplayCore
from prover.replay.samples import BINARY_FEEDBACK
from prover.types import Problem, Sample, Status, Verdict


def _problem(i: int) -> Problem:
    return Problem(id=f"p{i}", domain="lean", statement=f"theorem t{i} (n : Nat) : n + {i} = {i} + n := by")


def _fill(core: ReplayCore, n: int, *, same_text: bool = False) -> list[Problem]:
    """One failed first attempt per problem, each with feedback naming its own problem."""
    problems = [_problem(i) for i in range(n)]
    samples, verdicts = [], []
    for p in problems:
        samples.append(Sample(problem_id=p.id, prompt_messages=tuple(first_attempt(p))))
        text = "error: same message" if same_text else f"error in t{p.id[1:]}: unsolved goals OWN-{p.id}"
        verdicts.append(Verdict(Status.INVALID, 0.0, feedback=text))
    core.record(samples, problems, ["```lean4\nbad\n```"] * n, verdicts)
    return problems


def _fix_texts(core: ReplayCore, rounds: int = 20) -> list[tuple[str, str]]:
    out = []
    for step in range(rounds):
        batch = core.next_batch([], 4, step=step)
        out += [(s.problem_id, s.messages()[-1]["content"]) for s in batch.samples if s.origin == "fix"]
    return out


def _core(mode: str, seed: int = 0) -> ReplayCore:
    return ReplayCore(ReplayConfig(db_path=":memory:", ratio=1.0, preserve_fraction=0.0, max_uses=0,
                                   feedback_mode=mode, seed=seed))


@pytest.mark.parametrize("seed", range(5))
def test_shuffled_feedback_is_never_the_problems_own(seed):
    core = _core("shuffled", seed)
    _fill(core, 6)
    texts = _fix_texts(core)
    assert texts, "the store had failures: fix turns must be built"
    donors_seen = set()
    for pid, text in texts:
        assert f"OWN-{pid}" not in text, f"{pid} was shown its own feedback"
        donor = text.split("OWN-")[1].split()[0].strip("`")
        assert donor != pid
        donors_seen.add(donor)
    assert len(donors_seen) > 1  # drawn from the pool, not one fixed donor


def test_shuffled_without_another_problem_is_dropped():
    core = _core("shuffled")
    _fill(core, 1)
    batch = core.next_batch([_problem(9)], 2)
    assert all(s.origin == "fresh" for s in batch.samples)
    assert core.metrics.drops["no_shuffle_donor"] >= 1


def test_shuffled_refuses_a_donor_with_the_same_text():
    core = _core("shuffled")
    _fill(core, 3, same_text=True)  # every failure's feedback is identical: none can stand in for another
    assert _fix_texts(core, 2) == []
    assert core.metrics.drops["no_shuffle_donor"] >= 1


def test_binary_shows_only_that_it_failed():
    core = _core("binary")
    _fill(core, 3)
    texts = _fix_texts(core, 3)
    assert texts
    for _, text in texts:
        assert BINARY_FEEDBACK in text and "OWN-" not in text and "unsolved goals" not in text


def test_verifier_mode_shows_own_feedback():
    core = _core("verifier")
    _fill(core, 3)
    texts = _fix_texts(core, 3)
    assert texts and all(f"OWN-{pid}" in text for pid, text in texts)


def test_bad_mode_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="feedback_mode"):
        ReplayConfig(db_path=":memory:", feedback_mode="random")
