"""Symbolic equivalence through ``math-verify``, in a separate process with a hard timeout.

math-verify's own timeouts use ``signal.alarm`` (main thread only), and SymPy
can spend unbounded time in C code. So the comparison runs in a helper
process (where math-verify's alarms work as designed), and the caller waits at
most ``timeout_s``: a helper that overruns is killed and replaced, so the
batch always moves on.
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

from prover.verifiers.proc import kill_group

_REPO_ROOT = str(Path(__file__).resolve().parents[3])
_WORKER_SRC = (
    "import sys; sys.path.insert(0, {root!r}); "
    "from prover.verifiers.math.equivalence import worker_main; worker_main()"
)


@dataclass(frozen=True)
class Equivalence:
    """``equal``: the verdict; ``timed_out``: no verdict in time; ``error``: why math-verify
    failed; ``broken``: the helper itself failed (an infrastructure error, not a verdict)."""

    equal: bool
    timed_out: bool = False
    error: str = ""
    parsed_gold: str = ""
    parsed_pred: str = ""
    broken: bool = False


def _as_latex(text: str) -> str:
    if any(mark in text for mark in ("$", "\\(", "\\[", "\\boxed")):
        return text
    return f"${text}$"


def symbolic_equal(gold: str, pred: str, timeout_s: int) -> dict:
    """Run math-verify (in the calling process; used inside the worker)."""
    from math_verify import parse, verify

    seconds = max(1, int(timeout_s))
    g = parse(_as_latex(gold), parsing_timeout=seconds) or parse(gold, parsing_timeout=seconds)
    p = parse(_as_latex(pred), parsing_timeout=seconds) or parse(pred, parsing_timeout=seconds)
    if not g:
        return {"equal": False, "error": "could not parse the reference answer", "gold": "", "pred": str(p[:1])}
    if not p:
        return {"equal": False, "error": "", "gold": str(g[:1]), "pred": ""}
    equal = bool(verify(g, p, timeout_seconds=seconds))
    return {"equal": equal, "error": "", "gold": str(g[0])[:200], "pred": str(p[0])[:200]}


def worker_main() -> None:
    """Helper process: one JSON request per line on stdin, one JSON answer per line on stdout."""
    import logging

    logging.disable(logging.WARNING)
    out = sys.stdout
    sys.stdout = sys.stderr  # stray prints must not corrupt the protocol
    import math_verify  # noqa: F401 - pay the SymPy import before saying ready

    out.write(json.dumps({"ready": True}) + "\n")
    out.flush()
    for line in sys.stdin:
        try:
            req = json.loads(line)
            res = symbolic_equal(req["gold"], req["pred"], req.get("timeout", 5))
        except Exception as exc:  # noqa: BLE001 - reported to the caller
            res = {"equal": False, "error": f"{type(exc).__name__}: {exc}"[:500]}
        out.write(json.dumps(res) + "\n")
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

    def check(self, gold: str, pred: str) -> Equivalence:
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                if self._proc is not None:
                    self.restarts += 1
                    self._kill()
                try:
                    self._start()
                except (OSError, RuntimeError) as exc:
                    return Equivalence(False, error=str(exc), broken=True)
            assert self._proc is not None and self._proc.stdin is not None
            request = json.dumps({"gold": gold, "pred": pred, "timeout": self.timeout_s}) + "\n"
            try:
                self._proc.stdin.write(request.encode())
                self._proc.stdin.flush()
            except OSError as exc:
                self._kill()
                return Equivalence(False, error=f"math-verify helper died: {exc}", broken=True)
            line = self._read_line(time.monotonic() + self.timeout_s + 2.0)
            if line is None:
                self._kill()
                return Equivalence(False, timed_out=True, error=f"symbolic comparison exceeded {self.timeout_s:g} s")
            try:
                res = json.loads(line)
            except ValueError:
                self._kill()
                return Equivalence(False, error="malformed answer from the math-verify helper", broken=True)
            error = str(res.get("error") or "")
            timed_out = "Timeout" in error or "timed out" in error
            return Equivalence(bool(res.get("equal")), timed_out, error, str(res.get("gold", "")), str(res.get("pred", "")))

    def close(self) -> None:
        with self._lock:
            self._kill()
