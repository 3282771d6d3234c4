"""Adversarial tests of the code sandbox: every attack gets an exact, asserted outcome.

Each test also leaves the verifier usable: the module-level verifier keeps
serving later tests (and ``test_batch_survives_all_attacks`` checks a mixed
batch in one call). Limits are small so a fork storm or flood costs a few
seconds of two cores at most.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from prover.types import Problem, Status
from prover.verifiers.code import CodeVerifier, CodeVerifierConfig, probe_bwrap
from prover.verifiers.code.harness import decode, encode

ROOT = Path(__file__).resolve().parents[1]
BWRAP_OK = probe_bwrap()[0]
CONFIG = dict(timeout_s=3.0, memory_mb=512, max_processes=8, max_output_bytes=4096, workers=2)


def problem(tests=("assert f(1) == 2", "assert f(41) == 42"), pid="p", setup=""):
    return Problem(id=pid, domain="code", prompt="Write f(x) returning x + 1.", tests=tuple(tests), entry_point="f", test_setup_code=setup)


def fenced(code: str) -> str:
    return "```python\n" + textwrap.dedent(code).strip("\n") + "\n```"


GOOD = fenced("def f(x):\n    return x + 1")


@pytest.fixture(scope="module")
def verifier():
    v = CodeVerifier(CodeVerifierConfig(**CONFIG))
    yield v
    v.close()


def require(verifier, prop: str) -> None:
    """Skip (loudly) where this host cannot give the isolation property; see docs/sandbox.md."""
    if not verifier.isolation().get(prop):
        pytest.skip(f"sandbox has no {prop} here (run as root, with bubblewrap installed)")


def check(verifier, code, *, tests=("assert f(1) == 2", "assert f(41) == 42"), setup=""):
    (verdict,) = verifier.verify([problem(tests, setup=setup)], [fenced(code)])
    return verdict


def assert_outcome(verdict, status, reason=None):
    assert verdict.status is status, (verdict.status, verdict.feedback, dict(verdict.details))
    if reason is not None:
        assert verdict.details.get("reason") == reason, (verdict.feedback, dict(verdict.details))
    assert verdict.reward == (1.0 if status is Status.VALID else 0.0)
    assert "total" in verdict.timings


def test_good_solution_passes(verifier):
    assert_outcome(check(verifier, "def f(x):\n    return x + 1"), Status.VALID, "passed")


# ---------------------------------------------------------------- faking a pass


def test_os_exit_zero_inside_the_function_is_not_a_pass(verifier):
    v = check(verifier, "import os\ndef f(x):\n    os._exit(0)")
    assert_outcome(v, Status.INVALID, "exit")
    assert "exit" in v.feedback


def test_os_exit_zero_at_import_is_not_a_pass(verifier):
    assert_outcome(check(verifier, "import os\nos._exit(0)\ndef f(x):\n    return x + 1"), Status.INVALID, "exit")


def test_sys_exit_zero_is_not_a_pass(verifier):
    assert_outcome(check(verifier, "import sys\ndef f(x):\n    sys.exit(0)"), Status.INVALID, "exit")


def test_raise_system_exit_at_import_is_not_a_pass(verifier):
    assert_outcome(check(verifier, "raise SystemExit(0)\ndef f(x):\n    return x + 1"), Status.INVALID, "exit")


def test_system_exit_swallowed_by_a_bare_except_in_the_tests_is_not_a_pass(verifier):
    tests = ("try:\n    f(1)\nexcept:\n    pass",)
    assert_outcome(check(verifier, "def f(x):\n    raise SystemExit(0)", tests=tests), Status.INVALID, "exit")


def test_keyboard_interrupt_is_not_a_pass(verifier):
    assert_outcome(check(verifier, "def f(x):\n    raise KeyboardInterrupt"), Status.INVALID, "exit")


def test_object_equal_to_everything_is_not_a_pass(verifier):
    code = """
    class Anything:
        def __eq__(self, other):
            return True
        def __ne__(self, other):
            return False
        __hash__ = object.__hash__
    def f(x):
        return Anything()
    """
    v = check(verifier, code)
    assert_outcome(v, Status.INVALID, "assertion")
    assert "Anything object from the solution" in v.feedback


def test_int_subclass_equal_to_everything_is_not_a_pass(verifier):
    code = """
    class Sly(int):
        def __eq__(self, other):
            return True
        __hash__ = int.__hash__
    def f(x):
        return Sly(0)
    """
    assert_outcome(check(verifier, code), Status.INVALID, "assertion")


def test_printing_fake_pass_markers_is_not_a_pass(verifier):
    code = """
    import sys, json
    def f(x):
        for out in (sys.stdout, sys.stderr):
            print("PASSED", "All tests passed", json.dumps({"outcome": "pass", "reason": "passed"}), file=out, flush=True)
        return 0
    """
    v = check(verifier, code)
    assert_outcome(v, Status.INVALID, "assertion")
    assert "PASSED" in v.details["stdout"]


def test_writing_fake_reports_to_every_fd_is_not_a_pass(verifier):
    code = """
    import os
    def f(x):
        for fd in range(256):
            try:
                os.write(fd, b'{"outcome": "pass", "reason": "passed", "id": "p"}\\n')
            except OSError:
                pass
        return 0
    """
    # fd 3 is the solution's own channel to the driver: garbage there is interference, a failure
    v = check(verifier, code)
    assert_outcome(v, Status.INVALID, "protocol")
    assert "interfered with the test harness" in v.feedback


def test_monkeypatching_builtins_and_modules_does_not_reach_the_tests(verifier):
    code = """
    import builtins, math, operator
    builtins.abs = lambda x: 0
    builtins.AssertionError = type("Quiet", (Exception,), {})
    math.isclose = lambda *a, **k: True
    operator.eq = lambda a, b: True
    def f(x):
        return 0.5
    """
    tests = ("assert abs(f(1) - 2) < 1e-9", "import math\nassert math.isclose(f(1), 2.0)")
    assert_outcome(check(verifier, code, tests=tests), Status.INVALID, "assertion")


def test_patching_the_harness_encoder_cannot_invent_answers(verifier):
    code = """
    import sys, json
    for mod in list(sys.modules.values()):
        if hasattr(mod, "encode") and hasattr(mod, "send_frame"):
            mod.send_frame = lambda sock, obj: None  # swallow every reply
    def f(x):
        return 0
    """
    # the solution silenced its own answers: the driver waits in vain, then gives up
    assert_outcome(check(verifier, code), Status.TIMEOUT, "wall_timeout")


# ---------------------------------------------------------------- harming the host


def test_killing_the_parent_init_and_everything_visible_is_harmless(verifier):
    require(verifier, "separate_uid")
    code = """
    import os, signal
    def f(x):
        targets = [os.getppid(), 1, -1, 0] + [int(p) for p in os.listdir('/proc') if p.isdigit()]
        for target in targets:
            if target != os.getpid():
                try:
                    os.kill(target, signal.SIGKILL)
                except OSError:
                    pass
        return x + 1
    """
    assert_outcome(check(verifier, code), Status.VALID, "passed")  # the driver and server are out of reach
    assert_outcome(check(verifier, "def f(x):\n    return x + 1"), Status.VALID)


def test_killing_its_own_group_is_a_failure(verifier):
    v = check(verifier, "import os, signal\ndef f(x):\n    os.killpg(0, signal.SIGKILL)")
    assert v.status is Status.INVALID and v.reward == 0.0
    assert_outcome(check(verifier, "def f(x):\n    return x + 1"), Status.VALID)


def test_fork_storm_is_bounded_and_cleaned_up(verifier):
    require(verifier, "separate_uid")  # RLIMIT_NPROC does not bind root
    code = """
    import os
    def f(x):
        while True:
            try:
                os.fork()
            except OSError:
                pass
    """
    started = time.monotonic()
    v = check(verifier, code)
    assert_outcome(v, Status.TIMEOUT, "wall_timeout")
    assert time.monotonic() - started < CONFIG["timeout_s"] + 10
    _assert_no_sandbox_processes()  # nothing of the storm survives its job
    assert_outcome(check(verifier, "def f(x):\n    return x + 1"), Status.VALID)


def test_process_limit_applies_to_the_solution(verifier):
    require(verifier, "separate_uid")
    code = """
    import os, time
    def f(x):
        pids = []
        for _ in range(50):
            pid = os.fork()
            if pid == 0:
                time.sleep(30)
                os._exit(0)
            pids.append(pid)
        return x + 1
    """
    v = check(verifier, code)
    assert_outcome(v, Status.INVALID, "exception")
    assert "BlockingIOError" in v.feedback or "Resource temporarily unavailable" in v.feedback


def test_huge_allocation_is_a_memory_error(verifier):
    v = check(verifier, "def f(x):\n    return len(bytearray(10**12))")
    assert_outcome(v, Status.INVALID, "exception")
    assert "MemoryError" in v.feedback


def test_growing_allocation_is_a_memory_error(verifier):
    v = check(verifier, "def f(x):\n    chunks = []\n    while True:\n        chunks.append(bytearray(64 * 2**20))")
    assert_outcome(v, Status.INVALID, "exception")
    assert "MemoryError" in v.feedback


def test_output_flood_is_capped_and_times_out(verifier):
    v = check(verifier, "def f(x):\n    while True:\n        print('x' * 100000)")
    assert_outcome(v, Status.TIMEOUT, "wall_timeout")
    assert v.details["stdout_bytes"] > CONFIG["max_output_bytes"]
    assert len(v.details["stdout"]) <= 2000


def test_large_output_is_dropped_beyond_the_cap_and_the_pass_stands(verifier):
    v = check(verifier, "def f(x):\n    print('y' * 10**7)\n    return x + 1")
    assert_outcome(v, Status.VALID, "passed")
    assert v.details["stdout_bytes"] > CONFIG["max_output_bytes"]


def test_infinite_loop_times_out(verifier):
    v = check(verifier, "def f(x):\n    while True:\n        pass")
    assert_outcome(v, Status.TIMEOUT)
    assert v.details["reason"] in ("wall_timeout", "cpu_timeout")
    assert "limit" in v.feedback


def test_sleeping_past_the_wall_limit_times_out(verifier):
    assert_outcome(check(verifier, "import time\ndef f(x):\n    time.sleep(60)"), Status.TIMEOUT, "wall_timeout")


def test_closing_the_channel_is_a_failure(verifier):
    v = check(verifier, "import os\ndef f(x):\n    os.close(3)\n    return x + 1")
    assert v.status is Status.INVALID
    assert v.details["reason"] == "channel_closed"


def test_big_file_write_hits_the_file_size_limit(verifier):
    code = "def f(x):\n    with open('big.bin', 'wb') as fh:\n        fh.write(b'0' * (64 * 2**20))\n    return x + 1"
    v = check(verifier, code)
    assert_outcome(v, Status.INVALID, "exception")  # Python ignores SIGXFSZ: the write fails with EFBIG
    assert "File too large" in v.feedback


# ---------------------------------------------------------------- isolation


def test_no_network(verifier):
    require(verifier, "net_isolated")
    code = """
    import socket
    def f(x):
        for host, port in (("1.1.1.1", 53), ("8.8.8.8", 443), ("10.0.0.1", 80)):
            try:
                socket.create_connection((host, port), timeout=1).close()
                return "connected"
            except OSError:
                pass
        return x + 1
    """
    assert_outcome(check(verifier, code), Status.VALID, "passed")


def test_parent_environment_is_not_visible():
    os.environ["PROVER_TEST_SECRET"] = "hunter2"
    try:
        with CodeVerifier(CodeVerifierConfig(**{**CONFIG, "workers": 1})) as v:
            code = "import os\ndef f(x):\n    return os.environ.get('PROVER_TEST_SECRET', 'absent') + ',' + ','.join(sorted(os.environ))"
            (verdict,) = v.verify([problem(("assert f(0).split(',')[0] == 'absent'",))], [fenced(code)])
    finally:
        del os.environ["PROVER_TEST_SECRET"]
    assert_outcome(verdict, Status.VALID)


def test_runs_as_an_unprivileged_user_with_no_capabilities(verifier):
    if os.geteuid() != 0:
        pytest.skip("uid separation needs the verifier to run as root")
    code = """
    import os
    def f(x):
        caps = [l for l in open('/proc/self/status') if l.startswith('CapEff')][0].split()[1]
        return (os.getuid() != 0, os.geteuid() != 0, int(caps, 16))
    """
    assert_outcome(check(verifier, code, tests=("assert f(0) == (True, True, 0)",)), Status.VALID)


@pytest.mark.skipif(not BWRAP_OK, reason="bwrap is not usable here")
def test_host_files_are_not_visible_under_bwrap(verifier):
    code = f"""
    import os
    def f(x):
        return [os.path.exists(p) for p in ({str(ROOT / 'pyproject.toml')!r}, '/etc/passwd', '/root/.bashrc', '/work')]
    """
    assert_outcome(check(verifier, code, tests=("assert f(0) == [False, False, False, False]",)), Status.VALID)


def test_system_files_are_read_only(verifier):
    code = """
    def f(x):
        for path in ('/usr/pwned', '/pwned', '/bin/pwned'):
            try:
                open(path, 'w').write('x')
                return path
            except OSError:
                pass
        return x + 1
    """
    assert_outcome(check(verifier, code), Status.VALID)


def test_files_do_not_leak_between_samples(verifier):
    writer = "import os\ndef f(x):\n    open('/tmp/leak.txt', 'w').write('secret')\n    open('leak2.txt', 'w').write('secret')\n    return x + 1"
    reader = "import os, glob\ndef f(x):\n    return x + 1 + len(glob.glob('/tmp/leak.txt') + glob.glob('/tmp/*/leak2.txt'))"
    n = CONFIG["workers"] * 2
    verdicts = verifier.verify([problem()] * n, [fenced(writer)] * n)
    assert all(v.status is Status.VALID for v in verdicts)
    verdicts = verifier.verify([problem()] * n, [fenced(reader)] * n)
    assert all(v.status is Status.VALID for v in verdicts), [v.feedback for v in verdicts]


def test_processes_do_not_leak_between_samples(verifier):
    require(verifier, "job_namespaces")
    daemon = """
    import os, time
    def f(x):
        if os.fork() == 0:
            os.setsid()
            time.sleep(120)
            os._exit(0)
        return x + 1
    """
    assert_outcome(check(verifier, daemon), Status.VALID)
    _assert_no_sandbox_processes()


def test_batch_survives_all_attacks(verifier):
    require(verifier, "separate_uid")
    attacks = [
        "import os\ndef f(x):\n    os._exit(0)",
        "import os\ndef f(x):\n    while True:\n        try:\n            os.fork()\n        except OSError:\n            pass",
        "def f(x):\n    return bytearray(10**12)",
        "def f(x):\n    while True:\n        print('z' * 65536)",
        "import os, signal\ndef f(x):\n    os.kill(os.getppid(), signal.SIGKILL)",
        "class A:\n    def __eq__(self, o):\n        return True\ndef f(x):\n    return A()",
    ]
    responses = []
    for attack in attacks:
        responses += [fenced(attack), GOOD]
    verdicts = verifier.verify([problem(pid=f"p{i}") for i in range(len(responses))], responses)
    assert [v.status for v in verdicts[1::2]] == [Status.VALID] * len(attacks)
    assert all(v.status in (Status.INVALID, Status.TIMEOUT) for v in verdicts[0::2])


# ---------------------------------------------------------------- the verifier process dies


KILL_SCRIPT = """
import sys, threading, time
sys.path.insert(0, {root!r})
from prover.types import Problem
from prover.verifiers.code import CodeVerifier, CodeVerifierConfig
v = CodeVerifier(CodeVerifierConfig(timeout_s=60, workers=1, sandbox={mode!r}))
p = Problem(id="p", domain="code", tests=("assert f(1) == 2",), entry_point="f")
threading.Thread(target=v.verify, args=([p], ["```python\\nimport time\\ndef f(x):\\n    time.sleep(600)\\n```"]), daemon=True).start()
print("started", flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("mode", ["auto", "rlimits"])
def test_killed_verifier_process_leaves_no_sandbox_behind(mode):
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT.format(root=str(ROOT), mode=mode)], stdout=subprocess.PIPE, text=True)
    marker = f'"parent_pid": {proc.pid}'
    try:
        assert proc.stdout.readline().strip() == "started"
        deadline = time.monotonic() + 60
        while not any(uid != 0 for uid in _processes_with(marker).values()):  # the solution is running
            assert time.monotonic() < deadline, "the sandboxed solution never started"
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 15
    while _processes_with(marker):
        assert time.monotonic() < deadline, f"left behind: {_processes_with(marker)}"
        time.sleep(0.1)


def test_rlimits_mode_runs_and_blocks_the_basic_attacks():
    with CodeVerifier(CodeVerifierConfig(**{**CONFIG, "sandbox": "rlimits"})) as v:
        require(v, "separate_uid")
        require(v, "net_isolated")
        codes = [
            "def f(x):\n    return x + 1",
            "import os\ndef f(x):\n    os._exit(0)",
            "class A:\n    def __eq__(self, o):\n        return True\ndef f(x):\n    return A()",
            "import os, time\ndef f(x):\n    while True:\n        try:\n            os.fork()\n        except OSError:\n            time.sleep(0.01)",
            "import socket\ndef f(x):\n    socket.create_connection(('1.1.1.1', 53), timeout=1)\n    return x + 1",
        ]
        verdicts = v.verify([problem()] * len(codes), [fenced(c) for c in codes])
    assert [vd.status for vd in verdicts] == [Status.VALID, Status.INVALID, Status.INVALID, Status.TIMEOUT, Status.INVALID]
    assert verdicts[0].details["sandbox"] == "rlimits"
    _assert_no_sandbox_processes()


# ---------------------------------------------------------------- value codec


def test_codec_keeps_exact_types_and_refuses_objects():
    import collections

    values = [1, -2**100, 2**20000, 1.5, float("inf"), "s\u00e9", b"\x00b", (1, [2, {3: (4,)}]), {1, 2}, frozenset({3}), 1 + 2j, range(3), None, True,
              collections.Counter("aab"), collections.OrderedDict(a=1), collections.deque([1])]
    refs: dict = {}
    for value in values:
        back = decode(encode(value, refs), None)
        assert back == value and type(back) is type(value)
    assert decode(encode(iter([1, 2]), refs), None).__next__() == 1

    class Odd:
        pass

    handle = encode(Odd(), refs)
    assert set(handle) == {"ref", "type"}
    with pytest.raises(TypeError):
        encode(Odd(), None)  # the driver never sends objects it cannot describe


def _processes_with(marker: str) -> dict[int, int]:
    """pid -> real uid of the processes whose command line contains ``marker``."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            if marker in cmdline:
                status = Path(f"/proc/{entry}/status").read_text()
                found[int(entry)] = int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])
        except (OSError, StopIteration, ValueError):
            pass
    return found


def _assert_no_sandbox_processes(within: float = 5.0) -> None:
    """The job's processes are torn down right after its answer is sent (before the next job)."""
    deadline = time.monotonic() + within
    while _sandbox_uid_processes():
        assert time.monotonic() < deadline, f"sandbox processes left: {_sandbox_uid_processes()}"
        time.sleep(0.05)


def _sandbox_uid_processes() -> list[int]:
    """Live processes of the uids the sandbox gives solutions (odd uids >= 1,000,000; drivers have the even ones)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        uid = int(fields.get("Uid", "0").split()[0])
        if uid >= 1_000_000 and uid % 2 == 1 and not fields.get("State", "").strip().startswith("Z"):
            out.append(int(entry))
    return out


def test_degraded_mode_without_uid_switch_or_job_namespaces_still_verifies(monkeypatch):
    """What a non-root host gets: no per-job namespaces, no separate uid (only benign code here:
    without a separate uid, RLIMIT_NPROC does not bind root, so no fork storm)."""
    from prover.verifiers.code import sandbox as sb

    original = sb.Worker._command

    def degraded(self):
        argv = original(self)
        ctx = json.loads(argv[-1])
        ctx.update(uid_driver=None, uid_candidate=None, job_namespaces=False)
        return argv[:-1] + [json.dumps(ctx)]

    monkeypatch.setattr(sb.Worker, "_command", degraded)
    with CodeVerifier(CodeVerifierConfig(**{**CONFIG, "workers": 1})) as v:
        codes = [
            "def f(x):\n    return x + 1",
            "def f(x):\n    return x",
            "import os\ndef f(x):\n    os._exit(0)",
            "import time\ndef f(x):\n    time.sleep(60)",
            "def f(x):\n    open('leak.txt', 'w').write('secret')\n    return x + 1",
            "import glob\ndef f(x):\n    return x + 1 + len(glob.glob('../*/leak.txt'))",  # scratch wiped between samples
        ]
        verdicts = v.verify([problem()] * len(codes), [fenced(c) for c in codes])
        isolation = v.isolation()
    assert [vd.status for vd in verdicts] == [Status.VALID, Status.INVALID, Status.INVALID, Status.TIMEOUT, Status.VALID, Status.VALID]
    assert isolation["job_namespaces"] is False and isolation["separate_uid"] is False


def test_without_job_namespaces_the_candidate_uid_is_swept_and_its_scratch_wiped(monkeypatch):
    """A root host where unshare is refused: no per-job namespaces, but a separate candidate uid. A fork
    storm is bounded by RLIMIT_NPROC of that uid and killed after the job (sweep_uid); files a solution
    left are gone before the next job (wipe_dir, run as the candidate's uid)."""
    from prover.verifiers.code import sandbox as sb

    original = sb.Worker._command

    def no_namespaces(self):
        argv = original(self)
        ctx = json.loads(argv[-1])
        ctx.update(job_namespaces=False)
        return argv[:-1] + [json.dumps(ctx)]

    monkeypatch.setattr(sb.Worker, "_command", no_namespaces)
    with CodeVerifier(CodeVerifierConfig(**{**CONFIG, "workers": 1})) as v:
        require(v, "separate_uid")
        codes = [
            "import os, time\ndef f(x):\n    while True:\n        try:\n            os.fork()\n        except OSError:\n            time.sleep(0.01)",
            "def f(x):\n    open('leak.txt', 'w').write('secret')\n    return x + 1",
            "import glob\ndef f(x):\n    return x + 1 + len(glob.glob('../*/leak.txt'))",
            "import os\ndef f(x):\n    return x + len(os.listdir('..'))",  # the scratch root holds only its own directory
        ]
        verdicts = v.verify([problem()] * len(codes), [fenced(c) for c in codes])
        isolation = v.isolation()
        _assert_no_sandbox_processes()  # while the server still runs: swept after each job, not at exit
    assert isolation["job_namespaces"] is False and isolation["separate_uid"] is True
    assert [vd.status for vd in verdicts] == [Status.TIMEOUT, Status.VALID, Status.VALID, Status.VALID]


def test_a_killed_sandbox_worker_is_restarted(verifier):
    assert_outcome(check(verifier, "def f(x):\n    return x + 1"), Status.VALID)
    for worker in verifier._pool._all:  # noqa: SLF001 - simulate a crash of every sandbox server
        if worker.proc is not None:
            os.killpg(worker.proc.pid, signal.SIGKILL)
    verdicts = verifier.verify([problem()] * 4, [GOOD] * 4)
    assert [v.status for v in verdicts] == [Status.VALID] * 4
