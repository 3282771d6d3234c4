"""One replay round with the real small model.

generate (few-shot) on core-Lean statements -> verify -> store failures ->
build error-fix samples -> generate corrections -> verify again.

``test_round_with_rule_verifier`` uses a small stand-in rule (no Lean) so the
round runs everywhere; ``test_round_with_real_lean`` uses the real checker from
the ``lean_verifier`` session fixture (tests/conftest.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from prover.policy import SamplingParams
from prover.replay import ReplayConfig, ReplayCore
from prover.types import Status

try:
    from fixtures_policy import CORE_LEAN, LeanBlockRule, policy  # noqa: F401
except ImportError:  # tests/ imported as a package
    from tests.fixtures_policy import CORE_LEAN, LeanBlockRule, policy  # noqa: F401


def run_round(policy: Any, verifier: Any, db_path: str) -> dict[str, Any]:
    cfg = ReplayConfig(db_path=db_path, ratio=1.0, preserve_fraction=0.0, few_shot=3, max_prompt_tokens=1024)
    core = ReplayCore(cfg, token_counter=policy.prompt_token_count)
    try:
        # 1. first attempts (the store is empty: the whole batch is fresh). Sampling is
        #    seeded; should a draw happen to solve everything, draw again (at most 3 times).
        n_fail = stored = 0
        for step in range(3):
            batch = core.next_batch(CORE_LEAN, len(CORE_LEAN), step=step)
            assert batch.counts == {"fresh": len(CORE_LEAN)} and batch.achieved_ratio == 0.0
            params = SamplingParams(n=2, temperature=0.8, top_p=0.95, max_new_tokens=48, seed=1 + step)
            outs = policy.generate([s.messages() for s in batch.samples], params)
            samples = [s for s, row in zip(batch.samples, outs) for _ in row]
            problems = [batch.problem_of(s) for s in samples]
            responses = [c.text for row in outs for c in row]
            verdicts = verifier.verify(problems, responses)
            assert len(verdicts) == len(responses) == 2 * len(CORE_LEAN)
            assert not [v for v in verdicts if v.status is Status.ERROR], [v.feedback for v in verdicts]
            first = core.record(samples, problems, responses, verdicts, step=step)
            n_fail += sum(v.is_model_failure for v in verdicts)
            stored += len(verdicts)
            assert core.store.count(correct=False) == n_fail
            assert core.store.count(correct=True) == stored - n_fail
            if n_fail:
                break
        assert n_fail > 0, "the small model solved everything three times: nothing to correct"
        fresh_batches = step + 1

        # 2. error-fix samples from the stored failures
        fixes = core.next_batch(CORE_LEAN, n_fail, step=fresh_batches)
        fix_samples = [s for s in fixes.samples if s.origin in ("fix", "retry")]
        assert fix_samples, core.metrics.as_dict()
        for s in fix_samples:
            src = core.store.get(s.source_attempt_id)
            assert src is not None and src.turn == "first" and not src.correct
            msgs = s.messages()
            assert msgs[: len(src.attempt.prompt)] == src.attempt.messages()
            assert msgs[len(src.attempt.prompt)] == {"role": "assistant", "content": src.response}
            assert msgs[-1]["role"] == "user"
            if s.origin == "fix":
                assert src.verdict.feedback.strip() in msgs[-1]["content"]
            assert policy.prompt_token_count(msgs) <= cfg.max_prompt_tokens

        # 3. corrections, verified again
        fix_params = SamplingParams(n=1, temperature=0.8, top_p=0.95, max_new_tokens=48, seed=2)
        outs2 = policy.generate([s.messages() for s in fix_samples], fix_params)
        responses2 = [row[0].text for row in outs2]
        problems2 = [fixes.problem_of(s) for s in fix_samples]
        verdicts2 = verifier.verify(problems2, responses2)
        second = core.record(fix_samples, problems2, responses2, verdicts2, step=fresh_batches)
        assert second.stored <= len(fix_samples)

        # corrections are never corrected again
        for c in core.store.candidates(correct=False, turns=None, max_uses=0):
            assert core.store.get(c.attempt_id).turn == "first"
        m = core.metrics.as_dict()
        assert m["replay/samples/fresh"] == fresh_batches * len(CORE_LEAN)
        assert m["replay/store_size"] == n_fail
        fixed = sum(v.valid for v in verdicts2)
        assert m["replay/correction_success_rate"] == pytest.approx(fixed / len(fix_samples))
        return {"first_rewards": core.rewards(samples, verdicts), "failures": n_fail, "corrections": len(fix_samples),
                "fixed": fixed, "metrics": m, "feedback": [v.feedback for v in verdicts if not v.valid]}
    finally:
        core.close()


@pytest.mark.model
@pytest.mark.slow
def test_round_with_rule_verifier(policy, tmp_path):
    summary = run_round(policy, LeanBlockRule(), str(tmp_path / "replay.sqlite"))
    print(summary)


@pytest.mark.slow
@pytest.mark.lean
@pytest.mark.model
def test_round_with_real_lean(policy, lean_verifier, tmp_path):
    summary = run_round(policy, lean_verifier, str(tmp_path / "replay.sqlite"))
    print(summary)


@pytest.mark.slow
@pytest.mark.lean
def test_few_shot_lean_examples_compile(lean_verifier):
    from prover.prompts import FEW_SHOT

    examples = FEW_SHOT["lean"]
    verdicts = lean_verifier.verify([e.problem for e in examples], [e.answer for e in examples])
    assert [v.status for v in verdicts] == [Status.VALID] * len(examples), [v.feedback for v in verdicts]
