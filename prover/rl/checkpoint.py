"""Checkpoints of a training run, written atomically, and resuming from them.

A checkpoint is the directory ``<run>/checkpoint-<step>`` that the Hugging Face
``Trainer`` writes (model or adapter, optimizer, scheduler, RNG states, trainer
state with the step), plus ``prover_state/``:

* ``replay.sqlite``: a consistent copy of the replay store (SQLite backup API,
  safe while the store is open);
* ``state.json``: problem source / difficulty controller, replay mixer RNG,
  cumulative replay metrics, collapse detector, and the step.

The whole directory is first written under ``<run>/.staging/`` and renamed into
place once complete (``commit``): a run killed while saving leaves the previous
checkpoints intact and at most a staging directory, which is ignored and removed.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any, Mapping

STATE_DIR = "prover_state"
STATE_FILE = "state.json"
REPLAY_FILE = "replay.sqlite"
STAGING = ".staging"
PREFIX = "checkpoint-"


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(str(path), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    """Flush every file and directory under ``root`` to disk."""
    for dirpath, _, files in os.walk(root):
        for name in files:
            try:
                with open(os.path.join(dirpath, name), "rb") as fh:
                    os.fsync(fh.fileno())
            except OSError:
                pass
        _fsync_dir(Path(dirpath))


def write_json_atomic(path: Path, obj: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, ensure_ascii=False, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def backup_sqlite(src: str | Path, dst: str | Path) -> None:
    """Copy the SQLite database ``src`` to ``dst`` with the online backup API (consistent snapshot)."""
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".tmp")
    if tmp.exists():
        tmp.unlink()
    source = sqlite3.connect(str(src), timeout=60)
    try:
        target = sqlite3.connect(str(tmp))
        try:
            source.backup(target)
            target.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
        finally:
            target.close()
    finally:
        source.close()
    os.replace(tmp, dst)


def restore_sqlite(backup: str | Path, live: str | Path) -> None:
    """Make the database at ``live`` equal to ``backup`` (through SQLite, so a leftover WAL is handled)."""
    live = Path(live)
    live.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(str(backup))
    try:
        target = sqlite3.connect(str(live), timeout=60)
        try:
            source.backup(target)
        finally:
            target.close()
    finally:
        source.close()


def save_prover_state(ckpt_dir: str | Path, state: Mapping[str, Any], replay_db: str | Path | None) -> None:
    """Write ``prover_state/`` (state.json and the replay store copy) into a (staged) checkpoint."""
    out = Path(ckpt_dir) / STATE_DIR
    out.mkdir(parents=True, exist_ok=True)
    if replay_db is not None and str(replay_db) != ":memory:" and Path(replay_db).exists():
        backup_sqlite(replay_db, out / REPLAY_FILE)
    write_json_atomic(out / STATE_FILE, dict(state))


def load_prover_state(ckpt_dir: str | Path) -> dict[str, Any]:
    path = Path(ckpt_dir) / STATE_DIR / STATE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{ckpt_dir} is not a complete prover checkpoint (no {STATE_DIR}/{STATE_FILE})")
    return json.loads(path.read_text(encoding="utf-8"))


def replay_backup(ckpt_dir: str | Path) -> Path | None:
    path = Path(ckpt_dir) / STATE_DIR / REPLAY_FILE
    return path if path.is_file() else None


def staging_root(run_dir: str | Path) -> Path:
    return Path(run_dir) / STAGING


def commit(staged: str | Path, final: str | Path) -> Path:
    """Flush ``staged`` and rename it to ``final`` (replacing an older directory of that name)."""
    staged, final = Path(staged), Path(final)
    fsync_tree(staged)
    old = None
    if final.exists():
        old = final.with_name(f".old-{final.name}")
        if old.exists():
            shutil.rmtree(old)
        os.replace(final, old)
    os.replace(staged, final)
    _fsync_dir(final.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return final


def is_complete(ckpt: Path) -> bool:
    return (ckpt / "trainer_state.json").is_file() and (ckpt / STATE_DIR / STATE_FILE).is_file()


def checkpoint_step(ckpt: str | Path) -> int:
    state = json.loads((Path(ckpt) / "trainer_state.json").read_text(encoding="utf-8"))
    return int(state["global_step"])


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    root = Path(run_dir)
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        if child.is_dir() and child.name.startswith(PREFIX) and child.name[len(PREFIX):].isdigit() and is_complete(child):
            found.append(child)
    return sorted(found, key=lambda p: int(p.name[len(PREFIX):]))


def find_checkpoint(path: str | Path) -> Path | None:
    """``path`` itself when it is a complete checkpoint, else the latest complete one inside it."""
    p = Path(path).expanduser()
    if p.is_dir() and is_complete(p):
        return p
    ckpts = list_checkpoints(p)
    return ckpts[-1] if ckpts else None


def run_dir_of(ckpt: str | Path) -> Path:
    return Path(ckpt).resolve().parent


def clean_staging(run_dir: str | Path) -> None:
    shutil.rmtree(staging_root(run_dir), ignore_errors=True)


def rotate(run_dir: str | Path, keep: int) -> list[Path]:
    """Remove all but the ``keep`` newest complete checkpoints (0 keeps all); returns the removed ones."""
    if keep <= 0:
        return []
    ckpts = list_checkpoints(run_dir)
    removed = ckpts[:-keep]
    for old in removed:
        shutil.rmtree(old, ignore_errors=True)
    return removed


__all__ = [
    "backup_sqlite",
    "checkpoint_step",
    "clean_staging",
    "commit",
    "find_checkpoint",
    "list_checkpoints",
    "load_prover_state",
    "replay_backup",
    "restore_sqlite",
    "rotate",
    "run_dir_of",
    "save_prover_state",
    "staging_root",
]
