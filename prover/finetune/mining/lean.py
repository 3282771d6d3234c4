"""Self-made Lean problems: a core-Lean statement (no Mathlib) that must elaborate with ``sorry`` in the real Lean.

The statement is read from the proposal (the first ``theorem``/``lemma`` header up to its
first ``:=``, renamed ``sm_<name>`` so it cannot collide with a core declaration) and set
in a fixed core header (``CORE_HEADER``). Checks with the project's Lean verifier, through
``prover.data.decontam.lean_type_checks`` (the one function that asks Lean whether a
statement elaborates and what its type is), in order:

- ``does_not_elaborate``: the statement closed by ``sorry`` does not elaborate (or the
  verifier's syntax policy refuses it);
- ``trivial``: one of ``trivial_tactics`` alone closes it (``first | rfl | decide | simp`` by
  default): the verifier says VALID, so there is nothing to learn from solving it;
- ``contaminated`` (also the shared text test): its elaborated type equals a MiniF2F-core
  statement's (decontam's ``lean_type`` test, on candidates sharing numeric literals).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any, Sequence

from prover.finetune.api import (Problem, clean_text, decontaminate, lean_blocks, lean_type_checks, near_duplicate,
                                 statement_key, verify)
from prover.finetune.mining.base import Proposer

CORE_HEADER = 'set_option autoImplicit false\nnotation "ℕ" => Nat\nnotation "ℤ" => Int\n'
TRIVIAL_TACTICS: tuple[str, ...] = ("rfl", "decide", "simp")
_HEAD = re.compile(r"^[ \t]*(?:theorem|lemma)[ \t]+([^\s(:{\[⦃]+)", re.M)
_NAME_PART = re.compile(r"[A-Za-z_][A-Za-z0-9_']*")
# A statement is one declaration header: no proof holes, no command or attribute anywhere in it
# (after a parse error Lean resumes at the next command keyword, so a mid-line one would run too).
_FORBIDDEN = re.compile(r"\b(?:sorry|admit|theorem|lemma|def|abbrev|example|instance|axiom|opaque|unsafe|macro|"
                        r"macro_rules|syntax|elab|notation|infix|infixl|infixr|prefix|postfix|attribute|set_option|open|"
                        r"namespace|section|end|import|initialize|run_cmd|run_elab|run_meta|deriving|structure|class|"
                        r"inductive|mutual|variable|universe)\b|#[A-Za-z]|@\[")
MAX_STATEMENT_CHARS = 600

REQUEST = (
    "Invent a new theorem of difficulty {level} on a scale of 1 (very easy) to 5 (hard) about natural numbers, "
    "integers, lists or booleans, stated in core Lean 4 (no Mathlib, no imports). Answer in exactly this format:\n\n"
    "```lean4\ntheorem <name> <arguments> : <statement> := by\n  sorry\n```")

EXAMPLE = "```lean4\ntheorem double_eq_add (n : Nat) : 2 * n = n + n := by\n  sorry\n```"


def parse_statement(text: str) -> tuple[str, str] | None:
    """(statement ending in ``:= by``, the model's theorem name) from a proposal, or None.

    The first ``theorem``/``lemma`` in a closed Lean block (else anywhere in the text), up to
    its first ``:=``; its name is replaced by ``sm_`` + the name's last component. None when
    there is none, the name is not a plain identifier, or the statement holds ``sorry``,
    ``admit`` or a second declaration/command.
    """
    sources = [b.code for b in lean_blocks(text) if b.end is not None] + [text]
    for src in sources:
        m = _HEAD.search(src)
        if not m:
            continue
        end = src.find(":=", m.end())
        if end < 0:
            return None
        name = m.group(1).split(".")[-1]
        if not _NAME_PART.fullmatch(name):
            return None
        signature = src[m.end():end].strip()
        if not signature or _FORBIDDEN.search(signature) or len(signature) > MAX_STATEMENT_CHARS:
            return None
        return f"theorem sm_{name} {signature} := by", m.group(1)
    return None


def parse_proposal(text: str, ident: str, level: int) -> Problem | None:
    found = parse_statement(text)
    if found is None:
        return None
    statement, original = found
    return Problem(id=ident, domain="lean", statement=clean_text(statement), header=CORE_HEADER,
                   meta={"source": "self-mined", "level": level, "proposed_name": clean_text(original)})


def trivial_response(problem: Problem, tactics: Sequence[str]) -> str:
    return f"```lean4\n{problem.statement}\n  first | {' | '.join(tactics)}\n```"


class LeanProposer(Proposer):
    domain = "lean"
    system = "You are an expert in Lean 4 and mathematics."
    request = REQUEST
    example = EXAMPLE
    checks = ("does_not_elaborate", "trivial")

    def __init__(self, verifier: Any, *, eval_statements: Sequence[Problem] = (), lean_eval: Sequence[Problem] = (),
                 trivial_tactics: Sequence[str] = TRIVIAL_TACTICS, max_lean_pairs: int = 64, **kw: Any) -> None:
        """``eval_statements``: statements to decontaminate against by text (MiniF2F, MiniF2F-core);
        ``lean_eval``: those also compared by elaborated type (core-Lean ones: MiniF2F-core)."""
        super().__init__(**kw)
        self.verifier = verifier
        self.eval_keys = {statement_key(p.statement) for p in eval_statements}
        self.lean_eval = list(lean_eval)
        self.trivial_tactics = tuple(trivial_tactics)
        self.max_lean_pairs = max_lean_pairs

    def parse(self, text: str, ident: str, level: int) -> Problem | None:
        return parse_proposal(text, ident, level)

    def key(self, problem: Problem) -> str:
        return statement_key(problem.statement)

    def text_of(self, problem: Problem) -> str:
        return statement_key(problem.statement)

    def is_duplicate(self, problem: Problem, seen: Sequence[str]) -> bool:
        k = self.key(problem)
        return any(k == s or near_duplicate(k, s, threshold=0.9) for s in seen)

    def contaminated(self, problem: Problem) -> bool:
        return statement_key(problem.statement) in self.eval_keys

    def degenerate(self, problems: Sequence[Problem]) -> list[tuple[str, Problem]]:
        why = {p.id: "" for p in problems}
        checks = lean_type_checks(self.verifier, [(p, p) for p in problems])
        for p, c in zip(problems, checks):
            if c.same is not True:
                why[p.id] = "does_not_elaborate"
        live = [p for p in problems if not why[p.id]]
        if live and self.trivial_tactics:
            verdicts = verify(self.verifier, live, [trivial_response(p, self.trivial_tactics) for p in live])
            for p, v in zip(live, verdicts):
                if v.status.value == "valid":
                    why[p.id] = "trivial"
        live = [p for p in problems if not why[p.id]]
        if live and self.lean_eval:
            _, report = decontaminate(live, {"minif2f_core": self.lean_eval}, verifier=self.verifier,
                                      lean_pairs="literals", max_lean_pairs=self.max_lean_pairs)
            for pid in report["dropped_ids"]:
                why[pid] = "contaminated"
        return [(why[p.id], dataclasses.replace(p, meta={**p.meta, "elaborates": True}) if not why[p.id] else p)
                for p in problems]
