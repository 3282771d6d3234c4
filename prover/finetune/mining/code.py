"""Self-made code problems: a task, a reference function and assert tests, checked in the real sandbox.

Degenerate problems dropped (``checks``): ``stub_passes`` (the tests pass a stub that
returns ``None``), ``reference_fails`` (the problem's own reference function fails them).
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from prover.finetune.api import Problem, called_names, clean_text, verify
from prover.finetune.mining.base import Proposer

_PROBLEM = re.compile(r"Problem:\s*(.+?)(?:\n\s*\n|```|$)", re.S)

REQUEST = (
    "Invent a new, self-contained Python programming exercise of difficulty {level} on a scale of 1 (very easy) "
    "to 5 (hard). Answer in exactly this format:\n\n"
    "Problem: <one or two sentences saying what the function must do, naming the function>\n\n"
    "```python\n<the complete function that solves it>\n```\n\n"
    "```python\nassert <call of the function> == <expected value>\nassert ...\nassert ...\n```")

EXAMPLE = (
    "Problem: Write a function `count_vowels(s)` that returns how many vowels (a, e, i, o, u) the string s contains.\n\n"
    "```python\ndef count_vowels(s):\n    return sum(1 for c in s.lower() if c in 'aeiou')\n```\n\n"
    "```python\nassert count_vowels('hello') == 2\nassert count_vowels('xyz') == 0\nassert count_vowels('AEIOU') == 5\n```")


def _defines(code: str, name: str) -> bool:
    return re.search(rf"^\s*def {re.escape(name)}\s*\(", code, re.M) is not None


def parse_proposal(text: str, ident: str, level: int) -> Problem | None:
    """A code ``Problem`` from a proposal (description, reference function, asserts), or None.

    Lenient about layout (a small model rarely follows it exactly): asserts are taken from
    anywhere, the reference is the code block defining the function the asserts call (its
    assert/print lines removed), the description is the ``Problem:`` line, else the prose
    before the first code block, else the function's docstring.
    """
    blocks = re.findall(r"```(?:python|py)?[ \t]*\n(.*?)```", text, re.S)
    if not blocks:
        return None
    lines = [ln.strip() for b in blocks for ln in b.splitlines()]
    asserts = [ln for ln in lines if ln.startswith("assert ")]
    entry = next((n for n in called_names(asserts) if any(_defines(b, n) for b in blocks)), "")
    if not entry:
        return None
    tests = tuple(dict.fromkeys(a for a in asserts if entry in called_names([a])))
    block = next(b for b in blocks if _defines(b, entry))
    reference = "\n".join(ln for ln in block.splitlines()
                          if not ln.strip().startswith(("assert ", "print(")) and ln.strip() != "").strip()
    m = _PROBLEM.search(text)
    if m:
        desc = m.group(1).strip()
    else:
        prose = text.split("```")[0].strip()
        doc = re.search(r'"""(.*?)"""', reference, re.S)
        desc = prose if len(prose) > 20 else (doc.group(1).strip() if doc else "")
    desc = f"Write a Python function `{entry}`. {desc}".strip()
    return Problem(id=ident, domain="code", prompt=clean_text(desc), tests=tests, entry_point=entry,
                   meta={"source": "self-mined", "level": level, "reference_code": clean_text(reference)})


def stub_for(problem: Problem) -> str:
    return f"```python\ndef {problem.entry_point}(*args, **kwargs):\n    return None\n```"


class CodeProposer(Proposer):
    domain = "code"
    system = "You are an expert Python programmer."
    request = REQUEST
    example = EXAMPLE
    checks = ("stub_passes", "reference_fails")

    def __init__(self, verifier: Any, **kw: Any) -> None:
        super().__init__(**kw)
        self.verifier = verifier

    def parse(self, text: str, ident: str, level: int) -> Problem | None:
        return parse_proposal(text, ident, level)

    def degenerate(self, problems: Sequence[Problem]) -> list[tuple[str, Problem]]:
        stub = verify(self.verifier, problems, [stub_for(p) for p in problems])
        ref = verify(self.verifier, problems, [f"```python\n{p.meta['reference_code']}\n```" for p in problems])
        out = []
        for p, s, r in zip(problems, stub, ref):
            why = "stub_passes" if s.status.value == "valid" else "reference_fails" if r.status.value != "valid" else ""
            out.append((why, p))
        return out
