"""One verifier per node: two training processes (torchrun, gloo, CPU) share one verifier.

The node's first process builds the verifier and serves it on loopback (``prover serve``);
both processes check through it (``prover.rl.verifier_handle.NodeVerifier``). Real SmolLM2,
MBPP through the data layer, the real code sandbox.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from prover.rl.config import config_from_argv
from prover.rl.verifier_handle import needs_node_verifier

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_only_several_processes_without_scale_out_share_a_node_verifier():
    cfg = config_from_argv(["--domain", "code", "--problems.source", "mbpp"])
    assert needs_node_verifier(cfg, 2) and not needs_node_verifier(cfg, 1)
    remote = config_from_argv(["--domain", "code", "--problems.source", "mbpp",
                               "--verifier.scale_out", '{"remote": {"urls": ["http://127.0.0.1:9"]}}'])
    assert not needs_node_verifier(remote, 2)


@pytest.mark.slow
@pytest.mark.model
def test_two_training_processes_share_one_verifier(tmp_path):
    run_dir = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    # torchrun starts the two processes (accelerate launch does the same on GPUs); on CPU they form a gloo group
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
           str(REPO / "scripts" / "train_prover.py"),
           "--steps", "1", "--domain", "code", "--problems.source", "mbpp", "--problems.limit", "4",
           "--grpo.batch_size", "2", "--grpo.num_generations", "2", "--grpo.grad_accum", "1",
           "--grpo.max_new_tokens", "24", "--output_dir", str(run_dir), "--no-metrics.progress",
           "--metrics.tensorboard", "false", "--verifier.workers", "1"]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=1500)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    # the node's verifier was built once, by one process, and served both
    assert log.count("starting the node's code verifier for 2 processes") == 1, log[-4000:]
    marker = run_dir / f".verifier-{socket.gethostname()}.url"
    assert marker.read_text().startswith("http://127.0.0.1:")
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    step = next(r for r in rows if r.get("step") == 1 and "reward_mean" in r)
    assert step["samples/fresh"] == 4  # both processes' completions were verified and gathered
