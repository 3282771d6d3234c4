"""An experiment reuses a saved evaluation only when it is the same evaluation (same held-out ids and settings).

The held-out set excludes the statements training could draw, so it depends on the seeds and steps: two
configurations can hold out as many problems but not the same ones. A saved evaluation of other problems is
set aside, never deleted, and evaluated anew.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from types import SimpleNamespace

from prover.eval.run import EvalConfig
from prover.experiment.runner import reusable, set_aside


def _ecfg(**kw):
    base = dict(model="m", dataset="minif2f_core", split="test", domain="lean", k=(1, 4), n=4, temperature=0.4,
                top_p=1.0, max_new_tokens=128, few_shot=0, correction=True, correction_budget=2, run_dir="r",
                backend="wasm", seed=0, progress=False, plot=False)
    base.update(kw)
    return EvalConfig(**base)


def _saved(ids, **kw):
    cfg = json.loads(json.dumps(asdict(_ecfg(**kw))))  # as summary.json stores it (tuples become lists)
    return {"config": cfg, "problems": len(ids), "per_problem": {i: {"n": 4, "c": 1} for i in ids}}


def test_same_ids_and_settings_are_reused():
    problems = [SimpleNamespace(id=i) for i in ("p1", "p2", "p3")]
    assert reusable(_saved(["p3", "p1", "p2"]), _ecfg(), problems)


def test_as_many_but_other_problems_are_not_reused():
    problems = [SimpleNamespace(id=i) for i in ("p1", "p2", "p3")]
    assert not reusable(_saved(["p1", "p2", "p9"]), _ecfg(), problems)


def test_other_settings_are_not_reused():
    problems = [SimpleNamespace(id=i) for i in ("p1", "p2")]
    for change in ({"n": 8}, {"temperature": 1.0}, {"few_shot": 3}, {"model": "other"}, {"correction_budget": 1},
                   {"k": (1, 2)}, {"seed": 1}):
        assert not reusable(_saved(["p1", "p2"], **change), _ecfg(), problems), change


def test_set_aside_keeps_every_earlier_evaluation(tmp_path):
    run = tmp_path / "start"
    for i in range(2):
        run.mkdir()
        (run / "summary.json").write_text(str(i))
        moved = set_aside(run)
        assert moved.name == f"start.stale-{i + 1}" and (moved / "summary.json").read_text() == str(i)
    assert not run.exists()
