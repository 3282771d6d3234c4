"""The wasm checker's stdin device (lean_env/wasm_stdin.js) and the host script that loads it.

The device is run here by the real Bun on a real pipe: a read returns as soon as bytes are
there, never past the end of a line, 0 bytes for a 0-byte read and only at the end of the pipe
otherwise. The real wasm Lean reads requests through it in tests/test_lean_channel.py (slow).
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from prover.verifiers.lean import runtime
from prover.verifiers.lean.runtime import EMSCRIPTEN_PROLOGUE, LeanSetupError, find_bun, wasm_host_script

DRIVER = r"""
const { lineReader } = require(process.argv[2]);
const read = lineReader(0);
const buf = new Int8Array(64);
for (const len of JSON.parse(process.argv[3])) {
  const n = read(null, buf, 0, len);
  process.stdout.write(JSON.stringify([len, n, Buffer.from(buf.buffer, 0, n).toString()]) + "\n");
}
"""


def _bun():
    try:
        return find_bun()
    except LeanSetupError:
        pytest.skip("Bun is not installed here (scripts/setup.sh installs it)")


def _run(tmp_path, data: bytes, lengths: list[int], delay_s: float = 0.0) -> list[list]:
    script = tmp_path / "driver.js"
    script.write_text(DRIVER)
    proc = subprocess.Popen([str(_bun()), str(script), str(runtime.WASM_STDIN_SOURCE), json.dumps(lengths)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None
    first, _, rest = data.partition(b"|")
    proc.stdin.write(first)
    proc.stdin.flush()
    if delay_s:
        time.sleep(delay_s)
    proc.stdin.write(rest)
    proc.stdin.close()
    assert proc.stdout is not None and proc.stderr is not None
    out, err = proc.stdout.read(), proc.stderr.read()
    proc.wait(timeout=60)
    assert proc.returncode == 0, err.decode()
    return [json.loads(line) for line in out.decode().splitlines()]


def test_reads_stop_at_line_ends_and_zero_means_the_end(tmp_path):
    got = _run(tmp_path, b"12\nabc\n\n|last", [0, 64, 2, 64, 64, 64, 64, 64])
    assert got == [[0, 0, ""], [64, 3, "12\n"], [2, 2, "ab"], [64, 2, "c\n"], [64, 1, "\n"], [64, 4, "last"],
                   [64, 0, ""], [64, 0, ""]]


def test_a_read_blocks_until_bytes_come_then_returns_what_is_there(tmp_path):
    # the second line arrives half a second later: the read waits for it instead of returning 0 (the end)
    got = _run(tmp_path, b"a\n|b\n", [64, 64, 64], delay_s=0.5)
    assert got == [[64, 2, "a\n"], [64, 2, "b\n"], [64, 0, ""]]


def _runtime(tmp_path, lean_js: bytes):
    rt = tmp_path / "wasm-x"
    (rt / "bin").mkdir(parents=True)
    (rt / "bin" / "lean.js").write_bytes(lean_js)
    return rt


def test_host_script_is_one_line_then_lean_js_written_once(tmp_path):
    body = EMSCRIPTEN_PROLOGUE + b"var rest = 1;\n"
    rt = _runtime(tmp_path, body)
    host = wasm_host_script(rt)
    assert host is not None and host.parent == rt / "bin"
    head, _, tail = host.read_bytes().partition(b"\n")
    module = host.name.replace("lean-host-", "wasm_stdin-")
    assert head == f'var Module = require("./{module}").module(() => FS);'.encode()
    assert tail == body
    assert (rt / "bin" / module).read_bytes() == runtime.WASM_STDIN_SOURCE.read_bytes()
    mtime = host.stat().st_mtime_ns
    assert wasm_host_script(rt) == host and host.stat().st_mtime_ns == mtime  # reused, not rewritten
    assert not [p for p in (rt / "bin").iterdir() if ".tmp" in p.name]


def test_lean_js_without_the_prologue_gets_no_host_script(tmp_path):
    rt = _runtime(tmp_path, b"console.log('not emscripten');\n")
    assert wasm_host_script(rt) is None
    assert [p.name for p in (rt / "bin").iterdir()] == ["lean.js"]
