"""One generation round: its rows, the verifications started early, the scored completions; the reward function."""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Sequence

from prover.rl.metrics import Rollout
from prover.types import Problem, Sample, Verdict
from prover.verifiers.base import Verifier

log = logging.getLogger(__name__)


@dataclass
class Scored:
    """One completion after scoring (local to this process until gathered)."""

    sample: Sample
    problem: Problem
    text: str
    verdict: Verdict  # the verifier's verdict, as it gave it
    rollout: Rollout


class Round:
    """The rows of one generation batch, their pending verifications and scores."""

    def __init__(self, rows: list[dict[str, Any]], training: bool) -> None:
        self.rows = rows
        self.training = training
        self.pending: list[tuple[list[int], list[str], Future]] = []
        self.wait_s = 0.0
        self.scored: list[Scored] = []
        self.replay_ratio = 0.0
        self.generation_s = 0.0  # time inside TRL's generation
        self.started = 0.0  # perf_counter() when the round began (set by the driver)

    def submit(self, pool: ThreadPoolExecutor, verifier: Verifier, idx: list[int], texts: list[str]) -> None:
        problems = [self.rows[i]["problem"] for i in idx]
        self.pending.append((idx, texts, pool.submit(verifier.verify, problems, texts)))

    def collect(self, verifier: Verifier, problems: Sequence[Problem], texts: Sequence[str]) -> list[Verdict]:
        """Verdicts for ``texts`` (row order): from verifications started early, the rest now."""
        out: list[Verdict | None] = [None] * len(texts)
        for idx, sent, fut in self.pending:
            try:
                verdicts = fut.result()
            except Exception as e:  # noqa: BLE001 - a broken verifier call becomes error verdicts
                log.exception("verification failed")
                verdicts = [Verdict.infra_error(f"verifier failure: {e}")] * len(idx)
            for i, text, verdict in zip(idx, sent, verdicts):
                if i < len(texts) and texts[i] == text:
                    out[i] = verdict
        missing = [i for i, v in enumerate(out) if v is None]
        if missing:
            try:
                got = verifier.verify([problems[i] for i in missing], [texts[i] for i in missing])
            except Exception as e:  # noqa: BLE001
                log.exception("verification failed")
                got = [Verdict.infra_error(f"verifier failure: {e}")] * len(missing)
            for i, verdict in zip(missing, got):
                out[i] = verdict
        return out  # type: ignore[return-value]


def completion_text(completion: Any) -> str:
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion:
        last = completion[-1]
        content = last.get("content", "") if isinstance(last, dict) else last
        if isinstance(content, list):  # content blocks
            return "".join(part.get("text", "") for part in content if isinstance(part, dict))
        return str(content)
    return ""


class VerifierReward:
    """TRL reward function: verifier verdict x format reward, with replay shaping (None on infra errors)."""

    __name__ = "verifier_x_format"

    def __init__(self) -> None:
        self.driver: Any = None  # the ReplayDriver that scores (attached by ReplayGRPOTrainer)

    def __call__(self, prompts: list, completions: list, completion_ids: list, **kwargs: Any) -> list[float | None]:
        if self.driver is None:
            raise RuntimeError("VerifierReward is not attached to a ReplayGRPOTrainer")
        return self.driver.score(completions, completion_ids, kwargs["sample"], kwargs["problem"])


__all__ = ["Round", "Scored", "VerifierReward", "completion_text"]
