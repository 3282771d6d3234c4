"""Self-mining on math and Lean end to end: the real small model (embedded SmolLM2), the real code sandbox,
the real math verifier and the real wasm Lean (the session's ``lean_verifier``), at tiny sizes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from prover.finetune import pairs as pairs_mod
from prover.finetune.api import Problem, load_problems, make_verifier, verify
from prover.finetune.config import load_config
from prover.finetune.mining import make_proposer
from prover.finetune.mining.lean import parse_proposal as parse_lean
from prover.finetune.mining.math import program_problem
from prover.finetune.selfmine import SelfMineConfig
from prover.formats.lean import last_lean_block

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
_BLOCK = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)```", re.S)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("_ft_self_mine", ROOT / "scripts" / "self_mine.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check_round(out: Path, domain: str) -> tuple[dict, list[dict], list[dict]]:
    """The summary's round report adds up, the mined set is saved with provenance; returns them."""
    summary = json.loads((out / "summary.json").read_text())
    [rnd] = summary["rounds"]
    proposer = make_proposer(domain, None, min_chars=1) if domain == "lean" else None
    assert rnd["domain"] == domain and rnd["proposed"] == 2
    assert sum(rnd["dropped"].values()) + rnd["kept"] == 2
    if proposer is not None:
        assert tuple(rnd["dropped"]) == proposer.filters
    assert [a["arm"] for a in summary["arms"]] == ["base", "mix", "garbage"]
    assert (out / "plot.png").is_file() and "| base |" in (out / "results.md").read_text()
    prov = pairs_mod.load_provenance(out / "round1" / "mined")
    assert prov["stage"] == "selfmine" and prov["domain"] == domain and prov["round"] == 1 and prov["rows"] == rnd["kept"]
    assert prov["report"]["dropped"] == rnd["dropped"]
    mined = pairs_mod.load_rows(out / "round1" / "mined")
    proposals = json.loads((out / "round1" / "proposals.json").read_text())
    assert len(proposals) == 2 and sum(p["kept"] for p in proposals) == rnd["kept"]
    for arm in summary["arms"][1:]:
        if arm["pairs"]:
            assert pairs_mod.load_provenance(out / "pairs" / arm["arm"])["domain"] == domain
    return summary, mined, proposals


def test_self_mine_math_end_to_end(tmp_path):
    """scripts/self_mine.py on math: proposals' programs run whole in the sandbox, answers reach the math verifier whole."""
    out = tmp_path / "math"
    assert _script().main(["--config", str(ROOT / "configs/selfmine_math_tiny.yaml"), "--out_dir", str(out)]) == 0
    summary, mined, proposals = _check_round(out, "math")
    assert summary["eval_problems"] == [p.id for p in load_problems("gsm8k:test", 1)]
    sandbox, math = make_verifier("code"), make_verifier("math")
    try:
        for prop in proposals:
            if prop["parsed"]:  # the whole first python block of the proposal is the program
                blocks = _BLOCK.findall(prop["text"])
                assert prop["parsed"]["meta"]["program"] == blocks[0].strip("\n")
        for row in mined:
            p = Problem.from_json(row["problem"])
            job, response = program_problem(p)
            [ran] = verify(sandbox, [job], [response])
            lines = [ln.strip() for ln in ran.details["stdout"].splitlines() if ln.strip()]
            assert ran.status.value == "valid" and lines[-1] == p.reference  # the reference is the program's output
            for text, ok in zip(row["responses"], row["ok"]):
                box = re.findall(r"\\boxed\{([^{}]*)\}", text)
                if box and _NUMBER.fullmatch(box[-1].strip()):
                    [v] = verify(math, [p], [text])
                    assert v.details["answer"].strip() == box[-1].strip()  # the complete final answer was read
                    assert v.status.value == "valid" or not ok
    finally:
        sandbox.close()
        math.close()


def test_lean_filters_on_real_lean(lean_verifier):
    """does_not_elaborate / trivial / contaminated-by-type, decided by the real Lean."""
    proposer = make_proposer("lean", lean_verifier, min_chars=5)
    core = next(p for p in load_problems("minif2f_core:test") if p.id == "numbertheory_4x3m7y3neq2003")
    assert "4 * x ^ 3 - 7 * y ^ 3 ≠ 2003" in core.statement
    statements = {
        "good": "theorem lt_chain (a b c : Nat) (h1 : a < b) (h2 : b < c) : a + 1 < c := by",
        "undefined": "theorem uses_nothing (n : Nat) : frobnicate n = n := by",
        "ill_typed": "theorem bad_type (n : Nat) : n + true = n := by",
        "trivial": "theorem two_two : 2 + 2 = 4 := by",
        "trivial_simp": "theorem app_nil (xs : List Nat) : xs ++ [] = xs := by",
        "same_type": "theorem mine (a b : ℤ) : (4 * a ^ 3 - 7 * b ^ 3) ≠ 2003 := by",  # MiniF2F-core, respelled
    }
    problems = [parse_lean(f"```lean4\n{s}\n  sorry\n```", k, 1) for k, s in statements.items()]
    assert all(problems)
    assert not any(proposer.contaminated(p) for p in problems)  # the text test alone misses the respelled one
    got = {p.id: why for why, p in proposer.degenerate(problems)}
    assert got == {"good": "", "undefined": "does_not_elaborate", "ill_typed": "does_not_elaborate",
                   "trivial": "trivial", "trivial_simp": "trivial", "same_type": "contaminated"}


def test_self_mine_lean_end_to_end(tmp_path, lean_verifier):
    """scripts/self_mine.py on Lean with the session's warm Lean: report, saved sets, whole proofs reach Lean."""
    module = _script()
    out = tmp_path / "lean"
    cfg = load_config(SelfMineConfig, ["--config", str(ROOT / "configs/selfmine_lean_tiny.yaml"), "--out_dir", str(out)])
    report = module.run(cfg, verifier=lean_verifier)
    assert "Self-mining lean" in report
    summary, mined, proposals = _check_round(out, "lean")
    assert summary["eval_problems"] == [p.id for p in load_problems("minif2f_core:test", 1)]
    for prop in proposals:
        if prop["kept"]:
            assert prop["parsed"]["statement"].startswith("theorem sm_")
    for row in mined:
        p = Problem.from_json(row["problem"])
        assert p.meta["elaborates"] is True
        for text in row["responses"]:
            block, truncated = last_lean_block(text)
            if block is None or truncated:
                continue
            [v] = verify(lean_verifier, [p], [text])
            code = v.details.get("code", "")
            lines = [ln.strip() for ln in block.splitlines() if ln.strip() and not ln.strip().startswith("import ")]
            got = [ln.strip() for ln in code.splitlines() if ln.strip()]
            assert all(ln in got for ln in lines), (block, code)  # the whole final block reached Lean


def test_lean_complete_proof_reaches_the_verifier(lean_verifier):
    """A long proof with a helper lemma is checked whole; the same answer cut off mid-block is refused as truncated."""
    [p] = [parse_lean("```lean4\ntheorem lt_chain (a b c : Nat) (h1 : a < b) (h2 : b < c) : a + 1 < c := by\n  sorry\n```",
                      "mined/lean/r1/0", 2)]
    steps = "".join(f"  have s{i} : a ≤ a + {i} := Nat.le_add_right a {i}\n" for i in range(25))
    proof = (f"```lean4\ntheorem helper_lt (x y : Nat) (h : x < y) : x + 1 ≤ y := h\n\n{p.statement}\n{steps}"
             "  have hab := helper_lt a b h1\n  omega\n```")
    cut = proof[: proof.index("  have s20")]
    whole, truncated = verify(lean_verifier, [p, p], [f"Here is the proof.\n{proof}\n", cut])
    assert whole.status.value == "valid", whole.feedback
    assert "have s24" in whole.details["code"] and "helper_lt a b h1" in whole.details["code"]
    assert truncated.status.value == "invalid" and truncated.details["extraction"] == "truncated"
