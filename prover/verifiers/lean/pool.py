"""A pool of warm checker processes with bounded waits everywhere.

- requests go to idle workers; at most ``max_pending`` are admitted at once
  (callers beyond that wait: backpressure);
- a request past its deadline kills its worker's whole process group; the pool
  starts a fresh worker in the background and the request gets a timeout result;
- a worker that dies mid-request gives that request an error result, and is replaced;
- a worker is recycled after ``max_uses`` requests or above ``max_rss_mb``;
- if no worker can be started at all, waiting requests fail fast with an error
  instead of hanging;
- a worker taken from the pool goes back to it, or is retired and replaced, on
  every path (exceptions and cancellation included); requests wait for a worker
  in arrival order; a request that crashed a worker is not retried, and a worker found dead
  when taken from the pool is replaced before the request is sent.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable

from prover.verifiers.lean.runtime import LaunchSpec
from prover.verifiers.lean.worker import CHANNELS, BadRequest, CheckerWorker, ForgedAnswer, WorkerDied, WorkerTimeout

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PoolResult:
    """What the pool says about one request: an answer, a timeout or an infrastructure error."""

    answer: dict[str, Any] | None
    timed_out: bool = False
    error: str = ""
    queue_s: float = 0.0
    run_s: float = 0.0
    wire: dict[str, float] | None = None  # the worker's client-side times (send, wait, read), seconds


@dataclass
class PoolStats:
    started: int = 0
    start_failures: int = 0
    timeouts: int = 0
    deaths: int = 0
    forged: int = 0
    recycled: int = 0
    requests: int = 0
    last_start_s: float = 0.0


class LeanPool:
    """Async pool. Create and use it on one event loop."""

    def __init__(
        self,
        launcher: Callable[[], LaunchSpec],
        *,
        workers: int = 1,
        start_timeout_s: float = 900.0,
        max_pending: int = 256,
        max_uses: int = 5000,
        max_rss_mb: float = 16000.0,
        max_start_attempts: int = 3,
        memory_limit_mb: float = 0.0,
        channel: str = "auto",
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self._launcher = launcher
        self.n_workers = workers
        self.start_timeout_s = start_timeout_s
        self.max_uses = max_uses
        self.max_rss_mb = max_rss_mb
        self.max_start_attempts = max_start_attempts
        self.memory_limit_mb = memory_limit_mb
        self.set_channel(channel)
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=2 * workers + 2, thread_name_prefix="lean-pool")
        self._idle: asyncio.Queue[CheckerWorker] = asyncio.Queue()
        self._admit = asyncio.Semaphore(max_pending)
        self._all: set[CheckerWorker] = set()
        self._starting = 0
        self._closed = False
        self._broken: str = ""
        self._names = itertools.count()
        self._tasks: set[asyncio.Task[None]] = set()
        self._taken: set[CheckerWorker] = set()
        self.stats = PoolStats()

    def set_channel(self, channel: str) -> None:
        """How requests and answers travel (``worker.CHANNELS``), for workers started from now on and
        for the running ones (from their next request). A running worker's transport (its stdin, or
        request files) is fixed: switching a running worker between them raises ``ValueError``."""
        if channel not in CHANNELS:
            raise ValueError(f"channel must be one of {CHANNELS}, got {channel!r}")
        running = list(getattr(self, "_all", ()))
        switched = [w.channel_for(channel) for w in running]  # all or nothing: raises before switching any
        self.channel = channel
        for w, ch in zip(running, switched):
            w.channel = ch

    # -- workers ---------------------------------------------------------
    def _start_blocking(self) -> CheckerWorker:
        worker = CheckerWorker(self._launcher(), name=f"lean-worker-{next(self._names)}",
                               memory_limit_mb=self.memory_limit_mb, channel=self.channel)
        self._all.add(worker)
        try:
            took = worker.wait_ready(self.start_timeout_s, should_stop=lambda: self._closed)
        except BaseException:
            self._all.discard(worker)
            worker.close()
            raise
        self.stats.last_start_s = took
        log.info("%s ready in %.1fs (sandbox: %s)", worker.name, took, worker.launch.sandbox)
        return worker

    async def _spawn(self) -> None:
        self._starting += 1
        try:
            loop = asyncio.get_running_loop()
            for attempt in range(1, self.max_start_attempts + 1):
                if self._closed:
                    return
                try:
                    worker = await loop.run_in_executor(self._executor, self._start_blocking)
                except Exception as e:  # noqa: BLE001 - any start failure is retried, then reported
                    self.stats.start_failures += 1
                    log.warning("Lean worker start failed (attempt %d/%d): %s", attempt, self.max_start_attempts, e)
                    last = str(e)
                    continue
                self.stats.started += 1
                self._broken = ""
                if self._closed:
                    worker.close()
                    return
                self._idle.put_nowait(worker)
                return
            if not self._all and self._starting <= 1:
                self._broken = f"no Lean worker could be started: {last}"
        finally:
            self._starting -= 1

    def _spawn_soon(self) -> None:
        task = asyncio.get_running_loop().create_task(self._spawn())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _retire(self, worker: CheckerWorker) -> None:
        if worker not in self._all:
            return
        self._all.discard(worker)
        worker.close()
        if not self._closed:
            self._spawn_soon()

    async def start(self, wait: bool = True) -> None:
        """Start the workers (concurrently); with ``wait``, until every one is ready or failed."""
        spawns = [self._spawn() for _ in range(self.n_workers)]
        if wait:
            await asyncio.gather(*spawns)
            if self._idle.empty():
                raise RuntimeError(self._broken or "no Lean worker could be started")
        else:
            for s in spawns:
                task = asyncio.get_running_loop().create_task(s)
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    # -- requests --------------------------------------------------------
    async def _acquire(self, deadline: float) -> CheckerWorker | str:
        """An idle worker, or why none came. One pending ``get`` is kept across the 1 s
        health checks (never cancelled and re-queued), so waiters are served in arrival order."""
        getter: asyncio.Task[CheckerWorker] = asyncio.ensure_future(self._idle.get())
        handed_out = False
        try:
            while True:
                if self._broken and self._idle.empty() and self._starting == 0:
                    return self._broken
                if self._closed:
                    return "the Lean pool is closed"
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return "no Lean worker became free in time"
                done, _ = await asyncio.wait({getter}, timeout=min(remaining, 1.0))
                if done:
                    handed_out = True
                    return getter.result()
                if not self._all and self._starting == 0 and not self._closed:
                    self._spawn_soon()  # every worker is gone: start one
        finally:
            if not getter.done():
                getter.cancel()
            elif not handed_out and not getter.cancelled() and getter.exception() is None:
                self._idle.put_nowait(getter.result())  # got one as we gave up: give it back

    async def run(self, payload: dict[str, Any], timeout_s: float) -> PoolResult:
        """Check one request. Never raises for a bad request or a broken worker: the result says."""
        t0 = time.monotonic()
        async with self._admit:
            while True:
                got = await self._acquire(t0 + self.start_timeout_s + timeout_s)
                if isinstance(got, str):
                    return PoolResult(None, error=got, queue_s=time.monotonic() - t0)
                if got.alive():
                    break
                # it died while idle (killed from outside, out of memory): not this row's doing
                self.stats.deaths += 1
                log.warning("%s died while idle; replacing it", got.name)
                self._retire(got)
            worker = got
            self._taken.add(worker)
            t1 = time.monotonic()
            self.stats.requests += 1
            keep = False
            try:
                answer = await asyncio.get_running_loop().run_in_executor(
                    self._executor, worker.request, payload, timeout_s)
                keep = True
            except BadRequest as e:  # nothing was sent: the worker is fine
                keep = True
                return PoolResult(None, error=str(e), queue_s=t1 - t0)
            except WorkerTimeout:
                self.stats.timeouts += 1
                return PoolResult(None, timed_out=True, queue_s=t1 - t0, run_s=time.monotonic() - t1)
            except ForgedAnswer as e:
                self.stats.forged += 1
                log.error("%s", e)
                return PoolResult(None, error=str(e), queue_s=t1 - t0, run_s=time.monotonic() - t1)
            except WorkerDied as e:
                self.stats.deaths += 1
                return PoolResult(None, error=str(e), queue_s=t1 - t0, run_s=time.monotonic() - t1)
            except Exception as e:  # noqa: BLE001 - an unexpected failure: this row gets an error
                log.exception("Lean request failed on %s", worker.name)
                return PoolResult(None, error=f"Lean request failed: {e}", queue_s=t1 - t0,
                                  run_s=time.monotonic() - t1)
            finally:
                self._taken.discard(worker)
                if keep and worker.alive() and not self._closed:
                    # memory read at most once a second here (the request's own limit check reads it fresh)
                    if worker.uses >= self.max_uses or worker.rss_mb(max_age_s=1.0) > self.max_rss_mb:
                        self.stats.recycled += 1
                        log.info("recycling %s after %d uses (%.0f MiB)", worker.name, worker.uses, worker.rss_mb())
                        self._retire(worker)
                    else:
                        self._idle.put_nowait(worker)
                else:
                    # timed out, died, forged, failed, cancelled mid-request or pool closed: replace it
                    self._retire(worker)
            return PoolResult(answer, queue_s=t1 - t0, run_s=time.monotonic() - t1, wire=dict(worker.timing))

    def workers(self) -> list[CheckerWorker]:
        return list(self._all)

    async def close(self) -> None:
        self._closed = True
        for t in list(self._tasks):
            t.cancel()
        for w in list(self._all):
            w.close()
        self._all.clear()
        self._executor.shutdown(wait=False, cancel_futures=True)
