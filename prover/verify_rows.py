"""The ``prover verify`` row contract, in one place for the CLI, the service and its clients.

``parse_row`` reads one input row (``prover.data.problem_from_row`` + the
``response`` field); ``result_row`` writes one verdict row; ``bad_row_result``
is the row written for an input row that cannot be read; ``problem_to_row`` is
the inverse of ``parse_row`` (what a remote client sends). ``prover verify``
(``prover/verify_batch.py``), ``prover serve`` and the remote/Ray backends all
use these, so a row means the same everywhere.
"""

from __future__ import annotations

from typing import Any, Mapping

from prover.data import problem_from_row
from prover.data.rows import RowError, require_str
from prover.types import Problem, Status, Verdict


def parse_row(domain: str, row: Any, index: int = 0) -> tuple[Problem, str]:
    """(problem, response) from one input row; raises ``RowError`` naming the bad field.

    ``index`` (the row's place in its batch, 0-based) names GSM8K rows that carry no id.
    """
    if not isinstance(row, dict):
        raise RowError("<row>", f"each row must be a JSON object, got {type(row).__name__}")
    problem = problem_from_row(row, domain, index=index)
    response = require_str(row, "response", allow_empty=True)
    return problem, response


def result_row(problem_id: str, line: int, verdict: Verdict) -> dict[str, Any]:
    """One output row of ``prover verify`` (``line`` is 1-based, the row's place in the batch)."""
    return {"id": problem_id, "line": line, **verdict.to_json()}


def bad_row_result(line: int, row_id: str, message: str) -> dict[str, Any]:
    """The output row ``prover verify`` writes for an input row it could not read."""
    return {"id": row_id, "line": line, "status": Status.ERROR.value, "reward": 0.0, "feedback": message,
            "feedback_over_cap": False, "details": {"reason": "input"}, "timings": {}, "input_error": True}


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
