"""``LeanVerifier``: model responses to formal statements in, sound typed verdicts out."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from tqdm import tqdm

from prover.text import clean_text
from prover.types import Problem, Status, Verdict
from prover.verifiers.base import RowError, Verifier, check_lengths, require_str
from prover.verifiers.lean.config import LeanConfig
from prover.formats.lean import extract_proof, split_header, theorem_name
from prover.verifiers.lean.feedback import build_feedback
from prover.verifiers.lean.policy import PolicyConfig, disallowed_axioms, refused
from prover.verifiers.lean.pool import LeanPool, PoolResult
from prover.verifiers.lean.runtime import native_launch, new_workdir, wasm_launch, wasm_modules, wasm_runtime_dir
from prover.verifiers.lean.worker import BadRequest, encode_request

log = logging.getLogger(__name__)

# Lean's warning, quoted with '…' in older releases and `…` in newer ones.
_SORRY_WARNING = re.compile(r"declaration uses ['`]sorry['`]")


def close_statement(statement: str) -> str:
    """The statement closed with ``sorry`` (for elaborating the reference type)."""
    s = statement.rstrip()
    if s.endswith(":= by") or s.endswith(":="):
        return s + " sorry"
    raise ValueError(f"a formal statement must end in ':= by' or ':=', got ...{s[-30:]!r}")


@dataclass(frozen=True)
class Prepared:
    """A check ready for Lean, or a verdict reached without it."""

    verdict: Verdict | None = None
    payload: dict[str, Any] | None = None
    code: str = ""
    kind: str = ""


class LeanVerifier(Verifier):
    """Pooled Lean checking. Owns a background event loop, so it works from sync and async code."""

    domain = "lean"

    def __init__(self, config: LeanConfig | None = None, *, start: bool = True) -> None:
        self.config = config or LeanConfig()
        self._policy = PolicyConfig(self.config.allowed_axioms, self.config.allow_native_decide)
        self._modules: set[str] | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="lean-verifier-loop", daemon=True)
        self._thread.start()
        self._pool: LeanPool | None = None
        self._closed = False
        if start:
            self.start()

    # -- lifecycle -------------------------------------------------------
    def _launcher(self):
        sandbox = self.config.sandbox
        if self.config.backend == "wasm":
            return lambda: wasm_launch(new_workdir(), sandbox)
        from pathlib import Path

        lake_dir = Path(self.config.lake_dir) if self.config.lake_dir else None
        return lambda: native_launch(new_workdir(), lake_dir, sandbox)

    def _call(self, coro, timeout: float | None = None):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def start(self, wait: bool = True) -> None:
        """Start the pool's workers (minutes for wasm). Idempotent."""
        if self._pool is not None:
            return
        if self.config.backend == "wasm":
            self._modules = wasm_modules(wasm_runtime_dir())

        async def make() -> LeanPool:
            return LeanPool(self._launcher(), workers=self.config.workers, start_timeout_s=self.config.start_timeout_s,
                            max_pending=self.config.max_pending, max_uses=self.config.max_uses,
                            max_rss_mb=self.config.max_rss_mb, memory_limit_mb=self.config.memory_limit_mb)

        self._pool = self._call(make())
        self._call(self._pool.start(wait=wait))

    @property
    def pool(self) -> LeanPool:
        if self._pool is None:
            raise RuntimeError("LeanVerifier not started: call start()")
        return self._pool

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._pool is not None:
            self._call(self._pool.close(), timeout=60)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    # -- rows ------------------------------------------------------------
    @classmethod
    def problem_from_row(cls, row: Mapping[str, Any]) -> Problem:
        pid = require_str(row, "id")
        statement = require_str(row, "formal_statement")
        if not (statement.rstrip().endswith(":= by") or statement.rstrip().endswith(":=")):
            raise RowError("formal_statement", "must end in ':= by' or ':='")
        try:
            theorem_name(statement)
        except ValueError as e:
            raise RowError("formal_statement", str(e)) from None
        header = row.get("header", "") or ""
        if not isinstance(header, str):
            raise RowError("header", f"must be a string, got {type(header).__name__}")
        informal = row.get("informal_prefix", row.get("informal", "")) or ""
        return Problem(id=pid, domain="lean", statement=statement, header=header, prompt=str(informal),
                       meta={k: row[k] for k in ("split", "source") if k in row})

    # -- checking --------------------------------------------------------
    def prepare(self, problem: Problem, response: str) -> Prepared:
        """Everything before Lean: header availability, extraction, the fast refusal pass, and a
        request that can be encoded (or a per-row verdict, before any worker is taken)."""
        response = clean_text(response)
        imports, rest = split_header(clean_text(problem.header))
        if self._modules is not None:
            missing = sorted({line.split()[1].split(".")[0] for line in imports.splitlines() if len(line.split()) > 1}
                             - self._modules)
            if missing:
                return Prepared(Verdict.infra_error(
                    f"The {self.config.backend} backend cannot provide the header's imports ({', '.join(missing)}): "
                    "it only has core Lean (Init, Std, Lean). Use backend=native with Mathlib for these statements.",
                    missing_modules=missing))
        statement = clean_text(problem.statement)
        try:
            name = theorem_name(statement)
            ref = close_statement(statement)
        except ValueError as e:
            return Prepared(Verdict.infra_error(f"bad formal statement for {problem.id}: {e}"))
        ext = extract_proof(response, statement, imports)
        if ext.code is None:
            return Prepared(Verdict(Status.INVALID, 0.0, feedback=ext.reason,
                                    details={"extraction": ext.kind}, timings={"total": 0.0}), kind=ext.kind)
        why = refused(ext.code, self._policy)
        if why:
            return Prepared(Verdict(Status.INVALID, 0.0, feedback=why,
                                    details={"extraction": ext.kind, "refused": True, "code": ext.code},
                                    timings={"total": 0.0}), code=ext.code, kind=ext.kind)
        prefix = rest + "\n" if rest else ""
        code = prefix + ext.code
        # the header's rest is the dataset's, not the model's: exempt from the checker's syntax policy
        payload = {"id": clean_text(str(problem.id)), "imports": imports, "ref": prefix + ref, "code": code,
                   "name": name, "trusted": len(prefix.encode("utf-8")), "goals": self.config.goals}
        try:
            encode_request(payload)
        except BadRequest as e:
            return Prepared(Verdict.infra_error(f"Lean request for {problem.id}: {e}"), code=code, kind=ext.kind)
        return Prepared(payload=payload, code=code, kind=ext.kind)

    def judge(self, prepared: Prepared, result: PoolResult) -> Verdict:
        """Turn the checker's answer into a verdict under the configured policy."""
        timings = {"total": result.queue_s + result.run_s, "queue": result.queue_s, "check": result.run_s}
        base = {"extraction": prepared.kind, "code": prepared.code}
        if result.timed_out:
            return Verdict(Status.TIMEOUT, 0.0, feedback=f"Checking the proof took longer than {self.config.timeout_s:g}s "
                           "and was stopped. Make the proof cheaper (avoid heavy automation or large decide).",
                           details=base, timings=timings)
        ans = result.answer
        if ans is None:
            return Verdict(Status.ERROR, 0.0, feedback=f"Lean checker failure: {result.error}", details=base, timings=timings)
        if not ans.get("ok", False):
            return Verdict(Status.ERROR, 0.0, feedback=f"Lean checker failure: {ans.get('error', '?')}", details=base,
                           timings=timings)
        timings["lean"] = float(ans.get("ms", 0)) / 1000.0
        messages: list[dict[str, Any]] = list(ans.get("messages", []))
        axioms: list[str] = sorted(ans.get("axioms", []))
        refused = str(ans.get("refused", "") or "")
        if refused:
            line, col = int(ans.get("refused_line", 1) or 1), int(ans.get("refused_col", 0) or 0)
            messages.append({"severity": "error", "line": line, "col": col, "end_line": line, "end_col": col,
                             "text": f"Refused, not checked: {refused}. Write the proof with ordinary "
                                     "theorems, definitions and tactics.", "goals": ""})
        details = {**base, "messages": messages, "found": bool(ans.get("found")),
                   "type_matches": bool(ans.get("type_matches")), "axioms": axioms,
                   "replayed": ans.get("replayed") is True}
        if refused:
            details["refused"] = True
        if ans.get("ref_error"):
            return Verdict(Status.ERROR, 0.0, feedback=f"The reference statement could not be checked: {ans['ref_error']}",
                           details=details, timings=timings)
        name = prepared.payload["name"] if prepared.payload else "?"
        errors = [m for m in messages if m.get("severity") == "error"]
        problems: list[str] = []
        uses_sorry = "sorryAx" in axioms or any(_SORRY_WARNING.search(str(m.get("text", ""))) for m in messages)
        if uses_sorry:
            problems.append("The proof uses `sorry` (or an error left a hole), so it proves nothing. Replace every `sorry`.")
        if not errors:
            if not ans.get("found"):
                problems.append(f"The theorem `{name}` is not declared by the proof. Keep the theorem's name and statement exactly as given.")
            elif ans.get("replay_error"):
                problems.append(f"The kernel re-check of `{name}` failed: {ans['replay_error']}")
            elif ans.get("ref_changed"):
                problems.append(f"{ans['ref_changed']}. Keep the statement's definitions exactly as given.")
            elif not ans.get("type_matches"):
                problems.append(f"The theorem `{name}` was stated differently from the given statement. "
                                "Prove exactly the statement as given; do not change it.")
        bad_axioms = [a for a in disallowed_axioms(axioms, self._policy) if a != "sorryAx"]
        if bad_axioms:
            problems.append(f"The proof depends on axioms beyond {', '.join(self._policy.allowed_axioms)}: "
                            f"{', '.join(bad_axioms)}.")
        # valid only on the checker's positive word for each link of the chain (docs/lean_trust.md)
        valid = (not errors and not problems and not refused and ans.get("found") is True
                 and ans.get("replayed") is True and not ans.get("replay_error") and not ans.get("ref_changed")
                 and ans.get("type_matches") is True)
        if valid:
            return Verdict(Status.VALID, 1.0, details=details, timings=timings)
        if not errors and not problems:  # fail closed: a link of the chain is missing from the answer
            problems.append("The checker could not confirm the proof (kernel re-check incomplete).")
        text, over = build_feedback(prepared.code, messages, problems, max_errors=self.config.max_errors,
                                    context=self.config.context_lines, cap=self.config.feedback_cap)
        return Verdict(Status.INVALID, 0.0, feedback=text, feedback_over_cap=over, details=details, timings=timings)

    async def _check_one(self, problem: Problem, response: str) -> Verdict:
        t0 = time.monotonic()
        prepared = self.prepare(problem, response)
        if prepared.verdict is not None:
            return prepared.verdict
        result = await self.pool.run(prepared.payload, self.config.timeout_s)
        verdict = self.judge(prepared, result)
        verdict.timings["total"] = time.monotonic() - t0  # type: ignore[index]
        return verdict

    async def _check_many(self, problems: Sequence[Problem], responses: Sequence[str], bar: tqdm | None) -> list[Verdict]:
        async def one(p: Problem, r: str) -> Verdict:
            try:
                v = await self._check_one(p, r)
            except Exception as e:  # noqa: BLE001 - one broken check must not sink the batch
                log.exception("check of %s failed", p.id)
                v = Verdict.infra_error(f"verifier failure: {e}")
            if bar is not None:
                bar.update(1)
            return v

        return list(await asyncio.gather(*(one(p, r) for p, r in zip(problems, responses))))

    def verify(self, problems: Sequence[Problem], responses: Sequence[str], *, progress: bool = False) -> list[Verdict]:
        check_lengths(problems, responses)
        if self._pool is None:
            self.start()
        bar = tqdm(total=len(problems), desc="lean verify", unit="proof", disable=not progress, leave=False)
        try:
            return self._call(self._check_many(problems, responses, bar))
        finally:
            bar.close()

    async def averify(self, problems: Sequence[Problem], responses: Sequence[str]) -> list[Verdict]:
        check_lengths(problems, responses)
        if self._pool is None:
            await asyncio.to_thread(self.start)
        fut = asyncio.run_coroutine_threadsafe(self._check_many(problems, responses, None), self._loop)
        return await asyncio.wrap_future(fut)

    def check(self, problem: Problem, response: str) -> Verdict:
        return self.verify([problem], [response])[0]
