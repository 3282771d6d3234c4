"""Control arms: shuffled information, garbage pairs, pairs-count subsets, the "correct stays correct" mix.

Each control keeps everything about a training set except the thing under test:
- ``derangement``: which problem a piece of privileged information (feedback, tests)
  is shown with; nobody keeps their own.
- ``garbage_rows``: same count, same prompts, completions of the same length and
  format whose code passes nothing (checked by the verifier).
- ``nested_subsets``: the pairs-count sweep, each smaller set inside the larger one.
- ``mix_rows``: corrections mixed with "correct stays correct" rows at a fraction.
"""

from __future__ import annotations

import random
import re
from typing import Any, Callable, Mapping, Sequence

_FENCE = re.compile(r"(```[A-Za-z0-9_+-]*[ \t]*\n)(.*?)(```)", re.DOTALL)


def derangement(n: int, rng: random.Random) -> list[int]:
    """A permutation of ``range(n)`` with no fixed point (identity for n < 2)."""
    if n < 2:
        return list(range(n))
    while True:
        perm = list(range(n))
        rng.shuffle(perm)
        if all(i != p for i, p in enumerate(perm)):
            return perm


def derangement_by(keys: Sequence[Any], rng: random.Random, tries: int = 10000) -> list[int]:
    """A permutation sending every item to one with a different key (e.g. another problem).

    Raises ``ValueError`` when no such permutation exists (one key holds more than half the items).
    """
    n = len(keys)
    counts: dict[Any, int] = {}
    for k in keys:
        counts[k] = counts.get(k, 0) + 1
    if n and max(counts.values()) * 2 > n:
        raise ValueError(f"cannot give every item another key's information: one key holds {max(counts.values())} of {n} items")
    for _ in range(tries):
        perm = list(range(n))
        rng.shuffle(perm)
        if all(keys[i] != keys[p] for i, p in enumerate(perm)):
            return perm
    raise ValueError(f"no key-changing permutation found in {tries} tries")


def scramble_code(text: str, rng: random.Random) -> str:
    """``text`` with the lines of every fenced block (or of all of it) in a random order.

    Length, characters, line count and the fence format are unchanged.
    """
    def shuffle(body: str) -> str:
        lines = body.split("\n")
        tail = lines[-1] == ""
        core = lines[:-1] if tail else lines
        if len(core) > 1:
            order = list(range(len(core)))
            for _ in range(8):
                rng.shuffle(order)
                if order != sorted(order):
                    break
            core = [core[i] for i in order]
        elif core:  # one line: reverse its characters (still same length)
            core = [core[0][::-1]]
        return "\n".join(core + ([""] if tail else []))

    if _FENCE.search(text):
        return _FENCE.sub(lambda m: m.group(1) + shuffle(m.group(2)) + m.group(3), text)
    return shuffle(text)


def garbage_rows(rows: Sequence[Mapping[str, Any]], passes: Callable[[Mapping[str, Any], str], bool], *,
                 seed: int = 0, tries: int = 8) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Same-size, same-shape garbage: each completion's code lines scrambled until it passes nothing.

    ``passes(row, completion_text)`` runs the real verifier. Returns the rows and counts
    (``scrambled``, ``still_passing`` for rows where every try still passed: those get an
    empty-bodied version that keeps the length with a comment and is checked again).
    """
    rng = random.Random(seed)
    out, counts = [], {"rows": len(rows), "scrambled": 0, "still_passing": 0}
    for row in rows:
        original = row["completion"][0]["content"]
        garbage = None
        for _ in range(tries):
            cand = scramble_code(original, rng)
            if not passes(row, cand):
                garbage = cand
                break
        if garbage is None:
            counts["still_passing"] += 1
            filler = "# " + "x" * max(0, len(original) - 2)
            garbage = filler[:len(original)] if not passes(row, filler[:len(original)]) else ""
        counts["scrambled"] += 1
        new = dict(row)
        new["completion"] = [{"role": "assistant", "content": garbage}]
        new["control"] = "garbage"
        out.append(new)
    return out, counts


def nested_subsets(rows: Sequence[Mapping[str, Any]], sizes: Sequence[int], *, seed: int = 0) -> dict[int, list[Mapping[str, Any]]]:
    """``{size: rows}`` for each size not above ``len(rows)``; smaller sets are prefixes of one shuffle."""
    order = list(rows)
    random.Random(seed).shuffle(order)
    return {s: order[:s] for s in sorted(set(sizes)) if 0 < s <= len(order)}


def mix_rows(corrections: Sequence[Mapping[str, Any]], keeps: Sequence[Mapping[str, Any]], fraction: float, *,
             seed: int = 0) -> list[Mapping[str, Any]]:
    """Corrections plus "correct stays correct" rows making up ``fraction`` of the result (as near as the keeps allow)."""
    if not 0 <= fraction < 1:
        raise ValueError(f"keep fraction must be in [0, 1), got {fraction}")
    want = int(round(len(corrections) * fraction / (1 - fraction))) if fraction else 0
    rng = random.Random(seed)
    pool = list(keeps)
    rng.shuffle(pool)
    mixed = list(corrections) + pool[:want]
    rng.shuffle(mixed)
    return mixed
