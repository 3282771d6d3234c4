"""Core-Lean theorems at adjustable difficulty, each with a proof known to check.

Levels (``0 .. MAX_LEVEL``), every statement in core Lean 4 (no Mathlib):

* 0: identities (``a + 0 = a``, ``a * 1 = a``...) by ``simp``; small numerals by ``decide``;
* 1: decidable numerics (``2 ^ 10 = 1024``, ``437 % 7 = 3``, ``Nat.gcd``...) by ``decide``;
* 2: one-variable linear equations and strict/non-strict bounds by ``omega``; list length lemmas by ``simp``;
* 3: linear arithmetic over 2-3 variables with 1-2 hypotheses, ``%`` by constants, list lemmas;
* 4: linear arithmetic over 3-4 integers with 2-3 hypotheses (``∧`` goals); induction on recurrences;
* 5: linear systems with 4 variables and 3-4 hypotheses; induction on lists and recurrences.

Linear statements are true by construction: the goal is a non-negative combination
of the hypotheses (equalities with any sign over ``Int``), loosened by a slack, and
the hypotheses hold at a hidden witness so they are never vacuous.

Every ``Problem`` has ``domain="lean"``, a statement ending in ``:= by``, an empty
header, and ``meta = {"level", "family", "proof"}`` where ``proof`` is the tactic
block that proves it (``reference_response`` wraps it as a model answer).
Generation is deterministic: problem ``k`` of level ``L`` depends only on
``(seed, L, k)``, so a generator's state is just its per-level counters.

``DifficultyController`` moves the level up when the current level is (almost)
always solved and down when it is (almost) never solved, over a window of attempts.
Problem files of any domain are read by ``prover.data.load("jsonl", path=..., domain=...)``.
"""

from __future__ import annotations

import hashlib
import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

from prover.types import Problem

MAX_LEVEL = 5
_VARS = ("a", "b", "c", "x", "y", "z", "m", "n", "p", "q")


@dataclass(frozen=True)
class Generated:
    family: str
    binders: str  # e.g. "(a b : Nat) (h0 : a < b)"; may be empty
    goal: str
    proof: str  # tactic block, each line indented by two spaces


# -- helpers ---------------------------------------------------------------------------
def _indent(*lines: str) -> str:
    return "\n".join("  " + line for line in lines)


def _term(coef: int, var: str, first: bool) -> str:
    """One signed term of a linear form (``a``, ``3 * a``, ``- 2 * a``)."""
    mag = abs(coef)
    body = var if mag == 1 else f"{mag} * {var}"
    if first:
        return body if coef > 0 else f"-{body}" if mag == 1 else f"-({body})"
    return f" + {body}" if coef > 0 else f" - {body}"


def linear_form(coefs: Mapping[str, int]) -> str:
    """``{"a": 2, "b": -1}`` -> ``2 * a - b`` (zero coefficients dropped; never empty)."""
    items = [(v, c) for v, c in coefs.items() if c != 0]
    if not items:
        raise ValueError("a linear form needs a non-zero coefficient")
    return "".join(_term(c, v, i == 0) for i, (v, c) in enumerate(items))


def _num(value: int) -> str:
    return str(value) if value >= 0 else f"({value})"


# -- level 0 -----------------------------------------------------------------------------
_IDENTITIES: tuple[tuple[str, str], ...] = (
    ("{a} + 0 = {a}", "simp"),
    ("0 + {a} = {a}", "simp"),
    ("{a} * 1 = {a}", "simp"),
    ("1 * {a} = {a}", "simp"),
    ("{a} * 0 = 0", "simp"),
    ("0 * {a} = 0", "simp"),
    ("{a} - 0 = {a}", "simp"),
    ("{a} - {a} = 0", "simp"),
    ("{a} + {b} = {b} + {a}", "omega"),
    ("{a} + {b} + 0 = {b} + {a}", "omega"),
)


def _identity(rng: random.Random) -> Generated:
    goal, tactic = rng.choice(_IDENTITIES)
    a, b = rng.sample(_VARS, 2)
    typ = rng.choice(("Nat", "Nat", "Int"))
    names = f"{a} {b}" if "{b}" in goal else a
    return Generated("identity", f"({names} : {typ})", goal.format(a=a, b=b), _indent(tactic))


def _small_numeral(rng: random.Random) -> Generated:
    x, y = rng.randint(0, 20), rng.randint(0, 20)
    op = rng.choice(("+", "*"))
    value = x + y if op == "+" else x * y
    return Generated("numeral", "", f"{x} {op} {y} = {value}", _indent("decide"))


# -- level 1 -----------------------------------------------------------------------------
def _decide_numeric(rng: random.Random) -> Generated:
    kind = rng.choice(("pow", "mul", "mod", "div", "lt", "gcd"))
    if kind == "pow":
        base, exp = rng.choice((2, 3, 5)), rng.randint(2, 10)
        goal = f"{base} ^ {exp} = {base ** exp}"
    elif kind == "mul":
        x, y = rng.randint(11, 99), rng.randint(11, 99)
        goal = f"{x} * {y} = {x * y}"
    elif kind == "mod":
        x, y = rng.randint(50, 999), rng.randint(3, 13)
        goal = f"{x} % {y} = {x % y}"
    elif kind == "div":
        x, y = rng.randint(50, 999), rng.randint(3, 13)
        goal = f"{x} / {y} = {x // y}"
    elif kind == "lt":
        base, exp = rng.choice((2, 3)), rng.randint(4, 9)
        bound = base ** exp - rng.randint(1, 9)
        goal = f"{bound} < {base} ^ {exp}"
    else:
        g = rng.randint(2, 12)
        x, y = g * rng.randint(2, 15), g * rng.randint(2, 15)
        import math

        goal = f"Nat.gcd {x} {y} = {math.gcd(x, y)}"
    return Generated("decide", "", goal, _indent("decide"))


# -- level 2 -----------------------------------------------------------------------------
def _one_var(rng: random.Random) -> Generated:
    x = rng.choice(_VARS)
    v = rng.randint(0, 30)
    kind = rng.choice(("eq", "lt", "le"))
    if kind == "eq":
        a, b = rng.randint(2, 9), rng.randint(0, 20)
        return Generated("linear1", f"({x} : Nat) (h0 : {a} * {x} + {b} = {a * v + b})", f"{x} = {v}", _indent("omega"))
    if kind == "lt":
        return Generated("linear1", f"({x} : Nat) (h0 : {x} < {v + 1})", f"{x} ≤ {v}", _indent("omega"))
    y = rng.choice([n for n in _VARS if n != x])
    k = rng.randint(1, 5)
    return Generated("linear1", f"({x} {y} : Nat) (h0 : {x} < {y})", f"{x} + {k} ≤ {y} + {k - 1}", _indent("omega"))


_LIST_LEMMAS: tuple[tuple[int, str, str, str], ...] = (
    # (level, binders, goal, proof)
    (2, "({xs} {ys} : List Nat)", "({xs} ++ {ys}).length = {xs}.length + {ys}.length", "simp"),
    (2, "({xs} : List Nat)", "{xs}.reverse.length = {xs}.length", "simp"),
    (2, "({xs} : List Nat) ({a} : Nat)", "({a} :: {xs}).length = {xs}.length + 1", "simp"),
    (2, "({xs} : List Nat)", "({xs} ++ []).length = {xs}.length", "simp"),
    (2, "({xs} : List Nat)", "({xs}.map (fun t => t + 1)).length = {xs}.length", "simp"),
    (3, "({xs} {ys} {zs} : List Nat)", "({xs} ++ {ys} ++ {zs}).length = {xs}.length + {ys}.length + {zs}.length",
     "simp <;> omega"),
    (3, "({xs} {ys} : List Nat)", "({xs} ++ {ys}).reverse = {ys}.reverse ++ {xs}.reverse", "simp"),
    (3, "({a} : Nat) ({k} : Nat)", "(List.replicate {k} {a}).length = {k}", "simp"),
    (3, "({xs} {ys} : List Nat)", "({xs}.reverse ++ {ys}).length = {ys}.length + {xs}.length", "simp <;> omega"),
    (3, "({k} : Nat)", "(List.range {k}).length = {k}", "simp"),
)


def _list_lemma(rng: random.Random, level: int) -> Generated:
    choices = [t for t in _LIST_LEMMAS if t[0] == level]
    _, binders, goal, proof = rng.choice(choices)
    xs, ys, zs = rng.choice((("xs", "ys", "zs"), ("l1", "l2", "l3"), ("s", "t", "u")))
    a, k = rng.choice((("a", "n"), ("x", "k"), ("v", "m")))
    names = dict(xs=xs, ys=ys, zs=zs, a=a, k=k)
    return Generated("list", binders.format(**names), goal.format(**names), _indent(proof))


# -- levels 3-5: linear arithmetic by construction -------------------------------------------
def _linear_system(rng: random.Random, nvars: int, nhyps: int, typ: str, conj: bool = False) -> Generated:
    names = rng.sample(_VARS, nvars)
    integer = typ == "Int"
    witness = {v: rng.randint(-6 if integer else 0, 12) for v in names}
    hyps: list[tuple[dict[str, int], str, int]] = []  # (coefs, relation, constant)
    for _ in range(nhyps):
        support = rng.sample(names, rng.randint(1, min(3, nvars)))
        coefs = {v: rng.choice((1, 1, 2, 3)) * (rng.choice((1, -1)) if integer else 1) for v in support}
        value = sum(c * witness[v] for v, c in coefs.items())
        rel = rng.choice(("≤", "<", "="))
        slack = 0 if rel == "=" else rng.randint(1 if rel == "<" else 0, 5)
        hyps.append((coefs, rel, value + slack))

    def combine(mult: Sequence[int]) -> tuple[dict[str, int], str, int] | None:
        total: dict[str, int] = {v: 0 for v in names}
        const = 0
        rels = set()
        for k, (coefs, rel, c) in zip(mult, hyps):
            if k == 0:
                continue
            for v, cv in coefs.items():
                total[v] += k * cv
            const += k * c
            rels.add(rel)
        if not rels or not any(total.values()):
            return None
        rel = "<" if "<" in rels else "=" if rels == {"="} else "≤"
        return total, rel, const

    def multipliers() -> list[int]:
        out = []
        for _, rel, _ in hyps:
            if rel == "=" and integer:
                out.append(rng.choice((-2, -1, 0, 1, 1, 2)))
            else:
                out.append(rng.choice((0, 1, 1, 2)))
        if not any(out):
            out[rng.randrange(len(out))] = 1
        return out

    goals: list[str] = []
    for _ in range(2 if conj else 1):
        for _attempt in range(50):
            got = combine(multipliers())
            if got is not None:
                break
        else:  # pragma: no cover - astronomically unlikely
            got = (dict(hyps[0][0]), hyps[0][1], hyps[0][2])
        coefs, rel, const = got
        if rel != "=" and rng.random() < 0.5:  # loosen the bound
            const += rng.randint(1, 4)
            rel = "≤" if rel == "<" else rel
        if rel == "=" and rng.random() < 0.3:
            rel = "≤"
        goals.append(f"{linear_form(coefs)} {rel} {_num(const)}")
    hyp_text = " ".join(f"(h{i} : {linear_form(c)} {r} {_num(k)})" for i, (c, r, k) in enumerate(hyps))
    binders = f"({' '.join(names)} : {typ}) {hyp_text}"
    if conj:
        return Generated("linear", binders, f"{goals[0]} ∧ {goals[1]}", _indent("constructor <;> omega"))
    return Generated("linear", binders, goals[0], _indent("omega"))


def _mod_lemma(rng: random.Random) -> Generated:
    n = rng.choice(("n", "k", "x"))
    m, k = rng.randint(2, 9), rng.randint(1, 6)
    kind = rng.choice(("shift", "double", "sum"))
    if kind == "shift":
        goal = f"({n} + {k * m}) % {m} = {n} % {m}"
    elif kind == "double":
        goal = f"({m} * {n}) % {m} = 0"
    else:
        goal = f"({n} * {m} + {k % m}) % {m} = {k % m}"
    return Generated("mod", f"({n} : Nat)", goal, _indent("omega"))


# -- levels 4-5: induction -----------------------------------------------------------------
def _recurrence(rng: random.Random) -> Generated:
    f, n = rng.choice((("f", "n"), ("g", "n"), ("u", "k")))
    kind = rng.choice(("affine", "const", "mono", "parity"))
    if kind == "affine":
        c, d = rng.randint(0, 9), rng.randint(1, 5)
        binders = f"({f} : Nat → Nat) (h0 : {f} 0 = {c}) (h : ∀ {n}, {f} ({n} + 1) = {f} {n} + {d})"
        goal = f"∀ {n}, {f} {n} = {c} + {d} * {n}"
    elif kind == "const":
        binders = f"({f} : Nat → Nat) (h : ∀ {n}, {f} ({n} + 1) = {f} {n})"
        goal = f"∀ {n}, {f} {n} = {f} 0"
    elif kind == "mono":
        binders = f"({f} : Nat → Nat) (h : ∀ {n}, {f} {n} ≤ {f} ({n} + 1))"
        goal = f"∀ {n}, {f} 0 ≤ {f} {n}"
    else:
        d = 2 * rng.randint(1, 3)
        binders = f"({f} : Nat → Nat) (h0 : {f} 0 = 0) (h : ∀ {n}, {f} ({n} + 1) = {f} {n} + {d})"
        goal = f"∀ {n}, {f} {n} % 2 = 0"
    j = "j" if n != "j" else "i"
    proof = _indent(f"intro {n}", f"induction {n} with", "| zero => omega", f"| succ {j} ih => have := h {j}; omega")
    return Generated("induction", binders, goal, proof)


def _list_induction(rng: random.Random) -> Generated:
    xs = rng.choice(("xs", "l", "s"))
    k = rng.randint(2, 5)
    kind = rng.choice(("scale", "shift"))
    if kind == "scale":
        goal = f"({xs}.map (fun t => {k} * t)).sum = {k} * {xs}.sum"
    else:
        goal = f"({xs}.map (fun t => t + {k})).sum = {xs}.sum + {k} * {xs}.length"
    proof = _indent(f"induction {xs} with", "| nil => simp",
                    "| cons hd tl ih => simp only [List.map_cons, List.sum_cons, List.length_cons] at *; omega")
    return Generated("induction", f"({xs} : List Nat)", goal, proof)


# -- levels ------------------------------------------------------------------------------
Family = Callable[[random.Random], Generated]

LEVELS: dict[int, tuple[Family, ...]] = {
    0: (_identity, _identity, _small_numeral),
    1: (_decide_numeric,),
    2: (_one_var, _one_var, lambda r: _list_lemma(r, 2)),
    3: (lambda r: _linear_system(r, r.randint(2, 3), r.randint(1, 2), "Nat"), _mod_lemma, lambda r: _list_lemma(r, 3)),
    4: (lambda r: _linear_system(r, r.randint(3, 4), r.randint(2, 3), r.choice(("Nat", "Int")), conj=r.random() < 0.4),
        lambda r: _linear_system(r, 3, 2, "Int"), _recurrence),
    5: (lambda r: _linear_system(r, 4, r.randint(3, 4), r.choice(("Nat", "Int")), conj=r.random() < 0.5),
        _recurrence, _list_induction),
}
assert set(LEVELS) == set(range(MAX_LEVEL + 1))


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:10]


def make_problem(gen: Generated, level: int) -> Problem:
    key = _digest(f"{gen.binders}|{gen.goal}")
    name = f"core_{gen.family}_{key}"
    binders = f" {gen.binders}" if gen.binders else ""
    statement = f"theorem {name}{binders} : {gen.goal} := by"
    return Problem(id=f"core-l{level}-{gen.family}-{key}", domain="lean", statement=statement, header="",
                   meta={"level": level, "family": gen.family, "proof": gen.proof, "source": "core_lean"})


def reference_response(problem: Problem) -> str:
    """A model-style answer that proves ``problem`` (generated problems carry their proof in ``meta``)."""
    proof = problem.meta.get("proof")
    if not proof:
        raise ValueError(f"problem {problem.id!r} has no reference proof in meta['proof']")
    return f"```lean4\n{problem.statement}\n{proof}\n```"


class CoreLeanGenerator:
    """Deterministic generator: ``sample(level, n)`` returns ``n`` new problems of ``level``."""

    def __init__(self, seed: int = 0, max_level: int = MAX_LEVEL) -> None:
        if not 0 <= max_level <= MAX_LEVEL:
            raise ValueError(f"max_level must be in [0, {MAX_LEVEL}], got {max_level}")
        self.seed = seed
        self.max_level = max_level
        self.counters: dict[int, int] = {lvl: 0 for lvl in range(max_level + 1)}

    def problem(self, level: int, index: int) -> Problem:
        """Problem number ``index`` of ``level`` (pure function of seed, level, index)."""
        if not 0 <= level <= self.max_level:
            raise ValueError(f"level must be in [0, {self.max_level}], got {level}")
        rng = random.Random(f"core-lean/{self.seed}/{level}/{index}")
        return make_problem(rng.choice(LEVELS[level])(rng), level)

    def sample(self, level: int, n: int) -> list[Problem]:
        start = self.counters[level]
        self.counters[level] = start + n
        return [self.problem(level, start + i) for i in range(n)]

    def state_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "max_level": self.max_level, "counters": {str(k): v for k, v in self.counters.items()}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.seed = int(state["seed"])
        self.counters.update({int(k): int(v) for k, v in state["counters"].items()})


# -- difficulty ------------------------------------------------------------------------------
@dataclass
class DifficultyConfig:
    start_level: int = field(default=0, metadata={"help": "Level the generator starts at (0 = easiest)."})
    min_level: int = field(default=0, metadata={"help": "Lowest level the controller may move to."})
    max_level: int = field(default=MAX_LEVEL, metadata={"help": f"Highest level (at most {MAX_LEVEL})."})
    window: int = field(default=16, metadata={"help": "Attempts at the current level looked at before moving."})
    up_threshold: float = field(
        default=0.9, metadata={"help": "Move one level up when the solve rate over the window is >= this."})
    down_threshold: float = field(
        default=0.0, metadata={"help": "Move one level down when the solve rate over the window is <= this."})

    def __post_init__(self) -> None:
        if not 0 <= self.min_level <= self.max_level <= MAX_LEVEL:
            raise ValueError(f"difficulty levels must satisfy 0 <= min_level <= max_level <= {MAX_LEVEL}, got "
                             f"min_level={self.min_level}, max_level={self.max_level}")
        if not self.min_level <= self.start_level <= self.max_level:
            raise ValueError(f"difficulty.start_level={self.start_level} must lie in [min_level, max_level] = "
                             f"[{self.min_level}, {self.max_level}]")
        if self.window < 1:
            raise ValueError(f"difficulty.window={self.window}: use a positive number of attempts, e.g. 16")
        if not 0.0 <= self.down_threshold < self.up_threshold <= 1.0:
            raise ValueError(f"difficulty thresholds must satisfy 0 <= down_threshold < up_threshold <= 1, got "
                             f"down={self.down_threshold}, up={self.up_threshold}")


class DifficultyController:
    """Adapts the level to the model: up when always solved, down when never solved."""

    def __init__(self, cfg: DifficultyConfig | None = None) -> None:
        self.cfg = cfg or DifficultyConfig()
        self.level = self.cfg.start_level
        self.window: deque[bool] = deque(maxlen=self.cfg.window)
        self.moves: list[tuple[int, int]] = []  # (from, to) in order

    @property
    def rate(self) -> float | None:
        return sum(self.window) / len(self.window) if self.window else None

    def observe(self, level: int, solved: Iterable[bool]) -> int | None:
        """Record attempts at ``level``; returns the new level when it changed (else None).

        Attempts at other levels (problems sampled before a move) are ignored.
        """
        if level != self.level:
            return None
        self.window.extend(bool(s) for s in solved)
        if len(self.window) < self.cfg.window:
            return None
        rate = self.rate or 0.0
        new = self.level
        if rate >= self.cfg.up_threshold and self.level < self.cfg.max_level:
            new = self.level + 1
        elif rate <= self.cfg.down_threshold and self.level > self.cfg.min_level:
            new = self.level - 1
        if new == self.level:
            return None
        self.moves.append((self.level, new))
        self.level = new
        self.window.clear()
        return new

    def state_dict(self) -> dict[str, Any]:
        return {"level": self.level, "window": list(self.window), "moves": [list(m) for m in self.moves]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.level = int(state["level"])
        self.window = deque((bool(s) for s in state.get("window", [])), maxlen=self.cfg.window)
        self.moves = [(int(a), int(b)) for a, b in state.get("moves", [])]


__all__ = [
    "MAX_LEVEL",
    "CoreLeanGenerator",
    "DifficultyConfig",
    "DifficultyController",
    "Generated",
    "linear_form",
    "make_problem",
    "reference_response",
]
