"""Get the complete Lean code out of a model's response, never a truncated half.

This is the one answer format of the Lean domain: the verifier's extraction,
the format reward (``prover.rl.rewards``) and the prompt builders
(``prover.prompts``) all find the answer block with ``lean_blocks`` /
``last_lean_block``.

Rules:
- the last fenced block whose language is in ``FENCE_LANGUAGES`` (```lean4 or
  ```lean, any letter case) is the answer; a response that stops
  inside its last block (no closing fence) was truncated and is rejected;
- the block is either a full theorem (helper lemmas and definitions before it
  are allowed) or a proof body that continues the formal statement;
- ``import`` lines that repeat the header's imports are dropped (models often
  echo the header); any other ``import`` stays, for the policy to refuse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Fence languages of an answer block; the first is the one prompts ask for. Change it here and
# extraction, the format reward and the prompt builders change together.
FENCE_LANGUAGES: tuple[str, ...] = ("lean4", "lean")
# Possessive quantifiers: linear on any model text (tests/test_regex_linear.py).
_FENCE_OPEN = re.compile(r"^[ \t]*+```[ \t]*+(" + "|".join(map(re.escape, FENCE_LANGUAGES)) + r")[ \t]*+$", re.IGNORECASE)
_FENCE_ANY = re.compile(r"^[ \t]*+```")
_DECL = re.compile(r"^\s*+(?:@\[[^\]]*+\]\s*+)*+(?:private\s++|protected\s++|noncomputable\s++)*+(theorem|lemma|example|def|abbrev)\b\s*+([^\s(:{\[⦃]*+)")


@dataclass(frozen=True)
class LeanExtraction:
    """What extraction found. ``code`` is None when nothing usable was found."""

    code: str | None
    kind: str  # "full" | "body" | "none" | "truncated"
    reason: str = ""


def theorem_name(statement: str) -> str:
    """The declared name in a formal statement (``theorem foo ... := by`` -> ``foo``)."""
    for line in statement.splitlines():
        m = _DECL.match(line)
        if m and m.group(1) in ("theorem", "lemma") and m.group(2):
            return m.group(2)
    raise ValueError(f"cannot find `theorem NAME` in the formal statement: {statement[:120]!r}")


def split_header(header: str) -> tuple[str, str]:
    """Split a header into its ``import`` lines and the rest (``open``, ``set_option``...)."""
    imports: list[str] = []
    rest: list[str] = []
    for line in header.splitlines():
        (imports if line.strip().startswith("import ") else rest).append(line)
    return "\n".join(imports).strip(), "\n".join(rest).strip()


@dataclass(frozen=True)
class LeanBlock:
    """One Lean answer block: lines ``start`` (opening fence) to ``end`` (closing fence, None: never closed)."""

    start: int
    end: int | None
    code: str


def lean_blocks(text: str) -> list[LeanBlock]:
    """Every Lean block of ``text`` in order; any fence line closes a block, an unclosed one runs to the end."""
    lines = text.splitlines()
    blocks: list[LeanBlock] = []
    i = 0
    while i < len(lines):
        if _FENCE_OPEN.match(lines[i]):
            j = i + 1
            while j < len(lines) and not _FENCE_ANY.match(lines[j]):
                j += 1
            if j >= len(lines):
                blocks.append(LeanBlock(i, None, "\n".join(lines[i + 1 :])))
                break
            blocks.append(LeanBlock(i, j, "\n".join(lines[i + 1 : j])))
            i = j + 1
        else:
            i += 1
    return blocks


def last_lean_block(text: str) -> tuple[str | None, bool]:
    """(code of the last lean block, truncated?). Truncated: the last block never closes."""
    blocks = lean_blocks(text)
    if not blocks:
        return None, False
    if blocks[-1].end is None:
        return None, True
    return blocks[-1].code, False


def _strip_header_imports(code: str, header_imports: str) -> str:
    allowed = {line.strip() for line in header_imports.splitlines() if line.strip()}
    kept = [line for line in code.splitlines() if line.strip() not in allowed or not line.strip().startswith("import ")]
    return "\n".join(kept)


def _declares(code: str, name: str) -> bool:
    for line in code.splitlines():
        m = _DECL.match(line)
        if m and m.group(1) in ("theorem", "lemma") and m.group(2) == name:
            return True
    return False


def _continue_statement(statement: str, body: str) -> str:
    """Attach a proof body to the statement, indenting tactics that start at column 0."""
    stmt = statement.rstrip()
    body_s = body.strip("\n")
    stripped = body_s.lstrip()
    if stmt.endswith("by") and re.match(r"by\b", stripped):
        body_s = stripped[2:].lstrip("\n")
        stripped = body_s.lstrip()
    if stmt.endswith(":=") and not stripped:
        return stmt + " sorry"
    lines = body_s.splitlines() or [""]
    indents = [len(line) - len(line.lstrip()) for line in lines if line.strip()]
    if indents and min(indents) == 0:
        lines = ["  " + line if line.strip() else line for line in lines]
    return stmt + "\n" + "\n".join(lines)


def extract_proof(response: str, statement: str, header_imports: str = "") -> LeanExtraction:
    """Build the code to check from a response to ``statement``."""
    block, truncated = last_lean_block(response)
    if truncated:
        return LeanExtraction(None, "truncated", "The response was cut off inside its last ```lean4 block "
                          "(no closing fence), so the proof is incomplete.")
    if block is None:
        return LeanExtraction(None, "none", "No ```lean4 code block was found in the response; "
                          "put the complete proof in one final ```lean4 block.")
    code = _strip_header_imports(block, header_imports).strip("\n")
    if not code.strip():
        return LeanExtraction(None, "none", "The final ```lean4 block is empty.")
    name = theorem_name(statement)
    if _declares(code, name):
        return LeanExtraction(code, "full")
    # A body continuing the statement; a block that restates the statement
    # under another name is checked as written (and will not declare the target).
    first = code.lstrip().splitlines()[0] if code.strip() else ""
    m = _DECL.match(first)
    if m and m.group(1) in ("theorem", "lemma"):
        return LeanExtraction(code, "full")
    return LeanExtraction(_continue_statement(statement, code), "body")


# -- Lean's lexical layer: comments, string and character literals -----------------------------------
_CHAR_LIT = re.compile(r"'(?:\\(?:x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|.)|[^\\\n])'")
_RAW_STR = re.compile(r'r(#*)"')
_IDENT_CHAR = re.compile(r"[\w'!?\u2080-\u2089\u03b1-\u03c9]")


def strip_comments_and_strings(code: str) -> str:
    """Code with comments, string and character literals blanked (newlines kept for line numbers).

    A fast first pass only: the checker decides on Lean's own parse (see docs/lean_trust.md).
    """
    out: list[str] = []
    i, n, depth = 0, len(code), 0

    def blank(j: int, k: int) -> None:
        out.append("".join("\n" if ch == "\n" else " " for ch in code[j:k]))

    while i < n:
        c = code[i]
        prev_ident = i > 0 and bool(_IDENT_CHAR.match(code[i - 1]))
        if depth:
            if code.startswith("/-", i):
                depth += 1
                i += 2
            elif code.startswith("-/", i):
                depth -= 1
                i += 2
            else:
                out.append("\n" if c == "\n" else " ")
                i += 1
        elif code.startswith("/-", i):
            depth = 1
            i += 2
        elif code.startswith("--", i):
            while i < n and code[i] != "\n":
                i += 1
        elif c == "'" and not prev_ident and _CHAR_LIT.match(code, i):
            m = _CHAR_LIT.match(code, i)
            blank(i, m.end())
            i = m.end()
        elif c == "r" and not prev_ident and _RAW_STR.match(code, i):
            m = _RAW_STR.match(code, i)
            close = '"' + m.group(1)
            end = code.find(close, m.end())
            end = n if end < 0 else end + len(close)
            out.append('"')
            blank(i + 1, end)
            i = end
        elif c == '"':
            out.append('"')
            i += 1
            while i < n and code[i] != '"':
                if code[i] == "\\":
                    out.append(" ")
                    i += 1
                if i < n:
                    out.append("\n" if code[i] == "\n" else " ")
                i += 1
            out.append('"')
            i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)
