"""Decontamination: normalised text (fast) and identity of elaborated types with the real wasm Lean (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prover.data import decontam, dojo
from prover.data.lean import load_minif2f_core
from prover.types import Problem

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "leandojo_mini"
REF = "theorem amc12a_2015_p10 (x y : ℤ) (h₀ : 0 < y) (h₁ : y < x) (h₂ : x + y + x * y = 80) : x = 26 := by\n"


def _lean(pid: str, statement: str, header: str = "") -> Problem:
    return Problem(id=pid, domain="lean", statement=statement, header=header)


@pytest.fixture(scope="module")
def core() -> list[Problem]:
    return load_minif2f_core()


def test_the_reference_is_the_minif2f_core_statement(core):
    assert {p.id: p.statement for p in core}["amc12a_2015_p10"] == REF


@pytest.mark.parametrize("copy", [
    # renamed binders and hypotheses, another theorem name, other spacing and a comment
    "theorem mine (a b : ℤ) (hb : 0 < b) (hab : b < a) -- from a forum\n  (h : a+b+a*b = 80) : a = 26 := by",
    # ASCII spellings of the same notation, a block comment, `:=` without `by`
    "lemma t2 (p q : Int) /- x -/ (h0 : 0 < q) (h1 : q < p) (h2 : p + q + p * q = 80) : p = 26 :=",
    # the names of the two variables swapped consistently
    "theorem t3 (y x : ℤ) (h₀ : 0 < x) (h₁ : x < y) (h₂ : y + x + y * x = 80) : y = 26 := by sorry",
])
def test_text_match_catches_renamed_copies(core, copy):
    train = [_lean("copy", copy), _lean("other", "theorem other (n : ℕ) : n + 0 = n := by")]
    kept, report = decontam.decontaminate(train, {"minif2f_core": core})
    assert [p.id for p in kept] == ["other"]
    assert report["dropped"] == 1 and report["dropped_ids"] == ["copy"]
    assert report["overlaps"] == [{"train_id": "copy", "eval_set": "minif2f_core", "eval_id": "amc12a_2015_p10",
                                   "eval_split": "valid", "kind": "text"}]
    assert report["by_kind"] == {"text": 1}
    assert report["lean"]["used"] is False


@pytest.mark.parametrize("different", [
    "theorem d1 (x y : ℤ) (h₀ : 0 < y) (h₁ : y < x) (h₂ : x + y + x * y = 80) : x = 25 := by",   # other answer
    "theorem d2 (x y : ℕ) (h₀ : 0 < y) (h₁ : y < x) (h₂ : x + y + x * y = 80) : x = 26 := by",   # other type
    "theorem d3 (x y : ℤ) (h₀ : 0 < y) (h₁ : x < y) (h₂ : x + y + x * y = 80) : x = 26 := by",   # other order
    "theorem d4 (x y : ℤ) (h₀ : 0 < y) (h₁ : y < x) (h₂ : x + y + x * y = 80) : y = 26 := by",   # other goal
])
def test_text_match_keeps_different_statements(core, different):
    kept, report = decontam.decontaminate([_lean("d", different)], {"minif2f_core": core})
    assert [p.id for p in kept] == ["d"] and report["dropped"] == 0 and report["overlaps"] == []


def test_keys_rename_quantified_and_set_builder_binders():
    a = "theorem a (f : ℕ → ℕ) (h : ∀ x, f x = 2 * x) : ∃ y : ℕ, f y = 4 ∧ {z : ℕ | z < 3} = {w | w < 3} := by"
    b = "theorem b (g : Nat -> Nat) (hg : forall t, g t = 2 * t) : ∃ s : Nat, g s = 4 ∧ {u : ℕ | u < 3} = {v | v < 3} := by"
    assert decontam.statement_key(a) == decontam.statement_key(b)
    assert decontam.statement_key(a) != decontam.statement_key(a.replace("2 * x", "x * 2"))
    assert decontam.literal_signature(a) == ("2", "3", "3", "4")


def test_every_minif2f_core_statement_is_caught_against_itself_and_only_itself(core):
    kept, report = decontam.decontaminate(core, {"minif2f_core": core})
    assert kept == [] and report["dropped"] == len(core)
    assert all(o["train_id"] == o["eval_id"] for o in report["overlaps"])  # no two core statements collide


def test_report_is_written_as_json(tmp_path, core):
    _, report = decontam.decontaminate([_lean("c", REF.replace("amc12a_2015_p10", "c"))], {"minif2f_core": core})
    path = decontam.write_report(tmp_path / "run" / "overlap_report.json", report)
    again = json.loads(path.read_text(encoding="utf-8"))
    assert again["dropped"] == 1 and again["overlaps"][0]["kind"] == "text"


def test_bad_options_are_refused(core):
    with pytest.raises(ValueError, match="lean_pairs must be one of"):
        decontam.decontaminate([], {"x": core}, lean_pairs="some")
    with pytest.raises(ValueError, match="unknown evaluation set"):
        decontam.load_eval_sets(["minif2f_valid"])
    with pytest.raises(ValueError, match="split must be one of"):
        decontam.load_eval_sets(["minif2f_core:dev"])


def test_training_on_one_split_is_checked_against_the_other_only(core):
    valid = [p for p in core if p.meta["split"] == "valid"]
    evals = decontam.load_eval_sets(["minif2f_core:test"])
    assert evals["minif2f_core:test"] and all(p.meta["split"] == "test" for p in evals["minif2f_core:test"])
    kept, report = decontam.decontaminate(valid, evals)
    assert kept == valid and report["dropped"] == 0  # MiniF2F-core's valid and test share no statement


def test_renamed_and_closed():
    assert decontam.renamed_and_closed(_lean("a", "@[simp] lemma foo (n : ℕ) : n = n := by"), "bar") == \
        "@[simp] theorem bar (n : ℕ) : n = n := by sorry"


# -- the real Lean checker ---------------------------------------------------------------------
# Not caught by text: other binder grouping, redundant parentheses, `Int` for `ℤ` spelled through
# the prelude's notation -- but the same elaborated type.
SAME_TYPE = ("theorem regrouped (a : Int) (b : Int) (hb : 0 < b) (hab : b < a) (h : (a + b) + (a * b) = 80) : "
             "a = 26 := by")
OTHER_TYPE = "theorem other (a b : ℤ) (hb : 0 < b) (hab : b < a) (h : (a + b) + (a * b) = 80) : a = 25 := by"


@pytest.mark.slow
@pytest.mark.lean
def test_lean_type_identity_catches_a_regrouped_copy_and_keeps_a_different_statement(lean_verifier, core):
    assert decontam.statement_key(SAME_TYPE) != decontam.statement_key(REF)  # text alone misses it
    ref = {p.id: p for p in core}["amc12a_2015_p10"]
    evals = {"minif2f_core": [ref, {p.id: p for p in core}["mathd_numbertheory_780"]]}
    train = [_lean("regrouped", SAME_TYPE), _lean("other", OTHER_TYPE)]
    kept, report = decontam.decontaminate(train, evals, verifier=lean_verifier, lean_pairs="all")
    assert [p.id for p in kept] == ["other"]
    assert report["overlaps"] == [{"train_id": "regrouped", "eval_set": "minif2f_core", "eval_id": "amc12a_2015_p10",
                                   "eval_split": "valid", "kind": "lean_type"}]
    assert report["lean"]["pairs"] == 4 and report["lean"]["same"] == 1
    assert report["lean"]["different"] + report["lean"]["undetermined"] == 3
    # statements rebuilt from LeanDojo states elaborate to the source statements' types
    src = dojo.load_leandojo(FIXTURE, "val") + dojo.load_leandojo(FIXTURE, "test")
    state = dojo.load_leandojo(FIXTURE, "val", statement_from="state") + \
        dojo.load_leandojo(FIXTURE, "test", statement_from="state")
    checks = decontam.lean_type_checks(lean_verifier, list(zip(src, state)) + [(src[0], src[1])])
    assert [c.same for c in checks] == [True, True, True, False]  # the last pair: two different theorems
    assert checks[0].reason == "elaborated types compared"


def test_training_source_drops_statements_of_the_evaluation_split():
    """problems.decontaminate: MiniF2F-core's test statements overlap MiniF2F-test and are dropped."""
    from prover.rl.config import load_config
    from prover.rl.problems import ProblemSource

    cfg = load_config(None, ["--domain=lean", "--problems.source=minif2f_core", "--problems.split=all",
                             "--problems.decontaminate=[minif2f:test]"])
    source = ProblemSource(cfg)
    report = source.overlap_report
    assert report is not None and report["train"] == 129
    assert {p.meta["split"] for p in source.fixed} == {"valid"}
    assert report["kept"] == len(source.fixed) == 129 - report["dropped"]
    assert all(o["eval_split"] == "test" for o in report["overlaps"])


def test_decontaminate_setting_is_checked():
    from prover.rl.config import ConfigError, load_config

    with pytest.raises((ConfigError, ValueError), match="decontaminate"):
        load_config(None, ["--domain=lean", "--problems.source=minif2f_core", "--problems.decontaminate=[mbpp]"])
