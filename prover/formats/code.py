"""Pull the solution's Python program out of a model response.

This is the one answer format of the code domain: the verifier's extraction,
the format reward (``prover.rl.rewards``) and the prompt builders
(``prover.prompts``) all pick the answer block with ``answer_block``.

Rules, in order:

1. Fenced code (a fence whose language is in ``PYTHON_LANGS``: ```python,
   ```py, untagged...): the last such block that defines the entry point, else
   the last one. A block whose
   closing fence is missing runs to the end of the response.
2. No fence, and the prompt is code (HumanEval style) and the response starts
   with an indented line: the response continues the prompt's function.
3. No fence otherwise: the code from the first line that starts Python
   (``def``/``class``/``import``/``from``/``@``), with trailing prose dropped.

The program is the prompt followed by the code when the prompt is code (so the
prompt's imports and helpers are there), else the code alone. A program that
could have been cut off (no closing fence, or no fence at all) and whose
syntax error sits at its very end (unclosed bracket or string, a missing block,
a half-written last line) is reported as truncated, never run.
"""

from __future__ import annotations

import ast
import functools
import io
import re
import textwrap
import threading
import tokenize
import warnings
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

# Fence languages read as Python (lower-cased; "" = an untagged fence). Change it here and
# extraction, the format reward and the prompt builders change together.
PYTHON_LANGS = frozenset({"", "python", "py", "python3", "py3", "ipython", "sage"})
# Every pattern here sees model text: possessive quantifiers (*+, ++) never backtrack, so each
# match is linear in the line (tests/test_regex_linear.py feeds each one its worst case).
_FENCE_OPEN = re.compile(r"^[ \t]*+(?P<fence>`{3,}+|~{3,}+)[ \t]*+(?P<info>[^`\n]*+)$")
_CODE_START = re.compile(r"^(?:async[ \t]++def|def|class|import|from|@)\b|^[A-Za-z_]\w*+[ \t]*+=[^=]")
# An unindented line of prose: a sentence (capitalised, 3+ words), a "Header:" or a list item.
_PROSE = re.compile(
    r"^(?:[A-Z][A-Za-z']*+(?:[ \t]++[^\s=]++){2,}+[ \t]*+"
    r"|[A-Z][\w ]{0,40}+:[ \t]*+"
    r"|(?:[-*+]|\d{1,2}[.)])[ \t]++\S.*+"
    r"|\*\*.*+)$"
)
MAX_PROSE_CUTS = 40
# Prose stripping re-parses the code once per cut: above this size (far beyond any real
# answer) it is skipped, so a crafted multi-megabyte response costs one parse, not 40.
MAX_PROSE_STRIP_CHARS = 256 * 1024
_WARNINGS_LOCK = threading.Lock()  # catch_warnings is process-global


def _quiet_compile(source: str, mode: str = "exec"):
    """compile() without the solution's SyntaxWarning/DeprecationWarning noise on our stderr."""
    with _WARNINGS_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if mode == "ast":
            return ast.parse(source)
        return compile(source, "solution.py", mode, dont_inherit=True)


@dataclass(frozen=True)
class CodeBlock:
    """One fenced block of a response."""

    lang: str
    code: str
    closed: bool
    line: int  # 0-based line of the opening fence


@dataclass(frozen=True)
class CodeExtraction:
    """What ``extract_code`` found.

    ``ok``: ``program`` is ready to run. Otherwise ``reason`` is one of
    ``empty``, ``no_code``, ``truncated``, ``syntax_error``,
    ``missing_entry_point`` and ``message`` is feedback for the model.
    ``kind``: how the code was found (``fenced``, ``plain``, ``continuation``).
    """

    ok: bool
    program: str = ""
    code: str = ""
    kind: str = ""
    reason: str = ""
    message: str = ""


def find_code_blocks(text: str) -> list[CodeBlock]:
    """Fenced blocks of ``text`` (``` or ~~~), the last one possibly unclosed.

    A closing fence is a line holding only the fence characters (at least as
    many as the opening), so a fence inside a string literal (``s = "```"``)
    does not close the block.
    """
    lines = text.replace("\r\n", "\n").split("\n")
    blocks: list[CodeBlock] = []
    i = 0
    while i < len(lines):
        m = _FENCE_OPEN.match(lines[i])
        if not m:
            i += 1
            continue
        fence = m.group("fence")
        info = m.group("info").strip().lower()
        lang = re.match(r"[\w+#.-]*+", info.lstrip("{.")).group(0) if info else ""
        closing = re.compile(rf"^[ \t]*+{re.escape(fence[0])}{{{len(fence)},}}+[ \t]*+$")
        body: list[str] = []
        j = i + 1
        closed = False
        while j < len(lines):
            if closing.match(lines[j]):
                closed = True
                break
            body.append(lines[j])
            j += 1
        code = "\n".join(body)
        if closed and body:
            code += "\n"
        blocks.append(CodeBlock(lang=lang, code=code, closed=closed, line=i))
        i = j + 1
    return blocks


def defines(tree: ast.Module, name: str) -> bool:
    """Does the module bind ``name`` at top level (def, class, assignment, import)?"""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return True
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                return True
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if any((a.asname or a.name.split(".")[0]) == name for a in node.names):
                return True
    return False


def called_names(tests: Iterable[str]) -> Iterator[str]:
    """Names of the plain functions the tests call (``f(...)``), test by test; unparsable tests are skipped."""
    for test in tests:
        try:
            tree = ast.parse(test)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                yield node.func.id


def _parse(source: str) -> ast.Module | None:
    try:
        return _quiet_compile(source, "ast")
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None


@functools.lru_cache(maxsize=4096)
def is_code_prompt(prompt: str, entry_point: str) -> bool:
    """A HumanEval-style prompt: valid Python that defines the entry point."""
    if not prompt.strip() or not entry_point:
        return False
    tree = _parse(prompt)
    return tree is not None and defines(tree, entry_point)


def _mentions_def(code: str, name: str) -> bool:
    tree = _parse(textwrap.dedent(code))
    if tree is not None:
        return defines(tree, name)
    return re.search(rf"^[ \t]*+(?:async[ \t]++)?+(?:def|class)[ \t]++{re.escape(name)}\b", code, re.M) is not None


def _open_at_eof(source: str) -> str | None:
    """Does tokenizing ``source`` hit its end inside a string or a bracket?"""
    try:
        for _ in tokenize.generate_tokens(io.StringIO(source).readline):
            pass
    except tokenize.TokenError as exc:
        what = str(exc.args[0]) if exc.args else ""
        if "string" in what:
            return "it ends inside an unterminated string"
        return "it ends inside an unclosed bracket or statement"
    except (SyntaxError, ValueError):
        pass
    return None


def truncation_reason(source: str, error: SyntaxError) -> str | None:
    """Why ``source`` (which raised ``error``) looks cut off at its end, or None."""
    opened = _open_at_eof(source)
    if opened:
        return opened
    last = len(source.rstrip().split("\n"))
    line = max(error.lineno or 0, getattr(error, "end_lineno", None) or 0)
    if line >= last:
        msg = (error.msg or "").lower()
        if "indented block" in msg:
            return "it ends before the body of its last block"
        if "unterminated" in msg:
            return "it ends inside an unterminated string"
        return "its last line is incomplete"
    return None


def _cut_tail(tree: ast.Module, source: str) -> bool:
    """Does the last statement look like a word cut in half (``    retur``)?"""
    node: ast.AST = tree
    while True:
        body = getattr(node, "body", None)
        if not body:
            break
        tail = getattr(node, "orelse", None) or getattr(node, "finalbody", None) or body
        node = tail[-1]
    return isinstance(node, ast.Expr) and isinstance(node.value, (ast.Name, ast.Attribute)) and not source.endswith("\n")


def _with_newline(prompt_code: str) -> str:
    return prompt_code if prompt_code.endswith("\n") else prompt_code + "\n"


def _finish(program: str, code: str, kind: str, entry_point: str, can_be_cut: bool) -> CodeExtraction:
    try:
        _quiet_compile(program)
    except (SyntaxError, ValueError) as exc:
        err = exc if isinstance(exc, SyntaxError) else SyntaxError(str(exc))
        why = truncation_reason(program, err) if can_be_cut else None
        if why:
            return CodeExtraction(False, program, code, kind, "truncated", f"The response was truncated: the code is incomplete ({why}). Finish the whole function.")
        offset = program.count("\n", 0, max(0, len(program) - len(code))) if code and program.endswith(code) else 0
        line = (err.lineno or 0) - offset
        where = f" (line {line} of your code)" if line > 0 else ""
        text = f"{type(err).__name__}: {err.msg}{where}"
        if err.text:
            text += "\n    " + err.text.strip()
        return CodeExtraction(False, program, code, kind, "syntax_error", f"The code does not parse:\n{text}")
    except (MemoryError, RecursionError):
        return CodeExtraction(False, program, code, kind, "syntax_error", "The code is too large or too deeply nested to compile.")
    tree = _quiet_compile(program, "ast")
    if can_be_cut and _cut_tail(tree, program):
        return CodeExtraction(False, program, code, kind, "truncated", "The response was truncated: its last line is cut off. Finish the whole function.")
    if entry_point and not defines(tree, entry_point):
        return CodeExtraction(False, program, code, kind, "missing_entry_point", f"The code does not define `{entry_point}`, which the tests call.")
    return CodeExtraction(True, program, code, kind)


def _strip_prose(lines: Sequence[str], prefix: str = "") -> str:
    """Code from ``lines`` with trailing prose (unindented lines that break parsing) dropped.

    ``prefix`` (the prompt, for a continuation) is parsed in front of the code.
    """
    segment = list(lines)
    if len(prefix) + sum(len(line) + 1 for line in segment) > MAX_PROSE_STRIP_CHARS:
        return "\n".join(segment)
    offset = prefix.count("\n")
    for _ in range(MAX_PROSE_CUTS):
        source = "\n".join(segment)
        try:
            _quiet_compile(prefix + source, "ast")
            return source
        except SyntaxError as exc:
            if _open_at_eof(prefix + source):
                return source
            bad = (exc.lineno or 0) - 1 - offset
            if bad <= 0 or bad >= len(segment):
                return source
            if not _PROSE.match(segment[bad]) or _CODE_START.match(segment[bad]):
                return source  # a real syntax error or a truncation: reported by _finish
            segment = segment[:bad]
            while segment and not segment[-1].strip():
                segment.pop()
            segment.append("")  # keep the code's final newline
        except (ValueError, MemoryError, RecursionError):
            break
    return "\n".join(segment)


def extract_code(response: str, *, prompt: str = "", entry_point: str = "") -> CodeExtraction:
    """The program to run for ``response`` (see the module docstring for the rules)."""
    text = response.replace("\r\n", "\n")
    if not text.strip():
        return CodeExtraction(False, reason="empty", message="The response is empty; it must contain the Python solution.")
    prompt_code = prompt if is_code_prompt(prompt, entry_point) else ""

    chosen = answer_block(text, entry_point)
    if chosen is not None:
        code = chosen.code
        can_be_cut = not chosen.closed
        return _program_from(code, "fenced", prompt_code, entry_point, can_be_cut)

    if prompt_code:
        first = next((ln for ln in text.split("\n") if ln.strip()), "")
        if first[:1] in (" ", "\t"):
            prefix = _with_newline(prompt_code)
            code = _strip_prose(text.split("\n"), prefix)
            return _finish(prefix + code, code, "continuation", entry_point, True)
    lines = text.split("\n")
    start = next((i for i, ln in enumerate(lines) if _CODE_START.match(ln)), None)
    if start is None:
        return CodeExtraction(False, reason="no_code", message="No Python code found in the response; put the solution in a ```python block.")
    code = _strip_prose(lines[start:])
    return _program_from(code, "plain", prompt_code, entry_point, True)


def python_blocks(text: str) -> list[CodeBlock]:
    """The non-empty fenced blocks of ``text`` whose language is in ``PYTHON_LANGS``."""
    return [b for b in find_code_blocks(text.replace("\r\n", "\n")) if b.lang in PYTHON_LANGS and b.code.strip()]


def answer_block(text: str, entry_point: str = "") -> CodeBlock | None:
    """The answer's block: the last Python block that defines ``entry_point``, else the last one."""
    blocks = python_blocks(text)
    if not blocks:
        return None
    if entry_point:
        defining = [b for b in blocks if _mentions_def(b.code, entry_point)]
        if defining:
            return defining[-1]
    return blocks[-1]


def _program_from(code: str, kind: str, prompt_code: str, entry_point: str, can_be_cut: bool) -> CodeExtraction:
    dedented = textwrap.dedent(code)
    if not prompt_code:
        return _finish(dedented, dedented, kind, entry_point, can_be_cut)
    tree = _parse(dedented)
    full = tree is not None and defines(tree, entry_point)
    if full or (tree is None and _mentions_def(code, entry_point)):
        program = prompt_code.rstrip("\n") + "\n\n\n" + dedented
        return _finish(program, dedented, kind, entry_point, can_be_cut)
    first = next((ln for ln in code.split("\n") if ln.strip()), "")
    if first[:1] in (" ", "\t"):  # the block continues the prompt's function
        return _finish(_with_newline(prompt_code) + code, code, "continuation", entry_point, can_be_cut)
    return _finish(dedented, dedented, kind, entry_point, can_be_cut)
