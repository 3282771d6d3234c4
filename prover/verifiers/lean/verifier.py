"""``LeanVerifier``: model responses to formal statements in, sound typed verdicts out."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Sequence

from tqdm import tqdm

from prover.text import clean_text
from prover.types import Problem, Status, Verdict
from prover.verifiers.base import Verifier, check_lengths
from prover.verifiers.lean.config import LeanConfig
from prover.formats.lean import extract_proof, split_header, theorem_name
from prover.verifiers.lean.acceptance import Prepared, accept
from prover.verifiers.lean.policy import ProofPolicy, refused
from prover.verifiers.lean.protocol import CheckRequest
from prover.verifiers.lean.pool import LeanPool, PoolResult
from prover.verifiers.lean.runtime import native_launch, new_workdir, wasm_launch, wasm_modules, wasm_runtime_dir
from prover.verifiers.lean.worker import BadRequest, encode_request

log = logging.getLogger(__name__)

def close_statement(statement: str) -> str:
    """The statement closed with ``sorry`` (for elaborating the reference type)."""
    s = statement.rstrip()
    if s.endswith(":= by") or s.endswith(":="):
        return s + " sorry"
    raise ValueError(f"a formal statement must end in ':= by' or ':=', got ...{s[-30:]!r}")


class LeanVerifier(Verifier):
    """Pooled Lean checking. Owns a background event loop, so it works from sync and async code."""

    domain = "lean"

    def __init__(self, config: LeanConfig | None = None, *, start: bool = True) -> None:
        self.config = config or LeanConfig()
        self._policy = ProofPolicy(self.config.allowed_axioms, self.config.allow_native_decide)
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
                            max_rss_mb=self.config.max_rss_mb, memory_limit_mb=self.config.memory_limit_mb,
                            channel=self.channel)

        self._pool = self._call(make())
        self._call(self._pool.start(wait=wait))

    @property
    def channel(self) -> str:
        """``lean.channel`` with ``auto`` resolved: the pipe for wasm (the worker falls back to
        notify when the host script is unavailable), notify for native (the pipe is not yet run
        natively; ask for it with ``lean.channel: pipe``)."""
        if self.config.channel != "auto":
            return self.config.channel
        return "notify" if self.config.backend == "native" else "auto"

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
        payload = CheckRequest(id=clean_text(str(problem.id)), imports=imports, ref=prefix + ref, code=code, name=name,
                               trusted=len(prefix.encode("utf-8")), goals=self.config.goals).to_json()
        try:
            encode_request(payload)
        except BadRequest as e:
            return Prepared(Verdict.infra_error(f"Lean request for {problem.id}: {e}"), code=code, kind=ext.kind)
        return Prepared(payload=payload, code=code, kind=ext.kind)

    def judge(self, prepared: Prepared, result: PoolResult) -> Verdict:
        """The verdict on the checker's answer: ``acceptance.accept`` under this verifier's settings."""
        return accept(prepared, result, config=self.config, policy=self._policy)

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
