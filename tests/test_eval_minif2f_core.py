"""A small real evaluation: the embedded model on MiniF2F-core through the real wasm Lean.

First without correction, then the same run dir with correction: the resumed run
reuses the first attempts and adds one error-fix turn per failed attempt.
"""

from __future__ import annotations

import json

import pytest

from prover.data.lean import MINIF2F_CORE_PATH, load_minif2f_core
from prover.eval import EvalConfig, run_eval
from prover.eval.passk import mean_pass_at_k

try:
    from fixtures_policy import get_policy
except ImportError:  # tests/ imported as a package
    from tests.fixtures_policy import get_policy

pytestmark = [pytest.mark.slow, pytest.mark.lean, pytest.mark.model]


def _records(run_dir):
    with open(run_dir / "attempts.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.mark.skipif(not MINIF2F_CORE_PATH.is_file(), reason="data/minif2f_core.jsonl not built yet")
def test_embedded_model_on_minif2f_core(tmp_path, lean_verifier):
    # the two shortest test statements keep generation (slow on a CPU) and checking cheap
    problems = sorted(load_minif2f_core("test"), key=lambda p: (len(p.statement), p.id))[:2]
    run_dir = tmp_path / "run"
    common = dict(dataset="minif2f_core", split="test", k=(1, 2), n=2, temperature=1.0, max_new_tokens=64,
                  few_shot=2, run_dir=str(run_dir), progress=False, batch_problems=2)
    policy = get_policy()

    plain = run_eval(EvalConfig(**common), policy=policy, verifier=lean_verifier, problems=problems)
    assert plain["problems"] == 2 and plain["n"] == 2 and "correction" not in plain
    assert set(plain["pass@k"]) == {"pass@1", "pass@2"}
    assert (run_dir / "summary.json").is_file() and (run_dir / "passk.png").stat().st_size > 0
    firsts = _records(run_dir)
    assert len(firsts) == 4 and {r["turn"] for r in firsts} == {"first"}
    # every attempt got a real verdict (no infrastructure error), and some reached Lean itself
    assert all(r["status"] in ("valid", "invalid", "timeout") for r in firsts), [r["feedback"] for r in firsts]
    counts = {p.id: (2, sum(r["valid"] for r in firsts if r["problem_id"] == p.id)) for p in problems}
    for k in (1, 2):
        assert plain["pass@k"][f"pass@{k}"] == pytest.approx(mean_pass_at_k(counts.values(), k))
    assert sum(row["problems"] for row in plain["by_source"].values()) == 2

    corrected = run_eval(EvalConfig(**common, correction=True), policy=policy, verifier=lean_verifier,
                         problems=problems)
    records = _records(run_dir)
    fixes = [r for r in records if r["turn"] == "fix"]
    failed = [r for r in firsts if not r["valid"]]
    assert corrected["generated_this_run"] == len(failed) == len(fixes)  # first attempts were not redone
    assert corrected["pass@k"] == plain["pass@k"]
    corr = corrected["correction"]
    assert corr["budget"] == 2 and corr["fixes_tried"] == len(fixes)
    assert corr["fixes_valid"] == sum(r["valid"] for r in fixes)
    chain_counts = []
    for p in problems:
        ok = [any(r["valid"] for r in records if r["problem_id"] == p.id and r["sample"] == i) for i in range(2)]
        chain_counts.append((2, sum(ok)))
    assert corr["pass@k"]["pass@1"] == pytest.approx(mean_pass_at_k(chain_counts, 1))
    assert corr["pass@k"]["pass@2"] >= corrected["pass@k"]["pass@2"] - 1e-12
    assert [row["generations"] for row in corr["equal_budget"]] == [2]
    row = corr["equal_budget"][0]
    assert row["pass_attempts_only"] == pytest.approx(corrected["pass@k"]["pass@2"])
    assert row["pass_with_correction"] == pytest.approx(corr["pass@k"]["pass@1"])
    for fix in fixes:  # each fix turn carries the Lean feedback of its failed attempt
        first = next(r for r in firsts if r["problem_id"] == fix["problem_id"] and r["sample"] == fix["sample"])
        assert first["feedback"].strip() in fix["prompt"][-1]["content"]
    saved = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert saved["correction"]["pass@k"] == corr["pass@k"]
    assert (run_dir / "passk.png").stat().st_size > 0
