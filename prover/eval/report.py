"""Summary JSON and pass@k plot of an evaluation run.

Conventions:
- pass@k (attempts only): unbiased estimator over the ``n`` first attempts.
- pass@k after correction: a "chain" is one first attempt plus, when it failed,
  its one error-fix turn; a chain passes when either passes. The estimator runs
  over the ``m`` corrected chains (``m`` = correction budget), so k counts chains.
- Equal budget: a chain costs up to two generations, so ``B/2`` chains are
  compared with ``B`` plain attempts (e.g. 16 attempts + 16 corrections versus
  32 attempts); the difference is the gain of correction beyond more samples.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from prover.eval.passk import by_group, mean_pass_at_k, pass_curve

SUMMARY_FILE = "summary.json"
PLOT_FILE = "passk.png"


@dataclass(frozen=True)
class ProblemResult:
    """Counts for one problem: ``c`` of ``n`` first attempts valid; ``c_corrected`` of ``m`` chains valid."""

    id: str
    source: str
    n: int
    c: int
    m: int = 0
    c_corrected: int = 0
    fixes_tried: int = 0
    fixes_valid: int = 0
    statuses: Mapping[str, Mapping[str, int]] = field(default_factory=dict)


def curve_ks(n: int, ks: Sequence[int] = ()) -> list[int]:
    """k values for a smooth curve: every k up to 64, then powers of two, plus ``ks`` and ``n``."""
    if n < 1:
        return []
    if n <= 64:
        return list(range(1, n + 1))
    points = {2**i for i in range(n.bit_length()) if 2**i <= n} | {k for k in ks if k <= n} | {n}
    return sorted(points)


def equal_budget(results: Sequence[ProblemResult], ks: Sequence[int]) -> list[dict[str, Any]]:
    """Rows ``{generations: B, attempts: B, corrected_chains: B/2, pass_attempts_only, pass_with_correction, gain}``.

    Budgets: each even k in ``ks`` and twice each k, as far as the samples allow
    (``B <= n`` and ``B/2 <= m``).
    """
    if not results:
        return []
    n = min(r.n for r in results)
    m = min(r.m for r in results)
    budgets = sorted({k for k in ks if k % 2 == 0} | {2 * k for k in ks})
    rows = []
    plain = [(r.n, r.c) for r in results]
    chains = [(r.m, r.c_corrected) for r in results]
    for b in budgets:
        if b > n or b // 2 > m or b // 2 < 1:
            continue
        a = mean_pass_at_k(plain, b)
        c = mean_pass_at_k(chains, b // 2)
        rows.append({"generations": b, "attempts": b, "corrected_chains": b // 2,
                     "pass_attempts_only": a, "pass_with_correction": c, "gain": c - a})
    return rows


def equal_budget_curve(results: Sequence[ProblemResult]) -> dict[str, list[float]]:
    """The equal-budget comparison at every even budget the samples allow (for the plot)."""
    if not results:
        return {"generations": [], "attempts_only": [], "with_correction": []}
    n = min(r.n for r in results)
    m = min(r.m for r in results)
    chains_max = min(m, n // 2)
    budgets = [2 * k for k in curve_ks(chains_max)]
    plain = [(r.n, r.c) for r in results]
    chains = [(r.m, r.c_corrected) for r in results]
    return {"generations": budgets, "attempts_only": [mean_pass_at_k(plain, b) for b in budgets],
            "with_correction": [mean_pass_at_k(chains, b // 2) for b in budgets]}


def _named(curve: Mapping[int, float]) -> dict[str, float]:
    return {f"pass@{k}": v for k, v in curve.items()}


def _status_totals(results: Sequence[ProblemResult]) -> dict[str, dict[str, int]]:
    totals: dict[str, dict[str, int]] = {}
    for r in results:
        for turn, counts in r.statuses.items():
            t = totals.setdefault(turn, {})
            for status, count in counts.items():
                t[status] = t.get(status, 0) + count
    return {turn: dict(sorted(c.items())) for turn, c in totals.items() if c}


def summarize(results: Sequence[ProblemResult], ks: Sequence[int], *, correction: bool,
              meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The summary dict written as ``summary.json`` (see the module doc for the conventions)."""
    if not results:
        raise ValueError("no problem results to summarize")
    n = min(r.n for r in results)
    plain = [(r.n, r.c) for r in results]
    sources = {r.id: r.source for r in results}
    valid_ks = [k for k in ks if k <= n]
    summary: dict[str, Any] = dict(meta or {})
    summary.update({
        "problems": len(results),
        "n": n,
        "k": list(ks),
        "pass@k": _named(pass_curve(plain, valid_ks)),
        "accuracy": sum(r.c / r.n for r in results) / len(results),
        "solved": sum(r.c > 0 for r in results),
        "by_source": by_group({r.id: (r.n, r.c) for r in results}, sources, valid_ks),
        "statuses": _status_totals(results),
        "curve": {"k": curve_ks(n, ks), "attempts_only": [mean_pass_at_k(plain, k) for k in curve_ks(n, ks)]},
    })
    if correction:
        m = min(r.m for r in results)
        chains = [(r.m, r.c_corrected) for r in results]
        corr_ks = [k for k in ks if k <= m]
        tried = sum(r.fixes_tried for r in results)
        fixed = sum(r.fixes_valid for r in results)
        groups = by_group({r.id: (r.m, r.c_corrected) for r in results}, sources, corr_ks) if m else {}
        summary["correction"] = {
            "budget": m,
            "pass@k": _named(pass_curve(chains, corr_ks)) if m else {},
            "accuracy": sum(r.c_corrected / r.m for r in results) / len(results) if m else 0.0,
            "solved": sum(r.c_corrected > 0 for r in results) if m else 0,
            "by_source": groups,
            "fixes_tried": tried,
            "fixes_valid": fixed,
            "fix_rate": fixed / tried if tried else 0.0,
            "equal_budget": equal_budget(results, ks) if m else [],
            "equal_budget_curve": equal_budget_curve(results) if m else equal_budget_curve([]),
            "curve": {"k": curve_ks(m, ks) if m else [],
                      "with_correction": [mean_pass_at_k(chains, k) for k in curve_ks(m, ks)] if m else []},
        }
        for source, row in summary["by_source"].items():
            row["pass@k_corrected"] = groups.get(source, {}).get("pass@k", {})
    summary["per_problem"] = {
        r.id: {"source": r.source, "n": r.n, "c": r.c, **({"m": r.m, "c_corrected": r.c_corrected} if correction else {})}
        for r in results
    }
    return summary


def write_summary(summary: Mapping[str, Any], run_dir: Path) -> Path:
    path = Path(run_dir) / SUMMARY_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def _style_axes(ax: Any, xlabel: str, ylabel: str, title: str) -> None:
    """Log2 x axis with plain tick labels, a [0, 1] rate on y, grid, legend and title."""
    from matplotlib.ticker import FuncFormatter

    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title, fontsize=10)


def plot_passk(summary: Mapping[str, Any], path: Path) -> Path:
    """pass@k against k, with and without correction; beside it the equal-budget comparison."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    corr = summary.get("correction")
    panels = 2 if corr and corr.get("equal_budget_curve", {}).get("generations") else 1
    fig, axes = plt.subplots(1, panels, figsize=(6.2 * panels, 4.4), squeeze=False)
    ax = axes[0][0]
    curve = summary["curve"]
    ax.plot(curve["k"], curve["attempts_only"], marker="o", ms=3, label="attempts only")
    if corr and corr["curve"]["k"]:
        ax.plot(corr["curve"]["k"], corr["curve"]["with_correction"], marker="s", ms=3,
                label="with one-shot correction (k chains)")
    for k in summary["k"]:
        v = summary["pass@k"].get(f"pass@{k}")
        if v is not None:
            ax.annotate(f"{v:.3f}", (k, v), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    _style_axes(ax, "k", "pass@k", f"{summary.get('dataset', '')} {summary.get('split', '')}: "
                f"{summary['problems']} problems, n={summary['n']}")
    if panels == 2:
        bx = axes[0][1]
        eq = corr["equal_budget_curve"]
        bx.plot(eq["generations"], eq["attempts_only"], marker="o", ms=3, label="B attempts")
        bx.plot(eq["generations"], eq["with_correction"], marker="s", ms=3, label="B/2 attempts + B/2 corrections")
        for row in corr.get("equal_budget", []):
            bx.annotate(f"{row['gain']:+.3f}", (row["generations"], row["pass_with_correction"]),
                        textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
        _style_axes(bx, "generation budget B", "pass rate", "equal budget")
    fig.suptitle(str(summary.get("model", "")), fontsize=9)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_outputs(summary: Mapping[str, Any], run_dir: Path, *, plot: bool = True) -> dict[str, Path]:
    """Write ``summary.json`` (and ``passk.png``) into ``run_dir``."""
    out = {"summary": write_summary(summary, run_dir)}
    if plot:
        out["plot"] = plot_passk(summary, Path(run_dir) / PLOT_FILE)
    return out


__all__ = ["PLOT_FILE", "SUMMARY_FILE", "ProblemResult", "curve_ks", "equal_budget", "equal_budget_curve",
           "plot_passk", "summarize", "write_outputs", "write_summary"]
