"""What counts as a valid proof, and a fast text pass refusing obvious cheats before Lean.

The text pass only saves a Lean round trip; the defence is in the checker (Lean's own parser
decides on syntax kinds and names before elaboration, then a kernel replay): see
docs/lean_trust.md.

Refused up front (they run code or change the parser at check time, or add
trust): ``#eval``-like commands, ``run_cmd``/``run_tac``, syntax extensions
(``macro``, ``syntax``, ``elab``, ``notation``, ...), ``axiom``,
``implemented_by``/``extern``, ``unsafe``, ``import`` in the body, ``set_option``
of debug options, and ``native_decide`` unless allowed (it adds
``Lean.ofReduceBool``). After Lean: valid only with no errors, no ``sorry``,
the target theorem present under the reference name with the reference type,
and no axioms beyond the allowed ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from prover.formats.lean import strip_comments_and_strings

STANDARD_AXIOMS: tuple[str, ...] = ("propext", "Quot.sound", "Classical.choice")

# (pattern, what, why). Patterns run on code with comments and strings removed.
_ID_END = r"(?![\w'!?₀-₉])"
_ID_START = r"(?<![\w'.])"
_BANNED: tuple[tuple[str, str, str], ...] = (
    (r"#eval!?" + _ID_END, "#eval", "it runs arbitrary code while the proof is checked"),
    (_ID_START + r"run_(?:cmd|elab|meta|tac)" + _ID_END, "run_cmd/run_tac", "it runs arbitrary meta code at check time"),
    (_ID_START + r"(?:macro_rules|macro|syntax|declare_syntax_cat|elab_rules|elab|notation|infixl|infixr|infix|prefix|postfix)" + _ID_END,
     "syntax extension", "macros, syntax, elaborators and notations change how the proof is parsed"),
    (_ID_START + r"(?:axiom|axioms)" + _ID_END, "axiom", "a new axiom can prove anything"),
    (_ID_START + r"(?:implemented_by|extern)" + _ID_END, "implemented_by/extern", "it swaps in unchecked code"),
    (_ID_START + r"unsafe" + _ID_END, "unsafe", "unsafe definitions bypass the kernel's checks"),
    (r"(?m)^[ \t]*+import" + _ID_END, "import", "imports belong to the header, not the proof"),
    (_ID_START + r"set_option\s++[«»\w.]*debug", "set_option debug.*", "debug options can switch off checks"),
    (_ID_START + r"(?:initialize|builtin_initialize)" + _ID_END, "initialize", "it runs code at import time"),
    (_ID_START + r"Lean\.ofReduceBool" + _ID_END, "Lean.ofReduceBool", "it trusts the compiler instead of the kernel"),
)
_NATIVE = (_ID_START + r"native_decide" + _ID_END, "native_decide",
           "it trusts compiled code (adds the axiom Lean.ofReduceBool); use decide instead")


@dataclass(frozen=True)
class ProofPolicy:
    allowed_axioms: tuple[str, ...] = STANDARD_AXIOMS
    allow_native_decide: bool = False


def refused(code: str, cfg: ProofPolicy) -> str | None:
    """Feedback naming the first refused construct, or None if the code may be checked."""
    clean = strip_comments_and_strings(code)
    rules = list(_BANNED)
    if not cfg.allow_native_decide:
        rules.append(_NATIVE)
    for pattern, what, why in rules:
        m = re.search(pattern, clean)
        if m:
            line = clean.count("\n", 0, m.start()) + 1
            return (f"Refused before checking: `{what}` at line {line} of the proof is not allowed, because {why}. "
                    "Write the proof with ordinary tactics and terms.")
    return None


def disallowed_axioms(axioms: list[str], cfg: ProofPolicy) -> list[str]:
    return sorted(a for a in axioms if a not in cfg.allowed_axioms)
