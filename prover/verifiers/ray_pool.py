"""``verifier.backend: ray``: a domain's verifier pool as Ray actors, on a Ray cluster or a local one.

Each actor holds one ordinary verifier (``get_verifier(domain, config)``: its
own Lean workers or code sandboxes) and reserves ``num_cpus``/``memory_mb`` on
the cluster. A batch is cut into chunks that go to the actor with the fewest
chunks in flight; results come back in input order, one verdict per row:

- an actor that dies mid-chunk (process killed, node lost) is restarted by Ray
  (``max_restarts``) and the chunk is sent again, to any live actor, up to
  ``retries`` times; after that its rows get ``error`` verdicts;
- a chunk past ``chunk_timeout_s`` gets ``error`` verdicts and its actor is
  killed (Ray restarts it), so a hung actor cannot hold the batch;
- an exception inside the actor's verifier gives that chunk ``error`` verdicts.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from prover.types import Problem, Status, Verdict
from prover.verifiers import verifier_class
from prover.verifiers.base import Verifier, check_lengths

log = logging.getLogger(__name__)


@dataclass
class RayConfig:
    """Where the actors run and what each reserves."""

    address: str = field(default="", metadata={"help": "'' = start a local Ray; 'auto' = the running cluster; 'ray://host:10001' = a remote one"})
    actors: int = field(default=2, metadata={"help": "verifier actors (each with its own workers)"})
    num_cpus: float = field(default=1.0, metadata={"help": "CPUs each actor reserves"})
    memory_mb: int = field(default=0, metadata={"help": "memory each actor reserves, MiB (0 = none; a wasm Lean worker needs ~6000)"})
    max_restarts: int = field(default=3, metadata={"help": "times Ray restarts a dead actor (-1 = always)"})
    batch_rows: int = field(default=8, metadata={"help": "rows per chunk sent to one actor"})
    chunks_per_actor: int = field(default=2, metadata={"help": "chunks in flight per actor"})
    retries: int = field(default=2, metadata={"help": "times a chunk is sent again after its actor died"})
    chunk_timeout_s: float = field(default=1800.0, metadata={"help": "seconds a chunk may take before its rows get error verdicts"})
    start_timeout_s: float = field(default=1200.0, metadata={"help": "seconds for all actors to build their verifiers"})
    local_num_cpus: int = field(default=0, metadata={"help": "local Ray only: CPUs it may use (0 = all)"})
    local_object_store_mb: int = field(default=128, metadata={"help": "local Ray only: object store size, MiB (rows and verdicts are small)"})

    def __post_init__(self) -> None:
        for name in ("actors", "batch_rows", "chunks_per_actor"):
            if getattr(self, name) < 1:
                raise ValueError(f"ray.{name} must be >= 1, got {getattr(self, name)}")
        if self.num_cpus < 0 or self.memory_mb < 0 or self.local_num_cpus < 0:
            raise ValueError("ray.num_cpus, ray.memory_mb and ray.local_num_cpus must be >= 0")
        if self.max_restarts < -1 or self.retries < 0:
            raise ValueError(f"ray.max_restarts must be >= -1 and ray.retries >= 0, got {self.max_restarts}, {self.retries}")
        if self.chunk_timeout_s <= 0 or self.start_timeout_s <= 0:
            raise ValueError("ray.chunk_timeout_s and ray.start_timeout_s must be > 0 seconds")
        if self.local_object_store_mb < 80:
            raise ValueError(f"ray.local_object_store_mb must be >= 80 (Ray's minimum), got {self.local_object_store_mb}")


class VerifierActor:
    """Body of one actor: an ordinary verifier, rows and verdicts as JSON."""

    def __init__(self, domain: str, config: Any) -> None:
        from prover.verifiers import get_verifier

        self.verifier = get_verifier(domain, config)

    def ready(self) -> int:
        return os.getpid()

    def verify(self, problems: list[dict[str, Any]], responses: list[str]) -> list[dict[str, Any]]:
        verdicts = self.verifier.verify([Problem.from_json(p) for p in problems], responses)
        return [v.to_json() for v in verdicts]

    def close(self) -> None:
        self.verifier.close()


def _error(message: str, reason: str) -> Verdict:
    return Verdict(Status.ERROR, 0.0, feedback=message, details={"reason": reason}, timings={"total": 0.0})


class RayVerifierPool(Verifier):
    """A ``Verifier`` whose checks run in Ray actors (see the module doc)."""

    def __init__(self, domain: str, config: RayConfig | None = None, verifier_config: Any = None) -> None:
        try:
            import ray
        except ImportError as e:  # pragma: no cover - depends on the install
            raise ImportError("verifier.backend: ray needs Ray: pip install 'prover[ray]'") from e
        self._ray = ray
        self.domain = domain
        self.config = config or RayConfig()
        self.verifier_config = verifier_config
        self.workers = self.config.actors
        self._owns_ray = False
        if not ray.is_initialized():
            if self.config.address:
                ray.init(address=self.config.address, log_to_driver=False)
            else:
                root = str(Path(__file__).resolve().parents[2])
                path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
                ray.init(num_cpus=self.config.local_num_cpus or None, include_dashboard=False, log_to_driver=False,
                         object_store_memory=self.config.local_object_store_mb * 1024 * 1024,
                         runtime_env={"env_vars": {"PYTHONPATH": path}})
            self._owns_ray = True
        options: dict[str, Any] = {"num_cpus": self.config.num_cpus, "max_restarts": self.config.max_restarts,
                                   "max_task_retries": 0}
        if self.config.memory_mb:
            options["memory"] = self.config.memory_mb * 1024 * 1024
        actor_cls = ray.remote(VerifierActor).options(**options)
        self.actors = [actor_cls.remote(domain, verifier_config) for _ in range(self.config.actors)]
        self._closed = False
        try:
            ray.get([a.ready.remote() for a in self.actors], timeout=self.config.start_timeout_s)
        except Exception:
            self.close()
            raise

    @classmethod
    def problem_from_row(cls, row: Mapping[str, Any]) -> Problem:
        if not cls.domain:
            raise TypeError("RayVerifierPool.problem_from_row needs a domain: use ray_class(domain)")
        from prover.data import problem_from_row

        return problem_from_row(row, cls.domain)

    def actor_pids(self) -> list[int]:
        """Process ids of the actors now (after restarts, the new ones)."""
        return list(self._ray.get([a.ready.remote() for a in self.actors], timeout=self.config.start_timeout_s))

    def verify(self, problems: Sequence[Problem], responses: Sequence[str], *, progress: bool = False) -> list[Verdict]:
        check_lengths(problems, responses)
        if self._closed:
            raise RuntimeError("RayVerifierPool is closed")
        ray = self._ray
        from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

        size = self.config.batch_rows
        chunks = [(i, min(i + size, len(problems))) for i in range(0, len(problems), size)]
        out: list[Verdict | None] = [None] * len(problems)
        todo: deque[tuple[int, int]] = deque((c, 0) for c in range(len(chunks)))  # (chunk, attempt)
        load = [0] * len(self.actors)
        pending: dict[Any, tuple[int, int, int, float]] = {}  # ref -> (chunk, attempt, actor, started)

        def finish(chunk: int, verdicts: list[Verdict]) -> None:
            lo, _ = chunks[chunk]
            for k, v in enumerate(verdicts):
                out[lo + k] = v

        while todo or pending:
            while todo and min(load) < self.config.chunks_per_actor:
                chunk, attempt = todo.popleft()
                a = load.index(min(load))
                lo, hi = chunks[chunk]
                ref = self.actors[a].verify.remote([p.to_json() for p in problems[lo:hi]], list(responses[lo:hi]))
                pending[ref] = (chunk, attempt, a, time.monotonic())
                load[a] += 1
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=5.0)
            for ref in ready:
                chunk, attempt, a, _ = pending.pop(ref)
                load[a] -= 1
                lo, hi = chunks[chunk]
                try:
                    got = ray.get(ref, timeout=60)
                    verdicts = [Verdict.from_json(v) for v in got]
                    if len(verdicts) != hi - lo:
                        raise ValueError(f"{len(verdicts)} verdicts for {hi - lo} rows")
                    finish(chunk, verdicts)
                except RayActorError as e:
                    if attempt < self.config.retries:
                        log.warning("ray actor %d died on chunk %d (attempt %d); sending it again", a, chunk, attempt + 1)
                        todo.append((chunk, attempt + 1))
                    else:
                        finish(chunk, [_error(f"the Ray verifier actor died {attempt + 1} times on this batch: {e}", "actor_died")] * (hi - lo))
                except (RayTaskError, GetTimeoutError, ValueError) as e:
                    finish(chunk, [_error(f"Ray {self.domain} verifier failure: {type(e).__name__}: {e}"[:2000], "actor_error")] * (hi - lo))
            now = time.monotonic()
            for ref, (chunk, _attempt, a, started) in list(pending.items()):
                if now - started > self.config.chunk_timeout_s:
                    pending.pop(ref)
                    load[a] -= 1
                    lo, hi = chunks[chunk]
                    finish(chunk, [_error(f"the Ray verifier did not answer within {self.config.chunk_timeout_s:g}s", "timeout")] * (hi - lo))
                    ray.kill(self.actors[a], no_restart=False)
        return [v if v is not None else _error("no verdict (internal)", "internal") for v in out]

    def close(self) -> None:
        if getattr(self, "_closed", True):
            return
        self._closed = True
        ray = self._ray
        try:
            ray.get([a.close.remote() for a in self.actors], timeout=60)
        except Exception:  # noqa: BLE001 - actors are killed below anyway
            log.warning("ray actors did not close cleanly", exc_info=True)
        for a in self.actors:
            ray.kill(a, no_restart=True)
        if self._owns_ray:
            ray.shutdown()


_CLASSES: dict[str, type[RayVerifierPool]] = {}


def ray_class(domain: str) -> type[RayVerifierPool]:
    verifier_class(domain)
    if domain not in _CLASSES:
        _CLASSES[domain] = type(f"Ray{domain.title()}Verifier", (RayVerifierPool,), {"domain": domain})
    return _CLASSES[domain]


def make_ray_verifier(domain: str, config: RayConfig | Mapping[str, Any] | None = None, verifier_config: Any = None) -> RayVerifierPool:
    """``verifier.backend: ray`` for any domain; ``verifier_config`` is the domain's own config (Lean/code/math)."""
    if isinstance(config, Mapping):
        config = RayConfig(**dict(config))
    return ray_class(domain)(domain, config, verifier_config)


__all__ = ["RayConfig", "RayVerifierPool", "VerifierActor", "make_ray_verifier", "ray_class"]
