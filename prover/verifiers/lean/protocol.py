"""Typed request and answer of the Lean checker protocol (``lean_env/Checker.lean``), one JSON object each.

Request: ``{"id", "imports", "ref", "code", "name", "trusted", "goals"}`` (the
worker adds the binding fields ``seq`` and ``secret`` when it sends it). Answer:
``{"id", "seq", "secret", "ok": true, "messages": [...], "refused", "refused_line",
"refused_col", "found", "replayed", "replay_error", "ref_changed", "type_matches",
"axioms", "ref_error", "ms"}`` or ``{"id", "seq", "secret", "ok": false, "error"}``
when the request itself could not be processed. ``CheckAnswer.from_json`` checks
every field's type and raises ``ProtocolError`` naming the field, so a malformed
answer is never read as a verdict (``prover.verifiers.lean.acceptance`` turns it
into an ``error``). Unknown fields are kept in ``extra``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

SEVERITIES = ("error", "warning", "info")


class ProtocolError(ValueError):
    """The checker's answer does not follow the protocol (names the field)."""


def _get(d: Mapping[str, Any], key: str, tp: type | tuple[type, ...], default: Any = dataclasses.MISSING) -> Any:
    if key not in d:
        if default is dataclasses.MISSING:
            raise ProtocolError(f"checker answer: field {key!r} is missing")
        return default
    value = d[key]
    if isinstance(value, bool) and tp in (int, (int, float)):
        raise ProtocolError(f"checker answer: field {key!r} must be a number, got {value!r}")
    if not isinstance(value, tp):
        raise ProtocolError(f"checker answer: field {key!r} has type {type(value).__name__}")
    return value


@dataclass(frozen=True)
class CheckRequest:
    """One check: ``code`` (rest of the header + helpers + the theorem) against ``ref`` (the statement, closed
    with ``sorry``), under ``imports`` (the header's import lines; "" = core Lean), target theorem ``name``."""

    id: str
    imports: str
    ref: str
    code: str
    name: str
    trusted: int = 0  # bytes at the start of ``code`` that are the header's rest (exempt from the syntax policy)
    goals: bool = False  # report the goals at each error

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Message:
    """One Lean message (1-based lines, 0-based columns, as Lean reports them)."""

    severity: str
    line: int
    col: int
    end_line: int
    end_col: int
    text: str
    goals: str = ""

    @classmethod
    def from_json(cls, d: Any) -> "Message":
        if not isinstance(d, Mapping):
            raise ProtocolError(f"checker answer: a message must be an object, got {type(d).__name__}")
        severity = _get(d, "severity", str)
        if severity not in SEVERITIES:
            raise ProtocolError(f"checker answer: message severity {severity!r} is not one of {SEVERITIES}")
        return cls(severity, _get(d, "line", int), _get(d, "col", int), _get(d, "end_line", int),
                   _get(d, "end_col", int), _get(d, "text", str), _get(d, "goals", str, ""))


@dataclass(frozen=True)
class CheckAnswer:
    """The checker's answer. ``ok=False``: the request could not be processed (``error`` says why)."""

    id: str
    ok: bool
    messages: tuple[Message, ...] = ()
    found: bool = False  # the target theorem was declared
    type_matches: bool = False  # ... with the reference statement's type (read in the replayed environment)
    axioms: tuple[str, ...] = ()  # axioms the theorem depends on (read in the replayed environment)
    ref_error: str = ""  # the reference statement itself failed to elaborate
    refused: str = ""  # a command refused by the syntax policy (never elaborated), and why
    refused_line: int = 0
    refused_col: int = 0
    replayed: bool = False  # the kernel re-checked the target and its dependencies in a fresh environment
    replay_error: str = ""  # ... and what it rejected
    ref_changed: str = ""  # a declaration of the reference differs in the candidate
    ms: int = 0
    error: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def errors(self) -> tuple[Message, ...]:
        return tuple(m for m in self.messages if m.severity == "error")

    def message_dicts(self) -> list[dict[str, Any]]:
        return [dataclasses.asdict(m) for m in self.messages]

    @classmethod
    def from_json(cls, d: Any) -> "CheckAnswer":
        if not isinstance(d, Mapping):
            raise ProtocolError(f"checker answer must be a JSON object, got {type(d).__name__}")
        ok = _get(d, "ok", bool)
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        extra = {k: v for k, v in d.items() if k not in known}
        if not ok:
            return cls(id=_get(d, "id", str, ""), ok=False, error=_get(d, "error", str, ""), extra=extra)
        messages = _get(d, "messages", list)
        axioms = _get(d, "axioms", list)
        if not all(isinstance(a, str) for a in axioms):
            raise ProtocolError("checker answer: field 'axioms' must be a list of strings")
        return cls(id=_get(d, "id", str), ok=True, messages=tuple(Message.from_json(m) for m in messages),
                   found=_get(d, "found", bool), type_matches=_get(d, "type_matches", bool), axioms=tuple(axioms),
                   ref_error=_get(d, "ref_error", str, ""), refused=_get(d, "refused", str, ""),
                   refused_line=_get(d, "refused_line", int, 0), refused_col=_get(d, "refused_col", int, 0),
                   replayed=_get(d, "replayed", bool, False), replay_error=_get(d, "replay_error", str, ""),
                   ref_changed=_get(d, "ref_changed", str, ""), ms=_get(d, "ms", int, 0), extra=extra)


__all__ = ["CheckAnswer", "CheckRequest", "Message", "ProtocolError", "SEVERITIES"]
