"""The one acceptance decision of a Lean check: the checker's typed answer -> ``Verdict``.

A pure function: no process, no file, no clock. ``valid`` needs the checker's
positive word on every link of the trust chain (``docs/lean_trust.md``): no
error, the target found, re-checked by the kernel in a fresh environment
(``replayed``), the statement's own declarations unchanged, the type equal to
the reference's, no refusal and no axiom beyond the policy's. Anything missing
from the answer fails closed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

from prover.types import Status, Verdict
from prover.verifiers.lean.config import LeanConfig
from prover.verifiers.lean.feedback import build_feedback
from prover.verifiers.lean.policy import ProofPolicy, disallowed_axioms
from prover.verifiers.lean.pool import PoolResult
from prover.verifiers.lean.protocol import CheckAnswer, ProtocolError

# Lean's warning, quoted with '…' in older releases and `…` in newer ones.
SORRY_WARNING = re.compile(r"declaration uses ['`]sorry['`]")


@dataclass(frozen=True)
class Prepared:
    """A check ready for Lean, or a verdict reached without it."""

    verdict: Verdict | None = None
    payload: dict[str, Any] | None = None
    code: str = ""
    kind: str = ""


CHECKER_WIRE = ("wait_us", "slept_us", "read_us", "answer_us", "prev_write_us")


def wire_timings(client: Mapping[str, float] | None, checker: Any) -> dict[str, float]:
    """Protocol costs around Lean's own time, in seconds: the client's ``send``/``wait``/``read`` and
    the checker's ``checker_*`` (its ``wire`` field: idle wait for the request, time slept polling,
    request read, parse + handle, previous answer's write). Malformed checker values are skipped."""
    out = {k: float(v) for k, v in (client or {}).items() if isinstance(v, (int, float))}
    if isinstance(checker, Mapping):
        for k in CHECKER_WIRE:
            v = checker.get(k)
            if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
                out["checker_" + k[:-3]] = v / 1e6
    return out


def accept(prepared: Prepared, result: PoolResult, *, config: LeanConfig, policy: ProofPolicy) -> Verdict:
    """The verdict on one checker answer (``result``) for ``prepared`` under ``config`` and ``policy``."""
    timings = {"total": result.queue_s + result.run_s, "queue": result.queue_s, "check": result.run_s}
    base = {"extraction": prepared.kind, "code": prepared.code}
    if result.timed_out:
        return Verdict(Status.TIMEOUT, 0.0, feedback=f"Checking the proof took longer than {config.timeout_s:g}s "
                       "and was stopped. Make the proof cheaper (avoid heavy automation or large decide).",
                       details=base, timings=timings)
    if result.answer is None:
        return Verdict(Status.ERROR, 0.0, feedback=f"Lean checker failure: {result.error}", details=base, timings=timings)
    try:
        ans = CheckAnswer.from_json(result.answer)
    except ProtocolError as e:  # a malformed answer is never read as a verdict
        return Verdict(Status.ERROR, 0.0, feedback=f"Lean checker failure: {e}", details=base, timings=timings)
    if not ans.ok:
        return Verdict(Status.ERROR, 0.0, feedback=f"Lean checker failure: {ans.error or '?'}", details=base,
                       timings=timings)
    timings["lean"] = ans.ms / 1000.0
    timings.update(wire_timings(result.wire, ans.extra.get("wire")))
    messages: list[dict[str, Any]] = ans.message_dicts()
    axioms = sorted(ans.axioms)
    if ans.refused:
        line, col = ans.refused_line or 1, ans.refused_col
        messages.append({"severity": "error", "line": line, "col": col, "end_line": line, "end_col": col,
                         "text": f"Refused, not checked: {ans.refused}. Write the proof with ordinary "
                                 "theorems, definitions and tactics.", "goals": ""})
    details = {**base, "messages": messages, "found": ans.found, "type_matches": ans.type_matches, "axioms": axioms,
               "replayed": ans.replayed}
    if ans.refused:
        details["refused"] = True
    if ans.ref_error:
        return Verdict(Status.ERROR, 0.0, feedback=f"The reference statement could not be checked: {ans.ref_error}",
                       details=details, timings=timings)
    name = prepared.payload["name"] if prepared.payload else "?"
    errors = [m for m in messages if m.get("severity") == "error"]
    problems: list[str] = []
    uses_sorry = "sorryAx" in axioms or any(SORRY_WARNING.search(str(m.get("text", ""))) for m in messages)
    if uses_sorry:
        problems.append("The proof uses `sorry` (or an error left a hole), so it proves nothing. Replace every `sorry`.")
    if not errors:
        if not ans.found:
            problems.append(f"The theorem `{name}` is not declared by the proof. Keep the theorem's name and statement exactly as given.")
        elif ans.replay_error:
            problems.append(f"The kernel re-check of `{name}` failed: {ans.replay_error}")
        elif ans.ref_changed:
            problems.append(f"{ans.ref_changed}. Keep the statement's definitions exactly as given.")
        elif not ans.type_matches:
            problems.append(f"The theorem `{name}` was stated differently from the given statement. "
                            "Prove exactly the statement as given; do not change it.")
    bad_axioms = [a for a in disallowed_axioms(axioms, policy) if a != "sorryAx"]
    if bad_axioms:
        problems.append(f"The proof depends on axioms beyond {', '.join(policy.allowed_axioms)}: "
                        f"{', '.join(bad_axioms)}.")
    # valid only on the checker's positive word for each link of the chain (docs/lean_trust.md)
    valid = (not errors and not problems and not ans.refused and ans.found and ans.replayed
             and not ans.replay_error and not ans.ref_changed and ans.type_matches)
    if valid:
        return Verdict(Status.VALID, 1.0, details=details, timings=timings)
    if not errors and not problems:  # fail closed: a link of the chain is missing from the answer
        problems.append("The checker could not confirm the proof (kernel re-check incomplete).")
    text, over = build_feedback(prepared.code, messages, problems, max_errors=config.max_errors,
                                context=config.context_lines, cap=config.feedback_cap)
    return Verdict(Status.INVALID, 0.0, feedback=text, feedback_over_cap=over, details=details, timings=timings)


__all__ = ["Prepared", "SORRY_WARNING", "accept"]
