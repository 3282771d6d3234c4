"""LeanDojo Benchmark-layout reader, Hub statement sets, the statements JSONL, and tracing (native only)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from prover.data import dojo
from prover.data.decontam import statement_key
from prover.types import Problem

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "leandojo_mini"


def test_reader_on_the_fixture_gives_lean_problems_with_meta():
    train = dojo.load_leandojo(FIXTURE, "train")
    val = dojo.load_leandojo(FIXTURE, "val")
    test = dojo.load_leandojo(FIXTURE, "test")
    assert [p.id for p in val] == ["Mini.mod_two_lt"]
    assert sorted(p.id for p in test) == ["Mini.add_comm3", "Mini.length_append_self"]
    assert len(train) == 9
    by_id = {p.id: p for p in train}
    p = by_id["Mini.two_mul_pos"]
    assert p.domain == "lean"
    assert p.statement == "theorem Mini.two_mul_pos (n : Nat) (h : 0 < n) : 0 < 2 * n := by"
    assert p.header == "import Init\n"  # from corpus.jsonl's imports of the file
    assert p.meta["premises"] == ["Mini.double_eq", "Mini.double_pos"]
    assert p.meta["file"] == "Mini/Basic.lean" and p.meta["split"] == "train"
    assert p.meta["statement_from"] == "source"
    assert p.meta["start"][0] < p.meta["end"][0]
    tactics = p.meta["tactics"]
    assert [t["tactic"] for t in tactics] == ["rw [← Mini.double_eq]", "exact Mini.double_pos n h"]
    # states come from the real Lean checker (tests/fixtures/make_leandojo_mini.py)
    assert tactics[0]["state_before"].endswith("⊢ 0 < 2 * n")
    assert tactics[0]["state_after"] == tactics[1]["state_before"]
    assert tactics[-1]["state_after"] == "no goals"
    # the positions point at the theorem in the fixture's Lean file
    src = (FIXTURE / "src" / "Mini" / "Basic.lean").read_text(encoding="utf-8").splitlines()
    assert src[p.meta["start"][0] - 1].startswith("theorem Mini.two_mul_pos")


def test_reader_accepts_a_split_directory_a_file_and_a_limit():
    assert [p.id for p in dojo.load_leandojo(FIXTURE / "random", "val")] == ["Mini.mod_two_lt"]
    assert len(dojo.load_leandojo(FIXTURE / "random" / "train.json", limit=3)) == 3
    light = dojo.load_leandojo(FIXTURE, "val", keep_tactics=False)[0]
    assert light.meta["tactics"] == [] and light.meta["premises"] == ["Nat.mod_lt"]
    with pytest.raises(FileNotFoundError, match="no LeanDojo split file"):
        dojo.load_leandojo(FIXTURE, "train", layout="novel_premises")
    with pytest.raises(ValueError, match="split must be one of"):
        dojo.load_leandojo(FIXTURE, "dev")


def test_statements_read_from_the_initial_state_match_the_source_statements():
    src = dojo.load_leandojo(FIXTURE, "train")
    state = dojo.load_leandojo(FIXTURE, "train", statement_from="state")
    assert all(p.meta["statement_from"] == "state" for p in state)
    for a, b in zip(src, state):
        assert b.statement.endswith(":= by")
        assert statement_key(a.statement) == statement_key(b.statement), (a.statement, b.statement)


def test_published_rows_without_theorem_statement_fall_back_to_the_state(tmp_path):
    rows = json.loads((FIXTURE / "random" / "train.json").read_text(encoding="utf-8"))
    for r in rows:
        del r["theorem_statement"]
    (tmp_path / "train.json").write_text(json.dumps(rows), encoding="utf-8")
    problems = dojo.load_leandojo(tmp_path, header="import Init\n")
    assert {p.meta["statement_from"] for p in problems} == {"state"}
    assert problems[0].header == "import Init\n"
    with pytest.raises(dojo.DojoDataError, match="theorem_statement"):
        dojo.load_leandojo(tmp_path, statement_from="source")


def test_bad_rows_name_the_file_row_and_field(tmp_path):
    rows = json.loads((FIXTURE / "random" / "train.json").read_text(encoding="utf-8"))
    bad = [dict(rows[0]), dict(rows[1])]
    del bad[1]["start"]
    (tmp_path / "train.json").write_text(json.dumps(bad), encoding="utf-8")
    with pytest.raises(dojo.DojoDataError, match=r"train\.json: row 1 .*field 'start' is missing"):
        dojo.load_leandojo(tmp_path)
    assert len(dojo.load_leandojo(tmp_path, skip_bad=True)) == 1
    (tmp_path / "train.json").write_text(json.dumps([rows[0], rows[0]]), encoding="utf-8")
    with pytest.raises(dojo.DojoDataError, match="repeats row 0"):
        dojo.load_leandojo(tmp_path)
    (tmp_path / "train.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(dojo.DojoDataError, match="not valid JSON"):
        dojo.load_leandojo(tmp_path)


@pytest.mark.parametrize("text, expected", [
    ("theorem foo (n : ℕ) : n + 0 = n := by\n  simp", "theorem A.foo (n : ℕ) : n + 0 = n := by"),
    ("@[simp] protected lemma foo {α : Type} [Inhabited α] (x : α) : x = x :=\n  rfl",
     "theorem A.foo {α : Type} [Inhabited α] (x : α) : x = x := by"),
    ("theorem foo (f : ℕ → ℕ) (h : ∀ x, f x = (fun y => y) x) : f 1 = 1 := by sorry",
     "theorem A.foo (f : ℕ → ℕ) (h : ∀ x, f x = (fun y => y) x) : f 1 = 1 := by"),
    ("theorem foo : True", "theorem A.foo : True := by"),
])
def test_normalise_statement(text, expected):
    assert dojo.normalise_statement(text, "A.foo") == expected


def test_statement_from_state_handles_instances_inaccessible_names_and_continuations():
    state = "case h\nα : Type\ninst✝ : Inhabited α\nx✝ : α\nh : x✝ =\n    x✝\n⊢ True"
    assert dojo.statement_from_state(state, "T.t") == \
        "theorem T.t (α : Type) [Inhabited α] (x_3 : α) (h : x_3 = x_3) : True := by"
    with pytest.raises(ValueError, match="no goal"):
        dojo.statement_from_state("a : Nat", "t")


def test_module_names_from_leandojo_paths():
    assert dojo.module_of("Mathlib/Data/Nat/Basic.lean") == "Mathlib.Data.Nat.Basic"
    assert dojo.module_of(".lake/packages/lean4/src/lean/Init/Data/List.lean") == "Init.Data.List"
    assert dojo.module_of(".lake/packages/batteries/Batteries/Data/List.lean") == "Batteries.Data.List"


def test_hub_style_sets_through_a_column_mapping(tmp_path):
    rows = [
        {"problem_id": "p1", "lean4_code": "import Mathlib\nopen Real\n\ntheorem p1 (x : ℝ) (h : 2 * x = 4) : x = 2 := by sorry",
         "nl": "Solve 2x = 4."},
        {"problem_id": "p2", "lean4_code": "theorem q (n : ℕ) : n ≤ n + 1 := by\n  omega", "nl": ""},
        {"problem_id": "p3", "lean4_code": "def f : ℕ := 3", "nl": ""},
    ]
    path = tmp_path / "set.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    cols = {"name": "problem_id", "formal_statement": "lean4_code", "informal": "nl"}
    with pytest.raises(dojo.DojoDataError, match=r"row 2: column 'lean4_code' does not declare"):
        dojo.load_hf_statements(path, columns=cols)
    problems = dojo.load_hf_statements(path, columns=cols, skip_bad=True, header="import Mathlib\n")
    assert [p.id for p in problems] == ["p1", "p2"]
    assert problems[0].header == "import Mathlib\nopen Real\n"
    assert problems[0].statement == "theorem p1 (x : ℝ) (h : 2 * x = 4) : x = 2 := by"
    assert problems[0].prompt == "Solve 2x = 4."
    assert problems[1].header == "import Mathlib\n"  # the default header for rows without one
    assert problems[1].statement == "theorem q (n : ℕ) : n ≤ n + 1 := by"
    with pytest.raises(dojo.DojoDataError, match="column 'formal_statement' .* not found"):
        dojo.load_hf_statements(path)
    with pytest.raises(ValueError, match="unknown field"):
        dojo.load_hf_statements(path, columns={"statement": "lean4_code"})


def test_statements_jsonl_round_trip_and_errors(tmp_path):
    problems = dojo.load_leandojo(FIXTURE, "train")
    path = tmp_path / "s.jsonl"
    assert dojo.write_statements(path, problems) == len(problems)
    again = dojo.load_statements(path)
    assert again == problems
    assert dojo.load_statements(path, limit=2) == problems[:2]
    path.write_text(json.dumps(Problem(id="x", domain="lean", statement="theorem x : True").to_json()) + "\n")
    with pytest.raises(dojo.DojoDataError, match=r"s\.jsonl:1: field 'statement'"):
        dojo.load_statements(path)


_NATIVE = shutil.which("lake") and shutil.which("elan") and shutil.which("git")


@pytest.mark.slow
@pytest.mark.skipif(not _NATIVE, reason="tracing needs a native Lean toolchain (elan + lake) and git; this machine "
                    "only has Lean compiled to WebAssembly")
def test_trace_a_tiny_repository_with_leandojo(tmp_path):
    """Traces a one-file Lake project with LeanDojo, then reads it back (see docs/statements.md)."""
    repo = tmp_path / "Tiny"
    (repo / "Tiny").mkdir(parents=True)
    toolchain = (Path(__file__).resolve().parents[1] / "lean-toolchain").read_text().strip()
    (repo / "lean-toolchain").write_text(toolchain + "\n")
    (repo / "lakefile.lean").write_text('import Lake\nopen Lake DSL\npackage tiny\n@[default_target] lean_lib Tiny\n')
    (repo / "Tiny.lean").write_text("import Tiny.Basic\n")
    (repo / "Tiny" / "Basic.lean").write_text(
        "theorem Tiny.le_double (n : Nat) : n ≤ n + n := by\n  exact Nat.le_add_right n n\n\n"
        "theorem Tiny.double_pos (n : Nat) (h : 0 < n) : 0 < n + n := by\n"
        "  exact Nat.lt_of_lt_of_le h (Tiny.le_double n)\n")
    for cmd in (["git", "init", "-q"], ["git", "add", "."],
                ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "tiny"]):
        subprocess.run(cmd, cwd=repo, check=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True,
                            text=True).stdout.strip()
    out = tmp_path / "traced.json"
    assert dojo.trace_repo(str(repo), commit, out) == 2
    problems = {p.id: p for p in dojo.load_leandojo(out)}
    assert {"Nat.lt_of_lt_of_le", "Tiny.le_double"} <= set(problems["Tiny.double_pos"].meta["premises"])
    assert problems["Tiny.double_pos"].statement == "theorem Tiny.double_pos (n : Nat) (h : 0 < n) : 0 < n + n := by"
