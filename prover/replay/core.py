"""``ReplayCore``: store + sample builder + mixer + shaping + metrics, one object.

Training loop (any domain)::

    core = ReplayCore(ReplayConfig(db_path=run_dir / "replay.sqlite"),
                      token_counter=policy.prompt_token_count)
    batch = core.next_batch(fresh_problems, batch_size, step=step)
    outs = policy.generate([s.messages() for s in batch.samples], params)
    # one entry per completion: repeat each sample/problem n times
    samples = [s for s, o in zip(batch.samples, outs) for _ in o]
    problems = [batch.problem_of(s) for s in samples]
    responses = [c.text for o in outs for c in o]
    verdicts = verifier.verify(problems, responses)
    rewards = core.rewards(samples, verdicts)          # the training reward (None: infrastructure error)
    rec = core.record(samples, problems, responses, verdicts, step=step)
    # core.metrics.as_dict() for logs; core.state_dict() for checkpoints
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from prover.prompts import PromptLimiter
from prover.prompts.limits import TokenCounter
from prover.replay.config import ReplayConfig
from prover.replay.metrics import ReplayMetrics
from prover.replay.mixer import BatchMixer, MixedBatch
from prover.replay.samples import DONOR_POOL, SampleBuilder, attempt_for
from prover.replay.shaping import RiskAwareShaper
from prover.replay.store import AttemptStore
from prover.types import Problem, Sample, Verdict


@dataclass(frozen=True)
class RecordResult:
    attempt_ids: tuple[str, ...]  # id given to each response's Attempt
    stored: int  # attempts written to the store


class ReplayCore:
    def __init__(self, cfg: ReplayConfig, *, token_counter: TokenCounter | None = None) -> None:
        """``token_counter``: messages -> prompt tokens (e.g. ``policy.prompt_token_count``).

        Without it, prompt lengths are not checked.
        """
        self.cfg = cfg
        self.metrics = ReplayMetrics()
        self.store = AttemptStore(cfg.db_path, cfg.capacity, cfg.success_capacity)
        limiter = PromptLimiter(token_counter, cfg.max_prompt_tokens) if token_counter else None
        self.builder = SampleBuilder(cfg, limiter, drops=self.metrics.drops,
                                     donors=lambda: self.store.recent(correct=False, limit=DONOR_POOL))
        self.mixer = BatchMixer(self.store, cfg, self.builder, self.metrics, random.Random(cfg.seed))
        self.shaper = RiskAwareShaper(cfg.correct_to_wrong_penalty)
        self._refresh_sizes()

    def _refresh_sizes(self) -> None:
        self.metrics.record_store(self.store.count(correct=False), self.store.count(correct=True))

    def next_batch(self, fresh: Sequence[Problem], batch_size: int, *, step: int = 0) -> MixedBatch:
        return self.mixer.next_batch(fresh, batch_size, step=step)

    def rewards(self, samples: Sequence[Sample], verdicts: Sequence[Verdict],
                format_scores: Sequence[float] | None = None) -> list[float | None]:
        """The training reward of each completion (``prover.replay.shaping``; None for infrastructure errors)."""
        scores = list(format_scores) if format_scores is not None else [1.0] * len(verdicts)
        return [self.shaper(s, v, f) for s, v, f in zip(samples, verdicts, scores)]

    def record(
        self,
        samples: Sequence[Sample],
        problems: Sequence[Problem],
        responses: Sequence[str],
        verdicts: Sequence[Verdict],
        *,
        step: int = 0,
    ) -> RecordResult:
        """Count outcomes and store attempts (one transaction); rewards are ``rewards()``'s.

        First attempts are stored whatever their outcome (errors only counted);
        follow-up turns are stored when correct (future preserve candidates) or,
        with ``store_followup_failures``, also when wrong (never replayed).
        """
        if not len(samples) == len(problems) == len(responses) == len(verdicts):
            raise ValueError(f"lengths differ: {len(samples)} samples, {len(problems)} problems, "
                             f"{len(responses)} responses, {len(verdicts)} verdicts")
        ids, records = [], []
        for sample, problem, response, verdict in zip(samples, problems, responses, verdicts):
            if sample.problem_id != problem.id:
                raise ValueError(f"sample for {sample.problem_id!r} paired with problem {problem.id!r}")
            attempt = attempt_for(sample, response)
            ids.append(attempt.id)
            self.metrics.record_outcome(sample, verdict)
            if attempt.turn == "first" or verdict.valid or self.cfg.store_followup_failures:
                records.append((problem, attempt, verdict))
        added = self.store.add_many(records, step=step)
        self._refresh_sizes()
        return RecordResult(tuple(ids), added.failures + added.successes)

    # -- resumable state (the store itself is the SQLite file) -------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The mixer's RNG and the metrics counters, JSON-serialisable."""
        version, internal, gauss = self.mixer.rng.getstate()
        metrics = {f.name: (dict(v) if isinstance(v := getattr(self.metrics, f.name), dict) else v)
                   for f in dataclasses.fields(self.metrics)}
        return {"mixer_rng": [version, list(internal), gauss], "metrics": metrics}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        rng = state.get("mixer_rng")
        if rng:
            self.mixer.rng.setstate((rng[0], tuple(rng[1]), rng[2]))
        for name, value in (state.get("metrics") or {}).items():
            if not hasattr(self.metrics, name):
                continue
            current = getattr(self.metrics, name)
            if isinstance(current, dict):  # in place: the sample builder shares these Counters
                current.clear()
                current.update(value)
            else:
                setattr(self.metrics, name, value)
        self._refresh_sizes()

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> "ReplayCore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
