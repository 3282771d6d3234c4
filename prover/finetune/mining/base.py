"""What every domain's self-made problems share: the proposal prompt layout and the filter pass.

A ``Proposer`` (one per domain: ``code``, ``math``, ``lean`` in this package) says how to
ask for a problem, how to read one out of the model's text, and which degenerate
problems its real verifiers reject. ``Proposer.filter`` runs the shared filters first
(cheap, text only), each drop counted under its name:

- ``unparseable``: no problem could be read from the proposal;
- ``too_short``: the problem's text is shorter than ``min_chars`` (trivial);
- ``duplicate``: a near-duplicate of an earlier proposal (or of the format example shown);
- ``contaminated``: a (near-)copy of an evaluation set;

then the domain's own checks (``Proposer.checks``), which run the real verifiers.
"""

from __future__ import annotations

from typing import Sequence

from prover.finetune.api import NgramIndex, Problem, near_duplicate

COMMON_FILTERS: tuple[str, ...] = ("unparseable", "too_short", "duplicate", "contaminated")
DIFFERENT = "\nInvent a different problem from before."


class Proposer:
    """Base of the per-domain proposers (subclasses set the class attributes and ``parse``/``degenerate``)."""

    domain: str = ""
    system: str = ""
    request: str = ""  # the proposal request; ``{level}`` is the difficulty 1-5
    example: str = ""  # one worked proposal in the requested format
    checks: tuple[str, ...] = ()  # the domain's own filters, in the order they run

    def __init__(self, *, min_chars: int, index: NgramIndex | None = None, contamination: float = 0.5) -> None:
        self.min_chars = min_chars
        self.index = index
        self.contamination = contamination

    @property
    def filters(self) -> tuple[str, ...]:
        return COMMON_FILTERS + self.checks

    def prompt(self, level: int) -> list[dict[str, str]]:
        """System turn, the worked example (at level 1) as a prior turn, then the request at ``level``."""
        return [{"role": "system", "content": self.system},
                {"role": "user", "content": self.request.format(level=1)},
                {"role": "assistant", "content": self.example},
                {"role": "user", "content": self.request.format(level=level) + DIFFERENT}]

    # -- per domain ---------------------------------------------------------------------------
    def parse(self, text: str, ident: str, level: int) -> Problem | None:
        raise NotImplementedError

    def key(self, problem: Problem) -> str:
        """The text compared for near-duplicates."""
        return problem.prompt + " " + " ".join(problem.tests)

    def text_of(self, problem: Problem) -> str:
        """The text that must reach ``min_chars`` and is compared with the evaluation sets."""
        return problem.prompt

    def is_duplicate(self, problem: Problem, seen: Sequence[str]) -> bool:
        k = self.key(problem)
        return any(near_duplicate(k, s) for s in seen)

    def contaminated(self, problem: Problem) -> bool:
        return self.index is not None and self.index.overlap(self.text_of(problem))[0] >= self.contamination

    def degenerate(self, problems: Sequence[Problem]) -> list[tuple[str, Problem]]:
        """For each problem: ("", the problem ready to solve) or (the check that rejected it, the problem)."""
        return [("", p) for p in problems]

    def close(self) -> None:
        """Release what the proposer started (verifiers it owns)."""

    # -- the pass -----------------------------------------------------------------------------
    def seen_start(self) -> list[str]:
        """Keys a proposal must not copy from the start: the format example's."""
        example = self.parse(self.example, "example", 1)
        return [self.key(example)] if example is not None else []

    def filter(self, parsed: Sequence[Problem | None], seen: list[str], counts: dict[str, int]) -> list[Problem]:
        """The kept problems (in order); ``counts[filter]`` grows by each drop, ``seen`` by each kept key."""
        cheap: list[Problem] = []
        for p in parsed:
            if p is None:
                counts["unparseable"] += 1
            elif len(self.text_of(p).strip()) < self.min_chars:
                counts["too_short"] += 1
            elif self.is_duplicate(p, seen):
                counts["duplicate"] += 1
            elif self.contaminated(p):
                counts["contaminated"] += 1
            else:
                seen.append(self.key(p))
                cheap.append(p)
        if not cheap:
            return []
        kept = []
        for why, p in self.degenerate(cheap):
            if why:
                counts[why] += 1
            else:
                kept.append(p)
        return kept


def new_counts(filters: Sequence[str]) -> dict[str, int]:
    return {f: 0 for f in filters}
