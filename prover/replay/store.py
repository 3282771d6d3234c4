"""``AttemptStore``: a bounded, crash-safe SQLite store of attempts and per-problem stats.

Every ``add_many`` is one transaction (insert, stats update, trim to capacity),
in WAL mode with ``synchronous=FULL``: once it returns, the rows survive a
killed process or a power cut; an interrupted call leaves nothing behind.

Failures (``invalid``/``timeout``) are what replay learns from; successes are
kept too (own bound) for preserve/check samples; infrastructure errors are
never stored as attempts, only counted in the stats.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from prover.replay.difficulty import ProblemStats
from prover.text import clean_obj, clean_text
from prover.types import Attempt, Problem, Status, Verdict

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS attempts (
    row_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    attempt_id  TEXT NOT NULL UNIQUE,
    problem_id  TEXT NOT NULL,
    domain      TEXT NOT NULL,
    correct     INTEGER NOT NULL,
    status      TEXT NOT NULL,
    turn        TEXT NOT NULL,
    parent_id   TEXT NOT NULL DEFAULT '',
    step        INTEGER NOT NULL DEFAULT 0,
    created_at  REAL NOT NULL,
    uses        INTEGER NOT NULL DEFAULT 0,
    dropped     TEXT NOT NULL DEFAULT '',
    problem     TEXT NOT NULL,
    prompt      TEXT NOT NULL,
    response    TEXT NOT NULL,
    verdict     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS attempts_kind ON attempts(correct, row_id);
CREATE INDEX IF NOT EXISTS attempts_problem ON attempts(problem_id);
CREATE TABLE IF NOT EXISTS problem_stats (
    problem_id  TEXT PRIMARY KEY,
    domain      TEXT NOT NULL,
    successes   INTEGER NOT NULL DEFAULT 0,
    failures    INTEGER NOT NULL DEFAULT 0,
    errors      INTEGER NOT NULL DEFAULT 0,
    last_step   INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class StoredAttempt:
    """One stored attempt with its problem and verdict."""

    row_id: int
    problem: Problem
    attempt: Attempt
    verdict: Verdict
    step: int
    uses: int
    created_at: float
    dropped: str = ""

    @property
    def id(self) -> str:
        return self.attempt.id

    @property
    def correct(self) -> bool:
        return self.verdict.valid

    @property
    def response(self) -> str:
        return self.attempt.response

    @property
    def turn(self) -> str:
        return self.attempt.turn


@dataclass(frozen=True)
class Candidate:
    """Light row for selection (no JSON parsing)."""

    row_id: int
    attempt_id: str
    problem_id: str
    step: int
    uses: int


@dataclass(frozen=True)
class AddResult:
    ids: tuple[str, ...]  # attempt id of every input record ("" for skipped errors)
    failures: int  # failures inserted
    successes: int  # successes inserted
    errors: int  # infrastructure errors (counted in stats, not stored)
    duplicates: int  # attempt ids already present (ignored)
    trimmed: int  # rows removed to stay within capacity


class AttemptStore:
    """Bounded SQLite store; one instance per process (thread-safe within it)."""

    def __init__(
        self,
        path: str | Path,
        capacity: int = 5000,
        success_capacity: int | None = None,
        *,
        stats_turns: Sequence[str] = ("first",),
        timeout: float = 30.0,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.path = str(path)
        self.capacity = capacity
        self.success_capacity = capacity if success_capacity is None else success_capacity
        self.stats_turns = tuple(stats_turns)
        if self.path != ":memory:":
            Path(self.path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        with self._tx():
            for stmt in filter(str.strip, _SCHEMA.split(";")):
                self._db.execute(stmt)
            self._db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)",
                             (str(SCHEMA_VERSION),))

    # -- transactions -----------------------------------------------------------------
    class _Tx:
        def __init__(self, store: "AttemptStore") -> None:
            self.store = store

        def __enter__(self) -> sqlite3.Connection:
            self.store._lock.acquire()
            try:
                self.store._db.execute("BEGIN IMMEDIATE")
            except BaseException:
                self.store._lock.release()
                raise
            return self.store._db

        def __exit__(self, exc_type: object, *rest: object) -> None:
            try:
                self.store._db.execute("ROLLBACK" if exc_type else "COMMIT")
            finally:
                self.store._lock.release()

    def _tx(self) -> "AttemptStore._Tx":
        if self._db is None:
            raise RuntimeError("AttemptStore is closed")
        return AttemptStore._Tx(self)

    # -- writing ------------------------------------------------------------------------
    def add(self, problem: Problem, attempt: Attempt, verdict: Verdict, *, step: int = 0) -> AddResult:
        return self.add_many([(problem, attempt, verdict)], step=step)

    def add_many(self, records: Iterable[tuple[Problem, Attempt, Verdict]], *, step: int = 0) -> AddResult:
        """Store a batch in one transaction; infrastructure errors only update stats."""
        records = list(records)
        ids: list[str] = []
        counts = {"failures": 0, "successes": 0, "errors": 0, "duplicates": 0, "trimmed": 0}
        now = time.time()
        with self._tx() as db:
            for problem, attempt, verdict in records:
                if attempt.problem_id != problem.id:
                    raise ValueError(f"attempt for {attempt.problem_id!r} paired with problem {problem.id!r}")
                in_stats = attempt.turn in self.stats_turns
                if verdict.status is Status.ERROR:
                    ids.append("")
                    counts["errors"] += 1
                    if in_stats:
                        self._bump(db, problem, "errors", step)
                    continue
                attempt_id = clean_text(attempt.id or uuid.uuid4().hex)
                ids.append(attempt_id)
                cur = db.execute(
                    "INSERT OR IGNORE INTO attempts(attempt_id, problem_id, domain, correct, status, turn, "
                    "parent_id, step, created_at, problem, prompt, response, verdict) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    # model text and feedback as valid UTF-8 (lone surrogates replaced): SQLite takes it
                    (attempt_id, clean_text(problem.id), problem.domain, int(verdict.valid),
                     verdict.status.value, attempt.turn, clean_obj(attempt.parent_id), step, now,
                     json.dumps(clean_obj(problem.to_json()), ensure_ascii=False),
                     json.dumps(clean_obj([dict(m) for m in attempt.prompt]), ensure_ascii=False),
                     clean_text(attempt.response),
                     json.dumps(clean_obj(verdict.to_json()), ensure_ascii=False, default=str)),
                )
                if cur.rowcount == 0:
                    counts["duplicates"] += 1
                    continue
                counts["successes" if verdict.valid else "failures"] += 1
                if in_stats:
                    self._bump(db, problem, "successes" if verdict.valid else "failures", step)
            counts["trimmed"] = self._trim(db, 0, self.capacity) + self._trim(db, 1, self.success_capacity)
        return AddResult(ids=tuple(ids), **counts)

    @staticmethod
    def _bump(db: sqlite3.Connection, problem: Problem, column: str, step: int) -> None:
        db.execute(
            f"INSERT INTO problem_stats(problem_id, domain, {column}, last_step) VALUES (?, ?, 1, ?) "
            f"ON CONFLICT(problem_id) DO UPDATE SET {column} = {column} + 1, "
            f"last_step = MAX(last_step, excluded.last_step)",
            (clean_text(problem.id), problem.domain, step),
        )

    @staticmethod
    def _trim(db: sqlite3.Connection, correct: int, keep: int) -> int:
        if keep <= 0:
            return db.execute("DELETE FROM attempts WHERE correct = ?", (correct,)).rowcount
        row = db.execute(
            "SELECT row_id FROM attempts WHERE correct = ? ORDER BY row_id DESC LIMIT 1 OFFSET ?",
            (correct, keep),
        ).fetchone()
        if row is None:
            return 0
        return db.execute("DELETE FROM attempts WHERE correct = ? AND row_id <= ?", (correct, row[0])).rowcount

    def mark_used(self, attempt_ids: Iterable[str]) -> None:
        ids = [(clean_text(a),) for a in attempt_ids if a]
        if ids:
            with self._tx() as db:
                db.executemany("UPDATE attempts SET uses = uses + 1 WHERE attempt_id = ?", ids)

    def mark_dropped(self, attempt_ids: Iterable[str], reason: str) -> None:
        """Exclude attempts from future selection (e.g. their prompt can never fit)."""
        ids = [(clean_text(reason), clean_text(a)) for a in attempt_ids if a]
        if ids:
            with self._tx() as db:
                db.executemany("UPDATE attempts SET dropped = ? WHERE attempt_id = ?", ids)

    # -- reading ------------------------------------------------------------------------
    def _read(self, sql: str, args: Sequence[object] = ()) -> list[tuple]:
        if self._db is None:
            raise RuntimeError("AttemptStore is closed")
        with self._lock:
            return self._db.execute(sql, tuple(clean_obj(list(args)))).fetchall()

    def candidates(
        self,
        *,
        correct: bool,
        turns: Sequence[str] | None = ("first",),
        max_uses: int = 0,
        domain: str | None = None,
    ) -> list[Candidate]:
        """Selectable attempts (not dropped; fewer than ``max_uses`` uses unless 0), newest first."""
        sql = "SELECT row_id, attempt_id, problem_id, step, uses FROM attempts WHERE correct = ? AND dropped = ''"
        args: list[object] = [int(correct)]
        if turns is not None:
            sql += f" AND turn IN ({','.join('?' * len(turns))})"
            args += list(turns)
        if max_uses > 0:
            sql += " AND uses < ?"
            args.append(max_uses)
        if domain is not None:
            sql += " AND domain = ?"
            args.append(domain)
        return [Candidate(*row) for row in self._read(sql + " ORDER BY row_id DESC", args)]

    _COLUMNS = ("row_id, attempt_id, problem_id, turn, parent_id, step, created_at, uses, dropped, "
                "problem, prompt, response, verdict")

    @staticmethod
    def _row(row: tuple) -> StoredAttempt:
        (row_id, attempt_id, problem_id, turn, parent_id, step, created_at, uses, dropped,
         problem, prompt, response, verdict) = row
        attempt = Attempt(problem_id=problem_id, prompt=tuple(json.loads(prompt)), response=response,
                          turn=turn, id=attempt_id, parent_id=parent_id)
        return StoredAttempt(row_id, Problem.from_json(json.loads(problem)), attempt,
                             Verdict.from_json(json.loads(verdict)), step, uses, created_at, dropped)

    def get(self, attempt_id: str) -> StoredAttempt | None:
        rows = self._read(f"SELECT {self._COLUMNS} FROM attempts WHERE attempt_id = ?", (attempt_id,))
        return self._row(rows[0]) if rows else None

    def get_many(self, attempt_ids: Sequence[str]) -> list[StoredAttempt]:
        """Stored attempts in the order of ``attempt_ids`` (missing ones are skipped)."""
        found: dict[str, StoredAttempt] = {}
        for start in range(0, len(attempt_ids), 500):
            chunk = list(attempt_ids[start:start + 500])
            sql = f"SELECT {self._COLUMNS} FROM attempts WHERE attempt_id IN ({','.join('?' * len(chunk))})"
            for row in self._read(sql, chunk):
                found[row[1]] = self._row(row)
        return [found[a] for a in attempt_ids if a in found]

    def recent(self, *, correct: bool = False, limit: int = 100) -> list[StoredAttempt]:
        rows = self._read(f"SELECT {self._COLUMNS} FROM attempts WHERE correct = ? ORDER BY row_id DESC LIMIT ?",
                          (int(correct), limit))
        return [self._row(r) for r in rows]

    def problem_stats(self, problem_ids: Sequence[str] | None = None) -> dict[str, ProblemStats]:
        sql = "SELECT problem_id, successes, failures, errors, last_step FROM problem_stats"
        if problem_ids is None:
            return {r[0]: ProblemStats(*r) for r in self._read(sql)}
        out: dict[str, ProblemStats] = {}
        ids = list(dict.fromkeys(problem_ids))
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            for r in self._read(sql + f" WHERE problem_id IN ({','.join('?' * len(chunk))})", chunk):
                out[r[0]] = ProblemStats(*r)
        return out

    def count(self, *, correct: bool = False) -> int:
        return int(self._read("SELECT COUNT(*) FROM attempts WHERE correct = ?", (int(correct),))[0][0])

    def __len__(self) -> int:
        """Number of stored failures."""
        return self.count(correct=False)

    def integrity_ok(self) -> bool:
        return self._read("PRAGMA integrity_check")[0][0] == "ok"

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None  # type: ignore[assignment]

    def __enter__(self) -> "AttemptStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
