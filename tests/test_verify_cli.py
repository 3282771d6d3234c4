"""``prover verify`` end to end on code rows (the real bubblewrap sandbox, real subprocesses).

Rows are written as they finish, an interrupted run keeps them and a rerun completes
the rest; bad bytes, missing directories, empty input and hostile rows each give a
clear row or message, never a traceback or a lost batch.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from prover.cli import build_parser, run_verify

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.timeout(600)


def code_row(pid: str, body: str, **extra) -> dict:
    return {"id": pid, "prompt": "Write f(x) returning x + 1.", "tests": ["assert f(1) == 2", "assert f(41) == 42"],
            "response": "```python\n" + body + "\n```", **extra}


GOOD = "def f(x):\n    return x + 1"
SLOW_GOOD = "import time\ndef f(x):\n    time.sleep(0.4)\n    return x + 1"


def write_jsonl(path: Path, rows: list) -> None:
    with open(path, "wb") as f:
        for r in rows:
            f.write(r if isinstance(r, bytes) else json.dumps(r).encode())
            f.write(b"\n")


def read_out(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def verify_in_process(inp: Path, out: Path, *extra: str) -> int:
    args = build_parser().parse_args(["verify", "--domain", "code", "--input", str(inp), "--output", str(out),
                                      "--workers", "2", "--timeout", "5", *extra])
    return run_verify(args)


def cli(inp: Path, out: Path, *extra: str, **kw) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "prover", "verify", "--domain", "code", "--input", str(inp), "--output", str(out),
           "--workers", "2", *extra]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def no_stray_files(directory: Path, expected: set[str]) -> None:
    assert {p.name for p in directory.iterdir()} == expected


# ---------------------------------------------------------------- input and output files


def test_non_utf8_line_is_an_error_row_and_the_rest_is_verified(tmp_path, capsys):
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    bad = b'{"id": "b", "response": "\xff\xfe"}'
    write_jsonl(inp, [code_row("a", GOOD), bad, code_row("c", "def f(x):\n    return x")])
    assert verify_in_process(inp, out) == 2
    rows = read_out(out)
    assert [(r["line"], r["status"]) for r in rows] == [(1, "valid"), (2, "error"), (3, "invalid")]
    assert rows[1]["input_error"] and "in.jsonl:2: not valid UTF-8 (byte 0xff" in rows[1]["feedback"]
    assert "in.jsonl:2: not valid UTF-8" in capsys.readouterr().err
    no_stray_files(tmp_path, {"in.jsonl", "out.jsonl"})


def test_missing_output_directory_is_created(tmp_path):
    inp, out = tmp_path / "in.jsonl", tmp_path / "new" / "deeper" / "out.jsonl"
    write_jsonl(inp, [code_row("a", GOOD)])
    assert verify_in_process(inp, out) == 0
    assert [r["status"] for r in read_out(out)] == ["valid"]


def test_output_directory_that_cannot_exist_is_refused_clearly(tmp_path, capsys):
    inp = tmp_path / "in.jsonl"
    write_jsonl(inp, [code_row("a", GOOD)])
    (tmp_path / "file").write_text("x")
    assert verify_in_process(inp, tmp_path / "file" / "out.jsonl") == 2
    err = capsys.readouterr().err
    assert "cannot create the output directory" in err and "Traceback" not in err
    assert verify_in_process(inp, tmp_path) == 2
    assert "is a directory" in capsys.readouterr().err


def test_empty_input_gives_an_empty_output(tmp_path):
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inp.write_bytes(b"\n  \n")
    assert verify_in_process(inp, out) == 0
    assert out.read_text() == ""
    no_stray_files(tmp_path, {"in.jsonl", "out.jsonl"})


def test_lone_surrogate_feedback_is_written(tmp_path):
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_jsonl(inp, [code_row("s", "def f(x):\n    raise ValueError('\\ud800 x \\udfff')"),
                      code_row("t", GOOD, id_note="\ud800")])
    assert verify_in_process(inp, out) == 0
    rows = read_out(out)
    assert [r["status"] for r in rows] == ["invalid", "valid"]
    assert "\ufffd" in rows[0]["feedback"] and "ValueError" in rows[0]["feedback"]
    out.read_bytes().decode("utf-8")  # strictly valid UTF-8
    no_stray_files(tmp_path, {"in.jsonl", "out.jsonl"})


def test_duplicate_ids_are_separate_rows(tmp_path):
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_jsonl(inp, [code_row("same", GOOD), code_row("same", "def f(x):\n    return 0")])
    assert verify_in_process(inp, out) == 0
    assert [(r["id"], r["line"], r["status"]) for r in read_out(out)] == [("same", 1, "valid"), ("same", 2, "invalid")]
    # a rerun finds both lines done and changes nothing
    before = out.read_bytes()
    assert verify_in_process(inp, out) == 0
    assert out.read_bytes() == before


def test_rerun_skips_finished_rows_redoes_interrupted_ones_and_drops_a_torn_line(tmp_path):
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_jsonl(inp, [code_row("a", GOOD), code_row("b", GOOD), code_row("c", GOOD)])
    kept = {"id": "a", "line": 1, "status": "invalid", "reward": 0.0, "feedback": "from the first run",
            "feedback_over_cap": False, "details": {}, "timings": {}}
    interrupted = {**kept, "id": "b", "line": 2, "status": "error", "details": {"reason": "interrupted"}}
    out.write_text(json.dumps(kept) + "\n" + json.dumps(interrupted) + "\n" + '{"id": "c", "li')
    (tmp_path / ".out.jsonl.abc123.tmp").write_text("a rewrite killed half-way")
    assert verify_in_process(inp, out) == 0
    rows = read_out(out)
    assert [(r["line"], r["status"]) for r in rows] == [(1, "invalid"), (2, "valid"), (3, "valid")]
    assert rows[0]["feedback"] == "from the first run"  # skipped, not verified again
    no_stray_files(tmp_path, {"in.jsonl", "out.jsonl"})


def test_an_output_of_another_input_is_refused_untouched(tmp_path, capsys):
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_jsonl(inp, [code_row("a", GOOD)])
    other = json.dumps({"id": "zzz", "line": 1, "status": "valid"}) + "\n"
    out.write_text(other)
    assert verify_in_process(inp, out) == 2
    assert "belongs to another input" in capsys.readouterr().err
    assert out.read_text() == other


def test_a_fixed_malformed_line_is_verified_on_rerun(tmp_path):
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_jsonl(inp, [code_row("a", GOOD), b"{oops"])
    assert verify_in_process(inp, out) == 2
    write_jsonl(inp, [code_row("a", GOOD), code_row("b", GOOD)])
    assert verify_in_process(inp, out) == 0
    assert [(r["line"], r["status"]) for r in read_out(out)] == [(1, "valid"), (2, "valid")]


# ---------------------------------------------------------------- signals (real subprocesses)


def _wait_for_rows(out: Path, n: int, proc: subprocess.Popen, limit: float = 120.0) -> None:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if out.exists() and len(out.read_bytes().splitlines()) >= n:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError(f"fewer than {n} rows after {limit} s")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_keeps_finished_rows_and_a_rerun_completes_the_rest(tmp_path, sig):
    n = 24
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_jsonl(inp, [code_row(f"r{i}", SLOW_GOOD) for i in range(n)])
    proc = cli(inp, out, "--timeout", "10")
    _wait_for_rows(out, 3, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, err
    assert "Traceback" not in err and "rerun the same command" in err
    first = read_out(out)
    lines = [r["line"] for r in first]
    assert len(lines) == len(set(lines)) and 3 <= len(lines) < n  # stopped early, nothing twice
    assert all(r["status"] == "valid" for r in first), first  # in-flight rows finished, not failed
    no_stray_files(tmp_path, {"in.jsonl", "out.jsonl"})

    proc = cli(inp, out, "--timeout", "10")
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert f"resuming: {len(first)} of {n} rows" in err
    final = read_out(out)
    assert [r["line"] for r in final] == list(range(1, n + 1))
    assert all(r["status"] == "valid" for r in final)
    by_line = {r["line"]: r for r in first}
    assert all(final[i - 1] == by_line[i] for i in by_line)  # the first run's rows are kept as written
    no_stray_files(tmp_path, {"in.jsonl", "out.jsonl"})


@pytest.mark.slow
def test_second_signal_fails_rows_in_flight_with_a_verdict(tmp_path):
    slow = "import time\ndef f(x):\n    if x == 1:\n        time.sleep(3)\n    return x + 1"
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_jsonl(inp, [code_row("fast", GOOD)] + [code_row(f"s{i}", slow) for i in range(4)])
    proc = cli(inp, out, "--timeout", "30", "--chunk", "3")
    _wait_for_rows(out, 1, proc)
    time.sleep(0.5)  # the slow rows are in flight
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    rows = read_out(out)
    interrupted = [r for r in rows if r["details"].get("reason") == "interrupted"]
    assert interrupted and all(r["status"] == "error" and "rerun" in r["feedback"] for r in interrupted)
    assert len(rows) == len({r["line"] for r in rows}) < 5
    proc = cli(inp, out, "--timeout", "30")
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert [r["status"] for r in read_out(out)] == ["valid"] * 5


# ---------------------------------------------------------------- hostile rows


HOSTILE = {
    "fork_bomb": ("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\ndef f(x):\n    return x + 1", {"invalid", "timeout"}),
    "huge_output": ("import sys\ndef f(x):\n    while True:\n        sys.stdout.write('x' * 65536)", {"timeout", "invalid"}),
    "surrogate": ("def f(x):\n    raise ValueError('\\ud800\\udfff\\ud800')", {"invalid"}),
    "giant_comments": ("def f(x):\n    return x + 1\n" + "# padding padding padding\n" * 200_000, {"invalid"}),
    "big_but_allowed": ("def f(x):\n    return x + 1\n" + "# padding padding padding\n" * 30_000, {"valid"}),
    "sleep": ("import time\ndef f(x):\n    time.sleep(60)\n    return x + 1", {"timeout"}),
    "busy_loop": ("def f(x):\n    while True:\n        pass", {"timeout"}),
    "shadow_math": ("class math:\n    isclose = staticmethod(lambda *a, **k: True)\ndef f(x):\n    return -1.0", {"invalid"}),
    "shadow_builtin": ("def abs(x):\n    return 0\ndef f(x):\n    return 99.0", {"invalid"}),
    "truthy_object": ("class Y:\n    def __bool__(self):\n        return True\ndef f(x):\n    return Y()", {"invalid"}),
    "exit_zero": ("import os\ndef f(x):\n    os._exit(0)", {"invalid"}),
    "memory": ("def f(x):\n    return len(bytearray(1 << 34))", {"invalid"}),
    "recursion": ("def f(x):\n    return f(x)", {"invalid"}),
    "good": (GOOD, {"valid"}),
}
HOSTILE_TESTS = {
    "shadow_math": ["assert math.isclose(f(1), 2.0)"],
    "shadow_builtin": ["assert abs(f(1) - 2.0) < 1e-9"],
    "truthy_object": ["assert f(1)"],
}


@pytest.mark.slow
def test_hostile_code_rows_each_get_one_verdict_within_deadlines(tmp_path):
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    rows: list = []
    for name, (body, _) in HOSTILE.items():
        row = code_row(name, body)
        if name in HOSTILE_TESTS:
            row["tests"] = HOSTILE_TESTS[name]
        rows.append(row)
    rows.append(b'{"id": "bytes", "response": "\xc3\x28"}')
    rows.append(code_row("empty", ""))
    write_jsonl(inp, rows)
    proc = cli(inp, out, "--timeout", "3")
    _, err = proc.communicate(timeout=400)
    assert proc.returncode == 2, err  # the non-UTF-8 line
    got = {r["id"] or f"line{r['line']}": r for r in read_out(out)}
    assert [r["line"] for r in read_out(out)] == list(range(1, len(rows) + 1))
    for name, (_, allowed) in HOSTILE.items():
        assert got[name]["status"] in allowed, (name, got[name]["status"], got[name]["feedback"][:300])
    assert got["giant_comments"]["details"]["reason"] == "too_long"
    assert got[f"line{len(HOSTILE) + 1}"]["input_error"]
    assert got["empty"]["status"] == "invalid"
    assert "Traceback" not in err
    no_stray_files(tmp_path, {"in.jsonl", "out.jsonl"})
