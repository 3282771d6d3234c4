"""One answer format per domain: the verifier, the format reward and the prompt builder agree.

A corpus of tricky responses per domain (several blocks, ```lean / ```py fences,
fences inside strings and comments, prose after the block, a cut-off block) goes
through the verifier's own extraction (Lean: ``LeanVerifier.prepare``, no Lean
needed; code: the real ``CodeVerifier`` with its sandbox), the training format
reward and the check-turn prompt builder. They must read the same block, or all
find none. With the style rules off the format score is 1 exactly when the
verifier has an answer to check; with the default style rules a response the
verifier accepts only loses its format reward for a documented style reason.
"""

from __future__ import annotations

import textwrap

import pytest

from prover.formats import code as code_format
from prover.formats import lean as lean_format
from prover.prompts import answer_block, candidate_text
from prover.rl.config import FormatOptions
from prover.rl.rewards import format_check
from prover.types import Problem, Status

STYLE_OFF = FormatOptions(max_blocks=0, nothing_after_block=False, max_line_repeats=0, require_block=False)
DEFAULT = FormatOptions()
STYLE_REASONS = {"too_many_blocks", "text_after_block", "repeated_lines", "no_block", "unclosed_block"}

# -- Lean --------------------------------------------------------------------------------------
LEAN = Problem(id="t", domain="lean", statement="theorem t (a : Nat) : a + 0 = a := by")
FULL = "theorem t (a : Nat) : a + 0 = a := by\n  simp"
LEAN_CORPUS: dict[str, tuple[str, str | None]] = {
    # name: (response, the code of the answer block or None)
    "lean4": (f"```lean4\n{FULL}\n```", FULL),
    "lean": (f"```lean\n{FULL}\n```", FULL),
    "upper-case": (f"```Lean4\n{FULL}\n```", FULL),
    "indented fence": (f"  ```lean4\n{FULL}\n  ```", FULL),
    "two blocks, last wins": (f"```lean4\ntheorem t (a : Nat) : a + 0 = a := by\n  rfl\n```\nBetter:\n```lean4\n{FULL}\n```",
                              FULL),
    "prose after": (f"```lean4\n{FULL}\n```\nThis works because simp knows `a + 0 = a`.", FULL),
    "python block after": (f"```lean4\n{FULL}\n```\n```python\nprint(1)\n```", FULL),
    "fence in a comment": ("```lean4\ntheorem t (a : Nat) : a + 0 = a := by\n  simp -- not ``` a fence\n```",
                           "theorem t (a : Nat) : a + 0 = a := by\n  simp -- not ``` a fence"),
    "fence in a string": ('```lean4\ntheorem t (a : Nat) : a + 0 = a := by\n  have : "```" = "```" := rfl\n  simp\n```',
                          'theorem t (a : Nat) : a + 0 = a := by\n  have : "```" = "```" := rfl\n  simp'),
    "body only": ("```lean4\n  simp\n```", "  simp"),
    "cut off": (f"```lean4\n{FULL}", None),
    "cut off after a good block": (f"```lean4\n{FULL}\n```\n```lean4\ntheorem t (a : Nat) : a + 0 = a := by\n  om", None),
    "python only": ("```python\nprint(1)\n```", None),
    "no block": ("simp solves it", None),
    "untagged fence": (f"```\n{FULL}\n```", None),
}


@pytest.fixture(scope="module")
def lean_verifier_unstarted():
    from prover.verifiers.lean import LeanConfig, LeanVerifier

    v = LeanVerifier(LeanConfig(workers=1), start=False)  # prepare() is everything before Lean
    yield v
    v.close()


@pytest.mark.parametrize("name", sorted(LEAN_CORPUS))
def test_lean_corpus_agrees(name, lean_verifier_unstarted):
    response, block = LEAN_CORPUS[name]
    prepared = lean_verifier_unstarted.prepare(LEAN, response)
    reaches_lean = prepared.payload is not None
    assert reaches_lean == (block is not None), (name, prepared)
    # the format reward: same block, same verdict on whether there is one
    assert format_check(LEAN, response, STYLE_OFF).ok == (block is not None), name
    assert lean_format.last_lean_block(response)[0] == block
    # the prompt builder shows the same block (or the whole response when there is none)
    assert answer_block(LEAN, response) == block
    shown = candidate_text(LEAN, response)
    assert (block in shown) if block is not None else shown == response.strip()
    if block is not None:
        assert block.strip() in prepared.code or prepared.kind == "body"
    # with the default style rules, only a documented style reason takes the reward away
    fmt = format_check(LEAN, response, DEFAULT)
    assert fmt.ok or fmt.reason in STYLE_REASONS


def test_lean_fence_languages_are_one_configurable_constant():
    assert lean_format.FENCE_LANGUAGES[0] == "lean4" and "lean" in lean_format.FENCE_LANGUAGES
    from prover.prompts.builders import FENCE

    assert FENCE["lean"] == lean_format.FENCE_LANGUAGES[0]  # prompts ask for the first accepted fence


# -- code --------------------------------------------------------------------------------------
CODE = Problem(id="c", domain="code", prompt="Write a function f that adds one.",
               tests=("assert f(1) == 2", "assert f(-1) == 0"), entry_point="f")
GOOD = "def f(x):\n    return x + 1\n"
BAD = "def f(x):\n    return x\n"
CODE_CORPUS: dict[str, tuple[str, str | None, bool]] = {
    # name: (response, code of the fenced answer block or None, does the verifier accept it)
    "python": (f"```python\n{GOOD}```", GOOD, True),
    "py": (f"```py\n{GOOD}```", GOOD, True),
    "Python3 upper-case": (f"```Python3\n{GOOD}```", GOOD, True),
    "untagged": (f"```\n{GOOD}```", GOOD, True),
    "tilde fence": (f"~~~python\n{GOOD}~~~", GOOD, True),
    "usage block after": (f"```python\n{GOOD}```\nUsage:\n```python\nprint(f(1))\n```", GOOD, True),
    "wrong then right": (f"```python\n{BAD}```\nFixed:\n```python\n{GOOD}```", GOOD, True),
    "right then wrong": (f"```python\n{GOOD}```\nOr:\n```python\n{BAD}```", BAD, False),
    "prose after": (f"```python\n{GOOD}```\nThis adds one.", GOOD, True),
    "fence in a string": ('```python\ndef f(x):\n    s = "```"\n    return x + 1\n```',
                          'def f(x):\n    s = "```"\n    return x + 1\n', True),
    "fence in a comment": ("```python\ndef f(x):\n    # ``` is not a fence here\n    return x + 1\n```",
                           "def f(x):\n    # ``` is not a fence here\n    return x + 1\n", True),
    "javascript only": ("```javascript\nfunction f(x) { return x + 1 }\n```", None, False),
    "cut off": ("```python\ndef f(x):\n    return (x +", None, False),
    "plain code": ("def f(x):\n    return x + 1", None, True),
    "no code": ("I would add one.", None, False),
}


@pytest.fixture(scope="module")
def code_verdicts(code_verifier):
    names = sorted(CODE_CORPUS)
    verdicts = code_verifier.verify([CODE] * len(names), [CODE_CORPUS[n][0] for n in names])
    return dict(zip(names, verdicts))


@pytest.mark.parametrize("name", sorted(CODE_CORPUS))
def test_code_corpus_agrees(name, code_verdicts):
    response, block, accepted = CODE_CORPUS[name]
    verdict = code_verdicts[name]
    assert verdict.status is not Status.ERROR, verdict.feedback
    assert verdict.valid == accepted, (name, verdict.feedback)
    ext = code_format.extract_code(response, prompt=CODE.prompt, entry_point=CODE.entry_point)
    chosen = code_format.answer_block(response, CODE.entry_point)
    closed = chosen is not None and chosen.closed
    # the verifier runs the block the format reward judges and the prompt builder shows
    if block is not None:
        assert closed and chosen.code == block
        assert ext.kind == "fenced" and ext.code == textwrap.dedent(block)
        assert answer_block(CODE, response) == block.rstrip("\n")
        assert block.rstrip("\n") in candidate_text(CODE, response)
    else:
        assert not closed
        assert answer_block(CODE, response) is None and candidate_text(CODE, response) == response.strip()
    # format reward: a closed block exactly when there is one (require_block on, other style rules off)
    only_fence = FormatOptions(max_blocks=0, nothing_after_block=False, max_line_repeats=0)
    assert format_check(CODE, response, only_fence).ok == (block is not None), name
    assert format_check(CODE, response, STYLE_OFF).ok  # with no style rule, the reward is the verdict's
    fmt = format_check(CODE, response, DEFAULT)
    assert fmt.ok or fmt.reason in STYLE_REASONS
