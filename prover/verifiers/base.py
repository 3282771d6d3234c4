"""The one interface every domain's verifier implements (``RowError``/``require_str`` come from ``prover.data.rows``)."""

from __future__ import annotations

import abc
import asyncio
from typing import Any, Mapping, Sequence

from prover.data.rows import RowError, require_str
from prover.types import Problem, Verdict


def cap_text(text: str, cap: int, *, marker: str = "\n... [feedback truncated]") -> tuple[str, bool]:
    """Cap ``text`` at ``cap`` characters; returns (capped text, was it over the cap)."""
    if cap <= 0 or len(text) <= cap:
        return text, False
    keep = max(0, cap - len(marker))
    return text[:keep] + marker, True


class Verifier(abc.ABC):
    """Batch of (problem, response) in, one typed ``Verdict`` per pair out, in order.

    "The response is wrong" is a ``Verdict`` (``invalid``/``timeout``); only broken
    infrastructure that cannot even produce an ``error`` verdict raises.
    """

    domain: str = ""

    @abc.abstractmethod
    def verify(self, problems: Sequence[Problem], responses: Sequence[str], *, progress: bool = False) -> list[Verdict]:
        """Verify ``responses[i]`` against ``problems[i]`` for every i."""

    async def averify(self, problems: Sequence[Problem], responses: Sequence[str]) -> list[Verdict]:
        """Async form; the default runs ``verify`` in a worker thread."""
        return await asyncio.to_thread(self.verify, problems, responses)

    @classmethod
    def problem_from_row(cls, row: Mapping[str, Any]) -> Problem:
        """Build a ``Problem`` from one input row; raise ``RowError``.

        The one row parser is ``prover.data.problem_from_row`` (``prover verify`` uses it);
        a domain overrides this only to add checks of its own.
        """
        from prover.data import problem_from_row

        return problem_from_row(row, cls.domain)

    def close(self) -> None:
        """Release processes and files. Idempotent."""

    def __enter__(self) -> "Verifier":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_lengths(problems: Sequence[Problem], responses: Sequence[str]) -> None:
    if len(problems) != len(responses):
        raise ValueError(f"got {len(problems)} problems but {len(responses)} responses")


__all__ = ["RowError", "Verifier", "cap_text", "check_lengths", "require_str"]
