"""Rows and helpers shared by the service tests (loopback only, bounded)."""

from __future__ import annotations

import os
import signal

import psutil


def math_rows(n: int = 6) -> list[dict]:
    base = [
        {"id": "m-boxed", "answer": "72", "response": "So the total is \\boxed{72}."},
        {"id": "m-frac", "answer": "\\frac{1}{2}", "response": "The answer is \\boxed{0.5}"},
        {"id": "m-wrong", "answer": "3", "response": "The final answer is 4"},
        {"id": "m-none", "answer": "10", "response": "I do not know."},
        {"id": "m-sym", "answer": "x^2+2x+1", "response": "\\boxed{(x+1)^2}"},
        {"id": "m-gsm", "answer": "18", "response": "She earns 9*2 dollars.\n#### 18"},
    ]
    return [{**base[i % len(base)], "id": f"{base[i % len(base)]['id']}-{i}"} for i in range(n)]


def code_row(row_id: str, body: str = "return a + b", *, sleep_s: float = 0.0) -> dict:
    pre = f"    import time\n    time.sleep({sleep_s})\n" if sleep_s else ""
    return {"id": row_id, "prompt": "def add(a, b):\n    \"\"\"Add two numbers.\"\"\"\n", "entry_point": "add",
            "tests": ["assert add(1, 2) == 3", "assert add(-1, 1) == 0"],
            "response": f"```python\ndef add(a, b):\n{pre}    {body}\n```"}


def sandbox_groups() -> list[int]:
    """Process-group leaders of this process's code-sandbox servers."""
    out = []
    for child in psutil.Process().children(recursive=False):
        try:
            cmd = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if "parent_pid" in cmd or "bwrap" in cmd:
            out.append(child.pid)
    return out


def kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def short(result: dict) -> tuple:
    """What must agree between two verdict rows (timings differ run to run)."""
    return (result["id"], result["line"], result["status"], result["reward"], result["feedback"], result.get("input_error", False))
