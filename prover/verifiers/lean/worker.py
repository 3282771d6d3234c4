"""One checker process: start it, send requests, wait with deadlines, kill its group.

How requests and answers travel (``channel``; ``docs/lean_worker.md`` has the costs):

* ``pipe`` (the default where the checker supports it: the wasm host script, see
  ``runtime.wasm_host_script``): request ``n`` is written to the checker's stdin as a
  header line with its byte length, the JSON and a newline; the answer comes back on its
  stdout as one line ``prover-checker answer n {json}``. No files, no polling on either
  side: the checker blocks reading its stdin, the client blocks on the answer. The write is
  non-blocking and bounded by the request's deadline. When the client goes away the
  checker reads the end of its stdin and stops.
* ``notify``: request ``n`` is written atomically to ``req/n.json`` (the checker polls for
  it every millisecond); the answer comes on stdout as above.
* ``poll``: the answer is written atomically as ``resp/n.json``; the client looks for it
  every 1-20 ms (the old way).

The transport (stdin, or request files) is fixed when the checker starts: the ``serve``
file asks for the pipe, the ``ready`` file says which one is served. ``notify`` and ``poll``
can be switched on a running files worker. A checker that answers a notify request in a file
(it cannot write its stdout) is polled from then on.

Answers are bound to their request: each request carries its id, its sequence number and a
fresh random secret; the checker takes the request out of its stdin or deletes its file
before it elaborates anything, and echoes the three from its own code path. An answer that
does not echo them exactly (one planted by checked code, or left over) is refused:
``ForgedAnswer``, and the worker is replaced. A stdout reader thread forwards every other
line to ``checker.log``.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import secrets
import select
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable

import psutil

from prover.verifiers.lean.runtime import LaunchSpec
from prover.verifiers.proc import kill_group

log = logging.getLogger(__name__)


class WorkerDied(RuntimeError):
    """The checker process exited or stopped answering (infrastructure failure)."""


class WorkerTimeout(RuntimeError):
    """A request ran past its deadline; the worker has been killed."""


class ForgedAnswer(WorkerDied):
    """An answer did not echo its request's id, sequence number and secret; the worker is killed."""


class BadRequest(ValueError):
    """The request cannot be sent (e.g. not encodable as UTF-8); the worker is untouched."""


MAX_ANSWER_BYTES = 32 * 2**20
CHANNELS = ("auto", "pipe", "notify", "poll")  # auto: pipe where the launch supports it, else notify
NOTIFY_PREFIX = b"prover-checker answer "
NOTIFY_RECHECK_S = 0.05  # pipe/notify: how often the file, the process and the memory are looked at anyway
TREE_REFRESH_S = 5.0  # how often rss_mb re-reads the checker's process tree


def parse_notify(line: bytes) -> tuple[int, bytes] | None:
    """``(n, answer bytes)`` from a checker's stdout line ``prover-checker answer n {json}``, or
    ``None`` for any other line. The answer is not looked at here (the request checks it)."""
    if not line.startswith(NOTIFY_PREFIX):
        return None
    num, sep, rest = line[len(NOTIFY_PREFIX):].partition(b" ")
    if not sep or not num.isdigit() or len(num) > 18:
        return None
    return int(num), rest.rstrip(b"\n")


def encode_request(payload: dict[str, Any]) -> bytes:
    """The request as UTF-8 JSON; ``BadRequest`` when it cannot be encoded (lone surrogates...)."""
    try:
        return json.dumps(payload, ensure_ascii=False).encode("utf-8")
    except (UnicodeEncodeError, TypeError, ValueError) as e:
        raise BadRequest(f"the request cannot be encoded: {e}") from None


def _poll_sleep(waited: float) -> float:
    return 0.001 if waited < 0.5 else 0.005 if waited < 5 else 0.02


class CheckerWorker:
    """A started checker. Not thread-safe: the pool gives each worker one request at a time."""

    def __init__(self, launch: LaunchSpec, name: str = "lean-worker", memory_limit_mb: float = 0.0,
                 channel: str = "auto") -> None:
        if channel not in CHANNELS:
            raise ValueError(f"channel must be one of {CHANNELS}, got {channel!r}")
        if channel == "pipe" and not launch.pipe_stdin:
            log.warning("%s: this checker cannot read requests on its stdin; using request files (notify)", name)
        if channel in ("auto", "pipe"):
            channel = "pipe" if launch.pipe_stdin else "notify"
        self.channel = channel
        self.transport = "pipe" if channel == "pipe" else "files"
        self.launch = launch
        self.memory_limit_mb = memory_limit_mb
        self.name = name
        self.workdir = launch.cwd
        self.uses = 0
        self._next = 0
        self._log_file = open(self.workdir / "checker.log", "wb")
        self.started_at = time.monotonic()
        if self.transport == "pipe":
            (self.workdir / "serve").write_text("serve pipe\n")  # the checker reads it once, at start
        self.proc = subprocess.Popen(
            launch.argv, cwd=launch.cwd, env=launch.env,
            stdin=subprocess.PIPE if self.transport == "pipe" else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.pgid = self.proc.pid  # start_new_session: the child leads its own group
        if self.proc.stdin is not None:
            os.set_blocking(self.proc.stdin.fileno(), False)  # every write is bounded (_write_stdin)
        self._tree: list[psutil.Process] | None = None  # the checker's process tree, cached (see rss_mb)
        self._tree_at = 0.0
        self._rss, self._rss_at = 0.0, -1e9  # the last memory reading (see rss_mb)
        self.timing: dict[str, float] = {}  # the last request's client-side times (seconds)
        self._answered = -1  # the highest answer number seen on stdout
        self._answers: dict[int, bytes] = {}  # answers read from stdout, not yet taken by their request
        self._stdout_open = True
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read_stdout, name=f"{name}-stdout", daemon=True)
        self._reader.start()
        self.ready = False
        atexit.register(self.kill)  # never leave a checker behind when the interpreter exits

    # -- lifecycle -------------------------------------------------------
    def wait_ready(self, timeout_s: float, should_stop: Callable[[], bool] = lambda: False) -> float:
        """Block until the checker says it is ready; returns seconds it took."""
        deadline = time.monotonic() + timeout_s
        waited = 0.0
        while not (self.workdir / "ready").exists():
            if self.proc.poll() is not None:
                raise WorkerDied(f"{self.name} exited with code {self.proc.returncode} while starting: {self.log_tail()}")
            if time.monotonic() > deadline:
                self.kill()
                raise WorkerDied(f"{self.name} did not become ready within {timeout_s:.0f}s")
            if should_stop():
                self.kill()
                raise WorkerDied(f"{self.name} start cancelled")
            time.sleep(0.1)
            waited += 0.1
        if self.transport == "pipe":
            try:
                served = (self.workdir / "ready").read_text(errors="replace")
            except OSError:
                served = ""
            if "pipe" not in served:  # it could not open its stdin or stdout: it serves files
                log.warning("%s serves request files, not its stdin; using notify", self.name)
                self.transport, self.channel = "files", "notify"
        self.ready = True
        return time.monotonic() - self.started_at

    def set_channel(self, channel: str) -> None:
        """Switch between ``notify`` and ``poll`` on a files worker (``auto`` keeps what it has on a
        pipe worker, means notify on a files worker). The transport is fixed at start: a switch
        between the pipe and the files raises ``ValueError``."""
        self.channel = self.channel_for(channel)

    def channel_for(self, channel: str) -> str:
        """What ``set_channel(channel)`` would switch to; ``ValueError`` where it cannot."""
        if channel not in CHANNELS:
            raise ValueError(f"channel must be one of {CHANNELS}, got {channel!r}")
        if self.transport == "pipe":
            if channel not in ("auto", "pipe"):
                raise ValueError(f"{self.name} reads requests on its stdin; it cannot switch to {channel!r} "
                                 "(the transport is fixed at start: start a pool with that channel)")
            return "pipe"
        if channel == "pipe":
            raise ValueError(f"{self.name} was started on request files; it cannot switch to the pipe "
                             "(the transport is fixed at start: start a pool with lean.channel: pipe)")
        return "notify" if channel == "auto" else channel

    def _read_stdout(self) -> None:
        """Forward the checker's stdout to its log; hand answer lines to ``request``. Ends at EOF."""
        out = self.proc.stdout
        try:
            assert out is not None
            while True:
                line = out.readline(MAX_ANSWER_BYTES + 64)
                if not line:
                    break
                if not line.endswith(b"\n") and len(line) >= MAX_ANSWER_BYTES + 64:
                    while True:  # an over-long line: drop the rest of it
                        more = out.readline(2**20)
                        if not more or more.endswith(b"\n"):
                            break
                    got = parse_notify(line)
                    if got is not None:
                        got = (got[0], b"")  # the request sees an empty (unreadable) answer
                else:
                    got = parse_notify(line)
                if got is None:
                    self._log_file.write(line)
                    continue
                n, raw = got
                with self._cond:
                    # answers to requests already done are dropped; the first line for n is kept (a later
                    # line cannot replace a forged one with the genuine answer before the request reads it)
                    if n >= self._next - 1 and n not in self._answers:
                        self._answers[n] = raw
                        self._answered = max(self._answered, n)
                    self._cond.notify_all()
        except (OSError, ValueError):  # the pipe or the log was closed under us (kill/close)
            pass
        finally:
            with self._cond:
                self._stdout_open = False
                self._cond.notify_all()

    def _wait_notified(self, n: int, timeout_s: float) -> bytes | None:
        """Block until answer ``n`` came on stdout (returned), stdout ends, or ``timeout_s`` passes."""
        with self._cond:
            self._cond.wait_for(lambda: n in self._answers or not self._stdout_open, timeout=timeout_s)
            return self._answers.pop(n, None)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def rss_mb(self, max_age_s: float = 0.0) -> float:
        """Resident memory of the whole process group, in MiB. The process tree is re-read at most
        every ``TREE_REFRESH_S`` (a scan of every process on the machine costs milliseconds); the
        memory of the known processes is read fresh unless the last reading is younger than
        ``max_age_s`` (the pool's recycling check after every request passes a second)."""
        now = time.monotonic()
        if max_age_s > 0 and now - self._rss_at <= max_age_s:
            return self._rss
        if self._tree is None or now - self._tree_at > TREE_REFRESH_S:
            try:
                root = psutil.Process(self.proc.pid)
                self._tree = [root, *root.children(recursive=True)]
            except psutil.Error:
                self._tree = None
                return 0.0
            self._tree_at = now
        total = 0
        for p in self._tree:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        self._rss, self._rss_at = total / 2**20, now
        return self._rss

    def kill(self) -> None:
        """Kill the whole process group and reap it. Idempotent."""
        kill_group(self.proc, pgid=self.pgid)
        self.ready = False

    def close(self) -> None:
        self.kill()
        atexit.unregister(self.kill)
        self._reader.join(timeout=5)
        try:
            self._log_file.close()
        except OSError:
            pass
        shutil.rmtree(self.workdir, ignore_errors=True)

    def log_tail(self, n: int = 2000) -> str:
        try:
            if not self._log_file.closed:
                self._log_file.flush()
            data = (self.workdir / "checker.log").read_bytes()[-20000:].decode("utf-8", "replace")
        except OSError:
            return ""
        lines = [line for line in data.splitlines() if not line.startswith("[DEBUG") and not line.startswith("  - /")]
        return "\n".join(lines)[-n:]

    # -- requests --------------------------------------------------------
    def request(self, payload: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """Send one request and wait for its answer.

        Raises ``BadRequest`` (worker untouched) for a request that cannot be encoded,
        ``WorkerTimeout`` (worker killed) past the deadline, ``ForgedAnswer`` (worker
        killed) for an answer not bound to this request, and ``WorkerDied`` when the
        process is gone or went over its memory limit (killed).
        """
        secret = secrets.token_hex(16)
        n = self._next
        pipe = self.transport == "pipe"
        notify = pipe or self.channel == "notify"
        t_enc = time.monotonic()
        data = encode_request({**payload, "seq": n, "secret": secret, "notify": notify})
        if not self.alive():
            raise WorkerDied(f"{self.name} is not running: {self.log_tail()}")
        self._next += 1
        self.uses += 1
        resp = self.workdir / "resp" / f"{n}.json"
        if pipe:
            self._write_stdin(b"%d\n" % len(data) + data + b"\n", t_enc + timeout_s)
        else:
            req = self.workdir / "req" / f"{n}.json"
            tmp = req.with_suffix(".tmp")
            tmp.write_bytes(data)
            os.rename(tmp, req)
        start = time.monotonic()
        next_mem_check = start + 0.5
        raw: bytes | None = None
        while True:
            if raw is not None or (not pipe and resp.exists()):
                t_seen = time.monotonic()
                if raw is not None:
                    ans = self._check_answer(raw, payload.get("id"), n, secret)
                else:
                    ans = self._read_answer(resp, payload.get("id"), n, secret)
                    if notify:  # asked for stdout, got a file: this checker cannot write its stdout
                        log.warning("%s answered in a file, not on stdout; polling from now on", self.name)
                        self.channel = "poll"
                self.timing = {"send": start - t_enc, "wait": t_seen - start, "read": time.monotonic() - t_seen}
                return ans
            if self.proc.poll() is not None:
                raise WorkerDied(f"{self.name} died during a request (exit {self.proc.returncode}): {self.log_tail()}")
            now = time.monotonic()
            waited = now - start
            if waited > timeout_s:
                self.kill()
                raise WorkerTimeout(f"{self.name}: no answer within {timeout_s:.1f}s")
            if self.memory_limit_mb > 0 and now >= next_mem_check:
                next_mem_check = now + 0.5
                rss = self.rss_mb()
                if rss > self.memory_limit_mb:
                    self.kill()
                    raise WorkerDied(f"{self.name} went over its memory limit ({rss:.0f} > {self.memory_limit_mb:.0f} MiB) and was killed")
            if notify:
                # every wake-up (the answer, EOF, or the recheck period) goes back through the checks above
                raw = self._wait_notified(n, min(NOTIFY_RECHECK_S, max(timeout_s - waited, 0.0) + 0.001))
            if raw is None and not (notify and self._stdout_open):
                # poll, or stdout ended while the process lives on: wait for the file without spinning
                time.sleep(_poll_sleep(waited))

    def _write_stdin(self, data: bytes, deadline: float) -> None:
        """Write a whole request to the checker's stdin (non-blocking fd), waiting for room at most
        until ``deadline`` (then the worker is killed: ``WorkerTimeout``); a closed pipe is
        ``WorkerDied``."""
        assert self.proc.stdin is not None
        fd = self.proc.stdin.fileno()
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(fd, view):]
                continue
            except BlockingIOError:
                pass
            except (BrokenPipeError, OSError) as e:
                self.kill()
                raise WorkerDied(f"{self.name} does not read its stdin any more ({e}): {self.log_tail()}") from None
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise WorkerTimeout(f"{self.name} did not take its request before the deadline")
            if self.proc.poll() is not None:
                raise WorkerDied(f"{self.name} died while taking a request (exit {self.proc.returncode}): "
                                 f"{self.log_tail()}")
            select.select([], [fd], [], min(left, NOTIFY_RECHECK_S))

    def _read_answer(self, resp: Path, rid: Any, n: int, secret: str) -> dict[str, Any]:
        try:
            with open(resp, "rb") as f:
                raw = f.read(MAX_ANSWER_BYTES + 1)
            resp.unlink()
        except OSError as e:
            self.kill()
            raise WorkerDied(f"{self.name} wrote an unreadable answer: {e}") from e
        return self._check_answer(raw, rid, n, secret)

    def _check_answer(self, raw: bytes, rid: Any, n: int, secret: str) -> dict[str, Any]:
        """The answer, if it is bound to request ``n`` (id, sequence number, secret); else the worker is killed."""
        if len(raw) > MAX_ANSWER_BYTES:
            self.kill()
            raise ForgedAnswer(f"{self.name} wrote an answer over {MAX_ANSWER_BYTES} bytes")
        try:
            ans = json.loads(raw.decode("utf-8", "replace"))
        except json.JSONDecodeError as e:
            self.kill()
            raise WorkerDied(f"{self.name} wrote an unreadable answer: {e}") from e
        if not (isinstance(ans, dict) and ans.get("secret") == secret and ans.get("seq") == n and ans.get("id") == rid):
            self.kill()
            raise ForgedAnswer(f"{self.name}: answer {n} is not bound to its request (id, sequence number or secret "
                               "differ); the worker was killed")
        return ans
