"""``EvalConfig``: every setting of an evaluation run (``prover eval`` / ``scripts/eval_prover.py``).

Loaded like every config (``prover.config``): defaults < YAML (``--config``) < ``--key value``.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from prover import data

MATHLIB_DATASETS: tuple[str, ...] = tuple(name for name, d in data.DATASETS.items() if d.mathlib)
CORE_LEAN_MODULES: frozenset[str] = frozenset({"Init", "Std", "Lean", "Lake"})
# Settings that change what is generated or how it is judged: a run dir keeps them fixed.
RESUME_KEYS: tuple[str, ...] = ("model", "dataset", "data_path", "temperature", "top_p", "max_new_tokens",
                                "few_shot", "seed", "backend")
ATTEMPTS_FILE = "attempts.jsonl"
CONFIG_FILE = "config.json"
MATHLIB_HINT = ("MiniF2F and ProofNet statements import Mathlib, which the wasm Lean backend does not have "
                "(it ships core Lean only). Use the native backend (--backend native, after `lake -R "
                "-Kmathlib=true update && lake -R -Kmathlib=true build checker`), or evaluate on "
                "--dataset minif2f_core: the MiniF2F statements core Lean can state.")


def _parse_ks(value: Any) -> tuple[int, ...]:
    if isinstance(value, str):
        parts = [p for p in re.split(r"[,\s]+", value.strip()) if p]
    elif isinstance(value, int):
        parts = [value]
    else:
        parts = list(value)
    try:
        ks = sorted({int(p) for p in parts})
    except (TypeError, ValueError):
        raise ValueError(f"EvalConfig.k={value!r}: give positive integers, e.g. '1,8,32'") from None
    if not ks or ks[0] < 1:
        raise ValueError(f"EvalConfig.k={value!r}: give at least one k >= 1, e.g. '1,8,32'")
    return tuple(ks)


@dataclass
class EvalConfig:
    """Settings of one evaluation run (``scripts/eval_prover.py`` exposes each as a flag)."""

    model: str = field(default="embedded:smollm2-135m", metadata={
        "help": "Policy model: a checkpoint directory, a hub id, or embedded:smollm2-135m (the small "
                "model shipped with the project; it needs few_shot >= 1 to write Lean)."})
    dataset: str = field(default="minif2f_core", metadata={
        "help": f"Evaluation set: one of {data.dataset_names()} or hf:<hub id> (prover.data.load). minif2f/"
                "proofnet need Mathlib (native backend); minif2f_core is the MiniF2F subset core Lean can "
                "state; lean_jsonl and jsonl read data_path."})
    split: str = field(default="test", metadata={
        "help": "Split: valid, test or all for the Lean sets; the dataset's own splits otherwise."})
    data_path: str = field(default="", metadata={
        "help": "Read the dataset from this file instead of its default location (required for lean_jsonl, jsonl)."})
    domain: str = field(default="", metadata={
        "help": "Domain of a jsonl or hf: dataset (lean, code or math); the named datasets know their own."})
    columns: dict[str, str] = field(default_factory=dict, metadata={
        "help": "hf: datasets: {dataset column: row field}, e.g. {question: prompt, answer: reference}."})
    k: tuple[int, ...] = field(default=(1,), metadata={
        "help": "The k of pass@k, comma-separated, e.g. 1,8,32."})
    n: int = field(default=0, metadata={
        "help": "First attempts sampled per problem (n of the unbiased estimator); 0 means max(k)."})
    temperature: float = field(default=1.0, metadata={"help": "Sampling temperature (0 = greedy; use > 0 when n > 1)."})
    top_p: float = field(default=0.95, metadata={"help": "Nucleus sampling mass, in (0, 1]."})
    max_new_tokens: int = field(default=2048, metadata={"help": "Longest completion, in tokens (first and fix turns)."})
    few_shot: int = field(default=0, metadata={
        "help": "Worked examples put before each problem in the prompt (the small embedded model needs >= 1)."})
    correction: bool = field(default=False, metadata={
        "help": "Give each failed first attempt one error-fix turn with the verifier's feedback, and report "
                "pass@k after correction and the equal-budget comparison."})
    correction_budget: int = field(default=0, metadata={
        "help": "Correct failed attempts among the first this-many samples of each problem (pass@k after "
                "correction is reported for k up to it); 0 means all n."})
    max_prompt_tokens: int = field(default=0, metadata={
        "help": "Skip (count as failed, status error) prompts longer than this many tokens; 0 means no check."})
    run_dir: str = field(default="", metadata={
        "help": "Output directory (attempts.jsonl, summary.json, passk.png); rerunning with it resumes. "
                "Default: runs/eval/<dataset>_<split>_<model>."})
    limit: int = field(default=0, metadata={"help": "Evaluate only the first N problems of the split; 0 means all."})
    backend: str = field(default="auto", metadata={
        "help": "Lean checker backend: wasm (core Lean only), native (lake toolchain, Mathlib possible), "
                "or auto (native for minif2f/proofnet, wasm otherwise)."})
    workers: int = field(default=0, metadata={
        "help": "Verifier processes (Lean wasm: ~5 GB each); 0 means the verifier's default (Lean: 1)."})
    timeout_s: float = field(default=0.0, metadata={
        "help": "Seconds allowed per verification; 0 means the verifier's default (Lean: 60)."})
    policy_backend: str = field(default="transformers", metadata={
        "help": "Generation backend: transformers, vllm or openai (see prover.policy.PolicyConfig)."})
    policy_options: dict[str, Any] = field(default_factory=dict, metadata={
        "help": "Extra prover.policy.PolicyConfig fields (YAML mapping), e.g. {dtype: bfloat16, base_url: ...}."})
    verifier_options: dict[str, Any] = field(default_factory=dict, metadata={
        "help": "Extra verifier config fields (YAML mapping), e.g. {feedback_cap: 3000} for Lean."})
    batch_problems: int = field(default=8, metadata={
        "help": "Problems whose attempts are generated and verified together (the unit of resume)."})
    seed: int = field(default=0, metadata={"help": "Base sampling seed (each generation call derives its own)."})
    progress: bool = field(default=True, metadata={"help": "Show a progress bar."})
    plot: bool = field(default=True, metadata={"help": "Write the pass@k plot (passk.png)."})

    def __post_init__(self) -> None:
        self.k = _parse_ks(self.k)
        try:
            self.domain = data.check_dataset(self.dataset, self.split, self.data_path, self.domain)
        except ValueError as e:
            raise ValueError(f"EvalConfig: {e}") from None
        if self.n < 0:
            raise ValueError(f"EvalConfig.n={self.n}: use 0 (= max k) or a number of samples >= max k")
        if self.n and self.n < max(self.k):
            raise ValueError(f"EvalConfig.n={self.n} is below max k={max(self.k)}: pass@k needs n >= k samples; "
                             f"raise n to {max(self.k)} or drop the larger k")
        if self.temperature < 0:
            raise ValueError(f"EvalConfig.temperature={self.temperature}: use >= 0 (0 = greedy)")
        if self.temperature == 0 and self.samples > 1:
            raise ValueError(f"EvalConfig.temperature=0 with n={self.samples}: greedy samples are all identical, "
                             "so pass@k for k > 1 is meaningless; use temperature > 0 (e.g. 1.0) or n=1")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"EvalConfig.top_p={self.top_p}: use a value in (0, 1], e.g. 0.95")
        if self.max_new_tokens < 1:
            raise ValueError(f"EvalConfig.max_new_tokens={self.max_new_tokens}: use a positive token count, e.g. 2048")
        if self.few_shot < 0:
            raise ValueError(f"EvalConfig.few_shot={self.few_shot}: use 0 or a positive number of examples")
        if self.correction_budget < 0:
            raise ValueError(f"EvalConfig.correction_budget={self.correction_budget}: use 0 (= all n) or a count")
        if self.correction_budget > self.samples:
            raise ValueError(f"EvalConfig.correction_budget={self.correction_budget} exceeds n={self.samples}: "
                             "only sampled attempts can be corrected; lower it or raise n")
        if self.max_prompt_tokens < 0:
            raise ValueError(f"EvalConfig.max_prompt_tokens={self.max_prompt_tokens}: use 0 (no check) or a limit")
        if self.limit < 0:
            raise ValueError(f"EvalConfig.limit={self.limit}: use 0 (all problems) or a positive count")
        if self.backend not in ("auto", "wasm", "native"):
            raise ValueError(f"EvalConfig.backend={self.backend!r}: use auto, wasm or native")
        if self.dataset in MATHLIB_DATASETS and self.backend == "wasm":
            raise ValueError(f"EvalConfig: dataset {self.dataset!r} with backend 'wasm': {MATHLIB_HINT}")
        if self.workers < 0:
            raise ValueError(f"EvalConfig.workers={self.workers}: use 0 (default) or a count (Lean wasm: one per 6 GB of RAM)")
        if self.timeout_s < 0:
            raise ValueError(f"EvalConfig.timeout_s={self.timeout_s}: use 0 (default) or a positive number of seconds")
        if self.policy_backend not in ("transformers", "vllm", "openai"):
            raise ValueError(f"EvalConfig.policy_backend={self.policy_backend!r}: use transformers, vllm or openai")
        for name in ("policy_options", "verifier_options"):
            value = getattr(self, name)
            if not isinstance(value, Mapping):
                raise ValueError(f"EvalConfig.{name} must be a mapping of config fields, got {type(value).__name__}")
            setattr(self, name, dict(value))
        _check_options("policy_options", self.policy_options, _policy_fields())
        _check_options("verifier_options", self.verifier_options, _verifier_fields(self.domain))
        if self.batch_problems < 1:
            raise ValueError(f"EvalConfig.batch_problems={self.batch_problems}: use a positive count, e.g. 8")

    # -- derived ------------------------------------------------------------
    @property
    def samples(self) -> int:
        """First attempts per problem: ``n``, or max k."""
        return self.n or max(self.k)

    @property
    def corrected_samples(self) -> int:
        """How many of each problem's first attempts may get a correction turn (0 without correction)."""
        if not self.correction:
            return 0
        return self.correction_budget or self.samples

    @property
    def lean_backend(self) -> str:
        if self.backend != "auto":
            return self.backend
        return "native" if self.dataset in MATHLIB_DATASETS else "wasm"

    def resolved_run_dir(self) -> Path:
        if self.run_dir:
            return Path(self.run_dir)
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", self.model.rstrip("/").split("/")[-1]).strip("-") or "model"
        return Path("runs") / "eval" / f"{self.dataset}_{self.split}_{slug}"

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["k"] = list(self.k)
        return d


def config_fields() -> list[dataclasses.Field]:
    """The fields of ``EvalConfig`` (for CLI and YAML)."""
    return list(dataclasses.fields(EvalConfig))




def _policy_fields() -> list[str]:
    from prover.policy.config import PolicyConfig

    return [f.name for f in dataclasses.fields(PolicyConfig) if f.name not in ("model", "backend")]


def _verifier_fields(domain: str) -> list[str]:
    from prover.verifiers import verifier_config_class

    return [f.name for f in dataclasses.fields(verifier_config_class(domain))]


def _check_options(name: str, options: Mapping[str, Any], valid: list[str]) -> None:
    """Unknown keys of a pass-through mapping fail now, before the data or the model loads."""
    import difflib

    for key in options:
        if key not in valid:
            close = difflib.get_close_matches(str(key), valid, n=2)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ValueError(f"EvalConfig.{name}: unknown key {key!r}{hint} (valid: {', '.join(valid)})")


def verifier_options(cfg: EvalConfig) -> dict[str, Any]:
    """The verifier config fields of a run: backend (Lean), workers/timeout_s when set, then verifier_options."""
    valid = set(_verifier_fields(cfg.domain))
    opts: dict[str, Any] = {"backend": cfg.lean_backend} if cfg.domain == "lean" else {}
    opts.update({k: v for k, v in (("workers", cfg.workers), ("timeout_s", cfg.timeout_s)) if v and k in valid})
    return {**opts, **cfg.verifier_options}


__all__ = ["EvalConfig", "MATHLIB_DATASETS", "MATHLIB_HINT", "RESUME_KEYS", "config_fields", "verifier_options"]
