"""The jail the Lean workers run in (real bubblewrap where it works here)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from prover.verifiers.proc import bwrap_works, jail_argv, sandboxed

needs_bwrap = pytest.mark.skipif(not bwrap_works()[0], reason=f"bubblewrap unusable here: {bwrap_works()[1]}")


def _run(tmp_path: Path, script: str, readable=()) -> subprocess.CompletedProcess:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    argv = jail_argv(["/bin/sh", "-c", script], writable=[work], readable=list(readable), cwd=work)
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


@needs_bwrap
def test_only_the_work_dir_is_writable(tmp_path):
    (tmp_path / "secret").write_text("host file")
    p = _run(tmp_path, "echo hi > here && cat here; touch /etc/x 2>/dev/null || echo ro-etc; "
                       "touch /work/x 2>/dev/null || echo ro-work; "
                       f"cat {tmp_path}/secret 2>/dev/null || echo no-secret; touch {tmp_path}/outside")
    out = p.stdout.split()
    assert p.returncode == 0, p.stderr
    assert out[:4] == ["hi", "ro-etc", "ro-work", "no-secret"]  # the host's /tmp is not visible...
    assert (tmp_path / "work" / "here").read_text() == "hi\n"  # ...except the work dir itself
    assert not (tmp_path / "outside").exists()  # what it writes elsewhere in /tmp stays in its tmpfs


@needs_bwrap
def test_no_network_and_own_pid_namespace(tmp_path):
    p = _run(tmp_path, "cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '; echo pid=$$")
    ifaces = [line for line in p.stdout.split() if not line.startswith("pid=")]
    assert ifaces in (["lo"], [])  # loopback only
    assert "pid=" in p.stdout and int(p.stdout.split("pid=")[1]) < 10


def test_sandboxed_modes(tmp_path):
    argv, mode = sandboxed(["true"], mode="none", writable=[tmp_path], cwd=tmp_path, who="test")
    assert argv == ["true"] and mode == "none"
    with pytest.raises(ValueError):
        sandboxed(["true"], mode="docker", writable=[tmp_path], cwd=tmp_path, who="test")
    argv, mode = sandboxed(["true"], mode="auto", writable=[tmp_path], cwd=tmp_path, who="test")
    assert mode == ("bwrap" if bwrap_works()[0] else "none") and argv[-1] == "true"


@needs_bwrap
def test_a_program_under_tmp_still_runs_in_the_jail(tmp_path):
    """A checkout under /tmp (CI clones there): the program the jail runs lives in the host's /tmp,
    which the jail hides; the named program is bound back read-only, nothing else of /tmp is."""
    prog = tmp_path / "checkout" / "bin" / "tool"
    prog.parent.mkdir(parents=True)
    prog.write_text("#!/bin/sh\necho ran; touch \"$0\" 2>/dev/null || echo ro-prog\n")
    prog.chmod(0o755)
    (tmp_path / "checkout" / "private").write_text("x")
    work = tmp_path / "work"
    work.mkdir()
    argv = jail_argv([str(prog)], writable=[work], cwd=work)
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["ran", "ro-prog"]
    probe = jail_argv(["/bin/sh", "-c", f"cat {tmp_path}/checkout/private 2>/dev/null || echo hidden", str(prog)],
                      writable=[work], cwd=work)
    assert subprocess.run(probe, capture_output=True, text=True, timeout=60).stdout.split() == ["hidden"]
