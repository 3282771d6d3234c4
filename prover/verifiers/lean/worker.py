"""One checker process: start it, send requests, wait with deadlines, kill its group.

The protocol is file based (see ``lean_env/Checker.lean``): request ``n`` is
written atomically to ``req/n.json``, the answer appears atomically as
``resp/n.json``. Files rather than pipes because the wasm runtime reads host
files through positioned reads, which pipes do not support.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import subprocess
import time
from typing import Any, Callable

import psutil

from prover.verifiers.lean.runtime import LaunchSpec
from prover.verifiers.proc import kill_group

log = logging.getLogger(__name__)


class WorkerDied(RuntimeError):
    """The checker process exited or stopped answering (infrastructure failure)."""


class WorkerTimeout(RuntimeError):
    """A request ran past its deadline; the worker has been killed."""


def _poll_sleep(waited: float) -> float:
    return 0.002 if waited < 0.2 else 0.01 if waited < 2 else 0.05


class CheckerWorker:
    """A started checker. Not thread-safe: the pool gives each worker one request at a time."""

    def __init__(self, launch: LaunchSpec, name: str = "lean-worker") -> None:
        self.launch = launch
        self.name = name
        self.workdir = launch.cwd
        self.uses = 0
        self._next = 0
        self._log_file = open(self.workdir / "checker.log", "wb")
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(
            launch.argv, cwd=launch.cwd, env=launch.env, stdin=subprocess.DEVNULL,
            stdout=self._log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.pgid = self.proc.pid  # start_new_session: the child leads its own group
        self.ready = False
        atexit.register(self.kill)  # never leave a checker behind when the interpreter exits

    # -- lifecycle -------------------------------------------------------
    def wait_ready(self, timeout_s: float, should_stop: Callable[[], bool] = lambda: False) -> float:
        """Block until the checker says it is ready; returns seconds it took."""
        deadline = time.monotonic() + timeout_s
        waited = 0.0
        while not (self.workdir / "ready").exists():
            if self.proc.poll() is not None:
                raise WorkerDied(f"{self.name} exited with code {self.proc.returncode} while starting: {self.log_tail()}")
            if time.monotonic() > deadline:
                self.kill()
                raise WorkerDied(f"{self.name} did not become ready within {timeout_s:.0f}s")
            if should_stop():
                self.kill()
                raise WorkerDied(f"{self.name} start cancelled")
            time.sleep(0.1)
            waited += 0.1
        self.ready = True
        return time.monotonic() - self.started_at

    def alive(self) -> bool:
        return self.proc.poll() is None

    def rss_mb(self) -> float:
        """Resident memory of the whole process group, in MiB."""
        total = 0
        try:
            root = psutil.Process(self.proc.pid)
            for p in [root, *root.children(recursive=True)]:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
        except psutil.Error:
            return 0.0
        return total / 2**20

    def kill(self) -> None:
        """Kill the whole process group and reap it. Idempotent."""
        kill_group(self.proc, pgid=self.pgid)
        self.ready = False

    def close(self) -> None:
        self.kill()
        atexit.unregister(self.kill)
        try:
            self._log_file.close()
        except OSError:
            pass
        shutil.rmtree(self.workdir, ignore_errors=True)

    def log_tail(self, n: int = 2000) -> str:
        try:
            self._log_file.flush()
            data = (self.workdir / "checker.log").read_bytes()[-20000:].decode("utf-8", "replace")
        except OSError:
            return ""
        lines = [line for line in data.splitlines() if not line.startswith("[DEBUG") and not line.startswith("  - /")]
        return "\n".join(lines)[-n:]

    # -- requests --------------------------------------------------------
    def request(self, payload: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """Send one request and wait for its answer.

        Raises ``WorkerTimeout`` (worker killed) past the deadline and
        ``WorkerDied`` when the process is gone.
        """
        if not self.alive():
            raise WorkerDied(f"{self.name} is not running: {self.log_tail()}")
        n = self._next
        self._next += 1
        self.uses += 1
        req = self.workdir / "req" / f"{n}.json"
        tmp = req.with_suffix(".tmp")
        tmp.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
        os.rename(tmp, req)
        resp = self.workdir / "resp" / f"{n}.json"
        start = time.monotonic()
        waited = 0.0
        while True:
            if resp.exists():
                try:
                    text = resp.read_text(encoding="utf-8")
                    resp.unlink()
                    return json.loads(text)
                except (OSError, json.JSONDecodeError) as e:
                    raise WorkerDied(f"{self.name} wrote an unreadable answer: {e}") from e
            if self.proc.poll() is not None:
                raise WorkerDied(f"{self.name} died during a request (exit {self.proc.returncode}): {self.log_tail()}")
            waited = time.monotonic() - start
            if waited > timeout_s:
                self.kill()
                raise WorkerTimeout(f"{self.name}: no answer within {timeout_s:.1f}s")
            time.sleep(_poll_sleep(waited))
