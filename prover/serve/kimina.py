"""kimina-lean-server's request/response shapes on top of this project's Lean verdicts.

A kimina snippet is a whole Lean file. Two ways to read it:

- bound (this project's extension): the snippet carries ``formal_statement``
  (and ``header``); it is checked exactly as the row ``{id, formal_statement,
  header, response: code}`` is by ``POST /v1/verify``, so both APIs give the
  same verdict;
- self-statement (plain kimina clients): the snippet's last top-level
  ``theorem``/``lemma`` is the target and its own statement; everything before
  it is checked with it; the whole body goes through the refusal policy first.
  Statement identity then means only "the proof proves the statement it wrote".

The answer keeps kimina's shape (``{id, time, error | response: {env, messages,
sorries}}``) so its clients read it unchanged, and is made to read as a failure
to them whenever the verdict is not ``valid``: a timeout sets ``error`` to
kimina's timeout text, an infrastructure error sets ``error``, and an invalid
verdict without any Lean error gets one synthetic ``error`` message carrying
the verdict's feedback (axioms, statement mismatch, refusal, sorry). Every item
also carries ``verdict``, this project's full verdict (clients that know it
should read that).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from prover.serve.models import KiminaSnippet
from prover.types import Problem, Status, Verdict
from prover.verifiers.base import RowError
from prover.verifiers.lean.policy import ProofPolicy, refused

_DECL_LINE = re.compile(r"^(?:@\[[^\]]*\]\s*)*(?:(?:private|protected|noncomputable)\s+)*(?:theorem|lemma)\s+\S")
_OPEN = "([{⦃⟨"
_CLOSE = ")]}⦄⟩"


@dataclass(frozen=True)
class KiminaTask:
    """One snippet made ready for the Lean verifier, or answered already (``verdict``/``error``)."""

    id: str
    problem: Problem | None = None
    response: str = ""
    verdict: Verdict | None = None
    error: str = ""
    # checker line -> snippet-body line: lines <= split stay, later ones shift by shift
    split: int = 0
    shift: int = 0
    target_line: int = 1

    def body_line(self, line: int) -> int:
        return line if line <= self.split else line + self.shift


def fence(code: str) -> str:
    return f"```lean4\n{code}\n```"


def split_imports(code: str) -> tuple[list[str], list[str]]:
    """(import lines at the top, body lines); blank lines before the body go with the imports, as kimina does."""
    lines = code.splitlines()
    i = 0
    while i < len(lines) and (not lines[i].strip() or lines[i].strip().startswith("import ")):
        i += 1
    return [ln.strip() for ln in lines[:i] if ln.strip()], lines[i:]


def statement_end(text: str) -> int:
    """Index just past the first top-level ``:=`` of a declaration (comments and strings skipped); -1 if none."""
    depth, i, n = 0, 0, len(text)
    while i < n:
        if text.startswith("--", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        if text.startswith("/-", i):
            nest, i = 1, i + 2
            while i < n and nest:
                if text.startswith("/-", i):
                    nest, i = nest + 1, i + 2
                elif text.startswith("-/", i):
                    nest, i = nest - 1, i + 2
                else:
                    i += 1
            continue
        c = text[i]
        if c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            i += 1
            continue
        if c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            depth = max(0, depth - 1)
        elif depth == 0 and text.startswith(":=", i):
            return i + 2
        i += 1
    return -1


def task_from_snippet(snippet: KiminaSnippet, policy: ProofPolicy) -> KiminaTask:
    from prover.verifiers.lean import LeanVerifier

    code = snippet.code
    if snippet.formal_statement is not None:
        imports, _ = split_imports(code)
        row = {"id": snippet.id, "formal_statement": snippet.formal_statement,
               "header": snippet.header if snippet.header is not None else "\n".join(imports)}
        try:
            problem = LeanVerifier.problem_from_row(row)
        except RowError as e:
            return KiminaTask(snippet.id, error=f"snippet {snippet.id!r}: {e}")
        return KiminaTask(snippet.id, problem, code if "```" in code else fence(code))
    imports, body = split_imports(code)
    why = refused("\n".join(body), policy)
    if why:
        return KiminaTask(snippet.id, verdict=Verdict(Status.INVALID, 0.0, feedback=why, details={"refused": True},
                                                      timings={"total": 0.0}))
    starts = [k for k, line in enumerate(body) if _DECL_LINE.match(line)]
    if not starts:
        return KiminaTask(snippet.id, error="the snippet declares no top-level `theorem` or `lemma`; prover serve checks "
                          "theorems (send `formal_statement` to bind one)")
    k = starts[-1]
    decl = "\n".join(body[k:]).strip("\n")
    end = statement_end(decl)
    if end < 0:
        return KiminaTask(snippet.id, error=f"the theorem at body line {k + 1} has no `:=`")
    statement = decl[:end]
    if re.match(r"\s*by\b", decl[end:]):
        statement += " by"
    prefix = body[:k]
    while prefix and not prefix[-1].strip():
        prefix.pop()
    header = "\n".join([*imports, *prefix])
    try:
        problem = LeanVerifier.problem_from_row({"id": snippet.id, "formal_statement": statement, "header": header})
    except RowError as e:
        return KiminaTask(snippet.id, error=f"snippet {snippet.id!r}: the last theorem's statement: {e}")
    return KiminaTask(snippet.id, problem, fence(decl), split=len(prefix), shift=k - len(prefix), target_line=k + 1)


def _pos(line: Any, col: Any, task: KiminaTask) -> dict[str, int] | None:
    if not isinstance(line, int):
        return None
    return {"line": task.body_line(line), "column": col if isinstance(col, int) else 0}


def kimina_result(task: KiminaTask, verdict: Verdict, timeout_s: float) -> dict[str, Any]:
    """kimina's ``ReplResponse`` shape for one verdict, plus ``verdict``."""
    out: dict[str, Any] = {"id": task.id, "time": float(verdict.timings.get("total", 0.0)), "verdict": verdict.to_json()}
    if verdict.status is Status.TIMEOUT:
        out["error"] = f"Lean REPL command timed out in {timeout_s:g} seconds"
        return out
    if verdict.status is Status.ERROR:
        out["error"] = verdict.feedback or "verification error"
        return out
    messages = []
    for m in verdict.details.get("messages", []) or []:
        msg: dict[str, Any] = {"severity": m.get("severity", "info"), "pos": _pos(m.get("line"), m.get("col"), task) or {"line": 1, "column": 0},
                               "data": str(m.get("text", ""))}
        end = _pos(m.get("end_line"), m.get("end_col"), task)
        if end:
            msg["endPos"] = end
        messages.append(msg)
    if verdict.status is not Status.VALID and not any(m["severity"] == "error" for m in messages):
        messages.append({"severity": "error", "pos": {"line": task.target_line, "column": 0},
                         "data": f"prover verdict {verdict.status.value}: {verdict.feedback}"})
    out["response"] = {"env": 0, "messages": messages, "sorries": []}
    return out


def backward_result(item: dict[str, Any]) -> dict[str, Any]:
    """kimina's ``/verify`` item from an ``/api/check`` item."""
    response = None
    if "response" in item:
        response = {**item["response"], "time": item["time"]}
    return {"custom_id": item["id"], "error": item.get("error"), "response": response, "verdict": item["verdict"]}


def error_item(task: KiminaTask) -> dict[str, Any]:
    v = Verdict.infra_error(task.error, reason="input")
    return {"id": task.id, "time": 0.0, "error": task.error, "verdict": v.to_json()}
