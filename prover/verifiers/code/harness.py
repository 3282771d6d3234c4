"""In-sandbox harness of the code verifier.

This file runs *inside* the sandbox as ``python -I -S -c <this source> <config-json>``;
it imports only the standard library and nothing from ``prover``.

Process tree (see docs/sandbox.md for the reasoning)::

    server   long-lived, one per worker; reads jobs (JSON lines) on stdin and
     |       answers one JSON line per job on stdout; enforces the wall deadline
     +- D    the driver, long-lived, its own unprivileged uid: runs the *trusted*
     |       tests; reports to the server over a control socket no candidate
     |       process ever holds
     +- C    per job, the candidate: pid 1 of a fresh pid namespace with its own
             mount and ipc namespaces and fresh tmpfs, another unprivileged uid,
             rlimits, no fds but a socket to D (handed to D per job); runs the
             untrusted solution and answers D's calls with plain values (tagged
             JSON), never with objects

A pass is decided in D, a process the solution cannot write into: every test
statement ran to completion on values the solution computed, compared with the
built-in semantics of D's own interpreter.
"""

from __future__ import annotations

import builtins
import collections
import ctypes
import fcntl
import json
import linecache
import os
import resource
import select
import signal
import socket
import struct
import sys
import tempfile
import time
import traceback
from decimal import Decimal
from fractions import Fraction

# ---------------------------------------------------------------- constants

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
OWN_PID_NS: list = []  # fd of the server's own pid namespace (to undo unshare(CLONE_NEWPID))
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 2, 4, 8, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 1, 4, 36, 38

SOLUTION_FILE = "solution.py"
TESTS_FILE = "tests.py"
PROMPT_FILE = "prompt.py"
MAX_MESSAGE = 32 * 1024 * 1024  # bytes of one candidate answer
MAX_REQUEST = 1 << 30  # bytes of one driver request (the program travels in one; the verifier caps its size)
MAX_ITEMS = 1_000_000  # items materialised from a returned iterator
MAX_DEPTH = 200  # nesting of values crossing the boundary
BIG_INT_DIGITS = 4000  # ints with more digits travel as hex
REPR_CAP = 300  # characters of an argument/result shown in feedback
TB_LINES = 12  # last traceback lines kept for feedback
EXIT_CHANNEL_LOST = 72  # the candidate process's exit code when its channel to the driver broke
# Modules loaded by the server before any fork: faster imports for solutions,
# and importable even where the interpreter's directory is not readable.
PRELOAD = (
    "abc array bisect calendar cmath collections collections.abc contextlib copy dataclasses "
    "datetime decimal enum fractions functools hashlib heapq itertools math numbers operator "
    "random re statistics string textwrap typing unicodedata"
).split()

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


# ---------------------------------------------------------------- framing


def send_frame(sock: socket.socket, obj: object) -> None:
    data = json.dumps(obj, separators=(",", ":")).encode("utf-8", "surrogatepass")
    sock.sendall(struct.pack(">I", len(data)) + data)


class Output:
    """The candidate's stdout/stderr pipe, read whenever the driver waits: the first ``cap`` bytes are kept."""

    def __init__(self, fd: int, cap: int) -> None:
        self.fd, self.cap = fd, cap
        self.head = bytearray()
        self.total = 0
        self.open = True
        os.set_blocking(fd, False)

    def pump(self) -> None:
        while self.open:
            try:
                chunk = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                self.open = False
                return
            self.total += len(chunk)
            room = self.cap - len(self.head)
            if room > 0:
                self.head += chunk[:room]


def _recv_exact(sock: socket.socket, n: int, deadline: "float | None", output: "Output | None" = None) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        if deadline is not None or output is not None:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise WallTimeout()
            watch = [sock, output.fd] if output is not None and output.open else [sock]
            ready, _, _ = select.select(watch, [], [], left)
            if output is not None and output.fd in ready:
                output.pump()
            if sock not in ready:
                continue
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            raise ChannelClosed()
        buf += chunk
    return bytes(buf)


def recv_frame(sock: socket.socket, deadline: "float | None" = None, limit: int = MAX_MESSAGE, output: "Output | None" = None) -> object:
    (size,) = struct.unpack(">I", _recv_exact(sock, 4, deadline, output))
    if size > limit:
        raise ProtocolError(f"the solution sent a {size}-byte answer (limit {limit})")
    raw = _recv_exact(sock, size, deadline, output)
    try:
        return json.loads(raw.decode("utf-8", "surrogatepass"))
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"undecodable answer from the solution: {exc}") from None


# ---------------------------------------------------------------- value codec
#
# Plain JSON for None/bool/int/float/str/list; one-key objects tag the rest:
#   t tuple, d dict (pairs), s set, z frozenset, b bytes (hex), a bytearray (hex),
#   c complex, r range, i big int (hex), it iterator (materialised),
#   C Counter, O OrderedDict, Q deque, F Fraction, M Decimal, T a built-in type,
#   ref handle (anything else: compares by identity on the driver's side).
# Subclasses of built-in values that keep the built-in __eq__ (namedtuple,
# IntEnum, defaultdict...) travel as their built-in base.

_PLAIN_BASES = (bool, int, float, complex, str, bytes, bytearray, tuple, list, dict, set, frozenset)
_BUILTIN_TYPES = {t.__name__: t for t in vars(builtins).values() if isinstance(t, type) and not issubclass(t, BaseException)}


def encode(value: object, refs: "dict[int, object] | None", depth: int = 0) -> object:
    """Encode ``value`` using exact built-in types; anything else becomes a handle (or fails)."""
    if depth > MAX_DEPTH:
        raise ValueError("value nested too deeply")
    t = type(value)
    if value is None or t is bool or t is str or t is float:
        return value
    if t is int:
        if value.bit_length() > BIG_INT_DIGITS * 3:
            return {"i": hex(value)}
        return value
    if t is list:
        return [encode(v, refs, depth + 1) for v in value]
    if t is tuple:
        return {"t": [encode(v, refs, depth + 1) for v in value]}
    if t is dict:
        return {"d": [[encode(k, refs, depth + 1), encode(v, refs, depth + 1)] for k, v in value.items()]}
    if t is set:
        return {"s": [encode(v, refs, depth + 1) for v in value]}
    if t is frozenset:
        return {"z": [encode(v, refs, depth + 1) for v in value]}
    if t is bytes:
        return {"b": value.hex()}
    if t is bytearray:
        return {"a": value.hex()}
    if t is complex:
        return {"c": [value.real, value.imag]}
    if t is range:
        return {"r": [value.start, value.stop, value.step]}
    if t is collections.Counter or t is collections.OrderedDict:
        tag = "C" if t is collections.Counter else "O"
        return {tag: [[encode(k, refs, depth + 1), encode(v, refs, depth + 1)] for k, v in dict.items(value)]}
    if t is collections.deque:
        return {"Q": [encode(v, refs, depth + 1) for v in value]}
    if t is Fraction:
        return {"F": [encode(value.numerator, refs), encode(value.denominator, refs)]}
    if t is Decimal:
        return {"M": str(value)}
    if t is type and _BUILTIN_TYPES.get(value.__name__) is value:
        return {"T": value.__name__}
    for base in _PLAIN_BASES:
        if isinstance(value, base) and getattr(t, "__eq__", None) is base.__eq__:
            return encode(base(value), refs, depth + 1)
    if refs is not None and hasattr(t, "__next__") and hasattr(t, "__iter__") and not callable(value):
        items = []
        for item in value:
            if len(items) >= MAX_ITEMS:
                raise ValueError(f"returned iterator yields more than {MAX_ITEMS} items")
            items.append(encode(item, refs, depth + 1))
        return {"it": items}
    if refs is None:
        raise TypeError(f"cannot pass a {t.__name__} value to the solution")
    key = len(refs) + 1
    refs[key] = value
    handle = {"ref": key, "type": str(getattr(t, "__name__", "object"))[:80]}
    name = getattr(value, "__name__", None) if callable(value) else None
    if type(name) is str:
        handle["name"] = name[:80]
    return handle


class RemoteRef:
    """A handle on an object living in the candidate process (a function, an instance).

    It compares by identity only and has no arithmetic, length or iteration, so
    an object whose ``__eq__`` says yes to everything stays an opaque handle here.
    """

    __slots__ = ("_chan", "_rid", "_label")

    def __init__(self, chan: "Channel", rid: int, label: str) -> None:
        object.__setattr__(self, "_chan", chan)
        object.__setattr__(self, "_rid", rid)
        object.__setattr__(self, "_label", label)

    def __call__(self, *args: object, **kwargs: object) -> object:
        return self._chan.call(self, args, kwargs)

    def __getattr__(self, name: str) -> object:
        if name.startswith("__") and name not in ("__name__", "__qualname__", "__doc__"):
            raise AttributeError(name)
        return self._chan.request({"op": "getattr", "ref": self._rid, "name": name}, f"{self._label}.{name}")

    def __setattr__(self, name: str, value: object) -> None:
        self._chan.request(
            {"op": "setattr", "ref": self._rid, "name": name, "value": self._chan.encode_arg(value)},
            f"{self._label}.{name} = ...",
        )

    def __bool__(self) -> bool:
        # The truth of an object is its own __bool__/__len__, i.e. the solution's say-so: refuse.
        raise TypeError(f"a test needs the truth value of {self._label} from the solution; only built-in values can be checked")

    def __repr__(self) -> str:
        return f"<{self._label} from the solution>"


def decode(obj: object, chan: "Channel | None", depth: int = 0) -> object:
    """Strict inverse of ``encode``: builds only built-in values (and handles)."""
    if depth > MAX_DEPTH + 2:
        raise ProtocolError("answer nested too deeply")
    t = type(obj)
    if obj is None or t is bool or t is int or t is float or t is str:
        return obj
    if t is list:
        return [decode(v, chan, depth + 1) for v in obj]
    if t is not dict or len(obj) not in (1, 2, 3):  # a tag, or a handle (ref, type[, name])
        raise ProtocolError("malformed value in the answer")
    try:
        if "ref" in obj:
            rid, label, name = obj["ref"], obj.get("type", "object"), obj.get("name")
            if chan is None or type(rid) is not int or type(label) is not str or (name is not None and type(name) is not str):
                raise ProtocolError("malformed handle in the answer")
            return RemoteRef(chan, rid, name[:80] if name else f"{label[:80]} object")
        ((tag, body),) = obj.items()
        if tag == "t":
            return tuple(decode(v, chan, depth + 1) for v in body)
        if tag == "d":
            return {decode(k, chan, depth + 1): decode(v, chan, depth + 1) for k, v in body}
        if tag == "s":
            return {decode(v, chan, depth + 1) for v in body}
        if tag == "z":
            return frozenset(decode(v, chan, depth + 1) for v in body)
        if tag == "b" and type(body) is str:
            return bytes.fromhex(body)
        if tag == "a" and type(body) is str:
            return bytearray.fromhex(body)
        if tag == "c":
            re_, im = body
            if type(re_) is not float or type(im) is not float:
                raise ProtocolError("malformed complex")
            return complex(re_, im)
        if tag == "r":
            a, b, c = body
            if type(a) is not int or type(b) is not int or type(c) is not int:
                raise ProtocolError("malformed range")
            return range(a, b, c)
        if tag == "i" and type(body) is str:
            return int(body, 16)
        if tag in ("C", "O") and type(body) is list:
            pairs = [(decode(k, chan, depth + 1), decode(v, chan, depth + 1)) for k, v in body]
            return collections.Counter(dict(pairs)) if tag == "C" else collections.OrderedDict(pairs)
        if tag == "Q" and type(body) is list:
            return collections.deque(decode(v, chan, depth + 1) for v in body)
        if tag == "F" and type(body) is list:
            num, den = (decode(v, chan, depth + 1) for v in body)
            if type(num) is not int or type(den) is not int:
                raise ProtocolError("malformed Fraction")
            return Fraction(num, den)
        if tag == "M" and type(body) is str and len(body) < 10000:
            return Decimal(body)
        if tag == "T" and type(body) is str and body in _BUILTIN_TYPES:
            return _BUILTIN_TYPES[body]
        if tag == "it" and type(body) is list:
            return iter([decode(v, chan, depth + 1) for v in body])
    except ProtocolError:
        raise
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise ProtocolError(f"malformed value in the answer: {exc}") from None
    raise ProtocolError("unknown value tag in the answer")


def short_repr(value: object, cap: int = REPR_CAP) -> str:
    try:
        text = repr(value)
    except Exception as exc:  # a handle's repr cannot fail, but be safe
        text = f"<unprintable {type(value).__name__}: {exc}>"
    return text if len(text) <= cap else text[: cap - 3] + "..."


# ---------------------------------------------------------------- driver side


class WallTimeout(BaseException):
    """The solution did not answer before the wall deadline."""


class ChannelClosed(BaseException):
    """The candidate process closed the channel (it exited or was killed)."""


class ProtocolError(BaseException):
    """The candidate process sent something that is not a well-formed answer."""


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


def _tail(text: str, lines: int = TB_LINES) -> str:
    parts = text.rstrip().splitlines()
    return "\n".join(parts[-lines:])


def _test_line(exc: BaseException, source: str, filename: str) -> "tuple[int, str]":
    """(line number, source line) of the innermost frame of ``filename`` in the traceback."""
    found = (0, "")
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == filename and frame.lineno:
            lines = source.splitlines()
            text = lines[frame.lineno - 1].strip() if 0 < frame.lineno <= len(lines) else ""
            found = (frame.lineno, text)
    return found


def _compile_registered(source: str, filename: str):
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    return compile(source, filename, "exec", dont_inherit=True)


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
        exec(_compile_registered(prompt, PROMPT_FILE), ns)
    if job["style"] == "check":
        exec(_compile_registered(job["test_code"], TESTS_FILE), ns)
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
                exec(_compile_registered(setup, "test_setup.py"), ns)
            except (WallTimeout, ChannelClosed, ProtocolError, SolutionExit, HarnessLimit):
                raise
            except BaseException as exc:
                report.update(reason="setup_failed", message="The test setup code failed:\n" + _tail("".join(traceback.format_exception_only(type(exc), exc))))
                return report
        statements = list(job["tests"])
    ns[entry] = under_test  # the tests call the solution's entry point, whatever the test code defined
    report["tests_total"] = len(statements)

    filename = TESTS_FILE if job["style"] != "check" else "<check>"
    for index, statement in enumerate(statements):
        chan.last_call = ""
        chan.current_test = statement.strip() if job["style"] != "check" else ""
        try:
            exec(_compile_registered(statement, filename), ns)
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
                report["message"] = _tail(exc.remote_traceback) or f"{type(exc).__name__}: {exc}"
            elif isinstance(exc, AssertionError):
                report["reason"] = "assertion"
                report["message"] = f"AssertionError: {exc}" if str(exc) else "AssertionError"
            elif isinstance(exc, NameError) and getattr(exc, "name", None) in withheld:
                report["reason"] = "test_error"
                report["message"] = (f"The tests use `{exc.name}`; the tests take it from the problem, never from the "
                                     f"solution (only `{entry}` comes from the solution), and the problem does not define it.")
            else:
                report["reason"] = "test_error"
                report["message"] = _tail("".join(traceback.format_exception_only(type(exc), exc)))
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
    _reseed()
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
        report = {"outcome": "fail", "reason": "exit", "message": str(exc), "detail": _tail(getattr(exc, "remote_traceback", ""))}
    except HarnessLimit as exc:
        report = {"outcome": "error", "reason": "harness_limit", "message": f"The verifier cannot run these tests: {exc}"}
    except CandidateRaised as exc:  # load failed (syntax error or exception at import)
        report = {"outcome": "fail", "reason": "load_error", "message": _tail(exc.remote_traceback) or str(exc)}
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
            report = {"outcome": "error", "reason": "harness", "message": _tail(traceback.format_exc(), 20)}
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


# ---------------------------------------------------------------- candidate side


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


def _reseed() -> None:
    """Fresh random state per job, as in a fresh interpreter (forks share the server's)."""
    import random

    random.seed()


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
    _reseed()
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
        code = _compile_registered(msg["code"], SOLUTION_FILE)
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


# ---------------------------------------------------------------- job process and server


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


def _children() -> list:
    me = str(os.getpid())
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if fields[1] == me:
                found.append(int(entry))
        except (OSError, IndexError):
            pass
    return found


def wipe_dir(path: str, uid: "int | None") -> None:
    """Empty ``path`` (the solutions' scratch root) as the solutions' uid, which owns what is in it."""
    import shutil

    pid = os.fork()
    if pid == 0:
        try:
            if uid is not None:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
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
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                for line in f:
                    if line.startswith("Uid:"):
                        if int(line.split()[1]) == uid:
                            found.append(int(entry))
                        break
        except (OSError, ValueError, IndexError):
            pass
    return found


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
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
                os.kill(-1, signal.SIGKILL)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        reap_strays(keep, timeout=0.05)


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
        ctx["job_namespaces"] = _probe_job_namespaces()
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
                report = {"outcome": "error", "reason": "harness", "message": _tail(traceback.format_exc(), 20)}
            report["id"] = job.get("id")
            sys.stdout.write(json.dumps(report) + "\n")
            sys.stdout.flush()
            if cleanup is not None:
                cleanup()  # before the next job, after the answer


def _probe_job_namespaces() -> bool:
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


if __name__ == "__main__":
    server_main(json.loads(sys.argv[1]) if len(sys.argv) > 1 else {})
