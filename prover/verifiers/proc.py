"""Killing a child process together with everything it started; jailing a long-lived child.

Every verifier child (Lean worker, code sandbox, math helper) runs in its own
session (``start_new_session=True``), so its process-group id is its pid and one
``killpg`` reaches its whole tree.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import threading
from pathlib import Path
from typing import Sequence

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


# -- a generic bubblewrap jail for long-lived verifier children -------------------------------

_bwrap_lock = threading.Lock()
_bwrap_probe: tuple[bool, str] | None = None
_warned: set[str] = set()


def bwrap_works() -> tuple[bool, str]:
    """(works, why not): can ``bwrap`` start a jailed process on this machine? Probed once per process."""
    global _bwrap_probe
    with _bwrap_lock:
        if _bwrap_probe is not None:
            return _bwrap_probe
        exe = shutil.which("bwrap")
        if exe is None:
            result = (False, "bwrap is not installed (Debian/Ubuntu: apt-get install -y bubblewrap)")
        else:
            cmd = jail_argv(["/bin/sh", "-c", "echo jail-ok"], writable=(), readable=(), cwd=Path("/"))
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
                ok = proc.returncode == 0 and "jail-ok" in proc.stdout
                result = (ok, "" if ok else f"bwrap failed (exit {proc.returncode}): {proc.stderr.strip()[-300:]}")
            except (OSError, subprocess.TimeoutExpired) as exc:
                result = (False, f"bwrap failed: {exc}")
        _bwrap_probe = result
        return result


def jail_argv(
    argv: Sequence[str],
    *,
    writable: Sequence[Path],
    readable: Sequence[Path] = (),
    cwd: Path,
    tmpfs_mb: int = 16,
) -> list[str]:
    """``argv`` wrapped in ``bwrap``: the host file system read-only, ``/tmp`` replaced by a small
    private tmpfs into which only ``readable`` (read-only) and ``writable`` (read-write) are bound,
    no network, own pid/ipc/uts namespaces, own session, killed when its parent dies."""
    args = [
        shutil.which("bwrap") or "bwrap",
        "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
        "--die-with-parent", "--new-session",
        "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
        "--size", str(tmpfs_mb * 1024 * 1024), "--tmpfs", "/tmp",
    ]  # fmt: skip
    for p in [*readable, *tmp_paths_of(argv, covered=[*readable, *writable])]:
        args += ["--ro-bind", str(p), str(p)]
    for p in writable:
        args += ["--bind", str(p), str(p)]
    args += ["--chdir", str(cwd), "--"]
    return args + list(argv)


def tmp_paths_of(argv: Sequence[str], covered: Sequence[Path] = ()) -> list[Path]:
    """Existing absolute paths in ``argv`` that lie under ``/tmp`` and are not inside ``covered``.

    The jail replaces ``/tmp`` by an empty tmpfs; a program or file the command names there (a
    checkout under /tmp, whose Bun binary or Lean runtime lives in it) must be bound back, read-only.
    """
    tmp = Path("/tmp")
    roots = [Path(c) for c in covered]
    out: list[Path] = []
    for a in argv:
        if not a.startswith("/"):
            continue
        p = Path(a)
        if p.is_relative_to(tmp) and p != tmp and p.exists() and not any(p.is_relative_to(r) for r in roots):
            out.append(p)
    return out


def sandboxed(
    argv: Sequence[str], *, mode: str, writable: Sequence[Path], readable: Sequence[Path] = (), cwd: Path, who: str
) -> tuple[list[str], str]:
    """(argv to run, mode used). ``mode``: ``bwrap`` (required), ``none``, or ``auto`` (bwrap when it
    works here, else unsandboxed with one logged warning per ``who``)."""
    if mode not in ("auto", "bwrap", "none"):
        raise ValueError(f"sandbox mode must be auto, bwrap or none, got {mode!r}")
    if mode == "none":
        return list(argv), "none"
    ok, why = bwrap_works()
    if ok:
        return jail_argv(argv, writable=writable, readable=readable, cwd=cwd), "bwrap"
    if mode == "bwrap":
        raise RuntimeError(f"{who}: sandbox 'bwrap' requested but {why}; install bubblewrap or choose sandbox 'none'")
    if who not in _warned:
        _warned.add(who)
        log.warning("%s runs WITHOUT a sandbox: %s (it still gets its own process group and memory watch)", who, why)
    return list(argv), "none"
