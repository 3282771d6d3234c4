"""The killable helper process that does ALL math judging (``judge.judge``), with a hard deadline.

math-verify's own timeouts use ``signal.alarm`` (main thread only), and SymPy
can spend unbounded time in C code. So extraction, parsing, comparison and the
strict layer all run in a helper process (where math-verify's alarms work as
designed, under an address-space limit), and the caller waits at most
``timeout_s`` + 2 s: a helper that overruns is killed with its process group and
replaced, so the batch always moves on with a ``timeout`` verdict.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from prover.text import clean_text
from prover.verifiers.proc import kill_group

_REPO_ROOT = str(Path(__file__).resolve().parents[3])
_WORKER_SRC = (
    "import sys; sys.path.insert(0, {root!r}); "
    "from prover.verifiers.math.equivalence import worker_main; worker_main()"
)


HELPER_MEMORY_BYTES = 4 * 1024**3  # address-space limit of the helper: a runaway SymPy gets MemoryError
VERDICTS = ("equal", "not_equal", "timeout", "reference")


@dataclass(frozen=True)
class Judgement:
    """The helper's answer for one (reference, response).

    ``verdict``: ``equal`` | ``not_equal`` | ``timeout`` | ``reference`` (the reference
    could not be read) | ``broken`` (the helper itself failed: infrastructure, not a verdict).
    ``reason``: why (``equal``, ``not_equal``, ``no_answer``, ``truncated``, a strict
    rule's name, ``timeout``, ...); ``pred``: the answer math-verify extracted.
    """

    verdict: str
    reason: str = ""
    pred: str = ""
    error: str = ""
    defused: int = 0

    @property
    def equal(self) -> bool:
        return self.verdict == "equal"


def worker_main() -> None:
    """Helper process: one JSON request per line on stdin, one JSON answer per line on stdout."""
    import logging
    import resource

    try:
        resource.setrlimit(resource.RLIMIT_AS, (HELPER_MEMORY_BYTES, HELPER_MEMORY_BYTES))
    except (ValueError, OSError):
        pass
    logging.disable(logging.CRITICAL)
    out = sys.stdout
    sys.stdout = sys.stderr  # stray prints must not corrupt the protocol
    import math_verify  # noqa: F401 - pay the SymPy import before saying ready

    from prover.verifiers.math.judge import judge

    out.write(json.dumps({"ready": True}) + "\n")
    out.flush()
    for line in sys.stdin:
        try:
            req = json.loads(line)
            res = judge(str(req["gold"]), str(req["response"]), float(req.get("timeout", 5)))
        except MemoryError:
            res = {"verdict": "timeout", "reason": "memory", "error": "the comparison ran out of memory"}
        except Exception as exc:  # noqa: BLE001 - reported to the caller
            res = {"verdict": "broken", "reason": "helper", "error": f"{type(exc).__name__}: {exc}"[:500]}
        out.write(json.dumps(res, ensure_ascii=True) + "\n")
        out.flush()


class SymbolicChecker:
    """A lazily started helper process; thread-safe; restarted after a timeout or crash."""

    def __init__(self, timeout_s: float = 5.0, start_timeout_s: float = 120.0, command: Sequence[str] | None = None) -> None:
        self.timeout_s = timeout_s
        self.command = list(command) if command else [sys.executable, "-c", _WORKER_SRC.format(root=_REPO_ROOT)]
        self.start_timeout_s = start_timeout_s
        self._proc: subprocess.Popen | None = None
        self._buf = b""
        self._lock = threading.Lock()
        self.restarts = 0

    def _start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        self._proc = subprocess.Popen(
            self.command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        self._buf = b""
        if self._read_line(time.monotonic() + self.start_timeout_s) is None:
            self._kill()
            raise RuntimeError("the math-verify helper did not start (is math-verify installed?)")

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            kill_group(proc)

    def _read_line(self, deadline: float) -> bytes | None:
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line

    def check(self, gold: str, response: str) -> Judgement:
        """Judge ``response`` against ``gold`` in the helper; at most ``timeout_s`` (+2 s grace) of waiting."""
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                if self._proc is not None:
                    self.restarts += 1
                    self._kill()
                try:
                    self._start()
                except (OSError, RuntimeError) as exc:
                    return Judgement("broken", "helper", error=str(exc))
            assert self._proc is not None and self._proc.stdin is not None
            request = json.dumps({"gold": clean_text(gold), "response": clean_text(response), "timeout": self.timeout_s}) + "\n"
            try:
                self._proc.stdin.write(request.encode("utf-8"))
                self._proc.stdin.flush()
            except OSError as exc:
                self._kill()
                return Judgement("broken", "helper", error=f"math-verify helper died: {exc}")
            line = self._read_line(time.monotonic() + self.timeout_s + 2.0)
            if line is None:
                self._kill()  # overran (or died mid-answer): kill it; the next check starts a fresh one
                return Judgement("timeout", "timeout", error=f"the math check exceeded {self.timeout_s:g} s")
            try:
                res = json.loads(line)
                verdict = str(res["verdict"])
            except (ValueError, KeyError, TypeError):
                self._kill()
                return Judgement("broken", "helper", error="malformed answer from the math-verify helper")
            if verdict not in VERDICTS:
                return Judgement("broken", str(res.get("reason", "helper")), error=str(res.get("error", ""))[:500])
            return Judgement(verdict, str(res.get("reason", "")), str(res.get("pred", ""))[:300], str(res.get("error", ""))[:500], int(res.get("defused", 0) or 0))

    def close(self) -> None:
        with self._lock:
            self._kill()
