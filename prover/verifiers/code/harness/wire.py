"""What crosses the boundary between the trusted driver (D) and the candidate (C): length-prefixed
JSON frames, the tagged value codec (exact built-in types only; anything else is an opaque handle),
the exceptions a broken channel raises, and small helpers both sides share.

Runs inside the sandbox (standard library only; see ``__init__``)."""

from __future__ import annotations

import builtins
import collections
import json
import linecache
import os
import select
import socket
import struct
import time
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .driver import Channel

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


# ---------------------------------------------------------------- a broken channel


class WallTimeout(BaseException):
    """The solution did not answer before the wall deadline."""


class ChannelClosed(BaseException):
    """The candidate process closed the channel (it exited or was killed)."""


class ProtocolError(BaseException):
    """The candidate process sent something that is not a well-formed answer."""


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


# ---------------------------------------------------------------- helpers of both sides


def tail(text: str, lines: int = TB_LINES) -> str:
    parts = text.rstrip().splitlines()
    return "\n".join(parts[-lines:])


def compile_registered(source: str, filename: str):
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    return compile(source, filename, "exec", dont_inherit=True)


def reseed() -> None:
    """Fresh random state per job, as in a fresh interpreter (forks share the server's)."""
    import random

    random.seed()
