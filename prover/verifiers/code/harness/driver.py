"""D, the trusted test driver: loads the solution in C, runs the problem's tests in its own
interpreter on values C computed, and reports. A pass is decided here, in a process no candidate
process can write into.

Runs inside the sandbox (standard library only; see ``__init__``)."""

from __future__ import annotations

import builtins
import os
import resource
import signal
import socket
import sys
import time
import traceback

from .isolation import OWN_PID_NS, PR_SET_DUMPABLE, PR_SET_PDEATHSIG, drop_privileges, prctl
from .wire import (
    EXIT_CHANNEL_LOST,
    PROMPT_FILE,
    TESTS_FILE,
    ChannelClosed,
    Output,
    ProtocolError,
    RemoteRef,
    WallTimeout,
    compile_registered,
    decode,
    encode,
    recv_frame,
    reseed,
    send_frame,
    short_repr,
    tail,
)


class SolutionExit(BaseException):
    """The solution raised SystemExit/KeyboardInterrupt: exiting is not a pass."""


class CandidateRaised(Exception):
    """Mixin of exceptions re-raised in the driver on behalf of the solution."""

    remote_traceback = ""


_raised_types: "dict[str, type]" = {}


def candidate_exception(name: str, message: str, tb_text: str) -> BaseException:
    """An exception of the solution's built-in type (so tests can catch ValueError...)."""
    base = getattr(builtins, name, None)
    if not (isinstance(base, type) and issubclass(base, Exception)):
        base = Exception
    if issubclass(base, (StopIteration, StopAsyncIteration)):
        base = RuntimeError  # must not end a test's loop early as if the data ran out
    cls = _raised_types.get(name)
    if cls is None:
        try:
            cls = type(name, (CandidateRaised, base), {})
        except TypeError:  # incompatible layouts: fall back to a plain carrier
            cls = type(name, (CandidateRaised,), {})
        if len(_raised_types) < 1000:  # the driver is long-lived: bounded cache
            _raised_types[name] = cls
    try:
        exc = cls(message)
    except Exception:  # a base whose constructor wants more (UnicodeEncodeError...): a plain carrier
        cls = type(name, (CandidateRaised,), {})
        _raised_types[name] = cls
        exc = cls(message)
    exc.remote_traceback = tb_text
    return exc


class Channel:
    """The driver's end of the socket to the candidate, with a sticky failure state."""

    def __init__(self, sock: socket.socket, deadline: float, output: "Output | None" = None) -> None:
        self.sock = sock
        self.deadline = deadline
        self.output = output
        self.failure: "BaseException | None" = None  # sticky: once broken, never a pass
        self.last_call = ""
        self.current_test = ""
        self.calls = 0

    def encode_arg(self, value: object) -> object:
        if isinstance(value, RemoteRef):
            return {"ref": value._rid}
        t = type(value)
        if t is list:
            return [self.encode_arg(v) for v in value]
        if t is tuple:
            return {"t": [self.encode_arg(v) for v in value]}
        if t is dict:
            return {"d": [[self.encode_arg(k), self.encode_arg(v)] for k, v in value.items()]}
        return encode(value, None)

    def request(self, msg: dict, label: str) -> object:
        if self.failure is not None:
            raise self.failure
        try:
            send_frame(self.sock, msg)
            reply = recv_frame(self.sock, self.deadline, output=self.output)
        except (BrokenPipeError, ConnectionResetError):
            self.failure = ChannelClosed()
            raise self.failure from None
        except (WallTimeout, ChannelClosed, ProtocolError) as exc:
            self.failure = exc
            raise
        except MemoryError:
            self.failure = ProtocolError("the solution's answer is too large to check")
            raise self.failure from None
        if type(reply) is not dict:
            self.failure = ProtocolError("malformed answer from the solution")
            raise self.failure
        if reply.get("ok") is True:
            try:
                return decode(reply.get("value"), self)
            except ProtocolError as exc:
                self.failure = exc
                raise
            except (MemoryError, RecursionError):
                self.failure = ProtocolError("the solution's answer is too large to check")
                raise self.failure from None
        exc_info = reply.get("exc")
        if type(exc_info) is not dict:
            self.failure = ProtocolError("malformed answer from the solution")
            raise self.failure
        name = str(exc_info.get("type", "Exception"))[:100]
        message = str(exc_info.get("message", ""))[:2000]
        tb_text = str(exc_info.get("traceback", ""))[-8000:]
        if exc_info.get("exit"):
            self.failure = SolutionExit(f"{label}: the solution raised {name}({message}) - exiting is not a pass")
            self.failure.remote_traceback = tb_text  # type: ignore[attr-defined]
            raise self.failure
        raise candidate_exception(name, message, tb_text)

    def call(self, ref: RemoteRef, args: tuple, kwargs: dict) -> object:
        try:
            enc_args = [self.encode_arg(a) for a in args]
            enc_kwargs = {str(k): self.encode_arg(v) for k, v in kwargs.items()}
        except (TypeError, ValueError) as exc:
            raise HarnessLimit(str(exc)) from None
        shown = ", ".join([short_repr(a, 120) for a in args] + [f"{k}={short_repr(v, 120)}" for k, v in kwargs.items()])
        call_text = f"{ref._label}({shown})"
        self.calls += 1
        self.last_call = f"{call_text} -> (no answer)"
        try:
            result = self.request({"op": "call", "ref": ref._rid, "args": enc_args, "kwargs": enc_kwargs}, call_text)
        except CandidateRaised as exc:
            self.last_call = f"{call_text} raised {type(exc).__name__}: {str(exc)[:200]}"
            raise
        self.last_call = f"{call_text} returned {short_repr(result)}"
        return result


class HarnessLimit(BaseException):
    """The tests need something the harness cannot send to the solution (our limit, not the model's)."""


def _test_line(exc: BaseException, source: str, filename: str) -> "tuple[int, str]":
    """(line number, source line) of the innermost frame of ``filename`` in the traceback."""
    found = (0, "")
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == filename and frame.lineno:
            lines = source.splitlines()
            text = lines[frame.lineno - 1].strip() if 0 < frame.lineno <= len(lines) else ""
            found = (frame.lineno, text)
    return found


_STDLIB = frozenset(getattr(sys, "stdlib_module_names", ()))


def trusted_module(name: str) -> "object | None":
    """The driver's own import of standard-library module ``name`` (None if not one)."""
    top = name.split(".")[0]
    if top not in _STDLIB or top in ("__main__", "antigravity", "this"):
        return None
    import importlib

    try:
        return importlib.import_module(name)
    except Exception:
        return None


def run_tests(chan: Channel, job: dict) -> dict:
    """Load the solution in C, then run the trusted tests here. Returns the report fields."""
    report: dict = {"outcome": "fail", "reason": "", "message": "", "failing_test": "", "tests_passed": 0}
    t_load = time.monotonic()
    load = chan.request({"op": "load", "code": job["program"]}, "loading the solution")
    report["load_s"] = time.monotonic() - t_load
    if type(load) is not dict:
        raise ProtocolError("malformed load answer")
    defined = {str(k): str(v) for k, v in load.items()}

    ns: dict = {"__name__": "__tests__", "__builtins__": builtins}
    entry = job["entry_point"]
    withheld: "set[str]" = set()  # names the solution defines but may not give the tests

    def bind(name: str) -> None:
        """``ns[name]`` from the solution (the entry point, or an input builder of an MBPP row)."""
        kind = defined.get(name)
        if kind is None:
            return
        module = kind[len("module:") :] if kind.startswith("module:") else ""
        own = trusted_module(module) if module else None
        if own is not None:
            ns[name] = own  # the driver's own copy of a module, never the solution's
            return
        value = chan.request({"op": "get", "name": name}, name)
        if isinstance(value, RemoteRef):
            object.__setattr__(value, "_label", name)  # feedback names it as the tests do
        ns[name] = value

    def resolve(names: "list[str]", from_solution: "set[str]") -> None:
        """Every name the tests read, from the driver's trusted namespace: the prompt's own
        definitions (already in ``ns``), builtins (never shadowed: ``ns`` has no entry for
        them), modules the driver imports itself; from the solution only ``from_solution``."""
        for name in names:
            if name in ns:
                continue
            if name in from_solution:
                bind(name)
                continue
            module = trusted_module(name)
            if module is not None:
                ns[name] = module
            elif name in defined:
                withheld.add(name)

    t_tests = time.monotonic()
    prompt = job.get("prompt_code") or ""
    if prompt:  # the prompt's own definitions and imports, run here (trusted problem text)
        exec(compile_registered(prompt, PROMPT_FILE), ns)
    if job["style"] == "check":
        exec(compile_registered(job["test_code"], TESTS_FILE), ns)
    if entry not in defined:
        report.update(reason="missing_entry_point", message=f"The solution does not define `{entry}`.")
        return report
    bind(entry)  # the one name the solution always provides (it replaces the prompt's stub)
    under_test = ns[entry]
    if job["style"] == "check":
        resolve(list(job.get("names") or []), set())
        statements = [f"check({entry})"]
    else:
        setup = job.get("setup") or ""
        resolve(list(job.get("names") or []), set(job.get("input_names") or []))
        if setup:
            try:
                exec(compile_registered(setup, "test_setup.py"), ns)
            except (WallTimeout, ChannelClosed, ProtocolError, SolutionExit, HarnessLimit):
                raise
            except BaseException as exc:
                report.update(reason="setup_failed", message="The test setup code failed:\n" + tail("".join(traceback.format_exception_only(type(exc), exc))))
                return report
        statements = list(job["tests"])
    ns[entry] = under_test  # the tests call the solution's entry point, whatever the test code defined
    report["tests_total"] = len(statements)

    filename = TESTS_FILE if job["style"] != "check" else "<check>"
    for index, statement in enumerate(statements):
        chan.last_call = ""
        chan.current_test = statement.strip() if job["style"] != "check" else ""
        try:
            exec(compile_registered(statement, filename), ns)
        except (WallTimeout, ChannelClosed, ProtocolError, SolutionExit, HarnessLimit):
            raise
        except BaseException as exc:
            if job["style"] == "check":
                lineno, line = _test_line(exc, job["test_code"], TESTS_FILE)
                failing = line or statement
            else:
                lineno, failing = index + 1, statement.strip()
            report["failing_test"] = failing
            report["failing_line"] = lineno
            report["last_call"] = chan.last_call
            if isinstance(exc, CandidateRaised):
                report["reason"] = "exception"
                report["message"] = tail(exc.remote_traceback) or f"{type(exc).__name__}: {exc}"
            elif isinstance(exc, AssertionError):
                report["reason"] = "assertion"
                report["message"] = f"AssertionError: {exc}" if str(exc) else "AssertionError"
            elif isinstance(exc, NameError) and getattr(exc, "name", None) in withheld:
                report["reason"] = "test_error"
                report["message"] = (f"The tests use `{exc.name}`; the tests take it from the problem, never from the "
                                     f"solution (only `{entry}` comes from the solution), and the problem does not define it.")
            else:
                report["reason"] = "test_error"
                report["message"] = tail("".join(traceback.format_exception_only(type(exc), exc)))
            report["tests_s"] = time.monotonic() - t_tests
            return report
        report["tests_passed"] = index + 1
    report["tests_s"] = time.monotonic() - t_tests
    if chan.failure is not None:  # a test swallowed our failure with a bare except
        raise chan.failure
    report.update(outcome="pass", reason="passed")
    return report


def describe_end(status: int, cpu_used: float, cpu_limit: float) -> "tuple[str, str, str]":
    """(outcome, reason, message) for how the candidate process ended."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig in (signal.SIGXCPU, signal.SIGKILL) and cpu_used >= cpu_limit - 0.05:
            return "timeout", "cpu_timeout", "The solution exceeded its CPU time limit."
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return "fail", "killed", f"The solution's process was killed by {name}."
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
    if code == EXIT_CHANNEL_LOST:
        return "fail", "channel_closed", "The solution broke its connection to the test harness."
    return "fail", "exit", f"The solution exited the process (exit code {code}) before the tests finished; exiting is not a pass."


def run_one(job: dict, sock_d: socket.socket, out_r: int) -> dict:
    """D's part of one job: talk to the candidate over ``sock_d``, run the tests, return the report."""
    started = time.monotonic()
    deadline = started + float(job["timeout"])
    reseed()
    output = Output(out_r, int(job["output_cap"]))
    chan = Channel(sock_d, deadline, output)
    try:
        report = run_tests(chan, job)
    except WallTimeout:
        report = {"outcome": "timeout", "reason": "wall_timeout", "message": f"The solution did not finish within {job['timeout']:g} s."}
    except ChannelClosed:
        report = {"outcome": "fail", "reason": "channel_closed", "message": "The solution closed the connection to the test harness.", "ended": True}
    except ProtocolError as exc:
        report = {"outcome": "fail", "reason": "protocol", "message": f"The solution interfered with the test harness: {exc}"}
    except SolutionExit as exc:
        report = {"outcome": "fail", "reason": "exit", "message": str(exc), "detail": tail(getattr(exc, "remote_traceback", ""))}
    except HarnessLimit as exc:
        report = {"outcome": "error", "reason": "harness_limit", "message": f"The verifier cannot run these tests: {exc}"}
    except CandidateRaised as exc:  # load failed (syntax error or exception at import)
        report = {"outcome": "fail", "reason": "load_error", "message": tail(exc.remote_traceback) or str(exc)}
    if chan.failure is not None and report.get("outcome") == "pass":  # belt and braces
        report = {"outcome": "fail", "reason": "protocol", "message": "The test harness channel broke during the tests."}
    report.setdefault("last_call", chan.last_call)
    if report.get("outcome") != "pass":
        report.setdefault("failing_test", chan.current_test)
    report["calls"] = chan.calls
    output.pump()  # what is already in the pipe; never wait for more
    report["stdout"] = bytes(output.head).decode("utf-8", "replace")
    report["stdout_bytes"] = output.total
    report["driver_s"] = time.monotonic() - started
    return report


def driver_loop(ctl: socket.socket) -> None:
    """D: the unprivileged, long-lived test driver of one server. Never returns.

    Per job the server hands over (SCM_RIGHTS) the driver's end of a socketpair to
    that job's candidate and the read end of its output pipe, then the job; D answers
    with the report on ``ctl``, a socket no candidate process ever holds.
    """
    while True:
        try:
            _, fds, _, _ = socket.recv_fds(ctl, 1, 2)
            if len(fds) != 2:
                os._exit(0)  # the server is gone
            job = recv_frame(ctl, limit=1 << 30)
        except BaseException:
            os._exit(0)
        sock_d = socket.socket(fileno=fds[0])
        try:
            report = run_one(job, sock_d, fds[1])
        except BaseException:
            report = {"outcome": "error", "reason": "harness", "message": tail(traceback.format_exc(), 20)}
        finally:
            sock_d.close()
            os.close(fds[1])
        report["id"] = job.get("id")
        try:
            send_frame(ctl, report)
        except BaseException:
            os._exit(0)
        if report.get("outcome") == "error":
            os._exit(0)  # start the next job with a fresh driver


def spawn_driver(ctx: dict) -> "tuple[int, socket.socket]":
    """Fork D from the server: (pid, the server's end of the control socket)."""
    ctl_s, ctl_d = socket.socketpair()
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        try:
            ctl_s.close()
            for fd in OWN_PID_NS:
                os.close(fd)
            devnull = os.open("/dev/null", os.O_RDWR)
            os.dup2(devnull, 0)  # never hold the verifier's pipes
            os.dup2(devnull, 1)
            os.close(devnull)
            drop_privileges(ctx.get("uid_driver"))
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            prctl(PR_SET_DUMPABLE, 0)
            limit = int(ctx.get("driver_memory_mb", 2048)) * 1024 * 1024  # room to decode any answer
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            driver_loop(ctl_d)
        finally:
            os._exit(0)
    ctl_d.close()
    return pid, ctl_s
