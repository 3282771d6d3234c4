"""Shared types of the pipeline: small, frozen dataclasses every module speaks.

``Problem`` (one schema for every domain) -> ``Attempt`` (a model response to it)
-> ``Verdict`` (what a verifier said) -> ``Sample`` (what the trainer consumes).
"""

from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Mapping

Domain = Literal["lean", "code", "math"]
DOMAINS: tuple[str, ...] = ("lean", "code", "math")


class Status(str, enum.Enum):
    """Outcome of one verification.

    ``valid``/``invalid`` are verdicts about the response; ``timeout`` means the
    check ran out of time (counted as a failure of the response); ``error`` means
    the infrastructure could not give a verdict (never counted as a pass, and
    never stored as a model failure to learn from).
    """

    VALID = "valid"
    INVALID = "invalid"
    TIMEOUT = "timeout"
    ERROR = "error"

    def __str__(self) -> str:  # "valid", not "Status.VALID", in logs and JSON
        return self.value


@dataclass(frozen=True)
class Problem:
    """A task for the policy, in any domain.

    Lean: ``statement`` is the formal statement (ending in ``:= by`` or ``:=``),
    ``header`` the imports/opens it needs, ``prompt`` the informal text if any.
    Code: ``prompt`` is the HumanEval-style signature+docstring or MBPP text,
    ``test_code``/``entry_point`` (HumanEval) or ``tests``/``test_setup_code`` (MBPP).
    Math: ``prompt`` is the question and ``reference`` the reference answer.
    """

    id: str
    domain: str
    prompt: str = ""
    statement: str = ""
    header: str = ""
    reference: str = ""
    tests: tuple[str, ...] = ()
    test_code: str = ""
    entry_point: str = ""
    test_setup_code: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.domain not in DOMAINS:
            raise ValueError(f"Problem {self.id!r}: domain must be one of {DOMAINS}, got {self.domain!r}")
        if not self.id:
            raise ValueError("Problem.id must be a non-empty string")

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["tests"] = list(self.tests)
        d["meta"] = dict(self.meta)
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Problem":
        kw = dict(d)
        kw["tests"] = tuple(kw.get("tests") or ())
        kw["meta"] = dict(kw.get("meta") or {})
        return cls(**kw)


class Turn(str, enum.Enum):
    """Kind of prompt an attempt answered (``Attempt.turn``)."""

    FIRST = "first"  # a fresh attempt
    FIX = "fix"  # an error-fix turn with the verifier's feedback
    RETRY = "retry"  # "your solution failed, try differently" (no details)
    CHECK = "check"  # check/preserve/repair of a candidate that may be right

    def __str__(self) -> str:
        return self.value


class Origin(str, enum.Enum):
    """Where a training sample came from (``Sample.origin``)."""

    FRESH = "fresh"  # a first attempt at a fresh problem
    FIX = "fix"  # an error-fix turn on a stored failure
    RETRY = "retry"  # a binary retry turn on a stored failure
    PRESERVE = "preserve"  # a check turn on a stored success (keep it right)
    EVAL = "eval"  # an evaluation prompt during training (never trained on)

    def __str__(self) -> str:
        return self.value


# Plain values (enum members hash by name, so sets/dicts of strings would miss them).
REPLAY_ORIGINS: tuple[str, ...] = (Origin.FIX.value, Origin.RETRY.value, Origin.PRESERVE.value)
CORRECTION_ORIGINS: tuple[str, ...] = (Origin.FIX.value, Origin.RETRY.value)
TURN_OF_ORIGIN: dict[str, Turn] = {Origin.FRESH.value: Turn.FIRST, Origin.FIX.value: Turn.FIX,
                                   Origin.RETRY.value: Turn.RETRY, Origin.PRESERVE.value: Turn.CHECK}


@dataclass(frozen=True)
class Attempt:
    """One model response to a prompt built for ``problem_id``.

    ``turn``: ``first`` (fresh attempt), ``fix`` (error-fix turn with verifier
    feedback), ``retry`` (binary "your solution failed"), ``check``
    (check/preserve/repair of a candidate that may be right).
    """

    problem_id: str
    prompt: tuple[Mapping[str, str], ...]
    response: str
    turn: str = Turn.FIRST.value
    id: str = ""
    parent_id: str = ""

    def __post_init__(self) -> None:
        turn = getattr(self.turn, "value", self.turn)
        if turn not in _TURNS:
            raise ValueError(f"Attempt.turn={self.turn!r}: use one of {sorted(_TURNS)}")
        object.__setattr__(self, "turn", str(turn))  # a plain str in JSON and SQLite

    def messages(self) -> list[dict[str, str]]:
        return [dict(m) for m in self.prompt]


@dataclass(frozen=True)
class Verdict:
    """Typed result of every verification.

    ``reward`` is in [0, 1] (the verifier's own reward; format rewards and
    shaping are applied by the trainer). ``feedback`` is capped text meant for
    an error-fix turn; ``feedback_over_cap`` records that the uncapped feedback
    exceeded the cap, so the replay core can drop it. ``details`` holds
    domain-specific structure (Lean messages, goals, axioms; failing test...).
    ``timings`` are seconds by phase (``total`` always present).
    """

    status: Status
    reward: float
    feedback: str = ""
    feedback_over_cap: bool = False
    details: Mapping[str, Any] = field(default_factory=dict)
    timings: Mapping[str, float] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return self.status is Status.VALID

    @property
    def is_model_failure(self) -> bool:
        """A failure the model caused (worth replaying), not an infrastructure error."""
        return self.status in (Status.INVALID, Status.TIMEOUT)

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "reward": self.reward,
            "feedback": self.feedback,
            "feedback_over_cap": self.feedback_over_cap,
            "details": dict(self.details),
            "timings": dict(self.timings),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "Verdict":
        return cls(
            status=Status(d["status"]),
            reward=float(d["reward"]),
            feedback=d.get("feedback", ""),
            feedback_over_cap=bool(d.get("feedback_over_cap", False)),
            details=dict(d.get("details") or {}),
            timings=dict(d.get("timings") or {}),
        )

    @classmethod
    def infra_error(cls, message: str, **details: Any) -> "Verdict":
        return cls(Status.ERROR, 0.0, feedback=message, details=details, timings={"total": 0.0})


@dataclass(frozen=True)
class Sample:
    """What the trainer consumes: a prompt (chat messages) and where it came from."""

    problem_id: str
    prompt_messages: tuple[Mapping[str, str], ...]
    origin: str = Origin.FRESH.value
    source_attempt_id: str = ""
    # True when the input shown in a fix/check turn was already correct
    # (used by risk-aware shaping: a correct input turned wrong is penalised).
    input_was_correct: bool = False

    def __post_init__(self) -> None:
        origin = getattr(self.origin, "value", self.origin)
        if origin not in _ORIGINS:
            raise ValueError(f"Sample.origin={self.origin!r}: use one of {sorted(_ORIGINS)}")
        object.__setattr__(self, "origin", str(origin))  # a plain str in JSON and SQLite

    @property
    def is_replay(self) -> bool:
        return self.origin in REPLAY_ORIGINS

    def messages(self) -> list[dict[str, str]]:
        return [dict(m) for m in self.prompt_messages]


_TURNS = frozenset(t.value for t in Turn)
_ORIGINS = frozenset(o.value for o in Origin)


def dumps(obj: Any) -> str:
    """JSON line for any of the types above (ensure_ascii off: Lean is unicode)."""
    if hasattr(obj, "to_json"):
        obj = obj.to_json()
    return json.dumps(obj, ensure_ascii=False)
