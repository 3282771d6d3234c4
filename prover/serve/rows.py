"""The ``prover verify`` row contract, in one place for the service and its clients.

``parse_row`` reads one input row exactly as ``prover verify`` does
(``verifier_class(domain).problem_from_row`` + the ``response`` field);
``result_row`` writes one verdict row exactly as ``prover verify`` writes it;
``problem_to_row`` is the inverse of ``problem_from_row`` (what a remote client
sends). When ``prover verify``'s parsing moves (prover/verify_batch.py), repoint
``parse_row``/``result_row`` there and nothing else changes.
"""

from __future__ import annotations

from typing import Any, Mapping

from prover.types import Problem, Verdict
from prover.verifiers import verifier_class
from prover.verifiers.base import RowError, require_str


def parse_row(domain: str, row: Any) -> tuple[Problem, str]:
    """(problem, response) from one input row; raises ``RowError`` naming the bad field."""
    if not isinstance(row, dict):
        raise RowError("<row>", f"each row must be a JSON object, got {type(row).__name__}")
    problem = verifier_class(domain).problem_from_row(row)
    response = require_str(row, "response", allow_empty=True)
    return problem, response


def result_row(problem_id: str, line: int, verdict: Verdict) -> dict[str, Any]:
    """One output row of ``prover verify`` (``line`` is 1-based, the row's place in the batch)."""
    return {"id": problem_id, "line": line, **verdict.to_json()}


def bad_row_result(line: int, row_id: str, message: str) -> dict[str, Any]:
    """The output row ``prover verify`` writes for an input row it could not read."""
    return {"id": row_id, "line": line, "status": "error", "reward": 0.0, "feedback": message, "input_error": True}


def verdict_from_result(result: Mapping[str, Any]) -> Verdict:
    """The ``Verdict`` inside one result row."""
    return Verdict.from_json(result)


def problem_to_row(problem: Problem, response: str) -> dict[str, Any]:
    """The input row that ``parse_row`` reads back into an equivalent ``(problem, response)``."""
    row: dict[str, Any] = {"id": problem.id, "response": response}
    if problem.domain == "lean":
        row.update(formal_statement=problem.statement, header=problem.header)
        if problem.prompt:
            row["informal_prefix"] = problem.prompt
        row.update({k: problem.meta[k] for k in ("split", "source") if k in problem.meta})
    elif problem.domain == "code":
        row["prompt"] = problem.prompt
        if problem.entry_point:
            row["entry_point"] = problem.entry_point
        if problem.test_code:
            row["test"] = problem.test_code
        else:
            row["tests"] = list(problem.tests)
            if problem.test_setup_code:
                row["test_setup_code"] = problem.test_setup_code
    elif problem.domain == "math":
        row.update(answer=problem.reference, prompt=problem.prompt)
    else:
        raise ValueError(f"unknown domain {problem.domain!r}")
    return row


__all__ = ["RowError", "bad_row_result", "parse_row", "problem_to_row", "result_row", "verdict_from_result"]
