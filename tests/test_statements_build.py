"""scripts/build_statements.py end to end on the fixture (text decontamination, no Lean)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from prover.data import dojo

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "leandojo_mini"
REF = "theorem amc12a_2015_p10 (x y : ℤ) (h₀ : 0 < y) (h₁ : y < x) (h₂ : x + y + x * y = 80) : x = 26 := by"


@pytest.fixture(scope="module")
def build():
    spec = importlib.util.spec_from_file_location("build_statements", ROOT / "scripts" / "build_statements.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses resolve the config's annotations through it
    spec.loader.exec_module(mod)
    return mod


def test_build_from_a_leandojo_set_drops_a_planted_copy_and_writes_reports(tmp_path, build):
    rows = json.loads((FIXTURE / "random" / "train.json").read_text(encoding="utf-8"))
    planted = dict(rows[0], full_name="Mini.planted", theorem_statement=REF.replace("amc12a_2015_p10", "planted")
                   .replace("x y", "a b").replace("x", "a").replace("y", "b"))
    data = tmp_path / "ds"
    (data / "random").mkdir(parents=True)
    (data / "random" / "train.json").write_text(json.dumps(rows + [planted], ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "out"
    summary = build.build(build.parse_config(["--leandojo", str(data), "--out", str(out),
                                              "--eval-sets", "minif2f_core", "--holdout-val", "1",
                                              "--holdout-test", "1"]))
    assert summary["read"] == 10 and summary["dropped"] == 1 and summary["by_kind"] == {"text": 1}
    report = json.loads((out / "overlap_report.json").read_text(encoding="utf-8"))
    assert report["dropped_ids"] == ["Mini.planted"]
    assert report["overlaps"][0]["eval_id"] == "amc12a_2015_p10"
    kept = dojo.load_statements(out / "statements.jsonl")
    assert "Mini.planted" not in {p.id for p in kept}
    assert len(kept) + len(dojo.load_statements(out / "val.jsonl")) + len(dojo.load_statements(out / "test.jsonl")) == 9
    pos = {p.id: i for i, p in enumerate(kept)}
    for p in kept:  # curriculum order
        assert all(pos[q] < pos[p.id] for q in p.meta["premises"] if q in pos)
    graph_report = json.loads((out / "graph_report.json").read_text(encoding="utf-8"))
    assert graph_report["theorems"] == 10


def test_bad_configurations_say_how_to_fix_them(build):
    with pytest.raises(SystemExit, match="exactly one source"):
        build.parse_config(["--out", "x"])
    with pytest.raises(SystemExit, match="needs --commit"):
        build.parse_config(["--repo", "https://github.com/a/b", "--out", "x"])
    with pytest.raises(SystemExit, match="lean must be one of"):
        build.parse_config(["--leandojo", "x", "--out", "x", "--lean", "maybe"])
    with pytest.raises(SystemExit, match="unknown"):
        build.parse_config(["--leandojo", "x", "--out", "x", "--eval-sets", "minif2f_valid"])
    assert build.parse_config(["--config", str(ROOT / "configs" / "statements.yaml")]).repo.startswith("https://")
    cfg = build.parse_config(["--leandojo", "x", "--out", "x", "--eval-sets", "minif2f:test, proofnet"])
    assert cfg.eval_sets == ["minif2f:test", "proofnet"]
    with pytest.raises(SystemExit, match="unknown"):
        build.parse_config(["--leandojo", "x", "--out", "x", "--eval-sets", "minif2f:train"])
