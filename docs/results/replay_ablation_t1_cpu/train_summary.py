"""Per arm and seed: steps with a mixed-reward group, the share of one-reward groups per step, the curriculum level
and the correction samples, read from the runs' own metrics.jsonl.

    .venv/bin/python docs/results/replay_ablation_t1_cpu/train_summary.py [RUN_DIR] [--weights]

RUN_DIR: the experiment's out_dir (the committed run wrote runs/replay_ablation_cpu_l3).
"""
import json
import sys
from pathlib import Path

args = [a for a in sys.argv[1:] if not a.startswith("--")]
root = Path(args[0] if args else "runs/replay_ablation_cpu_t1") / "arms"
for arm_dir in sorted(root.iterdir()):
    for seed_dir in sorted(arm_dir.glob("seed*")):
        rows = [json.loads(line) for line in (seed_dir / "train" / "metrics.jsonl").read_text().splitlines()]
        rows = [r for r in rows if "frac_zero_std_groups" in r]
        one_reward = [round(r["frac_zero_std_groups"], 2) for r in rows]
        print(arm_dir.name, seed_dir.name, f"steps {len(rows)}",
              f"steps with a mixed group {sum(v < 1.0 for v in one_reward)}", f"one-reward share {one_reward}",
              f"level {[int(r.get('difficulty/level', -1)) for r in rows]}",
              f"correction samples {int(sum(r.get('samples/correction', 0) for r in rows))}")

# Final weights: the largest absolute difference over all tensors between arms, per seed (checkpoint of the last step).
if "--weights" in sys.argv:
    from safetensors.torch import load_file

    def weights(arm: str, seed: str) -> dict:
        [ckpt] = sorted((root / arm / seed / "train").glob("checkpoint-*/model.safetensors"))[-1:]
        return load_file(str(ckpt))

    arms = sorted(p.name for p in root.iterdir())
    for seed in sorted(p.name for p in (root / arms[0]).glob("seed*")):
        loaded = {arm: weights(arm, seed) for arm in arms}
        for i, x in enumerate(arms):
            for y in arms[i + 1:]:
                diff = max(float((loaded[x][k] - loaded[y][k]).abs().max()) for k in loaded[x])
                print(seed, f"{x} vs {y}: max |weight difference| {diff:.3g}")
