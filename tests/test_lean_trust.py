"""The trust chain of the Lean verifier against the real wasm Lean (docs/lean_trust.md).

Each attack class with several spellings must never be judged valid; the ordinary proofs
must stay valid. Rows are checked in batches on the session's warm pool.
"""

from __future__ import annotations

import random

import pytest

from lean_helpers import plant_valid_answer_files

from prover.types import Problem, Status

pytestmark = [pytest.mark.lean, pytest.mark.slow]


def block(code: str) -> str:
    return f"Here is the proof.\n```lean4\n{code}\n```\n"


def prob(pid: str, statement: str, header: str = "") -> Problem:
    return Problem(id=pid, domain="lean", statement=statement, header=header)


ADD_ST = "theorem add_comm' (a b : Nat) : a + b = b + a := by"
ADD = prob("add", ADD_ST)
ADD_PROOF = ADD_ST + " omega"
FALSE = prob("false", "theorem bad : False := by")
BAD_DECIDE = prob("bad", "theorem bad : 2 + 2 = 5 := by")
POW = prob("pow", "theorem pow10 : 2 ^ 10 = 1000 := by")

# A statement with its own definitions (false under them if they are changed).
DEF_ST = "def f (n : Nat) : Nat := n + 1\n\ntheorem f_one : f 1 = 2 := by"
DEF = prob("def", DEF_ST)
STRUCT_ST = "structure P where\n  x : Nat\n  y : Nat\n\ntheorem p_le (p : P) : p.x ≤ p.y := by"
STRUCT = prob("struct", STRUCT_ST)
INST_ST = ("structure W where\n  v : Nat\n\ndef W.add (a b : W) : W := ⟨a.v + b.v⟩\n\ninstance : Add W := ⟨W.add⟩\n\n"
           "theorem w_add (a b : W) : (a + b).v = a.v * b.v := by")
INST = prob("inst", INST_ST)
IND_ST = "inductive C where\n  | r\n  | g\n\ndef C.n : C → Nat\n  | .r => 0\n  | .g => 1\n\ntheorem c_n (c : C) : c.n = 0 := by"
IND = prob("ind", IND_ST)

# (problem, response, what the verdict must show besides "not valid")
ATTACKS: list[tuple[str, Problem, str]] = [
    # 1. kernel checking switched off, under several spellings and places
    ("skip-quoted", FALSE, "set_option «debug.skipKernelTC» true in\ntheorem bad : False := by decide"),
    ("skip-quoted-part", FALSE, "set_option debug.«skipKernelTC» true\ntheorem bad : False := by decide"),
    ("skip-in-tactic", BAD_DECIDE, "theorem bad : 2 + 2 = 5 := by\n  set_option debug.skipKernelTC true in decide"),
    ("skip-in-term", BAD_DECIDE, "theorem bad : 2 + 2 = 5 := set_option «debug».skipKernelTC true in by decide"),
    ("skip-in-section", FALSE, "section\nset_option debug.skipKernelTC true\ntheorem bad : False := by decide\nend"),
    ("skip-macro-scope", FALSE, "set_option debug.skipKernelTC  true in theorem bad : False := by decide"),
    # 2. code hidden from a text scan: char/string literals, nested comments, raw strings
    ("char-quote-eval", ADD, "def q : Char := '\"'\n#eval IO.println \"hi\"\n" + ADD_PROOF),
    ("char-quote-unsafe", ADD, "def q : Char := '\"'\nunsafe def u : Nat := 0\n" + ADD_PROOF),
    ("char-quote-implby", ADD, "def q : Char := '\"'\n@[implemented_by id] def k (n : Nat) : Nat := n\n" + ADD_PROOF),
    ("char-quote-native", POW, "def q : Char := '\"'\ntheorem pow10 : 2 ^ 10 = 1000 := by native_decide"),
    ("raw-string-eval", ADD, "def s : String := r#\"a\"b\"#\n#eval IO.println s\n" + ADD_PROOF),
    ("nested-comment-close", ADD, "/- a /- b -/ c -/ #eval 1\n" + ADD_PROOF),
    ("run-cmd", ADD, "run_cmd pure ()\n" + ADD_PROOF),
    ("run-tac", ADD, ADD_ST + "\n  run_tac pure ()\n  omega"),
    ("by-elab", ADD, "theorem add_comm' (a b : Nat) : a + b = b + a := by_elab pure (Lean.mkConst ``Nat.add_comm)"),
    ("macro", ADD, "macro \"cheat\" : tactic => `(tactic| sorry)\n" + ADD_ST + " cheat"),
    ("notation", ADD, "notation \"ℕ\" => Nat\n" + ADD_PROOF),
    ("decide-native", POW, "theorem pow10 : 2 ^ 10 = 1000 := by decide +native"),
    ("ofReduceBool", ADD, "open Lean in\ntheorem x : True := (ofReduceBool true true rfl).rec trivial\n" + ADD_PROOF),
    ("attr-csimp", ADD, "attribute [csimp] Nat.add_comm\n" + ADD_PROOF),
    ("attr-extern", ADD, "@[extern \"lean_nat_add\"] def myadd (a b : Nat) : Nat := a + b\n" + ADD_PROOF),
    ("axiom", ADD, "axiom cheat : ∀ a b : Nat, a + b = b + a\ntheorem add_comm' (a b : Nat) : a + b = b + a := cheat a b"),
    ("opaque", FALSE, "opaque oops : False\ntheorem bad : False := oops"),
    ("deep-recursion", ADD, "set_option maxRecDepth 100000 in\n" + ADD_PROOF),
    ("heartbeats-unlimited", ADD, "set_option maxHeartbeats 0 in\n" + ADD_PROOF),
    ("trace", ADD, "set_option trace.Meta.synthInstance true in\n" + ADD_PROOF),
    # 3. the statement's own definitions, structures and instances redefined
    ("redef-def", DEF, "def f (n : Nat) : Nat := n * 2\n\ntheorem f_one : f 1 = 2 := by decide"),
    ("redef-def-abbrev", DEF, "abbrev f (n : Nat) : Nat := 2\n\ntheorem f_one : f 1 = 2 := rfl"),
    ("redef-struct", STRUCT, "structure P where\n  x : Nat\n  y : Nat\n  h : x ≤ y\n\ntheorem p_le (p : P) : p.x ≤ p.y := p.h"),
    ("redef-instance", INST, "structure W where\n  v : Nat\n\ndef W.add (a b : W) : W := ⟨a.v * b.v⟩\n\n"
                             "instance : Add W := ⟨W.add⟩\n\ntheorem w_add (a b : W) : (a + b).v = a.v * b.v := rfl"),
    ("redef-inductive", IND, "inductive C where\n  | r\n\ndef C.n : C → Nat\n  | .r => 0\n\n"
                             "theorem c_n (c : C) : c.n = 0 := by cases c; rfl"),
    ("sorry", ADD, ADD_ST + "\n  sorry"),
    ("false-decide", BAD_DECIDE, "theorem bad : 2 + 2 = 5 := by decide"),
    ("changed-statement", ADD, "theorem add_comm' (a b : Nat) : a + b = a + b := rfl"),
]

POSITIVES: list[tuple[str, Problem, str]] = [
    ("omega", ADD, ADD_PROOF),
    ("decide", prob("pow", "theorem pow10 : 2 ^ 10 = 1024 := by"), "theorem pow10 : 2 ^ 10 = 1024 := by decide"),
    ("simp", prob("lst", "theorem len_append' (xs ys : List Nat) : (xs ++ ys).length = xs.length + ys.length := by"),
     "theorem len_append' (xs ys : List Nat) : (xs ++ ys).length = xs.length + ys.length := by simp"),
    ("induction", prob("zero", "theorem zero_add' (n : Nat) : 0 + n = n := by"),
     "theorem zero_add' (n : Nat) : 0 + n = n := by\n  induction n with\n  | zero => rfl\n  | succ k ih => omega"),
    ("helper-lemma", ADD, "theorem helper (x y : Nat) : x + y = y + x := Nat.add_comm x y\n\n"
                          "theorem add_comm' (a b : Nat) : a + b = b + a := helper a b"),
    ("private-helper", ADD, "private theorem h (x y : Nat) : x + y = y + x := by omega\n\n"
                            "theorem add_comm' (a b : Nat) : a + b = b + a := h a b"),
    ("choice", prob("ch", "theorem ch (h : Nonempty Nat) : ∃ n : Nat, n = Classical.choice h := by"),
     "theorem ch (h : Nonempty Nat) : ∃ n : Nat, n = Classical.choice h := ⟨_, rfl⟩"),
    ("term-proof", ADD, "theorem add_comm' (a b : Nat) : a + b = b + a := Nat.add_comm a b"),
    ("sorry-in-comment-and-string", ADD, ADD_ST + "\n  -- no sorry here, and /- sorry -/ neither\n"
                                         "  have _h : \"sorry\".length = 5 := by decide\n  omega"),
    ("eval-in-comment", ADD, "/- we could #eval this, or set_option debug.skipKernelTC -/\n" + ADD_PROOF),
    ("char-literals", ADD, "def q : Char := '\"'\ndef s : String := \"#eval\"\n" + ADD_PROOF),
    ("allowed-options", ADD, "set_option maxHeartbeats 400000 in\nset_option maxRecDepth 2000 in\n" + ADD_ST
                             + "\n  set_option pp.all true in omega"),
    ("namespace-open", ADD, "namespace Foo\ntheorem h (x y : Nat) : x + y = y + x := by omega\nend Foo\n\n"
                            "open Foo in\ntheorem add_comm' (a b : Nat) : a + b = b + a := h a b"),
    ("simp-attr", ADD, "@[simp] theorem h (x y : Nat) : x + y = y + x := by omega\n\n" + ADD_PROOF),
    ("statement-def", DEF, DEF_ST + " decide"),
    ("statement-def-body", DEF, "rfl"),
    ("statement-struct", prob("struct2", STRUCT_ST.replace("p.x ≤ p.y", "p.x ≤ p.x + p.y")),
     "structure P where\n  x : Nat\n  y : Nat\n\ntheorem p_le (p : P) : p.x ≤ p.x + p.y := by omega"),
    ("statement-inductive-helper", prob("ind2", IND_ST.replace("c.n = 0", "c.n ≤ 1")),
     "inductive C where\n  | r\n  | g\n\ndef C.n : C → Nat\n  | .r => 0\n  | .g => 1\n\n"
     "theorem c_n (c : C) : c.n ≤ 1 := by\n  cases c <;> simp [C.n]"),
    ("own-structure", ADD, "structure Pair where\n  a : Nat\n  b : Nat\n\n"
                           "theorem pair_comm (p : Pair) : p.a + p.b = p.b + p.a := by omega\n\n"
                           "theorem add_comm' (a b : Nat) : a + b = b + a := pair_comm ⟨a, b⟩"),
    ("well-founded-def", ADD, "def g : Nat → Nat\n  | 0 => 0\n  | n + 1 => g (n / 2) + 1\ntermination_by n => n\n"
                              "decreasing_by omega\n\ntheorem g0 : g 0 = 0 := by simp [g]\n\n" + ADD_PROOF),
]


def _check(lean_verifier, rows):
    return lean_verifier.verify([p for _, p, _ in rows], [block(r) for _, _, r in rows])


@pytest.fixture
def lean_only(monkeypatch):
    """Switch off the fast text pass (policy.refused), so every row reaches the checker: the
    refusals below must come from Lean's own parse, the defence that does not rely on text."""
    monkeypatch.setattr("prover.verifiers.lean.verifier.refused", lambda code, cfg: None)


def test_attacks_are_never_valid(lean_verifier, lean_only):
    verdicts = _check(lean_verifier, ATTACKS)
    assert len(verdicts) == len(ATTACKS)
    for (name, _, _), v in zip(ATTACKS, verdicts):
        assert v.status is not Status.VALID and v.reward == 0.0, name
        assert v.status is Status.INVALID, (name, v.feedback)
        assert v.feedback, name
    by = {name: v for (name, _, _), v in zip(ATTACKS, verdicts)}
    # the refusals name the construct, decided on Lean's parse (the text pass misses these)
    for name in ("skip-quoted", "skip-quoted-part", "skip-in-term", "char-quote-eval", "char-quote-implby",
                 "raw-string-eval", "by-elab", "decide-native", "attr-csimp", "deep-recursion", "trace"):
        assert by[name].details.get("refused"), (name, by[name].feedback)
        assert "Refused, not checked" in by[name].feedback, (name, by[name].feedback)
    assert "debug.skipKernelTC" in by["skip-quoted"].feedback
    assert "#eval" in by["char-quote-eval"].feedback and "line 2" in by["char-quote-eval"].feedback
    assert "implemented_by" in by["char-quote-implby"].feedback
    # redefinitions are caught by comparing the replayed constants with the reference's
    for name, const in (("redef-def", "`f`"), ("redef-def-abbrev", "`f`"), ("redef-struct", "P"),
                        ("redef-instance", "W.add"), ("redef-inductive", "C")):
        v = by[name]
        assert "of the statement" in v.feedback and const in v.feedback, (name, v.feedback)
        assert v.details["replayed"] and not v.details.get("refused"), name


def test_positives_stay_valid(lean_verifier):
    verdicts = _check(lean_verifier, POSITIVES)
    for (name, _, _), v in zip(POSITIVES, verdicts):
        assert v.status is Status.VALID, (name, v.feedback, v.details.get("messages"))
        assert v.details["replayed"] and v.details["type_matches"], name
        assert "sorryAx" not in v.details["axioms"], name
    by = {name: v for (name, _, _), v in zip(POSITIVES, verdicts)}
    assert "Classical.choice" in by["choice"].details["axioms"]  # axioms read from the replayed environment


# -- property test: random mixes of harmless and harmful commands -----------------------------

HARMLESS = [
    "theorem aux{i} (x : Nat) : x + 0 = x := by simp",
    "def val{i} : Nat := {i}",
    "namespace N{i}\ntheorem t (x : Nat) : x = x := rfl\nend N{i}",
    "-- a comment with #eval and sorry and set_option debug.skipKernelTC\n",
    "/- nested /- comment -/ with native_decide -/",
    "/-- doc -/\ntheorem doc{i} : True := trivial",
    "set_option maxHeartbeats 300000 in\ntheorem hb{i} : 1 + 1 = 2 := by decide",
    "def str{i} : String := \"run_cmd #eval\"",
    "def chr{i} : Char := '\"'",
    "section\nvariable (n : Nat)\ntheorem sv{i} : n = n := rfl\nend",
    "@[simp] theorem simp{i} (x : Nat) : 0 + x = x := by omega",
]
HARMFUL = [
    "#eval IO.println \"{i}\"",
    "run_cmd pure ()",
    "set_option «debug.skipKernelTC» true",
    "set_option debug.skipKernelTC true in\ntheorem sk{i} : False := by decide",
    "axiom ax{i} : False",
    "unsafe def u{i} : Nat := 0",
    "@[implemented_by id] def ib{i} (n : Nat) : Nat := n",
    "macro \"m{i}\" : term => `(0)",
    "theorem nd{i} : 2 + 2 = 4 := by native_decide",
    "opaque op{i} : Nat",
    "theorem s{i} : 1 = 2 := sorry",
    "attribute [extern \"c\"] Nat.succ",
    "elab \"e{i}\" : term => pure (Lean.mkNatLit 0)",
    "set_option maxRecDepth 50000",
    "def q{i} : Char := '\"'\n#eval 1",
]


def _mixes(seed: int, n: int) -> list[tuple[bool, str]]:
    rng = random.Random(seed)
    out = []
    for k in range(n):
        harmful = k % 2 == 0
        parts = [rng.choice(HARMLESS).format(i=f"{k}_{j}") for j in range(rng.randint(0, 3))]
        if harmful:
            parts.insert(rng.randint(0, len(parts)), rng.choice(HARMFUL).format(i=f"{k}h"))
        # the target: a true theorem, or with the harmful part, a false one it might "prove"
        target = "theorem goal : 2 + 2 = 5 := by decide" if harmful and rng.random() < 0.3 else \
            "theorem goal (a b : Nat) : a + b = b + a := by omega"
        out.append((harmful, "\n\n".join([*parts, target])))
    return out


def test_random_mixes_no_harmful_one_is_valid(lean_verifier, lean_only):
    mixes = _mixes(seed=20261202, n=24)
    probs = []
    for harmful, code in mixes:
        st = "theorem goal : 2 + 2 = 5 := by" if "2 + 2 = 5" in code else "theorem goal (a b : Nat) : a + b = b + a := by"
        probs.append(prob("mix", st))
    verdicts = lean_verifier.verify(probs, [block(code) for _, code in mixes])
    for (harmful, code), v in zip(mixes, verdicts):
        if harmful:
            assert v.status is not Status.VALID, code
        else:
            assert v.status is Status.VALID, (code, v.feedback)


# -- answers bound to requests ---------------------------------------------------------------

def test_planted_answer_files_never_decide_a_verdict(lean_verifier):
    """Answer files planted in the worker's directory (as checked code could write them, with a
    "valid" body) never decide a verdict. On the pipe (the wasm default) the client never reads
    answer files, so the genuine verdict stands and the worker keeps serving; on request files
    (the native default) they are refused as forged: tests/test_lean_channel.py, on a files worker."""
    assert lean_verifier.check(ADD, block(ADD_PROOF)).valid  # a warm worker is serving
    pool = lean_verifier.pool
    (worker,) = pool.workers()
    assert worker.transport == "pipe"
    plant_valid_answer_files(worker)
    forged_before = pool.stats.forged
    v = lean_verifier.check(BAD_DECIDE, block("theorem bad : 2 + 2 = 5 := by decide"))
    assert v.status is Status.INVALID, v.feedback
    assert pool.stats.forged == forged_before and pool.workers() == [worker]
