"""Sandbox for untrusted Python: a pool of warm, isolated harness servers.

Each worker is one long-lived harness server (``harness/``, sent as one program), started either inside
``bwrap`` (mode ``bwrap``) or directly under rlimits (mode ``rlimits``). The
server gives every job fresh pid/mount/ipc namespaces, a fresh tmpfs and an
unprivileged per-worker uid, and runs the tests in a separate driver process;
docs/sandbox.md says what is and is not isolated, and why.

Host-side guarantees, whatever the job does: a worker that stops answering is
killed as a whole process group and restarted; a server never outlives the
verifier process (bwrap ``--die-with-parent``, PDEATHSIG, EOF on its stdin);
every answer is size-capped before it is parsed.
"""

from __future__ import annotations

import json
import logging
import math
import os
import queue
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from prover.verifiers.code import harness
from prover.verifiers.proc import kill_group

log = logging.getLogger(__name__)

MODES = ("auto", "bwrap", "rlimits")
_CAPS_FOR_SERVER = ("CAP_SETUID", "CAP_SETGID", "CAP_SYS_ADMIN", "CAP_KILL")
_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
_START_TIMEOUT_S = 60.0
_SLACK_S = 10.0  # host-side wait beyond the server's own deadline before declaring it hung


class SandboxUnavailable(RuntimeError):
    """The requested sandbox cannot run on this machine (the message says how to fix it)."""


@dataclass(frozen=True)
class Limits:
    """Per-job limits, enforced inside the sandbox."""

    timeout_s: float = 10.0
    memory_mb: int = 512
    max_processes: int = 4
    max_output_bytes: int = 64 * 1024
    file_size_mb: int = 16
    tmpfs_mb: int = 64

    @property
    def cpu_s(self) -> int:
        return max(1, math.ceil(self.timeout_s))


def sandbox_python() -> str:
    """The interpreter the sandbox runs: the base interpreter behind this (venv) Python."""
    return os.path.realpath(sys.executable)


def _python_roots(python: str) -> list[str]:
    roots = {os.path.realpath(sys.base_prefix), os.path.dirname(os.path.dirname(python))}
    return sorted(r for r in roots if r and r != "/" and not r.startswith("/usr/") and r != "/usr")


def bwrap_command(python: str, *, tmpfs_mb: int = 64) -> list[str]:
    """The ``bwrap`` argv that wraps one harness server (without the python part)."""
    bwrap = shutil.which("bwrap") or "bwrap"
    args = [
        bwrap,
        "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
        "--die-with-parent", "--new-session", "--hostname", "sandbox",
    ]  # fmt: skip
    if os.geteuid() == 0:
        # Real root: no user namespace, so the harness can switch the solution to a
        # distinct unprivileged uid (where RLIMIT_NPROC applies); keep only the
        # capabilities the server needs to set that up.
        args += ["--cap-drop", "ALL"]
        for cap in _CAPS_FOR_SERVER:
            args += ["--cap-add", cap]
    else:
        args += ["--unshare-user"]
    args += ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    if os.path.exists("/etc/ld.so.cache"):
        args += ["--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    made: set[str] = set()
    for root in _python_roots(python):
        parts = Path(root).parts
        for i in range(2, len(parts)):
            parent = str(Path(*parts[:i]))
            if parent not in made:
                made.add(parent)
                args += ["--perms", "0755", "--dir", parent]  # traversable by the solution's uid
        args += ["--ro-bind", root, root]
    args += [
        "--proc", "/proc", "--dev", "/dev",
        "--perms", "1777", "--size", str(tmpfs_mb * 1024 * 1024), "--tmpfs", "/tmp",
        "--chdir", "/tmp", "--clearenv",
    ]  # fmt: skip
    for key, value in _ENV.items():
        args += ["--setenv", key, value]
    return args


_probe_lock = threading.Lock()
_probe_cache: dict[str, tuple[bool, str]] = {}


def probe_bwrap(python: str | None = None) -> tuple[bool, str]:
    """(works, why not): can bwrap start the sandbox interpreter here? Cached per process."""
    python = python or sandbox_python()
    with _probe_lock:
        if python in _probe_cache:
            return _probe_cache[python]
        if shutil.which("bwrap") is None:
            result = (False, "bwrap is not installed (Debian/Ubuntu: apt-get install -y bubblewrap)")
        else:
            cmd = bwrap_command(python) + [python, "-I", "-S", "-c", "import ctypes, resource; print('sandbox-ok')"]
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30, env=dict(_ENV), stdin=subprocess.DEVNULL)
                ok = proc.returncode == 0 and "sandbox-ok" in proc.stdout
                result = (ok, "" if ok else f"bwrap failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
            except (OSError, subprocess.TimeoutExpired) as exc:
                result = (False, f"bwrap failed: {exc}")
        _probe_cache[python] = result
        return result


_warned_fallback = False


def resolve_mode(requested: str, python: str | None = None) -> str:
    """``auto`` -> ``bwrap`` when it works here, else ``rlimits`` (with one warning)."""
    global _warned_fallback
    if requested not in MODES:
        raise ValueError(f"sandbox must be one of {MODES}, got {requested!r}")
    if requested == "rlimits":
        return "rlimits"
    ok, why = probe_bwrap(python)
    if ok:
        return "bwrap"
    if requested == "bwrap":
        raise SandboxUnavailable(f"sandbox='bwrap' requested but {why}; install bubblewrap or set sandbox='rlimits'")
    if not _warned_fallback:
        _warned_fallback = True
        log.warning("code sandbox: %s; falling back to rlimits (weaker filesystem isolation, see docs/sandbox.md)", why)
    return "rlimits"


def _uid_block(workers: int) -> int:
    """First uid of a block of 2*workers uids private to this pool (unmapped, high, per-process)."""
    with _uid_lock:
        global _uid_seq
        _uid_seq += 1
        seq = _uid_seq
    return 1_000_000 + ((os.getpid() % 100_000) * 64 + seq % 64) * 256


_uid_lock = threading.Lock()
_uid_seq = 0


class _Spawner:
    """A long-lived thread that starts every server.

    ``--die-with-parent``/PDEATHSIG fire when the *thread* that forked the child
    exits, so servers must not be started from short-lived pool threads.
    """

    def __init__(self) -> None:
        self._jobs: queue.Queue[tuple[Callable[[], Any], Future] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="code-sandbox-spawner", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            item = self._jobs.get()
            if item is None:
                return
            fn, fut = item
            try:
                fut.set_result(fn())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                fut.set_exception(exc)

    def call(self, fn: Callable[[], Any]) -> Any:
        fut: Future = Future()
        self._jobs.put((fn, fut))
        return fut.result()

    def stop(self) -> None:
        self._jobs.put(None)


class Worker:
    """One harness server and the pipe protocol to it (one job at a time)."""

    def __init__(self, index: int, mode: str, python: str, uids: tuple[int, int] | None, spawner: _Spawner, tmpfs_mb: int) -> None:
        self.index, self.mode, self.python, self.uids = index, mode, python, uids
        self._spawner = spawner
        self._tmpfs_mb = tmpfs_mb
        self.proc: subprocess.Popen | None = None
        self.hello: dict[str, Any] = {}
        self._buf = b""
        self._stderr: Any = None
        self._last_error = ""
        self.restarts = 0

    # -- lifecycle
    def _command(self) -> list[str]:
        ctx = {
            "uid_driver": self.uids[0] if self.uids else None,
            "uid_candidate": self.uids[1] if self.uids else None,
            "job_namespaces": "auto",
            "unshare_net": self.mode == "rlimits",
            "tmp": "/tmp",
            "grace_s": 2.0,
            "parent_pid": os.getpid(),
        }
        argv = [self.python, "-I", "-S", "-c", harness.source(), json.dumps(ctx)]
        if self.mode == "bwrap":
            return bwrap_command(self.python, tmpfs_mb=self._tmpfs_mb) + argv
        return argv

    def _spawn(self) -> subprocess.Popen:
        self._stderr = tempfile.TemporaryFile(prefix="code-sandbox-stderr-")
        return subprocess.Popen(
            self._command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=dict(_ENV),
            cwd="/",
            start_new_session=True,  # its own session and process group: killed as a whole
            close_fds=True,
        )

    def start(self) -> None:
        self.proc = self._spawner.call(self._spawn)
        self._buf = b""
        try:
            line = self._read_line(time.monotonic() + _START_TIMEOUT_S)
        except EOFError:
            line = None
        if line is None:
            err = self.stderr_tail()
            self.kill()
            raise SandboxUnavailable(f"code sandbox worker did not start ({self.mode}): {err or 'no output'}")
        self.hello = json.loads(line)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stderr_tail(self, limit: int = 2000) -> str:
        if self._stderr is None:
            return ""
        try:
            self._stderr.seek(0, os.SEEK_END)
            size = self._stderr.tell()
            self._stderr.seek(max(0, size - limit))
            return self._stderr.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""

    def kill(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            kill_group(proc)
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def close(self) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None and proc.stdin:
            try:
                proc.stdin.close()  # EOF: the server exits by itself
                proc.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.kill()

    # -- protocol
    def _read_line(self, deadline: float, limit: int = 64 * 1024 * 1024) -> bytes | None:
        """The next line; None at the deadline or past ``limit``; EOFError when the server is gone."""
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                return None
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise EOFError("the sandbox server closed its output")
            self._buf += chunk
            if len(self._buf) > limit:
                return None
        line, self._buf = self._buf.split(b"\n", 1)
        return line

    def run(self, job: dict[str, Any], limits: Limits) -> dict[str, Any]:
        """Send one job; return the server's report (an ``error`` report if the server broke).

        A server found dead (crashed or killed from outside) is restarted and the job
        sent once more: a sample runs in a fresh sandbox either way.
        """
        report = self._attempt(job, limits)
        if report is None:
            self.restarts += 1
            report = self._attempt(job, limits)
        if report is None:
            return {"outcome": "error", "reason": "harness", "message": f"sandbox worker died twice; {self._last_error}"}
        return report

    def _attempt(self, job: dict[str, Any], limits: Limits) -> dict[str, Any] | None:
        """The report, or None when the server was (or turned out to be) dead."""
        if not self.alive:
            self.kill()
            self.start()
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(job).encode() + b"\n")
            self.proc.stdin.flush()
        except OSError as exc:
            self._last_error = f"{exc}; {self.stderr_tail()}"
            self.kill()
            return None
        deadline = time.monotonic() + limits.timeout_s + _SLACK_S
        try:
            line = self._read_line(deadline, limit=8 * limits.max_output_bytes + 16 * 1024 * 1024)
        except EOFError:
            self._last_error = f"the sandbox server exited; {self.stderr_tail()}"
            self.kill()
            return None
        if line is None:
            err = self.stderr_tail()
            self.kill()
            return {"outcome": "error", "reason": "harness", "message": f"sandbox worker stopped answering; {err}"}
        try:
            report = json.loads(line)
        except ValueError:
            self.kill()
            return {"outcome": "error", "reason": "harness", "message": "sandbox worker sent a malformed report"}
        if not isinstance(report, dict) or report.get("id") != job["id"]:
            self.kill()
            return {"outcome": "error", "reason": "harness", "message": "sandbox worker answered another job"}
        return report


class SandboxPool:
    """``workers`` warm sandbox servers; ``run`` is thread-safe and blocks for a free one."""

    def __init__(self, mode: str = "auto", workers: int | None = None, *, python: str | None = None, tmpfs_mb: int = 64) -> None:
        self.python = python or sandbox_python()
        self.mode = resolve_mode(mode, self.python)
        self.workers = max(1, workers or default_workers())
        root = os.geteuid() == 0
        base = _uid_block(self.workers) if root else 0
        self._spawner = _Spawner()
        self._all = [
            Worker(i, self.mode, self.python, (base + 2 * i, base + 2 * i + 1) if root else None, self._spawner, tmpfs_mb)
            for i in range(self.workers)
        ]
        self._free: queue.Queue[Worker] = queue.Queue()
        for worker in self._all:
            self._free.put(worker)
        self._closed = False
        self._lock = threading.Lock()

    def isolation(self) -> dict[str, Any]:
        """What this pool isolates (for logs); starts a worker if none has started."""
        if not any(w.hello for w in self._all):
            self.warm_up()
        hello = next((w.hello for w in self._all if w.hello), {})
        return {
            "mode": self.mode,
            "job_namespaces": hello.get("job_namespaces"),
            "separate_uid": hello.get("separate_uid"),
            "net_isolated": True if self.mode == "bwrap" else hello.get("net_isolated"),
        }

    def warm_up(self) -> None:
        """Start one worker now (``isolation()`` reports what its server found)."""
        worker = self._free.get()
        try:
            if not worker.alive:
                worker.kill()
                worker.start()
        finally:
            self._free.put(worker)

    def run(self, job: dict[str, Any], limits: Limits) -> dict[str, Any]:
        if self._closed:
            raise RuntimeError("SandboxPool is closed")
        worker = self._free.get()
        try:
            return worker.run(job, limits)
        except SandboxUnavailable as exc:
            return {"outcome": "error", "reason": "harness", "message": str(exc)}
        finally:
            self._free.put(worker)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for worker in self._all:
            worker.close()
        self._spawner.stop()

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)
