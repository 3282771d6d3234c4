"""Fast tests of the RL default's warm start: options, candidate pairs, cache key (no Lean, no training)."""

from __future__ import annotations

import dataclasses

import pytest

from prover.finetune.warm_default import WarmStartOptions, cache_key, candidate_pairs, cached_model, is_built


def _base(tmp_path):
    base = tmp_path / "base"
    base.mkdir()
    (base / "config.json").write_text('{"model_type": "llama"}')
    (base / "model.safetensors").write_bytes(b"x" * 10)
    return str(base)


def test_candidates_are_distinct_generator_proofs_round_robin():
    opts = WarmStartOptions(pairs=12, levels=[0, 2])
    cands = candidate_pairs(opts)
    assert len(cands) == 12 and len({p.statement for p, _ in cands}) == 12
    assert {p.meta["level"] for p, _ in cands} == {0, 2}
    for p, answer in cands:
        assert answer.startswith("```lean4\n" + p.statement) and answer.endswith("```")


def test_cache_key_follows_what_determines_the_model(tmp_path):
    base = _base(tmp_path)
    opts = WarmStartOptions(pairs=4)
    key = cache_key(base, opts, candidate_pairs(opts))
    assert key == cache_key(base, WarmStartOptions(pairs=4), candidate_pairs(WarmStartOptions(pairs=4)))
    for change in ({"pairs": 5}, {"seed": 7}, {"learning_rate": 1e-4}, {"lora_rank": 8}, {"max_steps": 2}):
        other = dataclasses.replace(opts, **change)
        assert cache_key(base, other, candidate_pairs(other)) != key, change
    (tmp_path / "base" / "config.json").write_text('{"model_type": "llama", "x": 1}')  # another base checkpoint
    assert cache_key(base, opts, candidate_pairs(opts)) != key
    # the cache dir is not the key: a cached model is found wherever the same cache root is
    assert cached_model(tmp_path / "c", base, opts).parent == tmp_path / "c"
    assert not is_built(cached_model(tmp_path / "c", base, opts))


def test_options_checks_say_how_to_fix():
    with pytest.raises(ValueError, match="held out"):
        WarmStartOptions(seed=1_000_000)
    with pytest.raises(ValueError, match="enabled"):
        WarmStartOptions(enabled="maybe")
    assert WarmStartOptions(enabled="off").enabled == "false"
    with pytest.raises(ValueError, match="levels"):
        WarmStartOptions(levels=[9])


def test_warm_start_on_for_a_code_run_is_refused():
    from prover.config import ConfigError
    from prover.rl.config import load_config

    with pytest.raises((ConfigError, ValueError), match="warm_start.enabled"):
        load_config(None, ["--domain", "code", "--problems.source", "mbpp", "--warm_start.enabled", "true"])
    assert not load_config(None, ["--domain", "code", "--problems.source", "mbpp"]).warm_start_active
