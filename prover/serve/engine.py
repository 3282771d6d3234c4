"""Admission, deadlines and shutdown in front of the verifiers.

- a request's rows are admitted only while the rows already admitted (queued or
  running) leave room: otherwise ``Overloaded`` (HTTP 429 + Retry-After); an
  admitted request's rows stay counted until the verifier really finished them,
  even past the request's deadline, so the bound holds for the work itself;
- every admitted request gets one verdict per row: the verifier's, or an
  ``error`` verdict when the deadline passed, the verifier raised, or the
  service shut down first;
- ``drain`` stops admission (``Draining``: HTTP 503), lets running requests
  finish within the grace period, then answers the rest with error verdicts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Mapping, Sequence

from prover.serve.metrics import Metrics
from prover.types import Problem, Status, Verdict
from prover.verifiers.base import Verifier

log = logging.getLogger(__name__)


class Overloaded(Exception):
    """The queue is full; retry after ``retry_after_s``."""

    def __init__(self, pending: int, asked: int, limit: int, retry_after_s: int) -> None:
        super().__init__(f"queue full: {pending} rows admitted, {asked} more asked, limit {limit}; retry after {retry_after_s}s")
        self.retry_after_s = retry_after_s


class Draining(Exception):
    """The service is shutting down and admits no new work."""


def error_verdicts(n: int, message: str, reason: str) -> list[Verdict]:
    return [Verdict(Status.ERROR, 0.0, feedback=message, details={"reason": reason}, timings={"total": 0.0}) for _ in range(n)]


class Engine:
    """Runs batches on the domain verifiers under a row bound, deadlines and a shutdown drain."""

    def __init__(self, verifiers: Mapping[str, Verifier], metrics: Metrics, *, max_queue_rows: int, retry_after_s: int) -> None:
        self.verifiers = dict(verifiers)
        self.metrics = metrics
        self.max_queue_rows = max_queue_rows
        self.retry_after_s = retry_after_s
        self.pending_rows = 0
        self.inflight = 0
        self.draining = False
        self._abort: asyncio.Event | None = None
        self._idle: asyncio.Event | None = None
        self.workers = {domain: worker_count(v) for domain, v in self.verifiers.items()}
        for domain, count in self.workers.items():
            metrics.workers.labels(domain).set(count)

    def _events(self) -> tuple[asyncio.Event, asyncio.Event]:
        if self._abort is None or self._idle is None:
            self._abort, self._idle = asyncio.Event(), asyncio.Event()
            self._idle.set()
        return self._abort, self._idle

    def _admit(self, n: int) -> None:
        if self.draining:
            raise Draining("the service is shutting down")
        if self.pending_rows and self.pending_rows + n > self.max_queue_rows:
            self.metrics.rejected.labels("queue_full").inc()
            raise Overloaded(self.pending_rows, n, self.max_queue_rows, self.retry_after_s)
        self.pending_rows += n
        self.metrics.queue_rows.set(self.pending_rows)

    def _release(self, n: int) -> None:
        self.pending_rows -= n
        self.metrics.queue_rows.set(self.pending_rows)

    async def run(self, domain: str, problems: Sequence[Problem], responses: Sequence[str], deadline_s: float) -> list[Verdict]:
        """One verdict per (problem, response), in order. Raises only ``Overloaded``/``Draining`` (nothing admitted)."""
        abort, idle = self._events()
        n = len(problems)
        if n == 0:
            return []
        verifier = self.verifiers[domain]
        self._admit(n)
        self.inflight += 1
        idle.clear()
        self.metrics.inflight.set(self.inflight)
        t0 = time.monotonic()
        work = asyncio.ensure_future(verifier.averify(list(problems), list(responses)))
        work.add_done_callback(lambda _f: self._release(n))
        aborted = asyncio.ensure_future(abort.wait())
        try:
            done, _ = await asyncio.wait({work, aborted}, timeout=deadline_s, return_when=asyncio.FIRST_COMPLETED)
            if work in done:
                try:
                    verdicts = list(work.result())
                except Exception as e:  # noqa: BLE001 - a broken verifier still owes verdicts
                    log.exception("%s verifier failed on a batch of %d", domain, n)
                    verdicts = error_verdicts(n, f"{domain} verifier failure: {type(e).__name__}: {e}", "verifier")
                if len(verdicts) != n:
                    verdicts = error_verdicts(n, f"{domain} verifier returned {len(verdicts)} verdicts for {n} rows", "verifier")
            elif aborted in done:
                verdicts = error_verdicts(n, "The verification service shut down before this check finished.", "shutdown")
            else:
                verdicts = error_verdicts(n, f"The request's deadline of {deadline_s:g}s passed before this check finished.", "deadline")
                work.add_done_callback(_log_late)
        finally:
            aborted.cancel()
            self.inflight -= 1
            self.metrics.inflight.set(self.inflight)
            if self.inflight == 0:
                idle.set()
        self.metrics.observe(domain, verdicts, time.monotonic() - t0)
        return verdicts

    async def drain(self, grace_s: float) -> None:
        """Admit nothing new; give running requests ``grace_s`` to finish, then answer them with error verdicts."""
        abort, idle = self._events()
        self.draining = True
        try:
            await asyncio.wait_for(idle.wait(), timeout=grace_s)
        except asyncio.TimeoutError:
            log.warning("shutdown: %d requests still running after %.0fs; answering them with error verdicts", self.inflight, grace_s)
            abort.set()
            try:
                await asyncio.wait_for(idle.wait(), timeout=10.0)
            except asyncio.TimeoutError:
                log.error("shutdown: %d requests did not answer", self.inflight)

    def close(self) -> None:
        for domain, v in self.verifiers.items():
            try:
                v.close()
            except Exception:  # noqa: BLE001 - close every verifier even if one fails
                log.exception("closing the %s verifier failed", domain)


def _log_late(fut: asyncio.Future) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        log.warning("a batch finished with an error after its deadline: %s", fut.exception())


def worker_count(verifier: Verifier) -> int:
    """Checkers behind a verifier, as far as it says."""
    for attr in ("workers", "n_workers"):
        value = getattr(verifier, attr, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    config = getattr(verifier, "config", None)
    value = getattr(config, "workers", None)
    return value if isinstance(value, int) and value > 0 else 1
