"""C, the candidate's side: isolates its process (uid, rlimits, fds, scratch directory), then runs
the untrusted solution and answers D's requests with plain, tagged values.

Runs inside the sandbox (standard library only; see ``__init__``)."""

from __future__ import annotations

import builtins
import fcntl
import os
import resource
import signal
import socket
import sys
import tempfile
import traceback

from .isolation import PR_SET_NO_NEW_PRIVS, PR_SET_PDEATHSIG, drop_privileges, prctl
from .wire import (
    EXIT_CHANNEL_LOST,
    MAX_REQUEST,
    SOLUTION_FILE,
    compile_registered,
    decode,
    encode,
    recv_frame,
    reseed,
    send_frame,
    short_repr,
)


def _format_solution_exc(exc: BaseException) -> str:
    try:
        return _format_solution_exc_unsafe(exc)
    except BaseException:
        return f"{type(exc).__name__}: <unprintable>"


def _format_solution_exc_unsafe(exc: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == SOLUTION_FILE]
    lines = ["Traceback (most recent call last):\n"] if frames else []
    lines += traceback.format_list(frames[-6:])
    lines += traceback.format_exception_only(type(exc), exc)
    return "".join(lines)


def candidate_main(sock_fd: int, out_w: int, job: dict, ctx: dict) -> None:
    """C: isolate this process, then serve the driver's requests. Never returns."""
    os.setpgid(0, 0)
    sock_fd = fcntl.fcntl(sock_fd, fcntl.F_DUPFD, 10)  # out of the way of 0-3 before the dup2s
    out_w = fcntl.fcntl(out_w, fcntl.F_DUPFD, 10)
    devnull = os.open("/dev/null", os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(out_w, 1)
    os.dup2(out_w, 2)
    os.dup2(sock_fd, 3)
    os.closerange(4, 1 << 20)
    drop_privileges(ctx.get("uid_candidate"))
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # after setuid, which clears it
    if os.getppid() == 1 and os.getpid() != 1:
        os._exit(71)  # the server is already gone (a namespace init sees ppid 0 instead)
    reseed()
    cpu = int(job["cpu_s"])
    mem = int(job["memory_mb"]) * 1024 * 1024
    fsize = int(job["file_size_mb"]) * 1024 * 1024
    for limit, value in (
        (resource.RLIMIT_CPU, (cpu, cpu + 1) if os.getpid() != 1 else (cpu, cpu)),  # init ignores SIGXCPU
        (resource.RLIMIT_AS, (mem, mem)),
        (resource.RLIMIT_FSIZE, (fsize, fsize)),
        (resource.RLIMIT_NOFILE, (64, 64)),
        (resource.RLIMIT_CORE, (0, 0)),
        (resource.RLIMIT_NPROC, (int(job["max_processes"]), int(job["max_processes"]))),
        (resource.RLIMIT_MEMLOCK, (0, 0)),
        (resource.RLIMIT_MSGQUEUE, (0, 0)),
    ):
        resource.setrlimit(limit, value)
    if ctx.get("fresh_mounts"):  # a fresh tmpfs of its own: a fixed name will do
        workdir = os.path.join(ctx.get("tmp", "/tmp"), "solution")
        os.mkdir(workdir, 0o700)
    else:
        workdir = tempfile.mkdtemp(prefix="solution-", dir=ctx.get("tmp", "/tmp"))
    os.chdir(workdir)
    os.environ.clear()
    os.environ.update({"PATH": "/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8"})
    tempfile.tempdir = workdir
    # sys.stdin/stdout/stderr already wrap fds 0-2, now /dev/null and the capture pipe
    sock = socket.socket(fileno=3)
    serve(sock)
    os._exit(0)


def serve(sock: socket.socket) -> None:
    ns: dict = {"__name__": "solution", "__builtins__": builtins, "__file__": SOLUTION_FILE}
    refs: dict = {}
    while True:
        try:
            msg = recv_frame(sock, limit=MAX_REQUEST)  # the driver's requests: trusted, only memory-bound
        except BaseException:
            os._exit(EXIT_CHANNEL_LOST)
        try:
            value = _handle(msg, ns, refs)
            reply = {"ok": True, "value": encode(value, refs)}
        except BaseException as exc:  # the solution's exceptions, SystemExit included
            reply = {
                "ok": False,
                "exc": {
                    "type": type(exc).__name__,
                    "message": _exc_message(exc),
                    "traceback": _format_solution_exc(exc),
                    "exit": isinstance(exc, (SystemExit, KeyboardInterrupt, GeneratorExit)),
                },
            }
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:
            pass
        try:
            send_frame(sock, reply)
        except OSError:
            os._exit(EXIT_CHANNEL_LOST)
        except BaseException as exc:  # unencodable or too large: say so instead of dying
            try:
                send_frame(sock, {"ok": False, "exc": {"type": "TypeError", "message": f"the result cannot be sent to the tests: {short_repr(exc, 200)}", "traceback": ""}})
            except BaseException:
                os._exit(EXIT_CHANNEL_LOST)


def _exc_message(exc: BaseException) -> str:
    try:
        return short_repr(exc.code, 200) if isinstance(exc, SystemExit) else str(exc)[:1000]
    except BaseException:
        return "<unprintable exception>"


def _decode_in_candidate(obj: object, refs: dict) -> object:
    if type(obj) is dict and "ref" in obj:
        return refs[obj["ref"]]
    if type(obj) is list:
        return [_decode_in_candidate(v, refs) for v in obj]
    if type(obj) is dict:
        ((tag, body),) = obj.items()
        if tag == "t":
            return tuple(_decode_in_candidate(v, refs) for v in body)
        if tag == "d":
            return {_decode_in_candidate(k, refs): _decode_in_candidate(v, refs) for k, v in body}
    return decode(obj, None)


def _handle(msg: dict, ns: dict, refs: dict) -> object:
    op = msg["op"]
    if op == "load":
        code = compile_registered(msg["code"], SOLUTION_FILE)
        exec(code, ns)
        kinds = {}
        for name, value in list(ns.items()):
            if name.startswith("__"):
                continue
            if type(value).__name__ == "module":
                kinds[name] = "module:" + str(getattr(value, "__name__", name))
            else:
                kinds[name] = "callable" if callable(value) else "value"
        return kinds
    if op == "get":
        return ns[msg["name"]]
    if op == "call":
        fn = refs[msg["ref"]]
        args = [_decode_in_candidate(a, refs) for a in msg["args"]]
        kwargs = {k: _decode_in_candidate(v, refs) for k, v in msg["kwargs"].items()}
        return fn(*args, **kwargs)
    if op == "getattr":
        return getattr(refs[msg["ref"]], msg["name"])
    if op == "setattr":
        setattr(refs[msg["ref"]], msg["name"], _decode_in_candidate(msg["value"], refs))
        return None
    raise ValueError(f"unknown op {op!r}")
