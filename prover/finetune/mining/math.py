"""Self-made math problems: a word problem plus a short program whose sandboxed output is the answer.

The program runs in the project's code sandbox (``prover.verifiers.code``: bubblewrap,
rlimits, no network), never in this process; the last non-empty line it prints becomes
the problem's reference answer, and solutions are judged by the project's math verifier
against it. Degenerate problems dropped (``checks``):

- ``program_fails``: the program raised, timed out or could not run;
- ``program_silent``: it printed nothing;
- ``answer_unreadable``: its answer is longer than ``max_answer_chars``, was cut by the
  sandbox's output cap, or is not read back as itself by the math verifier
  (``\\boxed{answer}`` must be judged correct against it);
- ``stub_passes``: a do-nothing answer (``\\boxed{0}``) is judged correct: the program
  computed nothing (a zero left in a variable is the typical case).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Sequence

from prover.finetune.api import Problem, clean_text, verify
from prover.finetune.mining.base import Proposer

RUNNER = "_selfmine_program_ran"  # appended to the program so a clean run is a passing "test"
STUB = "\\boxed{0}"
_PROBLEM = re.compile(r"Problem:\s*(.+?)(?:\n\s*\n|```|$)", re.S)
_BLOCK = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)```", re.S)
_MAIN_GUARD = re.compile(r"""^if\s+__name__\s*==\s*['"]__main__['"]\s*:""", re.M)

REQUEST = (
    "Invent a new grade-school math word problem of difficulty {level} on a scale of 1 (very easy) to 5 (hard), "
    "and a short Python program that computes its answer. Answer in exactly this format:\n\n"
    "Problem: <the word problem, ending with a question whose answer is one number>\n\n"
    "```python\n<a short program that computes the answer and prints only the answer>\n```")

EXAMPLE = (
    "Problem: A baker makes 12 muffins on each tray and bakes 5 trays. She sells 38 muffins. "
    "How many muffins does she have left?\n\n"
    "```python\nmade = 12 * 5\nleft = made - 38\nprint(left)\n```")


def parse_proposal(text: str, ident: str, level: int) -> Problem | None:
    """A math ``Problem`` (reference still empty) from a proposal, or None.

    The question is the ``Problem:`` paragraph (else the prose before the first code block);
    the program is the first python block, complete.
    """
    blocks = _BLOCK.findall(text)
    if not blocks or not blocks[0].strip():
        return None
    m = _PROBLEM.search(text)
    question = m.group(1).strip() if m else text.split("```")[0].strip()
    if not question:
        return None
    return Problem(id=ident, domain="math", prompt=clean_text(question),
                   meta={"source": "self-mined", "level": level, "program": clean_text(blocks[0].strip("\n"))})


def program_problem(problem: Problem) -> tuple[Problem, str]:
    """The code-sandbox job that runs ``problem``'s program: (a code problem, the response to verify)."""
    job = Problem(id=f"{problem.id}/program", domain="code", tests=(f"assert {RUNNER}() == 1",), entry_point=RUNNER)
    program = _MAIN_GUARD.sub("if True:", problem.meta["program"])  # the sandbox loads it as a module, not __main__
    return job, f"```python\n{program}\n\n\ndef {RUNNER}():\n    return 1\n```"


def answer_from_output(stdout: str, stdout_bytes: int, max_chars: int) -> tuple[str, str]:
    """(answer, "") from a program's output: its last non-empty line, stripped; or ("", the check that failed)."""
    lines = [ln.strip() for ln in stdout.splitlines() if ln.strip()]
    if not lines:
        return "", "program_silent"
    if stdout_bytes > len(stdout.encode("utf-8")):  # the sandbox kept only the start of the output
        return "", "answer_unreadable"
    answer = lines[-1]
    if len(answer) > max_chars:
        return "", "answer_unreadable"
    return answer, ""


class MathProposer(Proposer):
    domain = "math"
    system = "You are a careful math teacher who writes clear word problems and checks them with Python."
    request = REQUEST
    example = EXAMPLE
    checks = ("program_fails", "program_silent", "answer_unreadable", "stub_passes")

    def __init__(self, verifier: Any, sandbox: Any, *, max_answer_chars: int = 32, **kw: Any) -> None:
        super().__init__(**kw)
        self.verifier = verifier  # the math verifier
        self.sandbox = sandbox  # the code verifier (its sandbox runs the programs)
        self.max_answer_chars = max_answer_chars

    def parse(self, text: str, ident: str, level: int) -> Problem | None:
        return parse_proposal(text, ident, level)

    def key(self, problem: Problem) -> str:
        return problem.prompt

    def degenerate(self, problems: Sequence[Problem]) -> list[tuple[str, Problem]]:
        jobs = [program_problem(p) for p in problems]
        runs = verify(self.sandbox, [j for j, _ in jobs], [r for _, r in jobs])
        out: list[tuple[str, Problem]] = []
        readable: list[Problem] = []
        for p, v in zip(problems, runs):
            if v.status.value != "valid":
                out.append(("program_fails", p))
                continue
            answer, why = answer_from_output(str(v.details.get("stdout", "")), int(v.details.get("stdout_bytes", 0)),
                                             self.max_answer_chars)
            if why:
                out.append((why, p))
                continue
            q = dataclasses.replace(p, reference=clean_text(answer), meta={**p.meta, "program_output": answer})
            out.append(("", q))
            readable.append(q)
        if readable:
            own = verify(self.verifier, readable, [f"The answer is \\boxed{{{q.reference}}}." for q in readable])
            stub = verify(self.verifier, readable, [STUB] * len(readable))
            verdicts = {q.id: ("answer_unreadable" if o.status.value != "valid" else
                               "stub_passes" if s.status.value == "valid" else "")
                        for q, o, s in zip(readable, own, stub)}
            out = [(verdicts.get(q.id, why) if not why else why, q) for why, q in out]
        return out

    def close(self) -> None:
        self.sandbox.close()
