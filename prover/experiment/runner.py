"""Run an experiment: one Lean verifier, one start model, arms x seeds trained and evaluated, then the report.

Layout of ``out_dir``::

    experiment.json            the settings (a rerun with other settings is refused)
    warm_start.json            the start model (warm start record, reused from the cache)
    heldout.json               the held-out problems (ids, sources, statements)
    baselines/<name>/          run_eval of the start model (zero-shot) and of the few-shot base
    arms/<arm>/seed<s>/train/  the training run (scripts/train_prover.py layout)
    arms/<arm>/seed<s>/eval/   run_eval of its final checkpoint on the held-out problems
    arms/<arm>/seed<s>/done.json   budget and evaluation record: a finished arm/seed is not redone
    results.json, results.md, plot.png

Everything runs in this process and shares one Lean verifier (a wasm worker takes minutes
to start). Each training run is ``prover.rl.trainer.run`` with the arm's settings; each
evaluation is ``prover.eval.run.run_eval`` (first attempts plus one error-fix turn each).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

from prover.config import ConfigError
from prover.experiment.config import ExperimentConfig, flat_items
from prover.experiment.heldout import heldout_problems
from prover.text import clean_obj

log = logging.getLogger(__name__)

DONE = "done.json"


def train_config(cfg: ExperimentConfig, arm: str | None, seed: int, run_dir: Path | None) -> Any:
    """The ``TrainConfig`` of ``arm`` (None: the shared settings only) for ``seed``."""
    from prover.rl.config import load_config

    pairs = flat_items(cfg.train) + (flat_items(cfg.arms[arm]) if arm else [])
    pairs += [("steps", cfg.steps), ("seed", seed), ("save_every", 0), ("metrics.progress", False)]
    if run_dir is not None:
        pairs += [("output_dir", str(run_dir)), ("resume", "auto")]
    try:
        return load_config(None, [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in pairs])
    except ConfigError as e:
        raise ConfigError(f"experiment {'arm ' + arm if arm else 'train'}: {e}") from None


def budget(train_dir: Path, steps: int) -> dict[str, Any]:
    """What the run really did, from its records: optimizer steps and generated completions, per step too."""
    rows = [json.loads(line) for line in (train_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    rows = [r for r in rows if "reward_mean" in r]
    state_file = train_dir / f"checkpoint-{steps}" / "trainer_state.json"
    global_step = json.loads(state_file.read_text())["global_step"] if state_file.is_file() else None

    def total(key: str) -> float:
        return float(sum(r.get(key, 0.0) for r in rows))

    corr_n = total("samples/correction")
    corr_ok = sum(r.get("correction_success_rate", 0.0) * r.get("samples/correction", 0.0) for r in rows)
    pres_n = total("samples/preserve")
    c2w = sum(r.get("correct_to_wrong_rate", 0.0) * r.get("samples/preserve", 0.0) for r in rows)
    return {
        "optimizer_steps": global_step, "logged_steps": len(rows), "completions": int(total("completions")),
        "completions_per_step": [int(r.get("completions", 0)) for r in rows],
        "completion_tokens": int(total("completion_tokens")), "infra_errors": int(total("infra_errors")),
        "fix_turns": int(round(corr_n)), "fix_turns_valid": int(round(corr_ok)),
        "preserve_turns": int(round(pres_n)), "correct_to_wrong": int(round(c2w)),
        "fresh_solve_rate_per_step": [r.get("solve_rate/fresh", 0.0) for r in rows],
        "replay_ratio_per_step": [r.get("replay_ratio", 0.0) for r in rows],
        "step_time_s": [round(r.get("step_time_s", 0.0), 1) for r in rows],
    }


class Experiment:
    def __init__(self, cfg: ExperimentConfig, *, say: Callable[[str], None] = print, verifier: Any = None) -> None:
        """``verifier``: a started Lean verifier to use (tests); else one is started when needed and closed."""
        self.cfg = cfg
        self.say = say
        self.out = Path(cfg.out_dir).expanduser().resolve()
        self._given = verifier
        self._handle: Any = None
        self.common = train_config(cfg, None, cfg.seeds[0], None)
        for arm in cfg.arms:  # every arm's settings are checked before minutes of work
            train_config(cfg, arm, cfg.seeds[0], None)

    # -- shared resources ----------------------------------------------------------------
    def verifier(self) -> Any:
        if self._given is not None:
            return self._given
        if self._handle is None:
            from prover.rl.verifier_handle import VerifierHandle
            from prover.verifiers import get_verifier
            from prover.verifiers.lean import LeanConfig

            lean = LeanConfig(workers=self.cfg.lean_workers, timeout_s=self.cfg.lean_timeout_s)
            self._handle = VerifierHandle(get_verifier("lean", lean, start=False), owned=True, say=self.say)
        return self._handle.get()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def _check_settings(self) -> None:
        from prover.config import to_plain

        path = self.out / "experiment.json"
        now = to_plain(self.cfg)
        if path.is_file():
            saved = json.loads(path.read_text())
            changed = sorted(k for k in now if k != "out_dir" and saved.get(k) != now[k])
            if changed:
                raise ConfigError(f"{self.out} holds an experiment with other settings ({', '.join(changed)}): "
                                  "use another out_dir, or the same settings to continue it")
        self.out.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(now, indent=2))

    def start_model(self) -> tuple[str, int]:
        """(the model every arm starts from, its few-shot count): the warm start when the RL default uses it."""
        from prover.policy.embedded import resolve_model
        from prover.rl.trainer import warm_start

        c = self.common
        base = resolve_model(c.model.name_or_path, c.model.cache_dir)
        if not c.warm_start_active:
            return base, c.effective_few_shot

        lazy = SimpleNamespace(get=self.verifier)  # the verifier is started only if the warm start must be built
        return warm_start(c, base, lazy, self.out, self.say), c.effective_few_shot  # type: ignore[arg-type]

    # -- evaluation ----------------------------------------------------------------------------
    def evaluate(self, model: str, few_shot: int, run_dir: Path, problems: list[Any], seed: int) -> dict[str, Any]:
        from prover.eval.run import EvalConfig, run_eval

        e = self.cfg.eval
        ecfg = EvalConfig(model=model, dataset="minif2f_core", split="test", domain="lean", k=tuple(e.k), n=e.samples,
                          temperature=e.temperature, top_p=1.0, max_new_tokens=e.max_new_tokens, few_shot=few_shot,
                          correction=e.correction_budget > 0, correction_budget=e.correction_budget,
                          run_dir=str(run_dir), backend="wasm", seed=seed, progress=False, plot=False,
                          policy_options={"device": "cpu"})
        summary_file = run_dir / "summary.json"
        if summary_file.is_file() and (run_dir / "attempts.jsonl").is_file():
            saved = json.loads(summary_file.read_text())
            if reusable(saved, ecfg, problems):
                return saved
            stale = set_aside(run_dir)  # another held-out set or other settings: kept, not reused
            self.say(f"{run_dir} holds an evaluation of other problems or settings; moved to {stale}")
        self.say(f"evaluating {model} on {len(problems)} held-out problems ({e.samples} samples"
                 f"{', ' + str(e.correction_budget) + ' fixes' if e.correction_budget else ''} each) -> {run_dir}")
        return run_eval(ecfg, verifier=self.verifier(), problems=problems)

    # -- the experiment --------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        from prover.experiment.report import build_results, write_report

        self._check_settings()
        problems = heldout_problems(self.cfg, self.common)
        (self.out / "heldout.json").write_text(json.dumps(clean_obj(
            [{"id": p.id, "source": p.meta.get("source"), "statement": p.statement} for p in problems]), indent=1))
        self.say(f"held-out set: {len(problems)} problems; arms {list(self.cfg.arms)} x seeds {self.cfg.seeds}, "
                 f"{self.cfg.steps} steps each")
        try:
            start, few_shot = self.start_model()
            baselines = {"start (zero-shot)" if few_shot == 0 else f"start (few-shot {few_shot})":
                         self.evaluate(start, few_shot, self.out / "baselines" / "start", problems, 0)}
            e = self.cfg.eval
            if self.common.warm_start_active and e.base_few_shot >= 0:
                name = self.common.model.name_or_path
                baselines[f"base, no warm start (few-shot {e.base_few_shot})"] = self.evaluate(
                    name, e.base_few_shot, self.out / "baselines" / "base_few_shot", problems, 0)
            arms: dict[str, list[dict[str, Any]]] = {}
            for arm in self.cfg.arms:
                arms[arm] = [self.arm_seed(arm, seed, problems) for seed in self.cfg.seeds]
                if len(arms) < len(self.cfg.arms):  # a partial report after each arm: nothing finished is lost
                    write_report({**build_results(self.cfg, problems, baselines, arms), "partial": True}, self.out)
        finally:
            self.close()
        results = build_results(self.cfg, problems, baselines, arms)
        write_report(results, self.out)
        return results

    def arm_seed(self, arm: str, seed: int, problems: list[Any]) -> dict[str, Any]:
        from prover.rl.trainer import run as train

        root = self.out / "arms" / arm / f"seed{seed}"
        done = root / DONE
        if done.is_file():
            self.say(f"{arm} seed {seed}: done earlier ({done})")
            return json.loads(done.read_text())
        tcfg = train_config(self.cfg, arm, seed, root / "train")
        final = root / "train" / f"checkpoint-{self.cfg.steps}"
        if not (final / "trainer_state.json").is_file():
            self.say(f"== {arm} seed {seed}: training {self.cfg.steps} steps ==")
            train(tcfg, verifier=self.verifier(), say=self.say)
        if not (final / "trainer_state.json").is_file():
            raise RuntimeError(f"{arm} seed {seed}: training ended without {final} (stopped early?); rerun to continue")
        summary = self.evaluate(str(final), tcfg.effective_few_shot, root / "eval", problems, 0)
        record = {"arm": arm, "seed": seed, "checkpoint": str(final), "few_shot": tcfg.effective_few_shot,
                  "budget": budget(root / "train", self.cfg.steps), "eval": _eval_record(summary)}
        done.write_text(json.dumps(clean_obj(record), indent=2))
        return record


# EvalConfig fields that must match for a saved evaluation to stand for this one
_SAME = ("model", "n", "k", "temperature", "top_p", "max_new_tokens", "few_shot", "correction", "correction_budget",
         "seed")


def reusable(saved: dict[str, Any], ecfg: Any, problems: list[Any]) -> bool:
    """Whether a saved ``run_eval`` summary is this evaluation: the same held-out problem ids (not just as many:
    the held-out set depends on the seeds and steps whose training statements it excludes) and settings."""
    from dataclasses import asdict

    want = asdict(ecfg)
    have = saved.get("config", {})
    if any(_plain(have.get(key)) != _plain(want.get(key)) for key in _SAME):
        return False
    return set(saved.get("per_problem", {})) == {p.id for p in problems}


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def set_aside(run_dir: Path) -> Path:
    """Rename ``run_dir`` to the first free ``<name>.stale-<i>`` (nothing stored is deleted)."""
    i = 1
    while (target := run_dir.with_name(f"{run_dir.name}.stale-{i}")).exists():
        i += 1
    run_dir.rename(target)
    return target


def _eval_record(summary: dict[str, Any]) -> dict[str, Any]:
    corr = summary.get("correction", {})
    return {"per_problem": summary["per_problem"], "pass@k": summary["pass@k"],
            "fixes_tried": corr.get("fixes_tried", 0), "fixes_valid": corr.get("fixes_valid", 0),
            "statuses": summary.get("statuses", {}), "generated": summary.get("generated_this_run")}


__all__ = ["Experiment", "budget", "train_config"]
