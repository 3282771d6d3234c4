"""pass@k evaluation with optional one-shot error correction, resumable.

For every problem, ``n`` first attempts are sampled and verified; with
``correction`` on, each failed first attempt among the first
``correction_budget`` samples gets one error-fix turn built from the
verifier's feedback. Every finished attempt is one line of
``<run_dir>/attempts.jsonl`` (key: problem id, sample index, turn), written as
soon as it is verified, so an interrupted run resumes where it stopped; a run
with nothing left to do loads neither the model nor the verifier. The summary
JSON and the plot are rebuilt from the attempt log at the end (see ``report``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from tqdm import tqdm

from prover import data
from prover.eval.config import (  # noqa: F401 - re-exported
    ATTEMPTS_FILE,
    CONFIG_FILE,
    CORE_LEAN_MODULES,
    MATHLIB_DATASETS,
    MATHLIB_HINT,
    RESUME_KEYS,
    EvalConfig,
    config_fields,
    verifier_options,
)
from prover.eval.report import ProblemResult, summarize, write_outputs
from prover.types import Problem, Status, Verdict

log = logging.getLogger(__name__)


class EvalError(RuntimeError):
    """The evaluation cannot run as configured; the message says how to fix it."""

# -- problems -----------------------------------------------------------------------
def load_problems(cfg: EvalConfig) -> list[Problem]:
    """The problems of ``cfg.dataset``/``cfg.split`` (first ``cfg.limit`` if set), via ``prover.data.load``."""
    problems = data.load(cfg.dataset, cfg.split, cfg.data_path or None, cfg.limit, domain=cfg.domain,
                         columns=cfg.columns)
    if not problems:
        raise EvalError(f"dataset {cfg.dataset!r} split {cfg.split!r} has no problems")
    return problems


def check_lean_backend(problems: Sequence[Problem], backend: str) -> None:
    """Refuse Mathlib statements on the wasm backend before anything expensive starts."""
    if backend != "wasm":
        return
    needed: set[str] = set()
    for p in problems:
        if p.domain != "lean":
            continue
        for line in p.header.splitlines():
            parts = line.split()
            if len(parts) > 1 and parts[0] == "import":
                root = parts[1].split(".")[0]
                if root not in CORE_LEAN_MODULES:
                    needed.add(root)
    if needed:
        raise EvalError(f"the statements import {', '.join(sorted(needed))}: {MATHLIB_HINT}")


# -- the attempt log ---------------------------------------------------------------
def attempt_key(problem_id: str, sample: int, turn: str) -> str:
    return f"{problem_id}#{sample}#{turn}"


class AttemptLog:
    """``attempts.jsonl``: one record per finished (verified) attempt, appended and fsynced.

    A line cut off by an interruption is dropped on load (and from the file, so
    later appends start on a fresh line).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: dict[str, dict[str, Any]] = {}
        if path.exists():
            self._load()

    def _load(self) -> None:
        data = self.path.read_bytes()
        good_end = 0
        pos = 0
        for raw in data.splitlines(keepends=True):
            pos += len(raw)
            if not raw.endswith(b"\n"):
                log.warning("%s: dropping an unfinished last line (interrupted write)", self.path)
                break
            good_end = pos
            text = raw.decode("utf-8", "replace").strip()
            if not text:
                continue
            try:
                rec = json.loads(text)
                self.records[rec["key"]] = rec
            except (json.JSONDecodeError, KeyError, TypeError):
                log.warning("%s: skipping an unreadable line at byte %d", self.path, pos - len(raw))
        if good_end < len(data):
            with open(self.path, "r+b") as f:
                f.truncate(good_end)

    def get(self, problem_id: str, sample: int, turn: str) -> dict[str, Any] | None:
        return self.records.get(attempt_key(problem_id, sample, turn))

    def add(self, records: Sequence[dict[str, Any]]) -> None:
        if not records:
            return
        with open(self.path, "a", encoding="utf-8") as f:
            for rec in records:
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        for rec in records:
            self.records[rec["key"]] = rec


def _check_resume(run_dir: Path, cfg: EvalConfig) -> None:
    """Refuse to mix attempts made under other generation settings into one run dir."""
    path = run_dir / CONFIG_FILE
    current = cfg.to_json()
    if path.exists() and (run_dir / ATTEMPTS_FILE).exists():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            old = {}
        for key in RESUME_KEYS:
            if key in old and old[key] != current[key]:
                raise EvalError(f"{run_dir} holds attempts made with {key}={old[key]!r}, but this run has "
                                f"{key}={current[key]!r}: use another --run-dir, or the same {key} to resume")
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(current, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


# -- running -------------------------------------------------------------------------
@dataclass
class _Job:
    problem: Problem
    sample: int
    turn: str
    prompt: list[dict[str, str]]


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _seed(cfg: EvalConfig, job: _Job) -> int:
    return (cfg.seed * 1_000_003 + zlib.crc32(f"{job.problem.id}#{job.sample}#{job.turn}".encode())) % (2**31)


class _Runner:
    """Generates and verifies missing attempts; loads the policy and verifier only when needed."""

    def __init__(self, cfg: EvalConfig, attempts: AttemptLog, policy: Any, verifier: Any, bar: tqdm) -> None:
        self.cfg = cfg
        self.attempts = attempts
        self._policy = policy
        self._verifier = verifier
        self._own_policy = policy is None
        self._own_verifier = verifier is None
        self.bar = bar
        self.generated = 0

    # lazily built resources
    @property
    def policy(self) -> Any:
        if self._policy is None:
            from prover.policy import PolicyConfig, load_policy

            opts = {"seed": self.cfg.seed, **self.cfg.policy_options}
            self._policy = load_policy(PolicyConfig(model=self.cfg.model, backend=self.cfg.policy_backend, **opts))
        return self._policy

    @property
    def verifier(self) -> Any:
        if self._verifier is None:
            self._verifier = make_verifier(self.cfg, wait=False)  # starts while the model loads and generates
        return self._verifier

    def close(self) -> None:
        if self._own_verifier and self._verifier is not None:
            self._verifier.close()
        if self._own_policy and self._policy is not None:
            self._policy.close()

    # attempts
    def first_jobs(self, problems: Sequence[Problem]) -> list[_Job]:
        from prover.prompts import first_attempt

        jobs = []
        for p in problems:
            missing = [i for i in range(self.cfg.samples) if self.attempts.get(p.id, i, "first") is None]
            if missing:
                prompt = first_attempt(p, few_shot=self.cfg.few_shot)
                jobs += [_Job(p, i, "first", prompt) for i in missing]
        return jobs

    def fix_jobs(self, problems: Sequence[Problem]) -> list[_Job]:
        from prover.prompts import error_fix

        jobs = []
        for p in problems:
            for i in range(self.cfg.corrected_samples):
                first = self.attempts.get(p.id, i, "first")
                if first is None or self.attempts.get(p.id, i, "fix") is not None:
                    continue
                verdict = Verdict.from_json(first["verdict"])
                if not verdict.is_model_failure:
                    continue  # valid, or an infrastructure error: nothing to correct
                feedback = verdict.feedback.strip() or "The proof was not accepted."
                jobs.append(_Job(p, i, "fix", error_fix(p, first["prompt"], first["response"], feedback)))
        return jobs

    def reverify_jobs(self, problems: Sequence[Problem]) -> list[tuple[_Job, dict[str, Any]]]:
        """Attempts whose verification failed for infrastructure reasons: verified again, not regenerated."""
        out = []
        for p in problems:
            for turn, count in (("first", self.cfg.samples), ("fix", self.cfg.corrected_samples)):
                for i in range(count):
                    rec = self.attempts.get(p.id, i, turn)
                    if rec and rec["status"] == Status.ERROR.value and rec["finish_reason"] != "skipped":
                        out.append((_Job(p, i, turn, rec["prompt"]), rec))
        return out

    def reverify(self, items: list[tuple[_Job, dict[str, Any]]]) -> None:
        if not items:
            return
        verdicts = self.verifier.verify([job.problem for job, _ in items], [rec["response"] for _, rec in items])
        self.attempts.add([self._record(job, rec["response"], rec["finish_reason"], rec.get("gen_s", 0.0), v)
                           for (job, rec), v in zip(items, verdicts)])
        self._check_infra([job for job, _ in items], verdicts)

    def _check_infra(self, jobs: Sequence[_Job], verdicts: Sequence[Verdict]) -> None:
        """Stop when a batch over several problems got nothing but infrastructure errors (a broken verifier).

        The attempts are kept; their verification is redone when the run resumes.
        """
        if verdicts and all(v.status is Status.ERROR for v in verdicts) and len({j.problem.id for j in jobs}) > 1:
            raise EvalError(f"the verifier gave no verdicts ({len(verdicts)} infrastructure errors), e.g.: "
                            f"{verdicts[0].feedback.strip()[:500]} -- fix the verifier and rerun the same command: "
                            "generated attempts are kept and will be verified again")

    def run(self, jobs: list[_Job]) -> None:
        """Generate every job's completion (grouped per prompt), verify, append to the log."""
        if not jobs:
            return
        self.verifier  # noqa: B018 - start it now, in the background, before generation
        groups: dict[tuple[str, str, int], list[_Job]] = {}
        for job in jobs:  # first attempts of one problem share a prompt: one call with n = their count
            key = (job.problem.id, job.turn, job.sample if job.turn == "fix" else -1)
            groups.setdefault(key, []).append(job)
        by_size: dict[int, list[list[_Job]]] = {}
        for group in groups.values():
            by_size.setdefault(len(group), []).append(group)
        for size, batch in sorted(by_size.items()):
            self._run_batch(batch, size)

    def _run_batch(self, batch: list[list[_Job]], size: int) -> None:
        from prover.policy import SamplingParams

        cfg = self.cfg
        done: list[tuple[_Job, str, str, float]] = []  # job, response, finish_reason, gen seconds
        skipped: list[_Job] = []
        todo: list[list[_Job]] = []
        for group in batch:
            if cfg.max_prompt_tokens and self.policy.prompt_token_count(group[0].prompt) > cfg.max_prompt_tokens:
                skipped += group
            else:
                todo.append(group)
        if todo:
            params = SamplingParams(n=size, temperature=cfg.temperature, top_p=cfg.top_p,
                                    max_new_tokens=cfg.max_new_tokens, seed=_seed(cfg, todo[0][0]))
            t0 = time.monotonic()
            outputs = self.policy.generate([g[0].prompt for g in todo], params)
            per = (time.monotonic() - t0) / max(1, size * len(todo))
            for group, completions in zip(todo, outputs):
                if len(completions) != size:
                    raise EvalError(f"the policy returned {len(completions)} completions for a prompt, not {size}")
                for job, comp in zip(group, completions):
                    done.append((job, comp.text, comp.finish_reason, per))
            self.generated += size * len(todo)
        verdicts = self.verifier.verify([j.problem for j, *_ in done], [r for _, r, *_ in done]) if done else []
        records = [self._record(job, resp, fin, sec, v) for (job, resp, fin, sec), v in zip(done, verdicts)]
        too_long = Verdict.infra_error(f"prompt longer than max_prompt_tokens={cfg.max_prompt_tokens}; not generated",
                                       prompt_too_long=True)
        records += [self._record(job, "", "skipped", 0.0, too_long) for job in skipped]
        self.attempts.add(records)
        self.bar.update(len(records))
        self._check_infra([job for job, *_ in done], verdicts)

    def _record(self, job: _Job, response: str, finish: str, gen_s: float, verdict: Verdict) -> dict[str, Any]:
        return {
            "key": attempt_key(job.problem.id, job.sample, job.turn),
            "problem_id": job.problem.id,
            "sample": job.sample,
            "turn": job.turn,
            "source": str(job.problem.meta.get("source", "")),
            "split": str(job.problem.meta.get("split", "")),
            "prompt": job.prompt,
            "response": response,
            "finish_reason": finish,
            "status": verdict.status.value,
            "valid": verdict.valid,
            "feedback": verdict.feedback,
            "verdict": verdict.to_json(),
            "gen_s": round(gen_s, 4),
        }


def make_verifier(cfg: EvalConfig, *, wait: bool = True) -> Any:
    """The verifier for ``cfg.domain`` from the one factory (Lean: ``cfg.lean_backend``; ``workers``/``timeout_s``
    when set, then ``verifier_options``). ``wait=False`` lets Lean workers start in the background."""
    from prover.verifiers import get_verifier

    verifier = get_verifier(cfg.domain, options=verifier_options(cfg), start=False)
    start = getattr(verifier, "start", None)
    if callable(start):
        start(wait=wait)
    return verifier


def collect(problems: Sequence[Problem], attempts: AttemptLog, n: int, m: int) -> list[ProblemResult]:
    """Per-problem counts from the log: first-attempt successes over ``n``, chain successes over ``m``."""
    out = []
    for p in problems:
        firsts = [attempts.get(p.id, i, "first") for i in range(n)]
        missing = sum(r is None for r in firsts)
        if missing:
            raise EvalError(f"{p.id}: {missing} of {n} first attempts are missing from the attempt log")
        ok = [bool(r and r["valid"]) for r in firsts]
        fixes = [attempts.get(p.id, i, "fix") for i in range(m)]
        chain = [ok[i] or bool(fixes[i] and fixes[i]["valid"]) for i in range(m)]
        statuses: dict[str, dict[str, int]] = {"first": {}, "fix": {}}
        for turn, recs in (("first", firsts), ("fix", fixes)):
            for r in recs:
                if r is not None:
                    statuses[turn][r["status"]] = statuses[turn].get(r["status"], 0) + 1
        out.append(ProblemResult(
            id=p.id, source=str(p.meta.get("source", "") or "other"), n=n, c=sum(ok), m=m, c_corrected=sum(chain),
            fixes_tried=sum(f is not None for f in fixes), fixes_valid=sum(bool(f and f["valid"]) for f in fixes),
            statuses=statuses))
    return out


def run_eval(cfg: EvalConfig, policy: Any = None, verifier: Any = None,
             problems: Sequence[Problem] | None = None) -> dict[str, Any]:
    """Run (or resume) the evaluation; returns the summary (also written to the run dir).

    ``policy`` (a ``prover.policy.Policy``) and ``verifier`` (a ``Verifier``) are
    built from ``cfg`` when not given, and only if something is left to do; the
    ones passed in are not closed. ``problems`` replaces the dataset's problems.
    """
    problems = list(problems) if problems is not None else load_problems(cfg)
    ids = [p.id for p in problems]
    if len(set(ids)) != len(ids):
        raise EvalError("problem ids must be unique within an evaluation")
    if cfg.domain == "lean" and verifier is None:
        check_lean_backend(problems, cfg.lean_backend)
    run_dir = cfg.resolved_run_dir()
    run_dir.mkdir(parents=True, exist_ok=True)
    _check_resume(run_dir, cfg)
    attempts = AttemptLog(run_dir / ATTEMPTS_FILE)
    n, m = cfg.samples, cfg.corrected_samples
    total = len(problems) * n
    done = sum(attempts.get(p.id, i, "first") is not None for p in problems for i in range(n))
    fixes_done = sum(attempts.get(p.id, i, "fix") is not None for p in problems for i in range(m))
    bar = tqdm(total=total + fixes_done, initial=done + fixes_done, desc=f"eval {cfg.dataset}/{cfg.split}",
               unit="attempt", disable=not cfg.progress, dynamic_ncols=True)
    runner = _Runner(cfg, attempts, policy, verifier, bar)
    t0 = time.monotonic()
    try:
        for chunk in _chunks(problems, cfg.batch_problems):
            runner.reverify(runner.reverify_jobs(chunk))
            runner.run(runner.first_jobs(chunk))
            if m:
                fixes = runner.fix_jobs(chunk)
                bar.total += len(fixes)
                bar.refresh()
                runner.run(fixes)
            solved = sum(any((attempts.get(p.id, i, "first") or {}).get("valid") for i in range(n)) for p in chunk)
            bar.set_postfix(solved_in_chunk=f"{solved}/{len(chunk)}")
    finally:
        bar.close()
        runner.close()
    results = collect(problems, attempts, n, m)
    meta = {"dataset": cfg.dataset, "split": cfg.split, "model": cfg.model, "run_dir": str(run_dir),
            "generated_this_run": runner.generated, "seconds_this_run": round(time.monotonic() - t0, 2),
            "config": cfg.to_json()}
    summary = summarize(results, cfg.k, correction=cfg.correction, meta=meta)
    write_outputs(summary, run_dir, plot=cfg.plot)
    return summary


__all__ = [
    "AttemptLog",
    "EvalConfig",
    "EvalError",
    "MATHLIB_HINT",
    "attempt_key",
    "check_lean_backend",
    "collect",
    "config_fields",
    "load_problems",
    "make_verifier",
    "run_eval",
]
