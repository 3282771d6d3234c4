"""Every regular expression applied to model text finishes on its crafted worst case.

Each case is a long line built to make a backtracking pattern quadratic (a fence
then 300k spaces then a character that makes the match fail, and the like). The
guard is pytest-timeout, not a wall-clock assertion: a quadratic pattern would run
for hours on these inputs; each test also checks the answer is the right one.
"""

from __future__ import annotations

import pytest

from prover.prompts import builders
from prover.rl import rewards
from prover.formats import code as code_extract
from prover.formats import lean as lean_extract
from prover.types import Problem

N = 300_000
SPACES = " " * N
pytestmark = pytest.mark.timeout(60)


# ---------------------------------------------------------------- code extraction


@pytest.mark.parametrize("opener", ["```", "~~~", "````python", "```python"])
def test_code_fence_opener_with_300k_spaces(opener):
    line = opener + SPACES + "`x"
    assert code_extract._FENCE_OPEN.match(line) is None  # a backtick in the info string: not a fence
    text = line + "\n```python\ndef f(x):\n    return x\n```\n"
    blocks = code_extract.find_code_blocks(text)
    assert [(b.lang, b.code, b.closed) for b in blocks] == [("python", "def f(x):\n    return x\n", True)]


def test_code_fence_opener_tabs_and_spaces_alternating():
    line = "```" + " \t" * N + "\x00"
    assert code_extract._FENCE_OPEN.match(line).group("info") == "\x00"


def test_code_closing_fence_with_300k_spaces():
    text = "```python\nx = 1\n```" + SPACES + "x\n```"
    (block,) = code_extract.find_code_blocks(text)
    assert block.closed and block.code == "x = 1\n```" + SPACES + "x\n"


def test_code_start_pattern_on_a_long_identifier_then_spaces():
    line = "a" * N + SPACES + "=="
    assert code_extract._CODE_START.match(line) is None
    v = code_extract.extract_code(line, entry_point="f")
    assert not v.ok and v.reason == "no_code"


@pytest.mark.parametrize(
    "line, prose",
    [
        ("A" + " b" * N + " =", False),
        ("A" + "a" * N + " " + "b" * N + "=", False),
        ("Abc" + " word" * N, True),
        ("- " + "x" * N, True),
        ("**" + "*" * N, True),
        ("A" + " " * 40 + ":", True),
        ("A" + " " * 41 + ":", False),
    ],
)
def test_prose_pattern_worst_cases(line, prose):
    assert (code_extract._PROSE.match(line) is not None) is prose


def test_prose_stripping_on_long_prose_lines():
    text = "def f(x):\n    return x\n" + ("Then" + " more words" * 20_000 + " =\n") * 5
    v = code_extract.extract_code(text, entry_point="f")
    assert v.reason in ("syntax_error", "") and v.kind == "plain"


def test_def_search_in_an_unparsable_block_with_long_space_lines():
    code = (SPACES + "de\n") * 3 + "def  " + "f" + "(:\n"
    assert code_extract._mentions_def(code, "f")
    assert not code_extract._mentions_def((SPACES + "async" + SPACES + "x\n") * 3, "f")


# ---------------------------------------------------------------- rewards, prompts


CODE = Problem(id="t", domain="code", prompt="def f(x):", entry_point="f")
LEAN = Problem(id="l", domain="lean", statement="theorem t : True := by")


def test_format_reward_fence_with_300k_spaces():
    from prover.rl.config import FormatOptions

    opts = FormatOptions()
    text = "```" + SPACES + "py" + SPACES + "!\n```python\ndef f(x):\n    return x\n```"
    assert rewards.format_check(CODE, text, opts).ok
    lean = "```" + SPACES + "lean4" + SPACES + "!\n```lean4\ntheorem t : True := by trivial\n```"
    assert rewards.format_check(LEAN, lean, opts).ok


def test_math_format_boxed_after_long_whitespace():
    from prover.rl.config import FormatOptions

    text = ("\\boxed" + SPACES) * 3 + "\\boxed{42}"
    assert rewards.format_check(Problem(id="m", domain="math", reference="42"), text, FormatOptions()).ok


@pytest.mark.parametrize(
    "text, expected",
    [
        ("```" + "a" * N + SPACES + "x", None),
        ("```python" + SPACES + "\n" + "x = 1\n" + "`" * N, "x = 1"),
        ("```python\n" + "``\n" * N + "```", "``\n" * N),
        ("```\n" * N, None),
    ],
    ids=["long-lang-then-spaces", "spaces-then-backtick-run", "many-double-backticks", "many-openers"],
)
def test_prompt_block_extraction_worst_cases(text, expected):
    got = builders.answer_block(CODE, text)
    assert got == (expected.rstrip("\n") if expected is not None else None)


# ---------------------------------------------------------------- Lean extraction


def test_lean_fence_with_300k_spaces():
    assert lean_extract._FENCE_OPEN.match("```" + SPACES + "lean4" + SPACES + "x") is None
    text = "```" + SPACES + "lean4" + SPACES + "x\n```lean4\ntheorem t : True := trivial\n```"
    assert lean_extract.last_lean_block(text) == ("theorem t : True := trivial", False)
    assert lean_extract.last_lean_block("```lean4\n" + (SPACES + "x\n") * 3) == (None, True)


@pytest.mark.parametrize(
    "line",
    [
        "@[" * N,
        "@[simp]" * N + " x",
        "private " * N + "x",
        " " * N + "theorem" + "\u2983" * 10,
        "@[a] " * N + "noncomputable" + SPACES,
    ],
)
def test_lean_declaration_pattern_worst_cases(line):
    with pytest.raises(ValueError, match="cannot find"):
        lean_extract.theorem_name(line)


def test_lean_declaration_pattern_still_finds_names():
    assert lean_extract.theorem_name("@[simp] private theorem foo_bar (n : Nat) : n = n := by rfl") == "foo_bar"


def test_lean_fast_pass_on_many_blank_lines():
    """The fast refusal pass (prover.verifiers.lean.policy): a line-start pattern that could cross
    newlines was quadratic on blank lines; it stays on one line now."""
    from prover.verifiers.lean.policy import ProofPolicy, refused

    assert refused("theorem t : True := by\n" + "\n" * N + "  trivial", ProofPolicy()) is None
    assert "import" in refused("\n" * N + "  import Foo", ProofPolicy())
    assert "debug" in refused("set_option" + SPACES + "debug.skipKernelTC true in", ProofPolicy())
