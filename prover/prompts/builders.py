"""Chat prompts for every domain and turn kind.

Turn kinds (``prover.types.Attempt.turn``): ``first`` (fresh attempt),
``fix`` (error-fix with verifier feedback), ``retry`` (binary: "it failed, try
again differently"), ``check`` (a candidate that may or may not be right, shown
for checking and repair). Messages are ``{"role": ..., "content": ...}`` dicts;
the chat template itself comes from the tokenizer (see ``limits``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from prover.formats import code as code_format
from prover.formats import lean as lean_format
from prover.types import Problem

Message = dict[str, str]

SYSTEM = {
    "lean": "You are an expert in mathematics and Lean 4.",
    "code": "You are an expert Python programmer.",
    "math": "You are an expert in mathematics.",
}
# The fence each domain's prompts ask for (accepted fences: prover.formats).
FENCE = {"lean": lean_format.FENCE_LANGUAGES[0], "code": "python", "math": ""}


# -- few-shot examples -----------------------------------------------------------
@dataclass(frozen=True)
class Example:
    problem: Problem
    answer: str  # the assistant turn


def _lean_ex(pid: str, statement: str, tactic: str, informal: str = "") -> Example:
    proof = f"{statement}\n{tactic}"
    return Example(Problem(id=pid, domain="lean", statement=statement, prompt=informal),
                   f"```lean4\n{proof}\n```")


# Core Lean 4 only (no Mathlib), each checked to compile.
FEW_SHOT: dict[str, tuple[Example, ...]] = {
    "lean": (
        _lean_ex("ex1", "theorem ex1 (a b : Nat) : a + b = b + a := by", "  omega"),
        _lean_ex("ex2", "theorem ex2 : 2 ^ 10 = 1024 := by", "  decide"),
        _lean_ex("ex3", "theorem ex3 (n : Nat) : 0 + n = n := by",
                 "  induction n with\n  | zero => rfl\n  | succ k ih => simp"),
        _lean_ex("ex4", "theorem ex4 (xs : List Nat) : (xs ++ []).length = xs.length := by", "  simp"),
    ),
    "code": (
        Example(Problem(id="ex1", domain="code",
                        prompt='def add(a: int, b: int) -> int:\n    """Return the sum of a and b."""\n'),
                "```python\ndef add(a: int, b: int) -> int:\n    return a + b\n```"),
        Example(Problem(id="ex2", domain="code",
                        prompt='def is_even(n: int) -> bool:\n    """Return True when n is even."""\n'),
                "```python\ndef is_even(n: int) -> bool:\n    return n % 2 == 0\n```"),
    ),
    "math": (
        Example(Problem(id="ex1", domain="math", prompt="What is 12 + 30?"),
                "12 + 30 = 42.\n\nThe answer is \\boxed{42}."),
        Example(Problem(id="ex2", domain="math", prompt="What is 7 times 6 minus 2?"),
                "7 times 6 is 42, and 42 - 2 = 40.\n\nThe answer is \\boxed{40}."),
    ),
}


def few_shot_turns(domain: str, k: int) -> list[Message]:
    """``k`` worked examples as prior user/assistant turns (at most the built-in set)."""
    if k < 0:
        raise ValueError(f"few_shot must be >= 0, got {k}")
    turns: list[Message] = []
    for ex in FEW_SHOT[domain][:k]:
        turns.append({"role": "user", "content": task_text(ex.problem)})
        turns.append({"role": "assistant", "content": ex.answer})
    return turns


# -- first attempt --------------------------------------------------------------
def lean_formal(problem: Problem) -> str:
    header = problem.header
    if header and not header.endswith("\n"):
        header += "\n"
    return f"{header}{problem.statement}"


def task_text(problem: Problem) -> str:
    """The user turn of a first attempt (domain-specific wording)."""
    if problem.domain == "lean":
        parts = []
        if problem.prompt.strip():
            parts.append(f"Problem: {problem.prompt.strip()}\n")
        parts.append(
            "Complete the following Lean 4 theorem with a proof:\n\n"
            f"```lean4\n{lean_formal(problem)}\n```\n\n"
            "Write the complete theorem and its proof in one final ```lean4 code block.")
        return "\n".join(parts)
    if problem.domain == "code":
        text = problem.prompt.rstrip()
        if problem.entry_point or text.lstrip().startswith(("def ", "from ", "import ", "class ")):
            body = f"Complete the following Python function:\n\n```python\n{text}\n```"
        else:
            body = text
        if problem.tests:
            body += "\n\nYour code should pass these tests:\n" + "\n".join(problem.tests)
        return body + "\n\nWrite the complete function in one ```python code block."
    return f"{problem.prompt.strip()}\n\nPlease reason step by step, and put your final answer within \\boxed{{}}."


def first_attempt(problem: Problem, *, few_shot: int = 0, system: bool = True) -> list[Message]:
    """System turn, ``few_shot`` worked examples, then the problem."""
    msgs: list[Message] = [{"role": "system", "content": SYSTEM[problem.domain]}] if system else []
    msgs += few_shot_turns(problem.domain, few_shot)
    msgs.append({"role": "user", "content": task_text(problem)})
    return msgs


# -- follow-up turns --------------------------------------------------------------
def _format_reminder(domain: str) -> str:
    if domain == "lean":
        return "Write the corrected complete theorem and its proof in one final ```lean4 code block."
    if domain == "code":
        return "Write the corrected complete function in one ```python code block."
    return "Reason step by step, and put your final answer within \\boxed{}."


def _continue(first_messages: Sequence[Mapping[str, str]], failed_response: str, user: str) -> list[Message]:
    if not first_messages or first_messages[-1].get("role") != "user":
        raise ValueError("first_messages must end with the user turn that asked for the failed response")
    return [dict(m) for m in first_messages] + [
        {"role": "assistant", "content": failed_response},
        {"role": "user", "content": user},
    ]


def error_fix(problem: Problem, first_messages: Sequence[Mapping[str, str]], failed_response: str,
              feedback: str) -> list[Message]:
    """The conversation so far, the failed response, then the verifier's feedback."""
    what = {"lean": "The Lean 4 checker rejected this proof", "code": "This code failed the tests",
            "math": "This answer was checked and is incorrect"}[problem.domain]
    user = f"{what}:\n\n```\n{feedback.strip()}\n```\n\nFix the errors. {_format_reminder(problem.domain)}"
    return _continue(first_messages, failed_response, user)


def binary_retry(problem: Problem, first_messages: Sequence[Mapping[str, str]], failed_response: str) -> list[Message]:
    """The conversation so far, the failed response, then "it failed; try differently" (no details)."""
    user = ("Your solution failed. Try again with a different approach. "
            + _format_reminder(problem.domain).replace("corrected ", "new "))
    return _continue(first_messages, failed_response, user)


def answer_block(problem: Problem, response: str) -> str | None:
    """The code of ``response``'s answer block, as the domain's verifier reads it (None: no complete block)."""
    if problem.domain == "lean":
        return lean_format.last_lean_block(response)[0]
    if problem.domain == "code":
        entry = problem.entry_point or next(code_format.called_names(problem.tests), "")
        block = code_format.answer_block(response, entry)
        return block.code.rstrip("\n") if block is not None and block.closed else None
    return None


def candidate_text(problem: Problem, response: str) -> str:
    """What a check turn shows: the answer block of ``response`` (``prover.formats``) if any, else all of it."""
    block = answer_block(problem, response)
    if block is None:
        return response.strip()
    return f"```{FENCE[problem.domain]}\n{block}\n```"


def check_repair(problem: Problem, candidate_response: str, *, few_shot: int = 0,
                 system: bool = True) -> list[Message]:
    """The problem plus a candidate solution that may or may not be correct, to check and repair."""
    noun = {"lean": "proof", "code": "solution", "math": "solution"}[problem.domain]
    final = {"lean": "Write the final complete theorem and its proof in one ```lean4 code block.",
             "code": "Write the final complete function in one ```python code block.",
             "math": "Put the final answer within \\boxed{}."}[problem.domain]
    user = (f"{task_text(problem)}\n\nHere is a candidate {noun}. It may or may not be correct:\n\n"
            f"{candidate_text(problem, candidate_response)}\n\n"
            f"Check it carefully. If it is correct, keep it unchanged; if not, repair it. {final}")
    msgs: list[Message] = [{"role": "system", "content": SYSTEM[problem.domain]}] if system else []
    msgs += few_shot_turns(problem.domain, few_shot)
    msgs.append({"role": "user", "content": user})
    return msgs
