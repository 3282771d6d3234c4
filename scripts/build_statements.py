#!/usr/bin/env python
"""Build a decontaminated training statement set from a Lean repository, a LeanDojo data set or the Hub.

    # trace a repository with LeanDojo (native toolchain: git + elan; minutes to hours)
    python scripts/build_statements.py --repo https://github.com/OWNER/REPO --commit REF --out runs/statements
    # an already traced LeanDojo Benchmark-layout data set
    python scripts/build_statements.py --leandojo PATH/leandojo_benchmark_4 --layout random --split train --out DIR
    # a Hub statement set, columns mapped to this project's fields
    python scripts/build_statements.py --hf OWNER/NAME --hf-split train \
        --columns name=problem_id,formal_statement=lean4_code --out DIR
    # options from a YAML file (keys as below, CLI flags win): --config configs/statements.yaml

Writes to ``--out``: ``statements.jsonl`` (``Problem`` rows, decontaminated, in curriculum
order unless ``--order input``; read with ``prover.data.dojo.load_statements``),
``overlap_report.json`` (what was dropped, which evaluation statement it matched, and how),
``graph_report.json`` (premise use, depth histogram), ``traced.json`` (with ``--repo``), and
with ``--holdout-val/--holdout-test`` the novel-premises ``val.jsonl``/``test.jsonl``
(LeanDojo's definition; ``statements.jsonl`` then holds its train part).

Decontamination compares with ``--eval-sets`` (default MiniF2F, ProofNet, MiniF2F-core)
and ``--eval-extra NAME=PATH``; with ``--lean literals|all`` it also compares elaborated
types with the real Lean checker (``--backend wasm`` elaborates core-Lean statements only;
``native`` with Mathlib for MiniF2F/ProofNet).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from prover.data import decontam, dojo, graph  # noqa: E402
from prover.text import clean_obj  # noqa: E402

log = logging.getLogger("build_statements")


@dataclass
class BuildConfig:
    out: str = field(default="", metadata={"help": "output directory"})
    repo: str = field(default="", metadata={"help": "repository URL or local path to trace with LeanDojo"})
    commit: str = field(default="", metadata={"help": "commit, tag or branch of --repo"})
    build_deps: bool = field(default=False, metadata={"help": "LeanDojo: also trace the repository's dependencies"})
    leandojo: str = field(default="", metadata={"help": "an already traced LeanDojo Benchmark-layout data set"})
    layout: str = field(default="random", metadata={"help": "LeanDojo layout: random or novel_premises"})
    split: str = field(default="train", metadata={"help": "LeanDojo split: train, val or test"})
    statement_from: str = field(default="auto", metadata={"help": "LeanDojo statements: auto, source or state"})
    hf: str = field(default="", metadata={"help": "Hub data set (owner/name) or local json/jsonl/parquet file"})
    hf_split: str = field(default="train", metadata={"help": "Hub split"})
    columns: dict[str, str] = field(default_factory=dict, metadata={"help": "field -> column (name, formal_statement, header, informal, proof)"})
    header: str = field(default="", metadata={"help": "header for rows that have none (e.g. 'import Mathlib')"})
    limit: int = field(default=0, metadata={"help": "read at most this many statements (0: all)"})
    eval_sets: list[str] = field(default_factory=lambda: list(decontam.EVAL_SETS), metadata={"help": "built-in evaluation sets, comma-separated: SET or SET:SPLIT (minif2f:test)"})
    eval_extra: dict[str, str] = field(default_factory=dict, metadata={"help": "more evaluation sets: name -> Lean JSONL"})
    lean: str = field(default="none", metadata={"help": "Lean type identity: none, literals (candidate pairs) or all"})
    backend: str = field(default="wasm", metadata={"help": "Lean backend for --lean: wasm (core) or native (Mathlib)"})
    workers: int = field(default=1, metadata={"help": "Lean workers for --lean (wasm: ~5 GB each)"})
    max_lean_pairs: int = field(default=20000, metadata={"help": "at most this many Lean comparisons"})
    order: str = field(default="curriculum", metadata={"help": "curriculum (after the lemmas they use) or input"})
    holdout_val: int = field(default=0, metadata={"help": "novel-premises val size (0: no hold-out)"})
    holdout_test: int = field(default=0, metadata={"help": "novel-premises test size"})
    seed: int = field(default=0, metadata={"help": "seed of the hold-out shuffle"})

    def __post_init__(self) -> None:
        sources = [s for s in (self.repo, self.leandojo, self.hf) if s]
        if len(sources) != 1:
            raise ValueError("give exactly one source: --repo URL --commit REF, --leandojo PATH or --hf NAME")
        if self.repo and not self.commit:
            raise ValueError("--repo needs --commit (a commit hash, tag or branch): LeanDojo traces one commit")
        if not self.out:
            raise ValueError("--out DIR is required")
        if self.layout not in dojo.LAYOUTS:
            raise ValueError(f"layout must be one of {dojo.LAYOUTS}, got {self.layout!r}")
        if self.split not in dojo.DOJO_SPLITS:
            raise ValueError(f"split must be one of {dojo.DOJO_SPLITS}, got {self.split!r}")
        if self.lean not in decontam.LEAN_PAIRS:
            raise ValueError(f"lean must be one of {decontam.LEAN_PAIRS}, got {self.lean!r}")
        if self.order not in ("curriculum", "input"):
            raise ValueError(f"order must be 'curriculum' or 'input', got {self.order!r}")
        if self.limit < 0 or self.holdout_val < 0 or self.holdout_test < 0 or self.workers < 1:
            raise ValueError("limit, holdout_val and holdout_test must be >= 0 and workers >= 1")
        unknown = {s for s in self.eval_sets if s.partition(":")[0] not in decontam.EVAL_SETS
                   or s.partition(":")[2] not in ("", "valid", "test")}
        if unknown:
            raise ValueError(f"eval_sets: unknown {sorted(unknown)}; built-in sets are {decontam.EVAL_SETS}, "
                             "optionally as SET:valid or SET:test (give others with eval_extra NAME=PATH)")


def _pairs(text: str, flag: str) -> dict[str, str]:
    out = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        if "=" not in item:
            raise SystemExit(f"{flag}: expected KEY=VALUE items separated by commas, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def parse_config(argv: Sequence[str] | None = None) -> BuildConfig:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", help="YAML file with the keys below (CLI flags win)")
    for f in dataclasses.fields(BuildConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool", bool):
            ap.add_argument(flag, action="store_true", default=None, help=f.metadata["help"])
        elif f.type in ("int", int):
            ap.add_argument(flag, type=int, default=None, help=f.metadata["help"])
        else:
            ap.add_argument(flag, default=None, help=f.metadata["help"])
    args = ap.parse_args(argv)
    values: dict[str, Any] = {}
    if args.config:
        import yaml

        loaded = yaml.safe_load(Path(args.config).read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise SystemExit(f"{args.config}: must be a mapping of options")
        names = {f.name for f in dataclasses.fields(BuildConfig)}
        bad = sorted(set(loaded) - names)
        if bad:
            raise SystemExit(f"{args.config}: unknown key(s) {bad}; keys are {sorted(names)}")
        values.update(loaded)
    for f in dataclasses.fields(BuildConfig):
        v = getattr(args, f.name)
        if v is None:
            continue
        if f.name in ("columns", "eval_extra"):
            v = _pairs(v, "--" + f.name.replace("_", "-"))
        elif f.name == "eval_sets":
            v = [s.strip() for s in v.split(",") if s.strip()]
        values[f.name] = v
    try:
        return BuildConfig(**values)
    except ValueError as e:
        raise SystemExit(f"build_statements: {e}") from None


def read_source(cfg: BuildConfig, out: Path) -> list:
    limit = cfg.limit or None
    header = cfg.header + "\n" if cfg.header and not cfg.header.endswith("\n") else cfg.header
    if cfg.repo:
        traced = out / "traced.json"
        n = dojo.trace_repo(cfg.repo, cfg.commit, traced, build_deps=cfg.build_deps)
        log.info("traced %d theorems of %s@%s into %s", n, cfg.repo, cfg.commit, traced)
        return dojo.load_leandojo(traced, cfg.split, limit=limit, header=header, statement_from=cfg.statement_from,
                                  skip_bad=True)
    if cfg.leandojo:
        return dojo.load_leandojo(cfg.leandojo, cfg.split, layout=cfg.layout, limit=limit, header=header,
                                  statement_from=cfg.statement_from, skip_bad=True)
    return dojo.load_hf_statements(cfg.hf, cfg.hf_split, columns=cfg.columns, limit=limit, header=header,
                                   skip_bad=True)


def build(cfg: BuildConfig) -> dict[str, Any]:
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    problems = read_source(cfg, out)
    log.info("read %d statements", len(problems))
    g = graph.dependency_graph(problems)
    (out / "graph_report.json").write_text(json.dumps(clean_obj(graph.graph_report(g)), ensure_ascii=False, indent=1)
                                           + "\n", encoding="utf-8")
    parts = {"train": problems}
    if cfg.holdout_val or cfg.holdout_test:
        parts = graph.novel_premises_split(problems, cfg.holdout_val, cfg.holdout_test, seed=cfg.seed, graph=g)
    evals = decontam.load_eval_sets(cfg.eval_sets, cfg.eval_extra)
    verifier = None
    if cfg.lean != "none":
        from prover.verifiers.lean import LeanConfig, LeanVerifier

        verifier = LeanVerifier(LeanConfig(backend=cfg.backend, workers=cfg.workers))
    try:
        kept, report = decontam.decontaminate(parts["train"], evals, verifier=verifier, lean_pairs=cfg.lean,
                                              max_lean_pairs=cfg.max_lean_pairs)
    finally:
        if verifier is not None:
            verifier.close()
    if cfg.order == "curriculum":
        kept = graph.curriculum_order(kept, g)
    report["config"] = dataclasses.asdict(cfg)
    decontam.write_report(out / "overlap_report.json", report)
    dojo.write_statements(out / "statements.jsonl", kept)
    for name in ("val", "test"):
        if name in parts:
            dojo.write_statements(out / f"{name}.jsonl", parts[name])
    summary = {"read": len(problems), "train": len(parts["train"]), "kept": len(kept), "dropped": report["dropped"],
               "by_kind": report["by_kind"], "out": str(out)}
    for name in ("val", "test"):
        if name in parts:
            summary[name] = len(parts[name])
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    cfg = parse_config(argv)
    print(json.dumps(build(cfg), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
