"""`python -m prover.serve` (what `prover serve` runs) as a real process: serves, and on SIGTERM answers what it accepted."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from prover.serve import ServeConfig, add_arguments
from prover.serve.server import config_from_args
try:
    from serve_helpers import code_row
except ImportError:  # run from the repository root
    from tests.serve_helpers import code_row

REPO = Path(__file__).resolve().parents[1]


def test_arguments_build_a_checked_config(tmp_path):
    import argparse

    token = tmp_path / "token"
    token.write_text("abc\n")
    args = add_arguments(argparse.ArgumentParser()).parse_args(
        ["--port", "0", "--domains", "code,math", "--workers", "3", "--token-file", str(token), "--max-queue-rows", "9"])
    cfg = config_from_args(args)
    assert cfg.domains == ("code", "math") and cfg.workers == 3 and cfg.token == "abc" and cfg.max_queue_rows == 9
    with pytest.raises(ValueError, match="domains"):
        ServeConfig(domains="lean,chess")
    with pytest.raises(ValueError, match="deadline_s"):
        ServeConfig(deadline_s=0)


@pytest.mark.slow
def test_sigterm_drains_and_answers_accepted_requests():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "prover.serve", "--port", "0", "--domains", "code", "--workers", "1",
                             "--shutdown-grace", "1", "--log-level", "info"], cwd=REPO, env=env, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        url, deadline = "", time.monotonic() + 120
        while not url and time.monotonic() < deadline:
            line = proc.stderr.readline()
            m = re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", line)
            url = m.group(1) if m else ""
            assert line or proc.poll() is None, "server exited"
        assert url
        threading.Thread(target=lambda: [proc.stderr.read()], daemon=True).start()  # keep the pipe drained
        answers: list = []

        def send(i: int) -> None:
            answers.append(httpx.post(f"{url}/v1/verify", json={"domain": "code", "rows": [code_row(f"t{i}", sleep_s=3)]},
                                      timeout=60))

        threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        while httpx.get(f"{url}/health").json()["inflight_requests"] < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        for t in threads:
            t.join(60)
        assert proc.wait(60) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after its graceful shutdown
        assert len(answers) == 2 and all(r.status_code == 200 for r in answers)
        statuses = [r.json()["results"][0]["status"] for r in answers]
        assert set(statuses) <= {"valid", "error"} and "error" in statuses  # one sandbox, 3 s each, 1 s grace
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
