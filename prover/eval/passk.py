"""The unbiased pass@k estimator (Chen et al., 2021) and its per-group means.

With ``n`` samples of which ``c`` are correct, the probability that at least one
of ``k`` samples drawn without replacement is correct is
``1 - C(n-c, k) / C(n, k)``, computed as ``1 - prod_{i=n-c+1}^{n} (1 - k/i)``
(no huge binomials, no overflow).
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one problem with ``n`` samples, ``c`` of them correct."""
    if n < 1:
        raise ValueError(f"pass@k needs n >= 1 samples, got n={n}")
    if not 0 <= c <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n, got c={c}, n={n}")
    if not 1 <= k <= n:
        raise ValueError(f"pass@{k} needs 1 <= k <= n (n={n} samples); sample at least k attempts per problem")
    if n - c < k:
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


def mean_pass_at_k(counts: Iterable[tuple[int, int]], k: int) -> float:
    """Mean pass@k over problems given as ``(n, c)`` pairs (0.0 for no problems)."""
    values = [pass_at_k(n, c, k) for n, c in counts]
    return sum(values) / len(values) if values else 0.0


def pass_curve(counts: Sequence[tuple[int, int]], ks: Iterable[int]) -> dict[int, float]:
    """``{k: mean pass@k}`` for every ``k`` that every problem has enough samples for."""
    if not counts:
        return {}
    n_min = min(n for n, _ in counts)
    return {k: mean_pass_at_k(counts, k) for k in ks if 1 <= k <= n_min}


def by_group(
    counts: Mapping[str, tuple[int, int]],
    groups: Mapping[str, str],
    ks: Sequence[int],
) -> dict[str, dict[str, object]]:
    """Per-group means: ``{group: {"problems": P, "pass@k": {"pass@1": ..., ...}}}``.

    ``counts`` maps problem ids to ``(n, c)``; ``groups`` maps problem ids to a
    group name (problems without one fall in ``"other"``). Groups are sorted by name.
    """
    members: dict[str, list[tuple[int, int]]] = {}
    for pid, nc in counts.items():
        members.setdefault(groups.get(pid, "other"), []).append(nc)
    out: dict[str, dict[str, object]] = {}
    for group in sorted(members):
        rows = members[group]
        out[group] = {"problems": len(rows), "pass@k": {f"pass@{k}": v for k, v in pass_curve(rows, ks).items()}}
    return out


__all__ = ["by_group", "mean_pass_at_k", "pass_at_k", "pass_curve"]
