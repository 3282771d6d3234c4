"""``prover verify``: a JSONL of responses in, one verdict row per input line out, never lost.

* **Written as known.** Each verdict is appended to the output and flushed the moment it
  is known, so a run that is interrupted (Ctrl-C, SIGTERM, a kill) keeps every finished row.
* **Resumable.** A rerun with the same ``--input`` and ``--output`` skips every input line
  that already has a verdict row (the key is the line number *and* the row's ``id``, so
  duplicate ids on different lines are separate rows, each verified once). Rows written for
  an interrupted check (``details.reason == "interrupted"``) are verified again. An output
  whose rows name other ids for the same lines belongs to another input: refused, untouched.
* **Input order at the end.** When every line has its verdict, the output is rewritten
  (temp file in the same directory, then an atomic rename) with one row per line in input
  order; the last row written for a line wins. An interrupted run leaves rows in
  completion order; each row carries ``line``.
* **Signals.** The first SIGINT/SIGTERM stops new work; rows in flight finish (bounded by
  the domain's own timeout) and are written; a second signal, or ``--grace`` seconds, fails
  the rest with an ``error`` row (reason ``interrupted``). Exit code 128 + the signal number.
* **Bad input is a row.** The input is read as bytes and decoded line by line: a line that
  is not UTF-8, not JSON or misses a field gets an ``error`` row (``input_error: true``)
  naming the file, the line and the field, and the run goes on (exit code 2 at the end).
* A missing output directory is created; one that cannot be is refused with a message.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from prover.text import clean_obj
from prover.types import Problem, Verdict
from prover.verify_rows import RowError, bad_row_result, parse_row, result_row

log = logging.getLogger("prover.verify")

EXIT_OK, EXIT_INFRA, EXIT_BAD_INPUT = 0, 1, 2
INTERRUPTED = "interrupted"


class UsageError(Exception):
    """A bad ``--input``/``--output``: printed as one line, exit code 2, nothing written."""


@dataclass
class Row:
    """One non-blank input line: a problem and response to verify, or the reason it cannot be."""

    line: int
    id: str
    problem: Problem | None = None
    response: str = ""
    error: str = ""  # set for a malformed line

    def error_row(self) -> dict[str, Any]:
        return bad_row_result(self.line, self.id, self.error)


def iter_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, raw bytes without the line break) for every line of ``path``."""
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]  # a UTF-8 byte-order mark
            yield lineno, raw.rstrip(b"\r\n")


def read_rows(path: Path, domain: str) -> list[Row]:
    """Every non-blank line of the JSONL ``path`` as a ``Row`` (malformed lines carry ``error``)."""
    rows: list[Row] = []
    for lineno, raw in iter_lines(path):
        where = f"{path}:{lineno}"
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            rows.append(Row(lineno, "", error=f"{where}: not valid UTF-8 (byte 0x{raw[e.start]:02x} at column {e.start + 1})"))
            continue
        if not text.strip():
            continue
        row_id = ""
        try:
            obj = json.loads(text)
            if isinstance(obj, dict):
                row_id = str(obj.get("id", ""))
            problem, response = parse_row(domain, obj, index=lineno - 1)
        except json.JSONDecodeError as e:
            rows.append(Row(lineno, row_id, error=f"{where}: not valid JSON ({e.msg} at column {e.colno})"))
            continue
        except (RowError, ValueError, TypeError, RecursionError) as e:
            rows.append(Row(lineno, row_id, error=f"{where}: {e}"))
            continue
        rows.append(Row(lineno, problem.id, problem, response))
    return rows


def verifier_config(domain: str, args: argparse.Namespace) -> Any:
    """The domain's config from the command line (unset flags keep the domain's defaults; one factory)."""
    from prover.verifiers import verifier_config as make_config, verifier_config_class

    fields = {f.name for f in dataclasses.fields(verifier_config_class(domain))}
    opts: dict[str, Any] = {"backend": args.backend} if domain == "lean" else {}
    for key, value in (("workers", args.workers), ("timeout_s", args.timeout), ("feedback_cap", args.feedback_cap)):
        if value and key in fields:
            opts[key] = value
    return make_config(domain, opts)


# ---------------------------------------------------------------- the output file


def prepare_output(out: Path, inp: Path) -> None:
    if out.exists() and out.resolve() == inp.resolve():
        raise UsageError(f"--output {out} is the input file; give another path")
    if out.is_dir():
        raise UsageError(f"--output {out} is a directory; give a file path such as {out / 'verdicts.jsonl'}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot create the output directory {out.parent}: {e.strerror or e}") from None
    if not os.access(out.parent, os.W_OK):
        raise UsageError(f"cannot write to the output directory {out.parent} (permission denied)")
    for stale in out.parent.glob(f".{out.name}.*.tmp"):  # left by a run killed while it rewrote the output
        try:
            stale.unlink()
        except OSError:
            pass


def load_done(out: Path, rows: list[Row]) -> dict[int, dict[str, Any]]:
    """Rows already in ``out`` that need no new check, by input line. A torn last line (a run
    killed mid-write) is cut off; an output written for another input is refused."""
    if not out.exists():
        return {}
    data = out.read_bytes()
    if data and not data.endswith(b"\n"):
        keep = data.rfind(b"\n") + 1
        log.warning("%s: dropping an incomplete last line (%d bytes) left by an interrupted run", out, len(data) - keep)
        with open(out, "r+b") as f:
            f.truncate(keep)
        data = data[:keep]
    ids = {r.line: r.id for r in rows}
    done: dict[int, dict[str, Any]] = {}
    for n, raw in enumerate(data.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw.decode("utf-8"))
            line, row_id = obj["line"], str(obj["id"])
            if not isinstance(line, int):
                raise TypeError("line is not an integer")
        except (ValueError, KeyError, TypeError) as e:
            raise UsageError(f"{out}:{n}: not a verdict row of `prover verify` ({e}); use another --output") from None
        if obj.get("input_error") and line in ids:
            done[line] = obj  # a malformed line: its id may be partial; checked again below
            continue
        if ids.get(line) != row_id:
            raise UsageError(
                f"{out}:{n}: verdict for line {line} id {row_id!r}, but {'that line is blank or missing' if line not in ids else f'line {line} of the input has id {ids[line]!r}'}"
                " - the output belongs to another input; use another --output or delete it"
            )
        if (obj.get("details") or {}).get("reason") == INTERRUPTED:
            done.pop(line, None)
        else:
            done[line] = obj
    return done


class Writer:
    """Appends one JSON row per verdict and flushes it at once (only the main thread writes)."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.f = open(out, "a", encoding="utf-8", newline="\n")
        self.rows: dict[int, dict[str, Any]] = {}
        self.counts: dict[str, int] = {}

    def write(self, row: dict[str, Any]) -> None:
        row = clean_obj(row)
        self.f.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
        self.f.flush()
        self.rows[row["line"]] = row
        self.counts[row["status"]] = self.counts.get(row["status"], 0) + 1

    def close(self) -> None:
        if not self.f.closed:
            self.f.flush()
            os.fsync(self.f.fileno())
            self.f.close()


def compact(out: Path, rows: dict[int, dict[str, Any]]) -> None:
    """Rewrite ``out`` with one row per line in input order (atomic; no temp file survives)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            for line in sorted(rows):
                f.write(json.dumps(rows[line], ensure_ascii=False, default=str) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# ---------------------------------------------------------------- signals


@dataclass
class StopFlag:
    """Set by SIGINT/SIGTERM: the first stops new work, the second fails the rows in flight."""

    signum: int = 0
    count: int = 0
    event: threading.Event = field(default_factory=threading.Event)

    def handler(self, signum: int, _frame: object) -> None:
        self.count += 1
        self.signum = self.signum or signum
        self.event.set()
        if self.count == 1:
            print(f"\n{signal.Signals(signum).name}: no new rows start; waiting for the rows in flight "
                  "(signal again to stop them now)", file=sys.stderr)
        elif self.count >= 3:
            raise KeyboardInterrupt


class Signals:
    """SIGINT/SIGTERM handlers for the run (main thread only), restored on exit."""

    def __init__(self, flag: StopFlag) -> None:
        self.flag = flag
        self.saved: dict[int, Any] = {}

    def __enter__(self) -> StopFlag:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.saved[sig] = signal.signal(sig, self.flag.handler)
        return self.flag

    def __exit__(self, *exc: object) -> None:
        for sig, old in self.saved.items():
            signal.signal(sig, old)


# ---------------------------------------------------------------- the run


def _in_flight_limit(verifier: Any, args: argparse.Namespace) -> int:
    if getattr(args, "chunk", 0):
        return max(1, int(args.chunk))
    workers = getattr(verifier, "workers", 0) or getattr(getattr(verifier, "config", None), "workers", 0) or 1
    return max(1, 2 * int(workers))


def _row_timeout(verifier: Any) -> float:
    return float(getattr(getattr(verifier, "config", None), "timeout_s", 0) or 60.0)


def _check(verifier: Any, row: Row) -> Verdict:
    try:
        (verdict,) = verifier.verify([row.problem], [row.response])
        return verdict
    except Exception as e:  # noqa: BLE001 - one broken check is an error row, not a lost batch
        log.exception("check of line %d failed", row.line)
        return Verdict.infra_error(f"verifier failure: {type(e).__name__}: {e}", reason="verifier")


def _verdict_row(row: Row, verdict: Verdict) -> dict[str, Any]:
    return result_row(row.id, row.line, verdict)


def _interrupted_row(row: Row, why: str) -> dict[str, Any]:
    v = Verdict.infra_error(f"not verified: the run was interrupted ({why}); rerun the same command to verify it",
                            reason=INTERRUPTED)
    return _verdict_row(row, v)


def run_checks(verifier: Any, todo: list[Row], writer: Writer, stop: StopFlag, args: argparse.Namespace) -> None:
    """Verify ``todo`` with a bounded number of rows in flight, writing each verdict as it arrives."""
    from tqdm import tqdm

    limit = _in_flight_limit(verifier, args)
    grace = float(args.grace) if getattr(args, "grace", None) is not None else _row_timeout(verifier) + 30.0
    bar = tqdm(total=len(todo), desc=f"verify {args.domain}", unit="row", file=sys.stderr, disable=None)
    pool = ThreadPoolExecutor(max_workers=limit, thread_name_prefix="verify-row")
    pending: dict[Future, Row] = {}
    queue = list(reversed(todo))
    stop_deadline: float | None = None
    try:
        while queue or pending:
            while queue and len(pending) < limit and not stop.event.is_set():
                row = queue.pop()
                pending[pool.submit(_check, verifier, row)] = row
            if not pending:
                break
            done, _ = wait(list(pending), timeout=0.2, return_when=FIRST_COMPLETED)
            for fut in done:
                row = pending.pop(fut)
                writer.write(_verdict_row(row, fut.result()))
                bar.update(1)
            if stop.event.is_set():
                queue.clear()
                stop_deadline = stop_deadline or time.monotonic() + grace
                if pending and (stop.count >= 2 or time.monotonic() >= stop_deadline):
                    why = "second signal" if stop.count >= 2 else f"still running {grace:g} s after the signal"
                    for fut, row in list(pending.items()):
                        fut.cancel()
                        writer.write(_interrupted_row(row, why))
                    pending.clear()
    finally:
        bar.close()
        pool.shutdown(wait=False, cancel_futures=True)


def run_verify(args: argparse.Namespace, verifier: Any = None) -> int:
    """``prover verify``; pass ``verifier`` to reuse a running one (it is then not closed)."""
    inp, out = Path(args.input), Path(args.output)
    try:
        if not inp.is_file():
            raise UsageError(f"input file {inp} does not exist")
        prepare_output(out, inp)
        rows = read_rows(inp, args.domain)
        done = load_done(out, rows)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    bad = [r for r in rows if r.error]
    for r in bad:
        print(f"error: {r.error}", file=sys.stderr)
    # a line that was malformed before and parses now is verified (its new row replaces the error row)
    todo = [r for r in rows if not r.error and (r.line not in done or done[r.line].get("input_error"))]
    if done:
        print(f"resuming: {len(done)} of {len(rows)} rows already in {out}", file=sys.stderr)
    writer = Writer(out)
    writer.rows.update(done)
    owned = False
    infra_failed = False
    with Signals(StopFlag()) as stop:
        try:
            for r in bad:
                if r.line not in done or not done[r.line].get("input_error"):
                    writer.write(r.error_row())
            if todo and not stop.event.is_set():
                if verifier is None:
                    from prover.verifiers import get_verifier

                    try:
                        verifier = get_verifier(args.domain, verifier_config(args.domain, args))
                        owned = True
                    except Exception as e:  # noqa: BLE001 - say what is wrong, keep what is written
                        print(f"error: cannot start the {args.domain} verifier: {type(e).__name__}: {e}", file=sys.stderr)
                        infra_failed = True
                if verifier is not None and not infra_failed:
                    start = getattr(verifier, "start", None)
                    if callable(start):
                        start()  # idempotent; once here, not raced by the row threads
                    run_checks(verifier, todo, writer, stop, args)
        finally:
            writer.close()
            if owned:
                verifier.close()
        complete = all(r.line in writer.rows and (writer.rows[r.line].get("details") or {}).get("reason") != INTERRUPTED
                       for r in rows)
        if complete:
            compact(out, writer.rows)
    counts = ", ".join(f"{k} {v}" for k, v in sorted(writer.counts.items())) or "nothing new"
    print(f"wrote {sum(writer.counts.values())} verdicts to {out} ({counts}); "
          f"{len(writer.rows)} of {len(rows)} rows have a verdict", file=sys.stderr)
    if stop.signum:
        print(f"interrupted by {signal.Signals(stop.signum).name}: rerun the same command to verify the rest",
              file=sys.stderr)
        return 128 + stop.signum
    if infra_failed:
        return EXIT_INFRA
    return EXIT_BAD_INPUT if bad else EXIT_OK


def add_verify_arguments(v: argparse.ArgumentParser) -> None:
    """The ``prover verify`` flags."""
    v.add_argument("--domain", choices=["lean", "code", "math"], required=True)
    v.add_argument("--input", required=True, help="JSONL; lean rows: id, formal_statement, header?, response")
    v.add_argument("--output", required=True,
                   help="JSONL of verdicts, one per input line (appended as known; input order once complete); "
                        "an existing output of the same input is resumed")
    v.add_argument("--workers", type=int, default=0, help="parallel checkers (default: the domain's default)")
    v.add_argument("--timeout", type=float, default=0.0, help="seconds per check (default: the domain's default)")
    v.add_argument("--backend", choices=["wasm", "native"], default="wasm", help="Lean backend")
    v.add_argument("--feedback-cap", type=int, default=0, help="characters of feedback kept")
    v.add_argument("--chunk", type=int, default=0, help="most rows in flight at once (default: 2 x workers)")
    v.add_argument("--grace", type=float, default=None,
                   help="seconds rows in flight may still finish after SIGINT/SIGTERM (default: the check timeout + 30)")


__all__ = ["Row", "UsageError", "add_verify_arguments", "read_rows", "run_verify", "verifier_config"]
