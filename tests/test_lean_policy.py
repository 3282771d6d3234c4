"""Constructs refused before Lean sees them, and the axiom rule."""

import pytest

from prover.verifiers.lean.policy import ProofPolicy, disallowed_axioms, refused, strip_comments_and_strings

CFG = ProofPolicy()


@pytest.mark.parametrize(
    "code, what",
    [
        ("#eval IO.println 1\ntheorem t : True := trivial", "#eval"),
        ("run_cmd pure ()", "run_cmd/run_tac"),
        ("theorem t : True := by\n  run_tac pure ()", "run_cmd/run_tac"),
        ("macro \"cheat\" : tactic => `(tactic| sorry)", "syntax extension"),
        ("macro_rules | `(tactic| trivial) => `(tactic| sorry)", "syntax extension"),
        ("syntax \"foo\" : term", "syntax extension"),
        ("elab \"foo\" : tactic => pure ()", "syntax extension"),
        ("notation \"ℕ\" => Nat", "syntax extension"),
        ("infixl:65 \" +' \" => HAdd.hAdd", "syntax extension"),
        ("axiom cheat : False", "axiom"),
        ("@[implemented_by foo] def bar : Nat := 0", "implemented_by/extern"),
        ("@[extern \"c_fn\"] opaque f : Nat → Nat", "implemented_by/extern"),
        ("unsafe def f : Nat := 0", "unsafe"),
        ("import Lean\ntheorem t : True := trivial", "import"),
        ("set_option debug.skipKernelTC true in\ntheorem t : False := sorry", "set_option debug.*"),
        ("theorem t : 2 + 2 = 4 := by native_decide", "native_decide"),
        ("theorem t : True := Lean.ofReduceBool _ _ rfl", "Lean.ofReduceBool"),
        ("initialize pure ()", "initialize"),
    ],
)
def test_refused(code, what):
    msg = refused(code, CFG)
    assert msg is not None and f"`{what}`" in msg


@pytest.mark.parametrize(
    "code",
    [
        "theorem t (a b : Nat) : a + b = b + a := by omega",
        "-- we could #eval this, but no\ntheorem t : True := trivial",
        "/- a macro would be cheating; axiom too -/\ntheorem t : True := trivial",
        'theorem t : "axiom" = "axiom" := rfl',
        "theorem my_elaborate_lemma (unsafe_n : Nat) : unsafe_n = unsafe_n := rfl",
        "theorem t : 2 + 2 = 4 := by decide",
        "set_option maxHeartbeats 400000 in\ntheorem t : True := trivial",
    ],
)
def test_allowed(code):
    assert refused(code, CFG) is None


def test_native_decide_allowed_when_configured():
    cfg = ProofPolicy(allowed_axioms=("propext", "Quot.sound", "Classical.choice", "Lean.ofReduceBool"),
                       allow_native_decide=True)
    assert refused("theorem t : 2 + 2 = 4 := by native_decide", cfg) is None


def test_nested_comments_are_stripped_with_lines_kept():
    code = "/- outer /- inner -/ still comment #eval -/\n#eval 1"
    clean = strip_comments_and_strings(code)
    assert clean.count("\n") == 1 and "#eval" in clean.splitlines()[1]
    assert "line 2" in refused(code, CFG)


def test_disallowed_axioms():
    assert disallowed_axioms(["propext", "Classical.choice", "Quot.sound"], CFG) == []
    assert disallowed_axioms(["propext", "sorryAx", "Lean.ofReduceBool"], CFG) == ["Lean.ofReduceBool", "sorryAx"]


@pytest.mark.parametrize(
    "code, what",
    [
        # a character literal holding a double quote must not open a "string" that hides what follows
        ("def q : Char := '\"'\n#eval IO.println 1\ntheorem t : True := trivial", "#eval"),
        ("def q := '\"'\nunsafe def u : Nat := 0", "unsafe"),
        ("def q := '\\\"'\n@[implemented_by id] def k (n : Nat) : Nat := n", "implemented_by/extern"),
        ("def q := '\\''\ntheorem t : 2 + 2 = 4 := by native_decide", "native_decide"),
        # raw strings end at their own delimiter only
        ('def s := r#"a"b"#\n#eval 1', "#eval"),
    ],
)
def test_literals_do_not_hide_refused_code(code, what):
    msg = refused(code, CFG)
    assert msg is not None and f"`{what}`" in msg


def test_primes_in_identifiers_are_not_char_literals():
    code = "theorem h' (a' b' : Nat) : a' + b' = b' + a' := by omega\n-- '\"' in a comment\ntheorem t : True := trivial"
    assert refused(code, CFG) is None
    assert "#eval" not in strip_comments_and_strings("def c := 'a'\ndef s := \"#eval\"")
