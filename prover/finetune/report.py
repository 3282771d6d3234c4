"""summary.json, a markdown results table and a plot for a fine-tuning run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from prover.finetune.evaluate import pass_stats


def arm_results(counts: Mapping[str, tuple[int, int]], base: Mapping[str, tuple[int, int]] | None, ks: Sequence[int],
                *, seed: int = 0) -> dict[str, Any]:
    """pass@k (with intervals, and the paired difference against ``base``) for each k."""
    n_min = min((n for n, _ in counts.values()), default=0)
    return {f"pass@{k}": pass_stats(counts, k, base=base, seed=seed) for k in ks if 1 <= k <= n_min}


def format_stat(stat: Mapping[str, Any] | None, *, delta_on_new_line: bool = False) -> str:
    """A ``pass_stats`` entry as ``value [lo, hi]``, with the paired difference ``Δ d [lo, hi]`` when
    present (in parentheses, or after a ``<br>`` in a markdown cell); ``n/a`` for none."""
    if not stat:
        return "n/a"
    lo, hi = stat["ci95"]
    text = f"{stat['value']:.3f} [{lo:.3f}, {hi:.3f}]"
    if "delta_vs_base" in stat:
        dlo, dhi = stat["delta_ci95"]
        delta = f"Δ {stat['delta_vs_base']:+.3f} [{dlo:+.3f}, {dhi:+.3f}]"
        text += f"<br>{delta}" if delta_on_new_line else f" ({delta})"
    return text


def markdown_table(rows: Sequence[Mapping[str, Any]], ks: Sequence[int], title: str) -> str:
    """One line per arm: pairs, train loss, pass@k with 95% bootstrap intervals and the paired Δ vs base."""
    head = ["arm", "pairs", "train loss"] + [f"pass@{k} [95% CI] (Δ vs base)" for k in ks] + ["note"]
    lines = [f"### {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        res = row.get("results", {})
        cells = [str(row["arm"]), str(row.get("pairs", "")),
                 f"{row['train_loss']:.3f}" if isinstance(row.get("train_loss"), (int, float)) else ""]
        cells += [format_stat(res[f"pass@{k}"]) if f"pass@{k}" in res else "n/a" for k in ks]
        cells.append(str(row.get("note", "")))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_arms(rows: Sequence[Mapping[str, Any]], ks: Sequence[int], path: Path, title: str) -> Path:
    """Bar chart of pass@k per arm with 95% intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = [r for r in rows if r.get("results")]
    fig, ax = plt.subplots(figsize=(max(5, 1.2 * len(arms) + 2), 3.6))
    pass_at_k_bars(ax, [(str(r["arm"]), r["results"]) for r in arms], ks, rotation=20)
    ax.set_ylabel("held-out solve rate")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def pass_at_k_bars(ax: Any, rows: Sequence[tuple[str, Mapping[str, Any]]], ks: Sequence[int], *,
                   rotation: float = 20, fontsize: float | None = None) -> None:
    """Grouped bars of pass@k with their 95% intervals as error bars: one group per (label, stats) row,
    ``stats`` mapping ``pass@k`` to a ``pass_stats`` entry (missing k: no bar)."""
    width = 0.8 / max(1, len(ks))
    for j, k in enumerate(ks):
        xs, ys, lo, hi = [], [], [], []
        for i, (_, stats) in enumerate(rows):
            st = stats.get(f"pass@{k}")
            if not st:
                continue
            xs.append(i + j * width)
            ys.append(st["value"])
            lo.append(st["value"] - st["ci95"][0])
            hi.append(st["ci95"][1] - st["value"])
        ax.bar(xs, ys, width, yerr=[lo, hi], capsize=3, label=f"pass@{k}")
    ax.set_xticks([i + width * (len(ks) - 1) / 2 for i in range(len(rows))])
    ax.set_xticklabels([label for label, _ in rows], rotation=rotation, ha="right", fontsize=fontsize)


def write_run(out_dir: Path, summary: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], ks: Sequence[int],
              title: str) -> dict[str, Path]:
    """``summary.json``, ``results.md`` and ``plot.png`` in ``out_dir``."""
    from prover.finetune.api import clean_obj

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"summary": out_dir / "summary.json", "table": out_dir / "results.md", "plot": out_dir / "plot.png"}
    paths["summary"].write_text(json.dumps(clean_obj(dict(summary)), indent=2, default=str))
    paths["table"].write_text(markdown_table(rows, ks, title))
    plot_arms(rows, ks, paths["plot"], title)
    return paths
