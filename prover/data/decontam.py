"""Decontamination: drop training statements that are evaluation statements in disguise.

Two tests, each named in the report as the ``kind`` of a match:

* ``text``: equal after ``statement_key`` normalisation: comments, whitespace, the theorem
  name and the trailing ``:= by`` are ignored, bound names (signature binders, ``∀``/``∃``/
  ``fun``/``∑`` binders, set-builder and subtype binders) are renamed by first
  appearance, and ASCII spellings are mapped to their notation (``Nat`` -> ``ℕ``,
  ``->`` -> ``→``, ``<=`` -> ``≤``, ``fun`` -> ``λ`` ...). Fast, for every pair.
* ``lean_type``: Lean elaborates both statements in the evaluation statement's context and
  the elaborated types are identical (the checker's own type comparison: up to binder
  names, so also across notations, redundant parentheses, binder grouping). Costly, so run
  on candidate pairs only: by default pairs whose numeric literals agree (``lean_pairs=
  "literals"``; ``"all"`` for small sets), and only where the evaluation header's imports
  include the training statement's (the wasm backend only elaborates core-Lean headers).

``lean_type_checks`` is the ONE function that talks to the Lean verifier (see its contract).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from prover.text import clean_obj
from prover.types import Problem, Status
from prover.formats.lean import strip_comments_and_strings

EVAL_SETS: tuple[str, ...] = ("minif2f", "proofnet", "minif2f_core")
LEAN_PAIRS: tuple[str, ...] = ("none", "literals", "all")

_TOKEN = re.compile(r"(?P<num>\d+(?:\.\d+)?)|(?P<id>[^\W\d][\w'!?]*)|(?P<sym>\S)")
_TEXT_ALIASES = (("->", "→"), ("<->", "↔"), ("=>", "↦"), ("<=", "≤"), (">=", "≥"), ("!=", "≠"), ("\\/", "∨"),
                 ("/\\", "∧"))
_ID_ALIASES = {"Nat": "ℕ", "Int": "ℤ", "Rat": "ℚ", "Real": "ℝ", "Complex": "ℂ", "fun": "λ", "forall": "∀",
               "exists": "∃", "lemma": "theorem"}
_QUANTIFIERS = {"∀", "∃", "λ", "∑", "∏", "⋃", "⋂", "Π", "Σ", "∃!"}
_OPEN, _CLOSE = "([{⦃", ")]}⦄"
_BINDER_END = {",", "↦", "in", "∈", "|", "∣"}
_BINDER_SCAN = 64  # tokens read after a quantifier for its binders (bounds the work on hostile text)


# -- text ------------------------------------------------------------------------------------
def tokens(statement: str) -> list[str]:
    """Tokens of a statement without comments, theorem name or trailing ``:= by``/``sorry``."""
    text = strip_comments_and_strings(statement)
    text = re.sub(r"^\s*(?:@\[[^\]]*\]\s*)*(?:(?:private|protected|nonrec)\s+)*(?:theorem|lemma)\s+\S+", "", text,
                  count=1)
    text = re.sub(r"(?:\s*:=\s*(?:by)?\s*(?:sorry)?\s*)$", "", text.rstrip())
    for a, b in _TEXT_ALIASES:
        text = text.replace(a, b)
    out = []
    for m in _TOKEN.finditer(text):
        tok = m.group(0)
        out.append(_ID_ALIASES.get(tok, tok) if m.lastgroup == "id" else tok)
    # "∃ !" from "∃!" (the tokenizer splits symbols)
    merged: list[str] = []
    for tok in out:
        if tok == "!" and merged and merged[-1] == "∃":
            merged[-1] = "∃!"
        else:
            merged.append(tok)
    return merged


def _is_ident(tok: str) -> bool:
    return bool(re.match(r"[^\W\d]", tok)) and tok != "λ"


def bound_names(toks: Sequence[str]) -> set[str]:
    """Names the statement binds: signature binders, quantifier binders, ``{x | ..}``/``{x : T // ..}``."""
    bound: set[str] = set()
    i, n = 0, len(toks)
    # signature: leading bracket groups; names before the group's first ':'
    while i < n and toks[i] in _OPEN:
        depth, j, names, seen_colon = 0, i, [], False
        while j < n:
            t = toks[j]
            if t in _OPEN:
                depth += 1
            elif t in _CLOSE:
                depth -= 1
                if depth == 0:
                    break
            elif depth == 1 and t == ":":
                seen_colon = True
            elif depth == 1 and not seen_colon and _is_ident(t):
                names.append(t)
            j += 1
        if seen_colon:
            bound.update(names)
        i = j + 1
    for k, t in enumerate(toks):
        if t in _QUANTIFIERS:
            depth = 0
            for u in toks[k + 1:k + 1 + _BINDER_SCAN]:
                if u in _OPEN:
                    depth += 1
                elif u in _CLOSE:
                    depth -= 1
                    if depth < 0:
                        break
                elif u in _BINDER_END or (u == ":" and depth == 0):
                    break
                elif u == ":" and depth > 0:
                    continue
                elif _is_ident(u) and depth <= 1:
                    bound.add(u)
        elif t == "{" and k + 2 < len(toks) and _is_ident(toks[k + 1]) and toks[k + 2] in ("|", "∣", ":"):
            bound.add(toks[k + 1])
    return bound


def statement_key(statement: str) -> str:
    """The normalised text compared for ``text`` matches (bound names -> ``v0``, ``v1``... by first use)."""
    toks = tokens(statement)
    bound = bound_names(toks)
    names: dict[str, str] = {}
    out = []
    for t in toks:
        if t in bound:
            t = names.setdefault(t, f"v{len(names)}")
        out.append(t)
    return " ".join(out)


def literal_signature(statement: str) -> tuple[str, ...]:
    """Sorted numeric literals of a statement: pairs sharing it are the ``literals`` Lean candidates."""
    return tuple(sorted(t for t in tokens(statement) if t[0].isdigit()))


# -- Lean ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TypeCheck:
    """Lean's answer for one (reference, candidate) pair.

    ``same``: True (identical elaborated types), False (both elaborate, types differ) or
    None (undetermined: the backend lacks an import, the candidate does not elaborate in the
    reference's context, a refusal, a timeout or an infrastructure error; ``reason`` says).
    """

    same: bool | None
    reason: str = ""


def renamed_and_closed(candidate: Problem, name: str) -> str:
    """The candidate's statement declaring ``name`` instead of its own name, closed by ``sorry``."""
    stmt = re.sub(r"^(\s*(?:@\[[^\]]*\]\s*)*(?:(?:private|protected|nonrec)\s+)*)(?:theorem|lemma)\s+\S+",
                  lambda m: f"{m.group(1)}theorem {name}", candidate.statement.lstrip("\n"), count=1,
                  flags=re.MULTILINE)
    return stmt.rstrip() + " sorry"


def _imports(header: str) -> set[str]:
    return {line.split()[1] for line in header.splitlines() if line.strip().startswith("import ") and len(line.split()) > 1}


def lean_type_checks(verifier: Any, pairs: Sequence[tuple[Problem, Problem]], *, batch: int = 64) -> list[TypeCheck]:
    """Are the elaborated types of each (reference A, candidate B) identical? THE one use of the verifier.

    Contract (so the verifier can change under it): for each pair the verifier gets problem
    A and the response "B renamed to A's name, closed by ``sorry``" (B's ``open`` lines
    first) in a ```lean4 block; it must elaborate A's statement as the reference and the
    response in A's header context, and return a ``Verdict`` whose ``details`` hold
    ``messages`` (dicts with ``severity``), ``found`` (the name is declared) and
    ``type_matches`` (the declared type equals the reference type). The verdict itself is
    ``invalid`` (the response uses ``sorry``); only the details are read. Pairs whose B
    needs imports A's header lacks are not sent (``same=None``).
    """
    from prover.formats.lean import theorem_name

    checks: list[TypeCheck | None] = [None] * len(pairs)
    todo: list[int] = []
    problems: list[Problem] = []
    responses: list[str] = []
    for i, (a, b) in enumerate(pairs):
        missing = sorted(_imports(b.header) - _imports(a.header))
        if missing:
            checks[i] = TypeCheck(None, f"the training statement needs imports the reference lacks: {missing}")
            continue
        opens = "".join(line + "\n" for line in b.header.splitlines() if line.strip().startswith("open "))
        todo.append(i)
        problems.append(a)
        responses.append("```lean4\n" + opens + renamed_and_closed(b, theorem_name(a.statement)) + "\n```")
    for start in range(0, len(todo), batch):
        verdicts = verifier.verify(problems[start:start + batch], responses[start:start + batch])
        for i, v in zip(todo[start:start + batch], verdicts):
            checks[i] = _read_verdict(v)
    return [c if c is not None else TypeCheck(None, "not checked") for c in checks]


def _read_verdict(v: Any) -> TypeCheck:
    d = v.details or {}
    if v.status in (Status.ERROR, Status.TIMEOUT):
        return TypeCheck(None, f"{v.status.value}: {v.feedback[:200]}")
    if d.get("refused"):
        return TypeCheck(None, f"refused: {v.feedback[:200]}")
    errors = [m for m in d.get("messages", []) if m.get("severity") == "error"]
    if errors:
        return TypeCheck(None, "does not elaborate in the reference's context: " + str(errors[0].get("text", ""))[:200])
    if not d.get("found"):
        return TypeCheck(None, "the renamed statement was not declared")
    return TypeCheck(bool(d.get("type_matches")), "elaborated types compared")


# -- the pass ----------------------------------------------------------------------------------
def load_eval_sets(names: Iterable[str] = EVAL_SETS, extra: Mapping[str, str | Path] | None = None) -> dict[str, list[Problem]]:
    """Evaluation statements by set name: built-in ``EVAL_SETS`` plus ``extra`` name -> Lean JSONL path.

    A name is ``SET`` (both splits) or ``SET:SPLIT`` (``minif2f:test``: only that split, e.g.
    when training on MiniF2F-valid and evaluating on MiniF2F-test).
    """
    from prover.data import lean as lean_data

    loaders = {"minif2f": lean_data.load_minif2f, "proofnet": lean_data.load_proofnet,
               "minif2f_core": lean_data.load_minif2f_core}
    out: dict[str, list[Problem]] = {}
    for name in names:
        base, _, split = name.partition(":")
        if base not in loaders:
            raise ValueError(f"unknown evaluation set {name!r}: built-in sets are {EVAL_SETS} (optionally "
                             f"SET:valid or SET:test); give others as extra={{name: path}}")
        if split and split not in lean_data.SPLITS:
            raise ValueError(f"evaluation set {name!r}: split must be one of {lean_data.SPLITS}")
        out[name] = loaders[base](split or None)
    for name, path in (extra or {}).items():
        out[name] = lean_data.load_lean_jsonl(path, duplicates="rename", skip_defs=True)
    return out


def decontaminate(train: Sequence[Problem], eval_sets: Mapping[str, Sequence[Problem]], *, verifier: Any = None,
                  lean_pairs: str = "literals", max_lean_pairs: int = 20000) -> tuple[list[Problem], dict[str, Any]]:
    """(training statements without overlaps, report). ``verifier=None``: text matches only.

    The report: ``train``, ``kept``, ``dropped``, ``eval_sets`` (sizes), ``overlaps`` (one
    entry per (train, eval) match: ``train_id``, ``eval_set``, ``eval_id``, ``eval_split``,
    ``kind``), ``by_kind`` (statements dropped, by their first match's kind) and ``lean``
    (pairs checked, same/different/undetermined, pairs left unchecked past
    ``max_lean_pairs``, a few undetermined reasons).
    """
    if lean_pairs not in LEAN_PAIRS:
        raise ValueError(f"lean_pairs must be one of {LEAN_PAIRS}, got {lean_pairs!r}")
    if max_lean_pairs < 0:
        raise ValueError(f"max_lean_pairs must be >= 0, got {max_lean_pairs}")
    by_key: dict[str, list[tuple[str, Problem]]] = defaultdict(list)
    by_literals: dict[tuple[str, ...], list[tuple[str, Problem]]] = defaultdict(list)
    everything: list[tuple[str, Problem]] = []
    for set_name, problems in eval_sets.items():
        for e in problems:
            by_key[statement_key(e.statement)].append((set_name, e))
            by_literals[literal_signature(e.statement)].append((set_name, e))
            everything.append((set_name, e))
    overlaps: list[dict[str, Any]] = []
    hit: dict[str, str] = {}

    def record(t: Problem, set_name: str, e: Problem, kind: str) -> None:
        overlaps.append({"train_id": t.id, "eval_set": set_name, "eval_id": e.id,
                         "eval_split": e.meta.get("split", ""), "kind": kind})
        hit.setdefault(t.id, kind)

    for t in train:
        for set_name, e in by_key.get(statement_key(t.statement), ()):
            record(t, set_name, e, "text")
    lean_report: dict[str, Any] = {"used": verifier is not None and lean_pairs != "none", "pairs": 0, "same": 0,
                                   "different": 0, "undetermined": 0, "unchecked_over_cap": 0, "reasons": []}
    if lean_report["used"]:
        pairs: list[tuple[Problem, Problem, str]] = []
        for t in train:
            if t.id in hit:
                continue
            cands = everything if lean_pairs == "all" else by_literals.get(literal_signature(t.statement), ())
            pairs.extend((e, t, s) for s, e in cands)
        lean_report["unchecked_over_cap"] = max(0, len(pairs) - max_lean_pairs)
        pairs = pairs[:max_lean_pairs]
        checks = lean_type_checks(verifier, [(e, t) for e, t, _ in pairs])
        for (e, t, s), c in zip(pairs, checks):
            lean_report["pairs"] += 1
            if c.same is None:
                lean_report["undetermined"] += 1
                if len(lean_report["reasons"]) < 20:
                    lean_report["reasons"].append({"train_id": t.id, "eval_id": e.id, "reason": c.reason})
            elif c.same:
                lean_report["same"] += 1
                record(t, s, e, "lean_type")
            else:
                lean_report["different"] += 1
    kept = [t for t in train if t.id not in hit]
    by_kind: dict[str, int] = defaultdict(int)
    for kind in hit.values():
        by_kind[kind] += 1
    report = {"train": len(train), "kept": len(kept), "dropped": len(train) - len(kept),
              "eval_sets": {k: len(v) for k, v in eval_sets.items()}, "by_kind": dict(by_kind),
              "dropped_ids": sorted(hit), "overlaps": overlaps, "lean": lean_report,
              "lean_pairs": lean_pairs}
    return kept, report


def write_report(path: str | Path, report: Mapping[str, Any]) -> Path:
    """Write the overlap report as indented JSON (text cleaned)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(clean_obj(dict(report)), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return path


# -- free text (self-made code and math problems): word n-gram overlap -------------------------------
_NGRAM_WORD = re.compile(r"[a-z0-9]+")


def normalise(text: str) -> list[str]:
    """Lower-cased alphanumeric words (punctuation, spacing and case do not matter)."""
    return _NGRAM_WORD.findall(text.lower())


def ngrams(words: Sequence[str], n: int) -> set[tuple[str, ...]]:
    if len(words) < n:
        return {tuple(words)} if words else set()
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


class NgramIndex:
    """Which reference sets share a large fraction of a text's n-grams."""

    def __init__(self, sets: Mapping[str, Iterable[str]], n: int = 8) -> None:
        if n < 1:
            raise ValueError(f"n-gram size must be >= 1, got {n}")
        self.n = n
        self.index: dict[tuple[str, ...], set[str]] = {}
        for name, texts in sets.items():
            for text in texts:
                for g in ngrams(normalise(text), n):
                    self.index.setdefault(g, set()).add(name)

    def overlap(self, text: str) -> tuple[float, str]:
        """(largest fraction of ``text``'s n-grams found in one set, that set's name)."""
        grams = ngrams(normalise(text), self.n)
        if not grams:
            return 0.0, ""
        hits: dict[str, int] = {}
        for g in grams:
            for name in self.index.get(g, ()):
                hits[name] = hits.get(name, 0) + 1
        if not hits:
            return 0.0, ""
        name = max(hits, key=hits.__getitem__)
        return hits[name] / len(grams), name


def near_duplicate(a: str, b: str, n: int = 3, threshold: float = 0.8) -> bool:
    """Jaccard similarity of word n-grams of ``a`` and ``b`` at least ``threshold``."""
    ga, gb = ngrams(normalise(a), n), ngrams(normalise(b), n)
    if not ga or not gb:
        return ga == gb
    return len(ga & gb) / len(ga | gb) >= threshold


__all__ = ["EVAL_SETS", "LEAN_PAIRS", "NgramIndex", "near_duplicate", "ngrams", "normalise", "TypeCheck", "bound_names", "decontaminate", "lean_type_checks",
           "literal_signature", "load_eval_sets", "renamed_and_closed", "statement_key", "tokens", "write_report"]
