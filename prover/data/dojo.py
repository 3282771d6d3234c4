"""Training statements from Lean repositories: LeanDojo tracing, the LeanDojo Benchmark layout, Hub sets.

Three sources, one output: ``Problem`` rows with ``domain="lean"``, a ``header`` (the
file's imports), a ``statement`` ``theorem FULL_NAME ... := by`` and ``meta`` holding
``name``, ``file``, ``start``/``end`` (line, column), ``premises`` (full names the proof
uses, in first-use order), ``proof`` (the original tactic proof when known), ``tactics``
(the traced tactics with their states), ``url``, ``commit``, ``split`` and ``source``.

* ``trace_repo`` traces a repository with LeanDojo (``lean-dojo`` on PyPI; needs the
  repository's native Lean toolchain via elan, git, and minutes to hours) and writes
  its theorems in the LeanDojo Benchmark layout plus three fields LeanDojo's own
  benchmark rows may lack (``theorem_statement``, ``header``, ``proof``).
* ``load_leandojo`` reads that layout: a benchmark root (``random/`` or
  ``novel_premises/`` holding ``train.json``/``val.json``/``test.json``, ``corpus.jsonl``
  beside them), one split directory, or one ``.json`` list of theorem rows
  (``full_name``, ``file_path``, ``start``, ``end``, ``traced_tactics`` with
  ``tactic``, ``annotated_tactic`` = [text with ``<a>premise</a>`` marks, provenances],
  ``state_before``, ``state_after``). A row without ``theorem_statement`` (the published
  LeanDojo Benchmark 4) gets its statement from the first tactic's ``state_before``
  (hypotheses become binders, ``⊢ goal`` the conclusion): ``meta["statement_from"]``
  says which (``source`` or ``state``).
* ``load_hf_statements`` reads a statement set from the Hugging Face Hub (or a local
  JSON/JSONL/Parquet file) through a column mapping.
* ``load_statements``/``write_statements``: the JSONL of ``Problem`` rows this module
  writes (lossless, ``meta`` included).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from prover.data.rows import DataError, read_jsonl
from prover.text import clean_obj
from prover.types import Problem

LAYOUTS: tuple[str, ...] = ("random", "novel_premises")
DOJO_SPLITS: tuple[str, ...] = ("train", "val", "test")
HF_COLUMNS: dict[str, str] = {"name": "name", "formal_statement": "formal_statement", "header": "header",
                              "informal": "informal_prefix", "proof": "proof"}
_PREMISE = re.compile(r"<a>(.*?)</a>", re.DOTALL)
_MODIFIERS = re.compile(r"^\s*(?:@\[[^\]]*\]\s*)*(?:(?:private|protected|noncomputable|nonrec)\s+)*")
_DECL_HEAD = re.compile(r"^(theorem|lemma)\s+(\S+)")
_HYP = re.compile(r"^(\S[^:]*?) : (.*)$")


class DojoDataError(DataError):
    """A bad statement row: the message names the file (or data set), the row and the field."""


# -- statements ----------------------------------------------------------------------------
def normalise_statement(text: str, full_name: str) -> str:
    """``theorem FULL_NAME <signature> := by`` from a declaration's source text.

    Attributes and ``private``/``protected`` are dropped, ``lemma`` becomes ``theorem``
    (core Lean has no ``lemma``), the declared name becomes ``full_name`` (a top-level
    ``theorem Ns.name`` opens ``Ns`` for its own signature, as ``namespace Ns`` did),
    and a trailing ``:=``, ``:= by``, ``sorry`` or proof is replaced by ``:= by``.
    Raises ``ValueError`` when the text does not declare a theorem.
    """
    body = _MODIFIERS.sub("", text.strip())
    m = _DECL_HEAD.match(body)
    if not m:
        raise ValueError(f"does not start with `theorem NAME` or `lemma NAME`: {text[:80]!r}")
    rest = body[m.end():]
    sig = _signature(rest)
    if not sig.strip():
        raise ValueError(f"has no signature after the name: {text[:80]!r}")
    return f"theorem {_short_safe(full_name)}{sig.rstrip()} := by"


def _signature(rest: str) -> str:
    """The part of ``rest`` before its top-level ``:=`` (brackets counted), or all of it."""
    depth = 0
    i = 0
    while i < len(rest):
        c = rest[i]
        if c in "([{⦃⟨":
            depth += 1
        elif c in ")]}⦄⟩":
            depth -= 1
        elif depth == 0 and rest.startswith(":=", i):
            return rest[:i]
        i += 1
    tail = rest.rstrip()
    for suffix in (" by", "sorry"):
        if tail.endswith(suffix):
            tail = tail[: -len(suffix)].rstrip()
    return tail


def _short_safe(full_name: str) -> str:
    """A declarable name: private names (``_private.Mod.0.foo``) keep their last part."""
    if full_name.startswith("_private."):
        return full_name.rsplit(".", 1)[-1]
    return full_name


def statement_from_state(state: str, full_name: str) -> str:
    """A statement from a pretty-printed initial goal (``a b : ℕ\\nh : a < b\\n⊢ a ≤ b``).

    Hypotheses become explicit binders, instance hypotheses (``inst✝ : T``) ``[T]``, other
    inaccessible names (``x✝``) fresh ones; ``⊢ goal`` is the conclusion. The pretty-printed
    state is not guaranteed to re-elaborate to the same term (notation, coercions): the
    result is marked ``statement_from="state"``.
    """
    lines = state.strip().splitlines()
    if lines and lines[0].startswith("case "):
        lines = lines[1:]
    entries: list[str] = []
    for line in lines:
        if line.startswith((" ", "\t")) and entries:
            entries[-1] += "\n" + line
        else:
            entries.append(line)
    binders: list[str] = []
    goal = None
    fresh: dict[str, str] = {}  # inaccessible name -> the fresh name of its latest binding

    def rename(text: str) -> str:
        text = " ".join(text.split())
        for old, new in fresh.items():
            text = re.sub(rf"(?<![\w.']){re.escape(old)}", new, text)
        return text

    for entry in entries:
        if entry.startswith("⊢"):
            goal = rename(entry[1:])
            break
        m = _HYP.match(entry.replace("\n", " "))
        if not m:
            raise ValueError(f"cannot read the hypothesis {entry[:60]!r} of the state of {full_name}")
        names, typ = m.group(1).split(), rename(m.group(2))
        plain: list[str] = []
        for name in names:
            if "✝" in name and name.startswith("inst"):
                binders.append(f"[{typ}]")
            elif "✝" in name:
                fresh[name] = f"x_{len(binders) + len(plain) + 1}"
                plain.append(fresh[name])
            else:
                plain.append(name)
        if plain:
            binders.append(f"({' '.join(plain)} : {typ})")
    if goal is None:
        raise ValueError(f"the state of {full_name} has no goal (⊢)")
    sig = (" " + " ".join(binders)) if binders else ""
    return f"theorem {_short_safe(full_name)}{sig} : {goal} := by"


def module_of(path: str) -> str:
    """``Mathlib/Data/Nat/Basic.lean`` -> ``Mathlib.Data.Nat.Basic`` (package prefixes dropped)."""
    p = path
    for marker in (".lake/packages/lean4/src/lean/", "lake-packages/lean4/src/lean/"):
        if marker in p:
            p = p.split(marker, 1)[1]
    p = re.sub(r"^(?:\.lake/packages|lake-packages)/[^/]+/", "", p)
    if p.endswith(".lean"):
        p = p[:-5]
    return p.strip("/").replace("/", ".")


def header_from_imports(import_paths: Iterable[str]) -> str:
    mods = [module_of(p) for p in import_paths]
    return "".join(f"import {m}\n" for m in mods if m)


# -- the LeanDojo Benchmark layout -----------------------------------------------------------
def _field(row: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in row:
        raise DojoDataError(f"{where}: field {key!r} is missing")
    value = row[key]
    if not isinstance(value, kind):
        raise DojoDataError(f"{where}: field {key!r} must be {kind.__name__}, got {type(value).__name__}")
    return value


def _pos(row: Mapping[str, Any], key: str, where: str) -> list[int]:
    value = _field(row, key, list, where)
    if len(value) != 2 or not all(isinstance(v, int) for v in value):
        raise DojoDataError(f"{where}: field {key!r} must be [line, column], got {value!r}")
    return list(value)


def premises_of(tactics: Sequence[Mapping[str, Any]]) -> list[str]:
    """Premise full names in first-use order, from ``annotated_tactic`` provenances (marks as fallback)."""
    seen: dict[str, None] = {}
    for t in tactics:
        ann = t.get("annotated_tactic")
        if isinstance(ann, list) and len(ann) == 2 and isinstance(ann[1], list):
            for prov in ann[1]:
                if isinstance(prov, Mapping) and isinstance(prov.get("full_name"), str):
                    seen.setdefault(prov["full_name"], None)
        elif isinstance(ann, str):
            for name in _PREMISE.findall(ann):
                seen.setdefault(name, None)
    return list(seen)


def problem_from_dojo_row(row: Mapping[str, Any], where: str, *, header: str = "", split: str = "",
                          statement_from: str = "auto", keep_tactics: bool = True) -> Problem:
    """One ``Problem`` from a LeanDojo Benchmark theorem row; raises ``DojoDataError`` naming the field.

    ``statement_from``: ``source`` (``theorem_statement`` only), ``state`` (the first
    tactic's ``state_before`` only) or ``auto`` (source when present, else state).
    """
    if statement_from not in ("auto", "source", "state"):
        raise ValueError(f"statement_from must be 'auto', 'source' or 'state', got {statement_from!r}")
    name = _field(row, "full_name", str, where)
    where = f"{where} ({name})"
    file_path = _field(row, "file_path", str, where)
    start, end = _pos(row, "start", where), _pos(row, "end", where)
    tactics = _field(row, "traced_tactics", list, where)
    for i, t in enumerate(tactics):
        if not isinstance(t, Mapping):
            raise DojoDataError(f"{where}: traced_tactics[{i}] must be an object")
        for key in ("tactic", "state_before", "state_after"):
            if not isinstance(t.get(key), str):
                raise DojoDataError(f"{where}: field 'traced_tactics[{i}].{key}' must be a string")
    source_text = row.get("theorem_statement")
    use_source = isinstance(source_text, str) and source_text.strip() and statement_from != "state"
    try:
        if use_source:
            statement, origin = normalise_statement(source_text, name), "source"
        elif statement_from == "source":
            raise DojoDataError(f"{where}: field 'theorem_statement' is missing (statement_from='source')")
        elif tactics:
            statement, origin = statement_from_state(tactics[0]["state_before"], name), "state"
        else:
            raise DojoDataError(f"{where}: no 'theorem_statement' and no traced tactic to read the statement from")
    except ValueError as e:
        if isinstance(e, DojoDataError):
            raise
        raise DojoDataError(f"{where}: {e}") from None
    row_header = row.get("header")
    if row_header is not None and not isinstance(row_header, str):
        raise DojoDataError(f"{where}: field 'header' must be a string")
    proof = row.get("proof") if isinstance(row.get("proof"), str) else ""
    meta = {"name": name, "file": file_path, "start": start, "end": end, "premises": premises_of(tactics),
            "proof": proof, "tactics": [{k: t.get(k) for k in ("tactic", "annotated_tactic", "state_before",
                                                                   "state_after")} for t in tactics] if keep_tactics else [],
            "url": row.get("url", ""), "commit": row.get("commit", ""), "split": split, "source": "leandojo",
            "statement_from": origin}
    return Problem(id=name, domain="lean", statement=statement, header=row_header or header, meta=meta)


def _read_json_list(path: Path) -> list[Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DojoDataError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None
    if not isinstance(data, list):
        raise DojoDataError(f"{path}: must hold a JSON list of theorem rows, got {type(data).__name__}")
    return data


def read_corpus_imports(path: Path) -> dict[str, list[str]]:
    """``file_path -> imported file paths`` from a LeanDojo ``corpus.jsonl``."""
    out: dict[str, list[str]] = {}
    for lineno, row in read_jsonl(path, what="LeanDojo corpus"):
        if not isinstance(row.get("path"), str):
            raise DojoDataError(f"{path}:{lineno}: field 'path' must be a string")
        imports = row.get("imports", [])
        if not isinstance(imports, list) or not all(isinstance(p, str) for p in imports):
            raise DojoDataError(f"{path}:{lineno}: field 'imports' must be a list of paths")
        out[row["path"]] = imports
    return out


def _split_file(path: Path, split: str, layout: str) -> Path:
    if path.is_file():
        return path
    if (path / f"{split}.json").is_file():
        return path / f"{split}.json"
    if (path / layout / f"{split}.json").is_file():
        return path / layout / f"{split}.json"
    raise FileNotFoundError(f"no LeanDojo split file under {path}: expected {path}/{layout}/{split}.json, "
                            f"{path}/{split}.json, or a .json file")


def _find_corpus(split_file: Path) -> Path | None:
    for d in (split_file.parent, split_file.parent.parent):
        if (d / "corpus.jsonl").is_file():
            return d / "corpus.jsonl"
    return None


def load_leandojo(path: str | Path, split: str = "train", *, layout: str = "random", limit: int | None = None,
                  header: str = "", statement_from: str = "auto", skip_bad: bool = False,
                  keep_tactics: bool = True) -> list[Problem]:
    """Theorems of a LeanDojo Benchmark-layout data set as ``Problem`` rows, in file order.

    ``path``: a benchmark root, a split directory or a ``.json`` file. ``header``: used
    when a row has none and no ``corpus.jsonl`` gives its file's imports (e.g.
    ``"import Mathlib\\n"``). ``skip_bad``: skip rows whose statement cannot be read
    instead of failing on the first (whose message names the file, row and field).
    ``keep_tactics=False`` leaves ``meta["tactics"]`` empty (the states of a large set
    take gigabytes). A repeated ``full_name`` is always an error.
    """
    if split not in DOJO_SPLITS:
        raise ValueError(f"split must be one of {DOJO_SPLITS}, got {split!r}")
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0 or None, got {limit}")
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"LeanDojo data {root} does not exist (trace a repository with "
                                f"scripts/build_statements.py --repo, or download LeanDojo Benchmark 4)")
    split_file = _split_file(root, split, layout)
    corpus = _find_corpus(split_file)
    imports = read_corpus_imports(corpus) if corpus else {}
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for i, row in enumerate(_read_json_list(split_file)):
        if limit is not None and len(problems) >= limit:
            break
        where = f"{split_file}: row {i}"
        if not isinstance(row, Mapping):
            raise DojoDataError(f"{where}: must be a JSON object")
        file_header = header_from_imports(imports[row["file_path"]]) if row.get("file_path") in imports else header
        try:
            problem = problem_from_dojo_row(row, where, header=file_header, split=split,
                                            statement_from=statement_from, keep_tactics=keep_tactics)
        except DojoDataError:
            if skip_bad:
                continue
            raise
        if problem.id in seen:
            raise DojoDataError(f"{where}: field 'full_name': {problem.id!r} repeats row {seen[problem.id]}")
        seen[problem.id] = i
        problems.append(problem)
    return problems


# -- Hugging Face statement sets ---------------------------------------------------------------
def split_code(text: str) -> tuple[str, str]:
    """(header, statement) from code that may start with ``import``/``open``/``set_option`` lines."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if _DECL_HEAD.match(_MODIFIERS.sub("", line)):
            return "\n".join(lines[:i]).strip() + ("\n" if i else ""), "\n".join(lines[i:])
    return "", text


def load_hf_statements(source: str | Path, split: str = "train", *, columns: Mapping[str, str] | None = None,
                       limit: int | None = None, header: str = "", revision: str | None = None,
                       skip_bad: bool = False) -> list[Problem]:
    """A statement set from the Hub (``owner/name``) or a local ``.json``/``.jsonl``/``.parquet`` file.

    ``columns`` maps this project's fields to the set's columns (defaults ``HF_COLUMNS``):
    ``name`` (id; row index when the column is absent), ``formal_statement`` (required;
    may hold the whole file: leading ``import``/``open`` lines become the header, a
    trailing proof or ``sorry`` is cut), ``header``, ``informal``, ``proof``. Rows that
    are not theorems fail with the data set, row and column named (or are skipped with
    ``skip_bad``).
    """
    from datasets import load_dataset

    cols = {**HF_COLUMNS, **dict(columns or {})}
    unknown = set(cols) - set(HF_COLUMNS)
    if unknown:
        raise ValueError(f"columns: unknown field(s) {sorted(unknown)}; the fields are {sorted(HF_COLUMNS)}")
    src = str(source)
    local = Path(src)
    if local.is_file():
        kind = {".json": "json", ".jsonl": "json", ".parquet": "parquet", ".csv": "csv"}.get(local.suffix)
        if kind is None:
            raise ValueError(f"{local}: unsupported file type {local.suffix!r} (use .json, .jsonl, .parquet, .csv)")
        ds = load_dataset(kind, data_files={split: str(local)}, split=split)
    else:
        ds = load_dataset(src, split=split, revision=revision)
    if cols["formal_statement"] not in ds.column_names:
        raise DojoDataError(f"{src}: column {cols['formal_statement']!r} (formal_statement) not found; columns are "
                            f"{ds.column_names}; map it with columns={{'formal_statement': '<column>'}}")
    problems: list[Problem] = []
    for i, row in enumerate(ds):
        if limit is not None and len(problems) >= limit:
            break
        where = f"{src} [{split}] row {i}"
        try:
            problems.append(_problem_from_hf_row(row, cols, where, header, src, split, i))
        except DojoDataError:
            if skip_bad:
                continue
            raise
    return problems


def _problem_from_hf_row(row: Mapping[str, Any], cols: Mapping[str, str], where: str, header: str, src: str,
                         split: str, index: int) -> Problem:
    text = row.get(cols["formal_statement"])
    if not isinstance(text, str) or not text.strip():
        raise DojoDataError(f"{where}: column {cols['formal_statement']!r} must be a non-empty string")
    code_header, decl = split_code(text)
    name_value = row.get(cols["name"]) if cols["name"] in row else None
    m = _DECL_HEAD.match(_MODIFIERS.sub("", decl))
    if not m:
        raise DojoDataError(f"{where}: column {cols['formal_statement']!r} does not declare `theorem NAME`")
    name = str(name_value) if name_value not in (None, "") else m.group(2)
    try:
        statement = normalise_statement(decl, m.group(2))
    except ValueError as e:
        raise DojoDataError(f"{where}: column {cols['formal_statement']!r} {e}") from None
    row_header = row.get(cols["header"]) if cols["header"] in row else None
    if row_header is not None and not isinstance(row_header, str):
        raise DojoDataError(f"{where}: column {cols['header']!r} must be a string")
    informal = row.get(cols["informal"]) if cols["informal"] in row else ""
    proof = row.get(cols["proof"]) if cols["proof"] in row else ""
    meta = {"name": m.group(2), "source": src, "split": split, "row": index,
            "proof": proof if isinstance(proof, str) else "", "premises": []}
    return Problem(id=name, domain="lean", statement=statement, header=row_header or code_header or header,
                   prompt=informal if isinstance(informal, str) else "", meta=meta)


# -- this module's JSONL -------------------------------------------------------------------------
def write_statements(path: str | Path, problems: Iterable[Problem]) -> int:
    """Write ``Problem`` rows (one JSON object a line, text cleaned); returns the count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for p in problems:
            f.write(json.dumps(clean_obj(p.to_json()), ensure_ascii=False) + "\n")
            n += 1
    tmp.replace(path)
    return n


def load_statements(path: str | Path, limit: int | None = None) -> list[Problem]:
    """``Problem`` rows written by ``write_statements``; errors name the file, line and field."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"statement file {path} does not exist (build it with scripts/build_statements.py)")
    out: list[Problem] = []
    for lineno, row in read_jsonl(path, what="statement file"):
        if limit is not None and len(out) >= limit:
            break
        try:
            problem = Problem.from_json(row)
        except (TypeError, ValueError) as e:
            raise DojoDataError(f"{path}:{lineno}: {e}") from None
        if problem.domain != "lean" or not problem.statement.rstrip().endswith((":= by", ":=")):
            raise DojoDataError(f"{path}:{lineno}: field 'statement' must be a Lean statement ending in ':= by'")
        out.append(problem)
    return out


# -- tracing with LeanDojo (native toolchain) ------------------------------------------------------
def trace_repo(url: str, commit: str, out_file: str | Path, *, build_deps: bool = False) -> int:
    """Trace ``url`` at ``commit`` with LeanDojo and write its tactic-proved theorems to ``out_file``.

    The output is a JSON list in the LeanDojo Benchmark layout (``load_leandojo`` reads
    it) with ``theorem_statement``, ``header`` (the file's imports) and ``proof`` added.
    Only the repository's own theorems with tactic proofs are written.
    Needs ``lean-dojo``, git, and elan with the repository's toolchain; LeanDojo caches
    traces under ``$CACHE_DIR`` (default ``~/.cache/lean_dojo``). Returns the row count.
    """
    try:
        import lean_dojo
    except ImportError as e:  # pragma: no cover - a dependency, except on Python >= 3.13 (lean-dojo's limit)
        raise RuntimeError("tracing needs lean-dojo (Python < 3.13): pip install lean-dojo") from e
    repo = lean_dojo.LeanGitRepo(url, commit)
    traced = lean_dojo.trace(repo, build_deps=build_deps)
    rows: list[dict[str, Any]] = []
    headers: dict[str, str] = {}
    for thm in traced.get_traced_theorems():
        if thm.repo != traced.repo or not thm.has_tactic_proof():
            continue  # a dependency's theorem (with build_deps), or a term-mode proof
        proof = thm.get_tactic_proof()
        if proof is None:
            continue
        file_path = str(thm.file_path)
        if file_path not in headers:
            tf = traced.get_traced_file(thm.file_path)
            modules = sorted({mod for mod, _ in tf.get_direct_dependencies(traced.repo)})
            headers[file_path] = "".join(f"import {mod}\n" for mod in modules)
        tactics = []
        for t in thm.get_traced_tactics():
            annotated, provenances = t.get_annotated_tactic()
            tactics.append({"tactic": t.tactic, "annotated_tactic": [annotated, provenances],
                            "state_before": t.state_before, "state_after": t.state_after})
        rows.append({"url": repo.url, "commit": repo.commit, "file_path": file_path,
                     "full_name": thm.theorem.full_name, "theorem_statement": thm.get_theorem_statement(),
                     "header": headers[file_path], "proof": proof, "start": list(thm.start), "end": list(thm.end),
                     "traced_tactics": tactics})
    out = Path(out_file)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(clean_obj(rows), ensure_ascii=False) + "\n", encoding="utf-8")
    return len(rows)


__all__ = [
    "DOJO_SPLITS",
    "DojoDataError",
    "HF_COLUMNS",
    "LAYOUTS",
    "header_from_imports",
    "load_hf_statements",
    "load_leandojo",
    "load_statements",
    "module_of",
    "normalise_statement",
    "premises_of",
    "problem_from_dojo_row",
    "read_corpus_imports",
    "split_code",
    "statement_from_state",
    "trace_repo",
    "write_statements",
]
