"""Fine-tuning stages without the model: controls, config errors, decontamination, proposal parsing,
warm-start pairs (checked by the real sandbox and the real math verifier)."""

from __future__ import annotations

import random
import textwrap

import pytest

from prover.finetune import controls, pairs
from prover.finetune.api import first_attempt, load_problems, make_verifier, verify
from prover.finetune.config import ConfigError, load_config
from prover.data.decontam import NgramIndex, near_duplicate
from prover.finetune.evaluate import pass_stats
from prover.finetune.mining.code import parse_proposal, stub_for
from prover.finetune.selfmine import SelfMineConfig
from prover.finetune.sft import SFTSettings, pair_row, sft_args
from prover.finetune.star import StarConfig
from prover.finetune.warm import WarmStartConfig, gsm8k_solution, verified_pairs


def _mbpp_rows(n: int = 4) -> tuple[list, list[dict]]:
    probs = load_problems("mbpp:train", n)
    rows = [pair_row(first_attempt(p), f"Here it is:\n```python\n{p.meta['reference_code'].strip()}\n```\nDone.",
                     problem_id=p.id) for p in probs]
    return probs, rows


def test_derangement_moves_everyone():
    rng = random.Random(0)
    for n in (2, 3, 7, 20):
        perm = controls.derangement(n, rng)
        assert sorted(perm) == list(range(n))
        assert all(i != p for i, p in enumerate(perm))


def test_derangement_by_key_never_keeps_same_problem():
    keys = ["a", "a", "b", "b", "c", "c", "c"]
    perm = controls.derangement_by(keys, random.Random(0))
    assert sorted(perm) == list(range(7)) and all(keys[i] != keys[p] for i, p in enumerate(perm))
    with pytest.raises(ValueError, match="another key"):
        controls.derangement_by(["a", "a", "a", "b"], random.Random(0))


def test_scramble_keeps_length_and_fence():
    text = "Intro\n```python\ndef f(x):\n    y = x + 1\n    return y\n```\ntail"
    out = controls.scramble_code(text, random.Random(1))
    assert len(out) == len(text) and sorted(out) == sorted(text)
    assert out.startswith("Intro\n```python\n") and out.endswith("```\ntail")
    assert out != text


def test_garbage_same_count_shape_and_fails_real_sandbox():
    probs, rows = _mbpp_rows(4)
    by_id = {p.id: p for p in probs}
    verifier = make_verifier("code")
    try:
        def passes(row, text):
            return verify(verifier, [by_id[row["problem_id"]]], [text])[0].status.value == "valid"

        assert all(passes(r, r["completion"][0]["content"]) for r in rows)  # the originals pass
        garbage, counts = controls.garbage_rows(rows, passes, seed=0)
        assert len(garbage) == len(rows) and counts["rows"] == 4
        for g, r in zip(garbage, rows):
            assert g["prompt"] == r["prompt"]
            assert len(g["completion"][0]["content"]) == len(r["completion"][0]["content"])
            assert g["completion"][0]["content"].count("```") == r["completion"][0]["content"].count("```")
            assert not passes(g, g["completion"][0]["content"])
            assert g["control"] == "garbage"
    finally:
        verifier.close()


def test_nested_subsets_and_mix():
    rows = [{"i": i} for i in range(10)]
    subs = controls.nested_subsets(rows, [2, 4, 8, 64], seed=3)
    assert sorted(subs) == [2, 4, 8]
    assert subs[4][:2] == subs[2] and subs[8][:4] == subs[4]
    keeps = [{"keep": i} for i in range(10)]
    mixed = controls.mix_rows(rows[:6], keeps, 0.25, seed=0)
    assert len(mixed) == 8 and sum("keep" in r for r in mixed) == 2
    assert controls.mix_rows(rows[:6], keeps, 0.0) and all("i" in r for r in controls.mix_rows(rows[:6], keeps, 0.0))
    with pytest.raises(ValueError, match="keep fraction"):
        controls.mix_rows(rows, keeps, 1.0)


def test_pairs_saved_as_dataset_with_provenance(tmp_path):
    _, rows = _mbpp_rows(2)
    path = pairs.save_rows(rows, tmp_path / "p", {"stage": "test", "arm": "binary"})
    assert pairs.exists(path)
    back = pairs.load_rows(path)
    assert [r["completion"] for r in back] == [r["completion"] for r in rows]
    assert pairs.load_provenance(path)["rows"] == 2
    with pytest.raises(FileNotFoundError, match="provenance"):
        pairs.load_rows(tmp_path)


def test_config_yaml_then_flags_and_errors(tmp_path):
    good = tmp_path / "c.yaml"
    good.write_text("train_limit: 3\nsft:\n  lora_rank: 8\n")
    cfg = load_config(StarConfig, ["--config", str(good), "--sft.epochs", "2", "--arms", "binary,garbage"])
    assert (cfg.train_limit, cfg.sft.lora_rank, cfg.sft.epochs, cfg.arms) == (3, 8, 2.0, ["binary", "garbage"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("train_limt: 3\n")
    with pytest.raises(ConfigError, match=r"train_limt.*bad.yaml line 1"):
        load_config(StarConfig, ["--config", str(bad)])
    with pytest.raises(ConfigError, match="eval_n"):
        load_config(StarConfig, ["--eval_n", "0"])
    with pytest.raises(ConfigError, match="train_limit.*expected an integer"):
        load_config(StarConfig, ["--train_limit", "1.5"])
    with pytest.raises(ConfigError, match="lora_rank"):
        load_config(WarmStartConfig, ["--sft.lora_rank", "-2"])
    with pytest.raises(ValueError, match="solve_k"):
        SelfMineConfig(solve_k=1)
    with pytest.raises(ValueError, match="learning_rate"):
        SFTSettings(learning_rate=3.0)


def test_sft_precision_and_checkpointing_come_from_the_settings(tmp_path):
    """TRL's SFTConfig defaults to bf16 autocast and gradient checkpointing even on CPU (emulated
    bf16 with checkpointing made LoRA steps ~19x slower on a CPU without bf16 instructions); the settings
    decide both, under auto by prover.policy.precision's rule (tests/test_precision.py)."""
    import torch

    from prover.policy.precision import resolve_precision

    args = sft_args(SFTSettings(), tmp_path)
    assert not args.gradient_checkpointing
    assert (args.bf16, args.fp16) == (resolve_precision("auto") == "bf16", False)
    fp32 = sft_args(SFTSettings(precision="fp32"), tmp_path)
    assert (fp32.bf16, fp32.fp16) == (False, False)
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="sft.precision=fp16 needs a GPU"):
            sft_args(SFTSettings(precision="fp16"), tmp_path)
    assert sft_args(SFTSettings(gradient_checkpointing=True), tmp_path).gradient_checkpointing
    with pytest.raises(ConfigError, match="sft.precision"):
        load_config(WarmStartConfig, ["--sft.precision", "fp8"])


def test_star_rejects_overlapping_train_and_eval(tmp_path):
    from prover.finetune.star import StarRun

    with pytest.raises(ValueError, match="share"):
        StarRun(StarConfig(out_dir=str(tmp_path), train_set="mbpp:train", eval_set="mbpp:train", train_limit=2, eval_limit=2))


def test_decontamination_flags_eval_text_not_fresh_text():
    mbpp = load_problems("mbpp:test", 5)
    index = NgramIndex({"mbpp": [p.prompt for p in mbpp]}, n=5)
    frac, name = index.overlap("Write a Python function `f`. " + mbpp[0].prompt.upper() + "!!")
    assert frac >= 0.5 and name == "mbpp"
    assert index.overlap("Write a function that returns the number of vowels in a sentence given by the user")[0] < 0.5
    assert near_duplicate("Return the sum of a and b.", "return the SUM of a and b")
    assert not near_duplicate("Return the sum of a and b.", "Sort the list in reverse order.")


def test_parse_proposal_takes_whole_function_and_stub_filter():
    text = textwrap.dedent('''\
        Problem: Write `double_all(xs)` returning every number of xs doubled, as a list.

        ```python
        def double_all(xs):
            out = []
            for x in xs:
                out.append(2 * x)
            return out
        print(double_all([1]))
        ```

        ```python
        assert double_all([1, 2]) == [2, 4]
        assert double_all([]) == []
        ```''')
    p = parse_proposal(text, "mined/r1/0", 2)
    assert p is not None and p.entry_point == "double_all"
    assert p.tests == ("assert double_all([1, 2]) == [2, 4]", "assert double_all([]) == []")
    assert p.meta["reference_code"].endswith("return out") and "print(" not in p.meta["reference_code"]
    assert parse_proposal("no code here", "x", 1) is None
    verifier = make_verifier("code")
    try:
        ref, stub = verify(verifier, [p, p], [f"```python\n{p.meta['reference_code']}\n```", stub_for(p)])
        assert ref.status.value == "valid" and stub.status.value != "valid"
        weak = parse_proposal(text.replace("assert double_all([1, 2]) == [2, 4]\n", ""), "x", 1)
        # a stub returning None fails `== []` too, so this one is still a real test
        assert verify(verifier, [weak], [stub_for(weak)])[0].status.value != "valid"
    finally:
        verifier.close()


def test_pass_stats_intervals_and_paired_delta():
    counts = {f"p{i}": (2, 2 if i < 5 else 0) for i in range(10)}
    base = {f"p{i}": (2, 0) for i in range(10)}
    st = pass_stats(counts, 1, base=base, resamples=500)
    assert st["value"] == 0.5 and st["ci95"][0] <= 0.5 <= st["ci95"][1]
    assert st["delta_vs_base"] == 0.5 and st["delta_ci95"][0] > 0
    assert pass_stats(counts, 2)["value"] == 0.5


def test_warm_start_pairs_are_verified_by_real_verifiers():
    rows, counts = verified_pairs(WarmStartConfig(domains=["code", "math"], code_limit=3, math_limit=3))
    assert counts["code"]["verified"] == 3 and counts["math"]["verified"] == 3
    assert len(rows) == 6 and {r["domain"] for r in rows} == {"code", "math"}
    math_row = next(r for r in rows if r["domain"] == "math")
    assert "<<" not in math_row["completion"][0]["content"] and "\\boxed{" in math_row["completion"][0]["content"]
    p = load_problems("gsm8k:train", 1)[0]
    wrong = gsm8k_solution(p).replace(f"\\boxed{{{p.reference}}}", "\\boxed{-99999}")
    verifier = make_verifier("math")
    try:
        assert verify(verifier, [p], [wrong])[0].status.value != "valid"
    finally:
        verifier.close()
