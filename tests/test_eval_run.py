"""The evaluation runner: config checks, the attempt log, the CLI, and resume with the real model.

The resume test runs the real embedded SmolLM2-135M (tiny completions) on two
GSM8K problems through the real math verifier, so it needs no Lean and runs in
seconds; tests/test_eval_minif2f_core.py runs the real Lean.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import pytest

from prover.eval import AttemptLog, EvalConfig, EvalError, run_eval
from prover.eval.passk import mean_pass_at_k
from prover.eval.run import attempt_key, check_lean_backend, load_problems
from prover.policy.base import Completion, Messages, Policy, SamplingParams
from prover.types import Problem
from prover.verifiers.math import MathVerifier

try:
    from fixtures_policy import CORE_LEAN, get_policy
except ImportError:  # tests/ imported as a package
    from tests.fixtures_policy import CORE_LEAN, get_policy

REPO = Path(__file__).resolve().parents[1]


class Counting(Policy):
    """Delegates to a real policy, counting completions; optionally stops (like Ctrl-C) at call ``stop_at``."""

    def __init__(self, inner: Policy | None, stop_at: int = 0) -> None:
        self.inner = inner
        self.calls = 0
        self.completions = 0
        self.stop_at = stop_at

    def generate(self, prompts: Sequence[Messages], params: SamplingParams) -> list[list[Completion]]:
        self.calls += 1
        if self.inner is None:
            raise AssertionError("nothing should be generated")
        if self.calls == self.stop_at:
            raise KeyboardInterrupt
        out = self.inner.generate(prompts, params)
        self.completions += sum(len(c) for c in out)
        return out

    def prompt_token_count(self, messages: Messages) -> int:
        assert self.inner is not None
        return self.inner.prompt_token_count(messages)


class NoVerify(MathVerifier):
    def verify(self, problems: Sequence[Problem], responses: Sequence[str], *, progress: bool = False) -> list[Any]:
        raise AssertionError("nothing should be verified")


def _cfg(run_dir: Path, **kw: Any) -> EvalConfig:
    base = dict(dataset="gsm8k", split="test", limit=2, k=(1, 2), n=2, temperature=1.0, max_new_tokens=8,
                few_shot=0, correction=True, run_dir=str(run_dir), batch_problems=1, progress=False)
    base.update(kw)
    return EvalConfig(**base)


# -- config ----------------------------------------------------------------------------
@pytest.mark.parametrize("kw, hint", [
    ({"k": "0"}, "k >= 1"),
    ({"k": "1,x"}, "positive integers"),
    ({"k": "1,8", "n": 4}, "raise n to 8"),
    ({"temperature": 0.0, "k": "1,4"}, "greedy"),
    ({"top_p": 0.0}, "(0, 1]"),
    ({"dataset": "nope"}, "use one of"),
    ({"dataset": "minif2f", "backend": "wasm"}, "minif2f_core"),
    ({"dataset": "lean_jsonl"}, "data_path"),
    ({"split": "train"}, "valid, test"),
    ({"correction_budget": 9, "k": "1,4"}, "exceeds n=4"),
    ({"workers": -1}, "workers"),
    ({"policy_backend": "x"}, "transformers, vllm or openai"),
    ({"policy_options": [1]}, "mapping"),
])
def test_config_errors_say_how_to_fix(kw, hint):
    with pytest.raises(ValueError, match=hint.replace("(", r"\(").replace("[", r"\[")):
        EvalConfig(**kw)


def test_config_derived_values():
    cfg = EvalConfig(k="32, 1,8", correction=True)
    assert cfg.k == (1, 8, 32) and cfg.samples == 32 and cfg.corrected_samples == 32
    assert EvalConfig(k=(1, 8), n=16, correction=True, correction_budget=8).corrected_samples == 8
    assert EvalConfig(k=(1,)).corrected_samples == 0
    assert EvalConfig(dataset="minif2f").lean_backend == "native"
    assert EvalConfig(dataset="minif2f_core").lean_backend == "wasm"
    assert EvalConfig(model="/m/Kimina-1.5B/", dataset="minif2f").resolved_run_dir() == Path(
        "runs/eval/minif2f_test_Kimina-1.5B")
    assert all(f.metadata.get("help") for f in __import__("dataclasses").fields(EvalConfig))


def test_mathlib_statements_are_refused_on_wasm():
    problems = load_problems(EvalConfig(dataset="minif2f", split="valid", limit=3))
    assert len(problems) == 3
    with pytest.raises(EvalError, match="minif2f_core"):
        check_lean_backend(problems, "wasm")
    check_lean_backend(problems, "native")
    check_lean_backend(list(CORE_LEAN), "wasm")


# -- the attempt log ---------------------------------------------------------------------
def test_attempt_log_drops_an_unfinished_last_line(tmp_path):
    path = tmp_path / "attempts.jsonl"
    good = {"key": attempt_key("p", 0, "first"), "valid": False}
    path.write_text(json.dumps(good) + "\n" + '{"key": "p#1#first", "val', encoding="utf-8")
    log = AttemptLog(path)
    assert list(log.records) == ["p#0#first"]
    assert path.read_text(encoding="utf-8") == json.dumps(good) + "\n"  # cut back to the last full line
    log.add([{"key": attempt_key("p", 1, "first"), "valid": True}])
    again = AttemptLog(path)
    assert again.get("p", 1, "first") == {"key": "p#1#first", "valid": True}


# -- CLI ---------------------------------------------------------------------------------------
def test_cli_yaml_then_command_line(tmp_path, capsys):
    import runpy

    mod = runpy.run_path(str(REPO / "scripts" / "eval_prover.py"), run_name="eval_prover")
    yaml_path = tmp_path / "c.yaml"
    yaml_path.write_text("dataset: minif2f_core\nk: [1, 4]\nn: 4\nfew_shot: 2\npolicy_options:\n  device: cpu\n")
    cfg, _ = mod["resolve_config"](["--config", str(yaml_path), "--n", "8", "--policy_options.batch_size", "4",
                                    "--correction"])
    assert (cfg.k, cfg.n, cfg.few_shot, cfg.correction) == ((1, 4), 8, 2, True)
    assert cfg.policy_options == {"device": "cpu", "batch_size": 4}
    bad = tmp_path / "bad.yaml"
    bad.write_text("nope: 1\n")
    assert mod["main"](["--config", str(bad)]) == 2
    assert "unknown config key 'nope'" in capsys.readouterr().err
    assert mod["main"](["--dataset", "minif2f", "--backend", "wasm"]) == 2
    assert "native" in capsys.readouterr().err


def test_configs_load():
    import runpy

    mod = runpy.run_path(str(REPO / "scripts" / "eval_prover.py"), run_name="eval_prover")
    full, _ = mod["resolve_config"](["--config", str(REPO / "configs" / "eval_minif2f.yaml")])
    assert full.dataset == "minif2f" and full.k == (1, 8, 32) and full.correction and full.lean_backend == "native"
    core, _ = mod["resolve_config"](["--config", str(REPO / "configs" / "eval_minif2f_core.yaml")])
    assert core.dataset == "minif2f_core" and core.few_shot >= 1 and core.lean_backend == "wasm"


def test_prover_eval_forwards_to_the_script(capsys):
    from prover.cli import main

    assert main(["eval", "--", "--print-config", "--k", "1,4", "--dataset", "minif2f_core"]) == 0
    assert json.loads(capsys.readouterr().out)["k"] == [1, 4]
    assert main(["eval", "--print-config", "--top-p", "0.5"]) == 0  # no separator needed
    assert json.loads(capsys.readouterr().out)["top_p"] == 0.5


# -- resume with the real model ----------------------------------------------------------------
@pytest.mark.model
@pytest.mark.slow
def test_interrupted_run_resumes_without_redoing_attempts(tmp_path):
    problems = load_problems(_cfg(tmp_path))
    assert len(problems) == 2 and problems[0].domain == "math"
    verifier = MathVerifier()
    run_dir = tmp_path / "run"

    # 1) interrupted: the first attempts of problem 0 are done, its fixes are being generated
    first = Counting(get_policy(), stop_at=2)
    with pytest.raises(KeyboardInterrupt):
        run_eval(_cfg(run_dir), policy=first, verifier=verifier)
    assert first.completions == 2
    log = AttemptLog(run_dir / "attempts.jsonl")
    assert sorted(log.records) == [f"{problems[0].id}#0#first", f"{problems[0].id}#1#first"]
    before = {k: v["response"] for k, v in log.records.items()}

    # 2) resumed: only what is missing is generated (2 fixes of p0, 2 firsts + 2 fixes of p1)
    second = Counting(get_policy())
    summary = run_eval(_cfg(run_dir), policy=second, verifier=verifier)
    assert second.completions == 6
    log = AttemptLog(run_dir / "attempts.jsonl")
    assert len(log.records) == 8
    assert all(log.records[k]["response"] == r for k, r in before.items())
    assert summary["generated_this_run"] == 6

    # 3) finished: a rerun generates and verifies nothing, and reports the same numbers
    third = Counting(None)
    again = run_eval(_cfg(run_dir), policy=third, verifier=NoVerify())
    assert third.calls == 0 and again["generated_this_run"] == 0
    assert again["pass@k"] == summary["pass@k"]

    # the summary agrees with the attempt log
    recs = list(log.records.values())
    for rec in recs:
        assert {"prompt", "response", "verdict", "feedback", "status", "turn", "sample"} <= set(rec)
        assert rec["prompt"][-1]["role"] == "user"
    counts = [(2, sum(r["valid"] for r in recs if r["problem_id"] == p.id and r["turn"] == "first")) for p in problems]
    assert summary["pass@k"]["pass@1"] == pytest.approx(mean_pass_at_k(counts, 1))
    fixes = [r for r in recs if r["turn"] == "fix"]
    firsts_failed = [r for r in recs if r["turn"] == "first" and not r["valid"]]
    assert len(fixes) == len(firsts_failed) == summary["correction"]["fixes_tried"]
    for fix in fixes:  # the fix turn shows the failed response and the verifier's feedback
        first_rec = log.get(fix["problem_id"], fix["sample"], "first")
        assert fix["prompt"][-2] == {"role": "assistant", "content": first_rec["response"]}
        assert first_rec["feedback"].strip() in fix["prompt"][-1]["content"]
    assert (run_dir / "summary.json").is_file() and (run_dir / "passk.png").stat().st_size > 0

    # 4) other sampling settings in the same run dir are refused, not mixed in
    with pytest.raises(EvalError, match="temperature"):
        run_eval(_cfg(run_dir, temperature=0.7), policy=third, verifier=NoVerify())


@pytest.mark.model
@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["humaneval", "mbpp"])
def test_code_datasets_run_through_the_same_evaluator(tmp_path, dataset):
    """pass@k on HumanEval and MBPP: the real model's answers run in the real sandbox."""
    run_dir = tmp_path / dataset
    cfg = _cfg(run_dir, dataset=dataset, limit=1, max_new_tokens=48, correction=False)
    summary = run_eval(cfg, policy=get_policy())
    assert summary["problems"] == 1 and summary["n"] == 2
    recs = list(AttemptLog(run_dir / "attempts.jsonl").records.values())
    assert len(recs) == 2 and {r["turn"] for r in recs} == {"first"}
    assert all(r["status"] in ("valid", "invalid", "timeout") for r in recs), [r["feedback"] for r in recs]
    assert all(r["valid"] or r["feedback"] for r in recs)  # a failure says why
    c = sum(r["valid"] for r in recs)
    assert summary["pass@k"]["pass@1"] == pytest.approx(mean_pass_at_k([(2, c)], 1))
    assert summary["pass@k"]["pass@2"] == pytest.approx(mean_pass_at_k([(2, c)], 2))
    assert (run_dir / "summary.json").is_file() and (run_dir / "passk.png").stat().st_size > 0
