"""The harness server: one per sandbox worker. Reads jobs (JSON lines) on stdin, forks each job's
candidate (C) beside the long-lived driver (D), enforces the wall deadline, answers one JSON line per
job on stdout and cleans up after each job before the next.

Runs inside the sandbox (standard library only; see ``__init__``)."""

from __future__ import annotations

import json
import os
import resource
import select
import signal
import socket
import sys
import tempfile
import time
import traceback

from .candidate import candidate_main
from .driver import describe_end, spawn_driver
from .isolation import (
    CLONE_NEWNET,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    OWN_PID_NS,
    PR_SET_CHILD_SUBREAPER,
    PR_SET_PDEATHSIG,
    fork_in_new_pid_ns,
    job_setup,
    mount,
    prctl,
    probe_job_namespaces,
    reap_strays,
    sweep_uid,
    unshare,
    wipe_dir,
)
from .wire import recv_frame, send_frame, tail


# Modules loaded by the server before any fork: faster imports for solutions,
# and importable even where the interpreter's directory is not readable.
PRELOAD = (
    "abc array bisect calendar cmath collections collections.abc contextlib copy dataclasses "
    "datetime decimal enum fractions functools hashlib heapq itertools math numbers operator "
    "random re statistics string textwrap typing unicodedata"
).split()


class Server:
    """The server's per-job logic and its (lazily started, restarted on failure) driver."""

    def __init__(self, ctx: dict, stdin_fd: int) -> None:
        self.ctx = ctx
        self.stdin_fd = stdin_fd
        self.driver_pid = 0
        self.ctl: "socket.socket | None" = None

    def _ensure_driver(self) -> socket.socket:
        if self.ctl is None:
            self.driver_pid, self.ctl = spawn_driver(self.ctx)
        return self.ctl

    def _drop_driver(self) -> None:
        if self.ctl is not None:
            self.ctl.close()
            self.ctl = None
        if self.driver_pid:
            try:
                os.kill(self.driver_pid, signal.SIGKILL)
                os.waitpid(self.driver_pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            self.driver_pid = 0

    def _fork_candidate(self, job: dict) -> "tuple[int, socket.socket, int]":
        sock_d, sock_c = socket.socketpair()
        out_r, out_w = os.pipe()
        sys.stdout.flush()
        pid = fork_in_new_pid_ns() if self.ctx.get("job_namespaces") else os.fork()
        if pid == 0:
            try:
                prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
                child_ctx = job_setup(job, self.ctx)
                if child_ctx.get("fresh_mounts"):
                    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
                candidate_main(sock_c.fileno(), out_w, job, child_ctx)
            except BaseException:
                try:
                    os.write(out_w, ("sandbox setup failed:\n" + traceback.format_exc()).encode())
                except BaseException:
                    pass
            finally:
                os._exit(70)
        sock_c.close()
        os.close(out_w)
        return pid, sock_d, out_r

    def run_job(self, job: dict) -> "tuple[dict, object]":
        """Run one job; returns (report, cleanup). The caller answers first, then calls
        cleanup(), which must finish before the next job: the report does not wait for the
        namespace teardown."""
        started = time.monotonic()
        ctl: "socket.socket | None" = self._ensure_driver()  # before the job's fds exist: D never inherits them
        cpid, sock_d, out_r = self._fork_candidate(job)
        try:
            socket.send_fds(ctl, [b"J"], [sock_d.fileno(), out_r])
            send_frame(ctl, job)
        except OSError:
            self._drop_driver()
            ctl = None
        finally:
            sock_d.close()
            os.close(out_r)
        deadline = started + float(job["timeout"]) + float(self.ctx.get("grace_s", 2.0))
        report, parent_gone = self._await_report(ctl, deadline) if ctl is not None else (None, False)

        def cleanup() -> None:
            try:
                os.kill(cpid, signal.SIGKILL)  # pid 1 of the job's namespace: everything in it dies too
            except ProcessLookupError:
                pass
            try:
                os.waitpid(cpid, 0)  # a pid-namespace init is reaped only once its namespace is empty
            except ChildProcessError:
                pass
            if not self.ctx.get("job_namespaces"):  # no namespace took the job's processes and files away
                reap_strays(keep=self.driver_pid, timeout=2.0)
                sweep_uid(self.ctx.get("uid_candidate"), keep=self.driver_pid)
                wipe_dir(self.ctx["tmp"], self.ctx.get("uid_candidate"))

        if parent_gone:
            cleanup()
            os._exit(0)
        if report is None or report.get("id") != job.get("id"):
            self._drop_driver()  # hung, dead or confused: the next job gets a fresh one
            if time.monotonic() >= deadline:
                report = {"outcome": "timeout", "reason": "wall_timeout", "message": f"The solution did not finish within {job['timeout']:g} s."}
            else:
                report = {"outcome": "error", "reason": "harness", "message": "the test driver ended without a report"}
        elif report.get("outcome") == "error":
            self._drop_driver()
        if report.pop("ended", False):  # the candidate's channel broke: how did the process end?
            ended = _wait_with_usage(cpid, 0.5)
            if ended is not None:
                outcome, reason, message = describe_end(ended[0], ended[1], float(job["cpu_s"]))
                report.update(outcome=outcome, reason=reason, message=message)
        report["run_s"] = time.monotonic() - started
        return report, cleanup

    def _await_report(self, ctl: socket.socket, deadline: float) -> "tuple[dict | None, bool]":
        """(D's report or None, whether the verifier went away meanwhile)."""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None, False
            ready, _, _ = select.select([ctl, self.stdin_fd], [], [], left)
            if self.stdin_fd in ready:
                data = os.read(self.stdin_fd, 1 << 20)
                if not data:  # EOF on stdin: the verifier is gone
                    return None, True
                PENDING.append(data)
            if ctl in ready:
                try:
                    report = recv_frame(ctl, deadline, limit=1 << 30)
                except BaseException:
                    return None, False
                return (report if type(report) is dict else None), False


def _wait_with_usage(pid: int, grace: float) -> "tuple[int, float] | None":
    """(exit status, CPU seconds) of child ``pid`` if it ends within ``grace`` seconds."""
    end = time.monotonic() + grace
    while True:
        try:
            done, status, usage = os.wait4(pid, os.WNOHANG)
        except ChildProcessError:
            return None
        if done:
            return status, usage.ru_utime + usage.ru_stime
        if time.monotonic() >= end:
            return None
        time.sleep(0.001)


PENDING: list = []  # stdin bytes that arrived while a job ran


def server_main(ctx: dict) -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:  # die with the verifier (bwrap has --die-with-parent; this covers rlimits mode)
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass
    parent = ctx.get("parent_pid")
    if parent and os.getppid() != parent and os.getpid() != 2:
        return  # the verifier is already gone
    for name in PRELOAD:
        try:
            __import__(name)
        except ImportError:
            pass
    import gc

    gc.collect()
    gc.freeze()  # forked jobs never walk (and so never copy-on-write) the server's objects
    try:
        prctl(PR_SET_CHILD_SUBREAPER, 1)
    except OSError:
        pass
    if ctx.get("unshare_net"):
        try:
            unshare(CLONE_NEWNET)
            ctx["net_isolated"] = True
        except OSError:
            ctx["net_isolated"] = False
    if ctx.get("job_namespaces") == "auto":
        ctx["job_namespaces"] = probe_job_namespaces()
    if ctx.get("job_namespaces"):
        OWN_PID_NS.append(os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC))
    else:  # one scratch root, emptied after every job (see wipe_dir) and removed at exit
        base = tempfile.mkdtemp(prefix="code-sandbox-")
        os.chmod(base, 0o711)
        ctx["tmp"] = os.path.join(base, "jobs")
        os.mkdir(ctx["tmp"])
        os.chmod(ctx["tmp"], 0o1777)
    hello = {
        "ready": True,
        "job_namespaces": bool(ctx.get("job_namespaces")),
        "separate_uid": ctx.get("uid_candidate") is not None,
        "net_isolated": ctx.get("net_isolated"),
        "uid": os.getuid(),
    }
    sys.stdout.write(json.dumps(hello) + "\n")
    sys.stdout.flush()
    try:
        serve_jobs(ctx)
    finally:
        if not ctx.get("job_namespaces") and ctx.get("tmp"):
            wipe_dir(ctx["tmp"], ctx.get("uid_candidate"))
            import shutil

            shutil.rmtree(os.path.dirname(ctx["tmp"]), ignore_errors=True)


def serve_jobs(ctx: dict) -> None:
    """The server loop: one JSON job per stdin line, one JSON report per stdout line, until EOF."""
    stdin_fd = sys.stdin.fileno()
    server = Server(ctx, stdin_fd)
    buf = b""
    while True:
        if PENDING:
            chunk = b"".join(PENDING)
            PENDING.clear()
        else:
            chunk = os.read(stdin_fd, 1 << 20)
            if not chunk:
                return
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if not line.strip():
                continue
            job = json.loads(line)
            cleanup = None
            try:
                report, cleanup = server.run_job(job)
            except BaseException:
                report = {"outcome": "error", "reason": "harness", "message": tail(traceback.format_exc(), 20)}
            report["id"] = job.get("id")
            sys.stdout.write(json.dumps(report) + "\n")
            sys.stdout.flush()
            if cleanup is not None:
                cleanup()  # before the next job, after the answer


def main(argv: list) -> None:
    """The server's entry point: ``argv[1]`` is its configuration (JSON) from the host."""
    server_main(json.loads(argv[1]) if len(argv) > 1 else {})
