"""How many torch threads the policy generates with on CPU.

A decode step of a small model is hundreds of tiny matrix products (a batch of 8 rows against each
weight matrix). With several OpenMP threads, every product ends at a barrier that waits for the
slowest thread; when another process (the Lean checker, another job) holds one of the cores, that
thread is descheduled and each barrier waits for it. Measured on the 2-core reference machine
(``bench/generation_threads.py``, docs/results/train_step_cpu/): with one core busy, the
decode-shaped product ran at 38.0 GFLOP/s on 1 thread against 5.6 on 2, and ``generate`` 3.0x
faster on 1 thread; on the idle machine 1 thread generated at 0.78x the speed of 2. Auto is one
thread: it loses a fifth when the machine is idle and avoids the collapse when it is not (the
common case on a shared laptop or CI machine); ``model.generation_threads N`` pins a count.
Training (products of thousands of rows) keeps torch's own thread count.
"""

from __future__ import annotations

import contextlib
from typing import Iterator


def generation_threads(setting: int) -> int:
    """Threads for generation on CPU: ``setting`` when positive; 0 (auto) is one thread."""
    if setting < 0:
        raise ValueError(f"generation threads {setting}: use 0 (auto: 1 thread) or a thread count")
    return setting or 1


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads (0: leave them), then restore the previous count."""
    if n <= 0:
        yield
        return
    import torch

    before = torch.get_num_threads()
    if n == before:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


__all__ = ["generation_threads", "torch_threads"]
