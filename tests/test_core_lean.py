"""The core-Lean generator, its difficulty controller and the JSONL loader."""

from __future__ import annotations

import json

import pytest

from prover.data.core_lean import (
    LEVELS,
    MAX_LEVEL,
    CoreLeanGenerator,
    DifficultyConfig,
    DifficultyController,
    linear_form,
    reference_response,
)
from prover.data import DataError, load_problem_file
from prover.types import Problem


def test_every_level_generates_well_formed_problems():
    gen = CoreLeanGenerator(seed=0)
    for level in range(MAX_LEVEL + 1):
        problems = gen.sample(level, 12)
        assert len(problems) == 12
        for p in problems:
            assert p.domain == "lean" and p.header == ""
            assert p.statement.startswith("theorem ") and p.statement.endswith(":= by")
            assert p.meta["level"] == level and p.meta["family"] and p.meta["proof"].startswith("  ")
            assert p.id.startswith(f"core-l{level}-")
            answer = reference_response(p)
            assert answer.startswith("```lean4\n" + p.statement + "\n") and answer.endswith("\n```")


def test_generation_is_deterministic_and_resumable():
    a, b = CoreLeanGenerator(seed=3), CoreLeanGenerator(seed=3)
    assert [p.statement for p in a.sample(2, 5)] == [p.statement for p in b.sample(2, 5)]
    assert CoreLeanGenerator(seed=4).sample(2, 5) != CoreLeanGenerator(seed=3).sample(2, 5)
    state = a.state_dict()
    c = CoreLeanGenerator(seed=0)
    c.load_state_dict(json.loads(json.dumps(state)))
    assert [p.id for p in a.sample(2, 4)] == [p.id for p in c.sample(2, 4)]
    # a new batch continues after the previous one (no repeats from the counter)
    assert a.counters[2] == 9


def test_problems_are_varied_and_ids_unique_per_statement():
    gen = CoreLeanGenerator(seed=0)
    problems = [gen.problem(level, i) for level in range(MAX_LEVEL + 1) for i in range(40)]
    by_id = {}
    for p in problems:
        assert by_id.setdefault(p.id, p.statement) == p.statement
    assert len({p.statement for p in problems}) > 0.8 * len(problems)
    families = {p.meta["family"] for p in problems}
    assert {"identity", "numeral", "decide", "linear1", "list", "linear", "mod", "induction"} <= families
    assert set(LEVELS) == set(range(MAX_LEVEL + 1))


def test_generator_rejects_bad_levels():
    with pytest.raises(ValueError, match="max_level"):
        CoreLeanGenerator(max_level=MAX_LEVEL + 1)
    with pytest.raises(ValueError, match="level must be in"):
        CoreLeanGenerator(max_level=2).problem(3, 0)


def test_linear_form():
    assert linear_form({"a": 2, "b": -1, "c": 0, "d": 1}) == "2 * a - b + d"
    assert linear_form({"a": -1, "b": 3}) == "-a + 3 * b"
    assert linear_form({"a": -2}) == "-(2 * a)"
    with pytest.raises(ValueError):
        linear_form({"a": 0})


def test_difficulty_moves_up_when_always_solved_and_down_when_never():
    ctl = DifficultyController(DifficultyConfig(start_level=1, window=4, up_threshold=0.9, down_threshold=0.0))
    assert ctl.observe(1, [True, True]) is None  # window not full
    assert ctl.observe(1, [True, True]) == 2
    assert ctl.level == 2 and not ctl.window
    assert ctl.observe(1, [False] * 8) is None  # outcomes of an older level are ignored
    assert ctl.observe(2, [False] * 4) == 1
    assert ctl.observe(1, [False] * 4) == 0
    assert ctl.observe(0, [False] * 4) is None  # clamped at min_level
    assert ctl.moves == [(1, 2), (2, 1), (1, 0)]


def test_difficulty_stays_when_mixed_and_state_round_trips():
    cfg = DifficultyConfig(window=4, max_level=1)
    ctl = DifficultyController(cfg)
    assert ctl.observe(0, [True, False, True, False]) is None
    assert ctl.observe(0, [True] * 4) == 1
    assert ctl.observe(1, [True] * 8) is None  # clamped at max_level
    again = DifficultyController(cfg)
    again.load_state_dict(json.loads(json.dumps(ctl.state_dict())))
    assert again.level == 1 and list(again.window) == list(ctl.window) and again.moves == ctl.moves


@pytest.mark.parametrize("kwargs, fragment", [
    ({"window": 0}, "window"),
    ({"up_threshold": 0.2, "down_threshold": 0.5}, "down_threshold < up_threshold"),
    ({"start_level": 4, "max_level": 3}, "start_level"),
    ({"max_level": MAX_LEVEL + 1}, "max_level"),
])
def test_difficulty_config_errors_say_how_to_fix(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        DifficultyConfig(**kwargs)


def test_load_jsonl_of_statements_and_problems(tmp_path):
    path = tmp_path / "p.jsonl"
    rows = [
        {"name": "t1", "formal_statement": "theorem t1 (a : Nat) : a + 0 = a := by", "split": "valid"},
        Problem(id="t2", domain="lean", statement="theorem t2 : 1 = 1 := by").to_json(),
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    problems = load_problem_file(path, "lean")
    assert [p.id for p in problems] == ["t1", "t2"]
    assert problems[0].statement.endswith(":= by")


def test_load_jsonl_secondary_domains(tmp_path):
    mbpp = tmp_path / "mbpp.jsonl"
    mbpp.write_text(json.dumps({"task_id": 7, "text": "Add two numbers.", "code": "",
                                "test_list": ["assert add(1, 2) == 3"], "test_setup_code": ""}) + "\n")
    (code,) = load_problem_file(mbpp, "code")
    assert code.id == "mbpp/7" and code.entry_point == "add" and code.tests == ("assert add(1, 2) == 3",)
    gsm = tmp_path / "gsm.jsonl"
    gsm.write_text(json.dumps({"question": "2+2?", "answer": "It is 4.\n#### 4"}) + "\n")
    (math,) = load_problem_file(gsm, "math")
    assert math.domain == "math" and math.reference == "4"


def test_load_jsonl_errors_name_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"name": "ok", "formal_statement": "theorem ok : True := by"}) + "\n"
                    + json.dumps({"name": "x", "formal_statement": "theorem x : True"}) + "\n")
    with pytest.raises(DataError, match=r"bad.jsonl:2: .*formal_statement"):
        load_problem_file(path, "lean")
    path.write_text("{not json\n")
    with pytest.raises(DataError, match=r"bad.jsonl:1"):
        load_problem_file(path, "lean")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_problem_file(tmp_path / "missing.jsonl", "lean")
    dup = tmp_path / "dup.jsonl"
    row = json.dumps({"name": "d", "formal_statement": "theorem d : True := by"})
    dup.write_text(row + "\n" + row + "\n")
    with pytest.raises(DataError, match="duplicate"):
        load_problem_file(dup, "lean")


@pytest.mark.slow
@pytest.mark.lean
def test_generated_statements_elaborate_with_their_reference_proofs(lean_verifier):
    """Every family/level: the generator's reference proof checks in the real Lean."""
    gen = CoreLeanGenerator(seed=0)
    problems = [gen.problem(level, i) for level in range(MAX_LEVEL + 1) for i in range(10)]
    verdicts = lean_verifier.verify(problems, [reference_response(p) for p in problems])
    bad = [(p.id, v.status.value, v.feedback[:300]) for p, v in zip(problems, verdicts) if not v.valid]
    assert not bad, bad
    # and the checker is not simply accepting everything: a wrong proof fails
    wrong = lean_verifier.verify(problems[:1], ["```lean4\n" + problems[0].statement + "\n  exact rfl_not_a_lemma\n```"])
    assert not wrong[0].valid
