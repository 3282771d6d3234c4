"""Killing a child process together with everything it started.

Every verifier child (Lean worker, code sandbox, math helper) runs in its own
session (``start_new_session=True``), so its process-group id is its pid and one
``killpg`` reaches its whole tree.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess

log = logging.getLogger(__name__)


def kill_group(proc: subprocess.Popen, *, pgid: int | None = None, wait_s: float = 10.0) -> None:
    """SIGKILL the process group of ``proc`` (``pgid``, default its pid), close its pipes, reap it.

    Idempotent: a group that is already gone is fine. Bounded: waits at most ``wait_s``.
    """
    try:
        os.killpg(proc.pid if pgid is None else pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for stream in (proc.stdin, proc.stdout):
        try:
            if stream:
                stream.close()
        except OSError:
            pass
    try:
        proc.wait(timeout=wait_s)
    except subprocess.TimeoutExpired:  # pragma: no cover - a SIGKILL'd process we cannot reap
        log.error("process %d did not die after SIGKILL", proc.pid)
