"""The FastAPI app of ``prover serve``: routes, auth, request ids, error shapes.

Routes (docs/serve.md has the JSON):
  POST /v1/verify                       this project's API: rows in, ``prover verify`` result rows out, same order
  POST /api/check, /api/checks          kimina-lean-server's check routes (Lean)
  POST /verify, /one_pass_verify_batch  kimina-lean-server's batch route (Lean)
  GET  /health                          liveness, queue depth, workers (no token needed)
  GET  /metrics                         Prometheus text
"""

from __future__ import annotations

import hmac
import logging
import re
import uuid
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Callable, Mapping

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from prover.serve.config import ServeConfig
from prover.serve.engine import Draining, Engine, Overloaded
from prover.serve.kimina import KiminaTask, backward_result, error_item, kimina_result, task_from_snippet
from prover.serve.metrics import CONTENT_TYPE, Metrics
from prover.serve.models import KiminaCheckRequest, KiminaSnippet, KiminaVerifyRequest, VerifyRequest
from prover.verify_rows import bad_row_result, parse_row, result_row
from prover.text import clean_obj
from prover.verifiers.base import RowError, Verifier
from prover.verifiers.lean.policy import ProofPolicy

log = logging.getLogger("prover.serve")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _field(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if part == "body":
            continue
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<body>"


def _json(status: int, body: dict[str, Any], request: Request, headers: Mapping[str, str] | None = None) -> JSONResponse:
    rid = getattr(request.state, "request_id", "")
    return JSONResponse(clean_obj({**body, "request_id": rid}), status_code=status,
                        headers={**(headers or {}), "X-Request-ID": rid})


def create_app(config: ServeConfig, verifiers: Mapping[str, Verifier] | Callable[[], Mapping[str, Verifier]],
               *, own_verifiers: bool = True) -> FastAPI:
    """The app. ``verifiers``: domain -> verifier, or a factory called at startup; owned ones are closed at shutdown."""
    metrics = Metrics(config.latency_window)
    state: dict[str, Engine] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        built = verifiers() if callable(verifiers) else verifiers
        missing = [d for d in config.domains if d not in built]
        if missing:
            raise RuntimeError(f"no verifier for served domains {missing}")
        engine = Engine({d: built[d] for d in config.domains}, metrics, max_queue_rows=config.max_queue_rows,
                        retry_after_s=config.retry_after_s)
        state["engine"] = engine
        app.state.engine = engine
        log.info("serving %s", ", ".join(config.domains))
        try:
            yield
        finally:
            await engine.drain(config.shutdown_grace_s)
            if own_verifiers:
                engine.close()

    app = FastAPI(title="prover serve", description="Sound verification of Lean proofs, code and math answers",
                  lifespan=lifespan)
    app.state.config = config
    app.state.metrics = metrics

    @app.middleware("http")
    async def request_id(request: Request, call_next):  # type: ignore[no-untyped-def]
        given = request.headers.get("x-request-id", "")
        request.state.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        if request.method == "POST":
            size = request.headers.get("content-length", "")
            if not size.isdigit():
                metrics.rejected.labels("body_size").inc()
                return _json(411, {"error": "a Content-Length header is required"}, request)
            if int(size) > config.max_body_mb * 1024 * 1024:
                metrics.rejected.labels("body_size").inc()
                return _json(413, {"error": f"request body of {int(size)} bytes is over the {config.max_body_mb:g} MiB limit"}, request)
        response = await call_next(request)
        response.headers.setdefault("X-Request-ID", request.state.request_id)
        route = request.scope.get("route")
        metrics.requests.labels(getattr(route, "path", "other"), str(response.status_code)).inc()
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [{"field": _field(tuple(e.get("loc", ()))), "message": str(e.get("msg", ""))} for e in exc.errors()]
        metrics.rejected.labels("invalid").inc()
        text = "; ".join(f"field {p['field']!r}: {p['message']}" for p in problems[:5])
        return _json(422, {"error": f"invalid request: {text}", "fields": problems}, request)

    @app.exception_handler(Overloaded)
    async def overloaded(request: Request, exc: Overloaded) -> JSONResponse:
        return _json(429, {"error": str(exc)}, request, {"Retry-After": str(exc.retry_after_s)})

    @app.exception_handler(Draining)
    async def draining(request: Request, exc: Draining) -> JSONResponse:
        metrics.rejected.labels("draining").inc()
        return _json(503, {"error": str(exc)}, request, {"Retry-After": str(config.retry_after_s)})

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return _json(exc.status_code, {"error": str(exc.detail)}, request, exc.headers)

    def require_token(request: Request) -> None:
        if not config.token:
            return
        auth = request.headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        if not token or not hmac.compare_digest(token.encode(), config.token.encode()):
            metrics.rejected.labels("auth").inc()
            raise HTTPException(401, "missing or wrong bearer token (header `Authorization: Bearer <token>`)",
                                headers={"WWW-Authenticate": "Bearer"})

    def engine() -> Engine:
        return state["engine"]

    def deadline(asked: float | None) -> float:
        return min(asked or config.deadline_s, config.max_deadline_s)

    @app.get("/")
    async def root() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/health")
    async def health(request: Request) -> JSONResponse:
        e = engine()
        body = {"status": "draining" if e.draining else "ok", "domains": list(config.domains),
                "queue_rows": e.pending_rows, "max_queue_rows": config.max_queue_rows, "inflight_requests": e.inflight,
                "workers": dict(e.workers)}
        return _json(503 if e.draining else 200, body, request)

    @app.get("/metrics", dependencies=[Depends(require_token)])
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    @app.post("/v1/verify", dependencies=[Depends(require_token)])
    async def verify(body: VerifyRequest, request: Request) -> JSONResponse:
        if body.domain not in config.domains:
            raise HTTPException(404, f"domain {body.domain!r} is not served here (served: {', '.join(config.domains)})")
        if len(body.rows) > config.max_rows_per_request:
            raise HTTPException(413, f"field 'rows': {len(body.rows)} rows, at most {config.max_rows_per_request} per request")
        results: list[dict[str, Any] | None] = [None] * len(body.rows)
        good: list[tuple[int, Any, str]] = []
        for i, row in enumerate(body.rows):
            try:
                problem, response = parse_row(body.domain, row)
            except (RowError, ValueError) as e:
                msg = f"rows[{i}]: {e}"
                if body.bad_rows == "reject":
                    metrics.rejected.labels("invalid").inc()
                    field = f"rows[{i}].{e.field}" if isinstance(e, RowError) else f"rows[{i}]"
                    return _json(422, {"error": f"invalid request: {msg}", "fields": [{"field": field, "message": str(e)}]}, request)
                results[i] = bad_row_result(i + 1, str(row.get("id", "")), msg)
                continue
            good.append((i, problem, response))
        verdicts = await engine().run(body.domain, [p for _, p, _ in good], [r for _, _, r in good], deadline(body.deadline_s))
        for (i, problem, _), v in zip(good, verdicts):
            results[i] = result_row(problem.id, i + 1, v)
        return _json(200, {"domain": body.domain, "results": results}, request)

    async def run_kimina(items: list[KiminaSnippet]) -> list[dict[str, Any]]:
        if "lean" not in config.domains:
            raise HTTPException(404, "the lean domain is not served here")
        if len(items) > config.max_rows_per_request:
            raise HTTPException(413, f"{len(items)} snippets, at most {config.max_rows_per_request} per request")
        lean = engine().verifiers["lean"]
        lean_cfg = getattr(lean, "config", None)
        policy = ProofPolicy(getattr(lean_cfg, "allowed_axioms", ProofPolicy().allowed_axioms),
                              getattr(lean_cfg, "allow_native_decide", False))
        timeout_s = float(getattr(lean_cfg, "timeout_s", 0.0) or 0.0)
        tasks: list[KiminaTask] = [task_from_snippet(s, policy) for s in items]
        todo = [t for t in tasks if t.problem is not None and t.verdict is None]
        verdicts = await engine().run("lean", [t.problem for t in todo], [t.response for t in todo], deadline(None))
        got = {id(t): v for t, v in zip(todo, verdicts)}
        out = []
        for t in tasks:
            v = t.verdict or got.get(id(t))
            out.append(kimina_result(t, v, timeout_s) if v is not None else error_item(t))
        return out

    @app.post("/api/check", dependencies=[Depends(require_token)])
    @app.post("/api/check/", include_in_schema=False, dependencies=[Depends(require_token)])
    async def kimina_check(body: KiminaCheckRequest, request: Request) -> JSONResponse:
        items = await run_kimina(body.items())
        if body.snippet is not None:
            return _json(200, items[0], request)
        return _json(200, {"results": items}, request)

    @app.post("/api/checks", dependencies=[Depends(require_token)])
    @app.post("/api/checks/", include_in_schema=False, dependencies=[Depends(require_token)])
    async def kimina_checks(body: KiminaCheckRequest, request: Request) -> JSONResponse:
        items = await run_kimina(body.items())
        rid = request.state.request_id
        return JSONResponse(clean_obj(items), headers={"X-Request-ID": rid})

    @app.post("/verify", dependencies=[Depends(require_token)])
    @app.post("/one_pass_verify_batch", dependencies=[Depends(require_token)])
    async def kimina_verify(body: KiminaVerifyRequest, request: Request) -> JSONResponse:
        items = await run_kimina([c.snippet() for c in body.codes])
        return _json(200, {"results": [backward_result(i) for i in items]}, request)

    return app


__all__ = ["create_app"]
