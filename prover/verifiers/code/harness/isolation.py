"""Isolation primitives of the in-sandbox harness: namespaces, mounts, privileges, and the sweep of
what a job left behind (stray processes, files) where no namespace takes it away.

Runs inside the sandbox (standard library only; see ``__init__``)."""

from __future__ import annotations

import ctypes
import os
import signal
import time

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
OWN_PID_NS: list = []  # fd of the server's own pid namespace (to undo unshare(CLONE_NEWPID))
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 2, 4, 8, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 1, 4, 36, 38


_libc = ctypes.CDLL(None, use_errno=True)


def _ok(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def prctl(option: int, arg: int) -> None:
    _ok(_libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)), "prctl")


def unshare(flags: int) -> None:
    _ok(_libc.unshare(ctypes.c_int(flags)), "unshare")


def setns(fd: int, nstype: int) -> None:
    _ok(_libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)), "setns")


def fork_in_new_pid_ns() -> int:
    """fork(), the child being pid 1 of a fresh pid namespace (a plain fork without one)."""
    if not OWN_PID_NS:
        return os.fork()
    unshare(CLONE_NEWPID)  # applies to the next child only...
    try:
        return os.fork()
    finally:
        if os.getpid() != 1:  # ...so the parent goes back to its own namespace for children
            setns(OWN_PID_NS[0], CLONE_NEWPID)


def mount(source: str, target: str, fstype: "str | None", flags: int, data: "str | None") -> None:
    _ok(
        _libc.mount(
            source.encode(),
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


def drop_privileges(uid: "int | None") -> None:
    """Become ``uid`` (no groups, no capabilities); a no-op when ``uid`` is None."""
    if uid is None:
        return
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    if os.getuid() != uid or os.geteuid() != uid:  # pragma: no cover - kernel contract
        raise OSError("setuid did not stick")


# ---------------------------------------------------------------- per-job namespaces, and the sweep without them


def job_setup(job: dict, ctx: dict) -> dict:
    """In the job's first process (pid 1 of its pid namespace): private mounts and fresh tmpfs."""
    child_ctx = dict(ctx)
    if ctx.get("job_namespaces"):
        unshare(CLONE_NEWNS | CLONE_NEWIPC)
        mount("none", "/", None, MS_REC | MS_PRIVATE, None)
        size = f"size={int(job['tmpfs_mb'])}m,nr_inodes=4096,mode=1777"
        for path in ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/dev/mqueue"):
            if os.path.isdir(path) and not os.path.islink(path):
                mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, size)
        child_ctx["fresh_mounts"] = True
    return child_ctx


def reap_strays(keep: int, timeout: float) -> None:
    """Reap the server's children except ``keep`` (the driver): orphans of a job without its
    own pid namespace are reparented here (the server is a subreaper). SIGKILL them after
    ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while True:
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if not pid:
                break
        strays = [pid for pid in _children() if pid != keep]
        if not strays:
            return
        if time.monotonic() > end:
            for pid in strays:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.02)
        else:
            time.sleep(0.001)


def _pids(matches) -> list:
    """Pids in /proc for which ``matches(pid_text)`` holds (processes that vanish meanwhile are skipped)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if matches(entry):
                found.append(int(entry))
        except (OSError, ValueError, IndexError):
            pass
    return found


def _children() -> list:
    me = str(os.getpid())

    def child(entry: str) -> bool:
        with open(f"/proc/{entry}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[1] == me

    return _pids(child)


def wipe_dir(path: str, uid: "int | None") -> None:
    """Empty ``path`` (the solutions' scratch root) as the solutions' uid, which owns what is in it."""
    import shutil

    pid = os.fork()
    if pid == 0:
        try:
            drop_privileges(uid)
            for entry in os.listdir(path):
                full = os.path.join(path, entry)
                if os.path.isdir(full) and not os.path.islink(full):
                    shutil.rmtree(full, ignore_errors=True)
                else:
                    try:
                        os.unlink(full)
                    except OSError:
                        pass
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def _pids_of_uid(uid: int) -> list:
    def owned(entry: str) -> bool:
        with open(f"/proc/{entry}/status") as f:
            for line in f:
                if line.startswith("Uid:"):
                    return int(line.split()[1]) == uid
        return False

    return _pids(owned)


def sweep_uid(uid: "int | None", keep: int = 0) -> None:
    """Without a job pid namespace: kill every process of the candidate uid.

    ``kill(-1, SIGKILL)`` from a helper running as that uid hits them all in one
    pass (a fork storm cannot outrun it); repeat until /proc shows none.
    """
    if uid is None:
        return
    for _ in range(100):
        if not _pids_of_uid(uid):
            return
        pid = os.fork()
        if pid == 0:
            try:
                drop_privileges(uid)
                os.kill(-1, signal.SIGKILL)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        reap_strays(keep, timeout=0.05)


def probe_job_namespaces() -> bool:
    """Can this server give each job fresh pid/mount/ipc namespaces (twice in a row)?"""
    try:
        OWN_PID_NS.append(os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC))
    except OSError:
        return False
    try:
        for _ in range(2):
            pid = fork_in_new_pid_ns()
            if pid == 0:
                try:
                    job_setup({"tmpfs_mb": 1}, {"job_namespaces": True})
                    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
                    os._exit(0 if os.getpid() == 1 else 1)
                except BaseException:
                    os._exit(1)
            _, st = os.waitpid(pid, 0)
            if not (os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0):
                return False
        return True
    except OSError:
        return False
    finally:
        os.close(OWN_PID_NS.pop())
