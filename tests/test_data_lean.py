"""Lean data loaders: MiniF2F, ProofNet, MiniF2F-core, generic JSONL, and their errors."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from prover.data.lean import (
    MINIF2F_CORE_PATH,
    LeanDataError,
    data_dir,
    load_lean_jsonl,
    load_minif2f,
    load_minif2f_core,
    load_proofnet,
    source_of,
)
from prover.verifiers.lean import LeanVerifier


@pytest.mark.parametrize("name, source", [
    ("amc12a_2019_p21", "amc"), ("amc12_2000_p5", "amc"), ("aime_1983_p1", "aime"), ("aimeI_2000_p7", "aime"),
    ("aimeII_2001_p3", "aime"), ("imo_1959_p1", "imo"), ("imosl_2007_algebra_p6", "imo"),
    ("mathd_algebra_478", "mathd"), ("mathd_numbertheory_5", "mathd"), ("induction_12dvd4expnp1p20", "induction"),
    ("algebra_sqineq_at2malt1", "algebra"), ("numbertheory_2dvd4expn", "numbertheory"),
    ("exercise_1_13a", "proofnet"), ("123", "other"),
])
def test_source_of(name, source):
    assert source_of(name) == source


def test_data_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("PROVER_DATA_DIR", str(tmp_path))
    assert data_dir() == tmp_path
    with pytest.raises(FileNotFoundError, match="PROVER_DATA_DIR"):
        load_minif2f()


def test_minif2f():
    every = load_minif2f()
    assert len(every) == 488
    valid, test = load_minif2f("valid"), load_minif2f("test")
    assert len(valid) == len(test) == 244
    p = test[0]
    assert p.domain == "lean" and p.id and p.statement.rstrip().endswith(":= by")
    assert p.header.startswith("import Mathlib") and p.prompt
    assert p.meta["split"] == "test"
    sources = Counter(x.meta["source"] for x in every)
    assert set(sources) == {"aime", "amc", "imo", "mathd", "induction", "algebra", "numbertheory"}
    assert sources["mathd"] == 260
    with pytest.raises(ValueError, match="split"):
        load_minif2f("train")


def test_proofnet_unique_ids_and_theorems_only():
    problems = load_proofnet()
    ids = [p.id for p in problems]
    assert len(ids) == len(set(ids)) == 357
    assert "exercise_3_3~2" in ids
    # every problem is a theorem the Lean verifier accepts as a row
    for p in problems:
        LeanVerifier.problem_from_row({"id": p.id, "formal_statement": p.statement})


def _write(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def test_generic_jsonl(tmp_path):
    path = _write(tmp_path / "x.jsonl", [
        {"id": "t1", "formal_statement": "theorem t1 : 1 + 1 = 2 := by"},
        "",
        {"name": "mathd_t2", "formal_statement": "theorem t2 (n : Nat) : n = n :=", "header": "open Nat\n",
         "informal_prefix": "easy", "split": "valid", "source": "custom"},
    ])
    a, b = load_lean_jsonl(path)
    assert (a.id, a.meta["source"], a.meta["split"], a.header) == ("t1", "t", "", "")
    assert (b.id, b.meta["source"], b.prompt, b.header) == ("mathd_t2", "custom", "easy", "open Nat\n")
    assert [p.id for p in load_lean_jsonl(path, "valid")] == ["mathd_t2"]


@pytest.mark.parametrize("row, line, needle", [
    ({"formal_statement": "theorem a : True := by"}, 2, "field 'name': is missing"),
    ({"name": "a"}, 2, "field 'formal_statement': is missing"),
    ({"name": "a", "formal_statement": "theorem a : True := trivial"}, 2, "must end in ':= by'"),
    ({"name": "a", "formal_statement": "def a : Nat :="}, 2, "must declare `theorem NAME"),
    ({"name": "a", "formal_statement": "theorem a : True := by", "header": 3}, 2, "field 'header': must be a string"),
    ({"name": "a", "formal_statement": "theorem a : True := by", "split": "dev"}, 2, "field 'split'"),
    ({"name": "ok", "formal_statement": "theorem ok : True := by"}, 2, "'ok' repeats line 1"),
    ("{not json", 2, "not valid JSON"),
    ("[1, 2]", 2, "must be a JSON object"),
])
def test_bad_rows_name_file_line_field(tmp_path, row, line, needle):
    path = _write(tmp_path / "bad.jsonl", [{"name": "ok", "formal_statement": "theorem ok : True := by"}, row])
    with pytest.raises(LeanDataError) as e:
        load_lean_jsonl(path)
    assert f"{path}:{line}:" in str(e.value)
    assert needle in str(e.value)


def test_duplicates_and_defs_options(tmp_path):
    path = _write(tmp_path / "d.jsonl", [
        {"name": "a", "formal_statement": "theorem a : True := by"},
        {"name": "a", "formal_statement": "theorem a : 1 = 1 := by"},
        {"name": "d", "formal_statement": "def d : Nat :="},
    ])
    got = load_lean_jsonl(path, duplicates="rename", skip_defs=True)
    assert [p.id for p in got] == ["a", "a~2"]


@pytest.mark.skipif(not MINIF2F_CORE_PATH.is_file(), reason="data/minif2f_core.jsonl not built yet")
def test_minif2f_core_is_a_core_subset_of_minif2f():
    core = load_minif2f_core()
    full = {p.id: p for p in load_minif2f()}
    assert 0 < len(core) < 488
    assert len(load_minif2f_core("valid")) + len(load_minif2f_core("test")) == len(core)
    for p in core:
        assert p.statement == full[p.id].statement
        assert p.meta["split"] == full[p.id].meta["split"]
        assert p.meta["source"] == full[p.id].meta["source"]
        assert "import" not in p.header and "autoImplicit false" in p.header
    provenance = MINIF2F_CORE_PATH.with_name("minif2f_core.PROVENANCE.md").read_text(encoding="utf-8")
    assert f"{len(core)} of 488" in provenance and "MIT" in provenance


def test_minif2f_core_missing_file_says_how_to_build(tmp_path):
    with pytest.raises(FileNotFoundError, match="build_minif2f_core.py"):
        load_minif2f_core(path=tmp_path / "none.jsonl")
