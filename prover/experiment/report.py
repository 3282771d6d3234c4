"""results.json, results.md and plot.png of an experiment; every number comes from the run's records.

``build_results`` turns the per-arm/seed records (``done.json``) and the baselines' evaluation
summaries into ``results.json``; ``write_report`` renders the table and the plot from it, so
the table can be re-derived from ``results.json`` alone (``render_table(results)``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from prover.experiment import stats
from prover.finetune.report import format_stat, pass_at_k_bars
from prover.text import clean_obj


def _sources(problems: Sequence[Any]) -> dict[str, str]:
    return {p.id: str(p.meta.get("source", "other")) for p in problems}


def build_results(cfg: Any, problems: Sequence[Any], baselines: Mapping[str, Mapping[str, Any]],
                  arms: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, Any]:
    from prover.config import to_plain

    sources = _sources(problems)
    ks = list(cfg.eval.k)
    ref_name = cfg.reference_arm
    pooled = {arm: stats.pool_seeds([r["eval"]["per_problem"] for r in recs]) for arm, recs in arms.items()}
    ref = pooled.get(ref_name)
    ref_gain = stats.equal_budget_gain(ref, len(cfg.seeds)) if ref else None
    out_arms: dict[str, Any] = {}
    for arm, recs in arms.items():
        counts = pooled[arm]
        is_ref = arm == ref_name
        gain = stats.equal_budget_gain(counts, len(cfg.seeds))
        b = [r["budget"] for r in recs]
        out_arms[arm] = {
            "overrides": cfg.arms[arm],
            "seeds": [r["seed"] for r in recs],
            "budget": {"optimizer_steps": [x["optimizer_steps"] for x in b], "completions": [x["completions"] for x in b],
                       "completion_tokens": [x["completion_tokens"] for x in b],
                       "infra_errors": [x["infra_errors"] for x in b]},
            "heldout": stats.pass_at(counts, ks, None if is_ref else ref, resamples=cfg.resamples),
            "heldout_by_source": stats.by_source(counts, sources),
            "inference_fix_success": stats.ratio(sum(r["eval"]["fixes_valid"] for r in recs),
                                                 sum(r["eval"]["fixes_tried"] for r in recs)),
            "equal_budget_gain": (stats.paired_bootstrap(gain, None if is_ref or ref_gain is None else ref_gain,
                                                         resamples=cfg.resamples) if gain is not None else None),
            "train_fix_success": stats.ratio(sum(x["fix_turns_valid"] for x in b), sum(x["fix_turns"] for x in b)),
            "train_correct_to_wrong": stats.ratio(sum(x["correct_to_wrong"] for x in b),
                                                  sum(x["preserve_turns"] for x in b)),
            "train_fresh_solve_rate_per_step": _mean_curves([x["fresh_solve_rate_per_step"] for x in b]),
            "replay_ratio_per_step": _mean_curves([x["replay_ratio_per_step"] for x in b]),
            "step_time_s": [x["step_time_s"] for x in b],
            "per_problem": counts,
        }
    base_rows = {}
    for name, summary in baselines.items():
        counts = stats.pool_seeds([summary["per_problem"]])
        corr = summary.get("correction", {})
        base_rows[name] = {"heldout": stats.pass_at(counts, ks, None, resamples=cfg.resamples),
                           "heldout_by_source": stats.by_source(counts, sources),
                           "inference_fix_success": stats.ratio(corr.get("fixes_valid", 0), corr.get("fixes_tried", 0)),
                           "model": summary.get("model"), "few_shot": summary.get("config", {}).get("few_shot"),
                           "per_problem": counts}
    return clean_obj({
        "config": to_plain(cfg), "reference_arm": ref_name,
        "heldout": {"problems": len(problems), "by_source": _count_sources(sources)},
        "baselines": base_rows, "arms": out_arms,
        "conventions": {
            "pass@k": "unbiased estimator over the pooled first attempts (eval.samples per seed) per held-out "
                      "problem, averaged over problems; 95% interval: bootstrap over problems",
            "delta": "paired difference vs the reference arm: both arms scored on the same resampled problems",
            "equal_budget_gain": "per problem: pass@1 of (first attempt + one error-fix turn) minus pass@2 of first "
                                 "attempts (2 generations each), averaged; paired bootstrap like pass@k",
            "train_fix_success": "valid error-fix/retry completions during training / all of them",
            "train_correct_to_wrong": "preserve (check) turns whose correct input became wrong / all of them",
            "inference_fix_success": "valid error-fix turns at evaluation / failed first attempts given one",
        },
    })


def _count_sources(sources: Mapping[str, str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in sources.values():
        out[s] = out.get(s, 0) + 1
    return dict(sorted(out.items()))


def _mean_curves(curves: Sequence[Sequence[float]]) -> list[float]:
    if not curves:
        return []
    n = min(len(c) for c in curves)
    return [round(sum(c[i] for c in curves) / len(curves), 4) for i in range(n)]


def _fmt(stat: Mapping[str, Any] | None) -> str:
    return format_stat(stat, delta_on_new_line=True)


def _rate(r: Mapping[str, Any] | None) -> str:
    if not r or r.get("rate") is None:
        return "n/a (0)"
    ci = r.get("ci")
    return f"{r['rate']:.3f} ({r['num']}/{r['den']})" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")


def render_table(results: Mapping[str, Any]) -> str:
    """The markdown report, from ``results.json`` alone."""
    cfg = results["config"]
    ks = [k for k in cfg["eval"]["k"]]
    ref = results["reference_arm"]
    lines = ["**PARTIAL: not every arm has finished; rerun the same command to complete.**", ""] \
        if results.get("partial") else []
    lines += [f"### Arms (held-out: {results['heldout']['problems']} problems {results['heldout']['by_source']}; "
             f"{len(cfg['seeds'])} seed(s) x {cfg['steps']} steps each; Δ = paired difference vs {ref})", ""]
    head = (["arm", "optimizer steps / completions (per seed)"] + [f"pass@{k} [95% CI]" for k in ks]
            + ["equal-budget correction gain [95% CI]", "fix success (inference)", "fix success (training)",
               "correct→wrong (training)"])
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for arm, row in results["arms"].items():
        b = row["budget"]
        cells = [arm, f"{b['optimizer_steps']} / {b['completions']}"]
        cells += [_fmt(row["heldout"].get(f"pass@{k}")) for k in ks]
        cells += [_fmt(row["equal_budget_gain"]), _rate(row["inference_fix_success"]), _rate(row["train_fix_success"]),
                  _rate(row["train_correct_to_wrong"])]
        lines.append("| " + " | ".join(cells) + " |")
    sources = sorted({s for row in [*results["arms"].values(), *results["baselines"].values()]
                      for s in row["heldout_by_source"]})
    lines += ["", "### Held-out pass@1 by source (start models and arms)", "",
              "| model | " + " | ".join(f"{s} (n={results['heldout']['by_source'].get(s, 0)})" for s in sources)
              + " | all [95% CI] | fix success (inference) |", "|" + "---|" * (len(sources) + 3)]
    for name, row in [*results["baselines"].items(), *results["arms"].items()]:
        by = row["heldout_by_source"]
        cells = [name] + [f"{by[s]['pass@1']:.3f}" if s in by else "n/a" for s in sources]
        stat = dict(row["heldout"].get("pass@1", {}))
        stat.pop("delta_vs_base", None)
        lines.append("| " + " | ".join(cells + [_fmt(stat), _rate(row["inference_fix_success"])]) + " |")
    lines += ["", "Training solve rate of fresh problems per step (mean over seeds):", ""]
    for arm, row in results["arms"].items():
        lines.append(f"- {arm}: {row['train_fresh_solve_rate_per_step']} (replay share {row['replay_ratio_per_step']})")
    return "\n".join(lines) + "\n"


def plot(results: Mapping[str, Any], path: Path) -> Path:
    """Left: training solve rate over steps per arm; right: final held-out pass@k per arm with 95% intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = list(results["config"]["eval"]["k"])
    arms = results["arms"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for arm, row in arms.items():
        ys = row["train_fresh_solve_rate_per_step"]
        ax1.plot(range(1, len(ys) + 1), ys, marker="o", label=arm)
    ax1.set_xlabel("optimizer step")
    ax1.set_ylabel("solve rate of fresh problems (training)")
    ax1.set_title("training, mean over seeds", fontsize=10)
    ax1.grid(alpha=0.3)
    ax1.legend(fontsize=7)
    rows = [(name, row["heldout"]) for name, row in [*results["baselines"].items(), *arms.items()]]
    pass_at_k_bars(ax2, rows, ks, rotation=25, fontsize=7)
    ax2.set_ylabel("held-out solve rate")
    ax2.set_title("held-out, 95% bootstrap intervals", fontsize=10)
    ax2.legend(fontsize=8)
    ax2.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_report(results: Mapping[str, Any], out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"results": out_dir / "results.json", "table": out_dir / "results.md", "plot": out_dir / "plot.png"}
    paths["results"].write_text(json.dumps(results, indent=1) + "\n")
    paths["table"].write_text(render_table(results))
    plot(results, paths["plot"])
    return paths


__all__ = ["build_results", "plot", "render_table", "write_report"]
