"""Running the service: ``prover serve`` (foreground, signals) and ``ServeThread`` (in-process, for tests and benches).

Shutdown order: on SIGINT/SIGTERM (or ``ServeThread.stop``) the engine stops
admitting work (HTTP 503 + Retry-After) and gives running requests
``shutdown_grace_s`` to finish, after which they are answered with error
verdicts; only then does uvicorn close the listeners and connections, and the
verifiers (with their worker processes) are closed last.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import uvicorn

from prover.serve.app import create_app
from prover.serve.config import ServeConfig
from prover.verifiers.base import Verifier

log = logging.getLogger("prover.serve")


def domain_config(domain: str, config: ServeConfig) -> Any:
    """The verifier config ``prover verify`` would build for these options."""
    from prover.verify_batch import verifier_config  # the one place `prover verify` maps its options to configs

    ns = argparse.Namespace(backend=config.lean_backend, workers=config.workers, timeout=config.timeout_s, feedback_cap=0)
    return verifier_config(domain, ns)


def build_verifiers(config: ServeConfig) -> dict[str, Verifier]:
    """One verifier per served domain (the Lean one starts its workers here: minutes for wasm)."""
    from prover.verifiers import get_verifier

    built: dict[str, Verifier] = {}
    try:
        for domain in config.domains:
            log.info("starting the %s verifier", domain)
            built[domain] = get_verifier(domain, domain_config(domain, config))
    except BaseException:
        for v in built.values():
            v.close()
        raise
    return built


class _Server(uvicorn.Server):
    """uvicorn, with the engine drained before connections are closed."""

    def __init__(self, config: uvicorn.Config, grace_s: float, app: Any) -> None:
        super().__init__(config)
        self.grace_s = grace_s
        self.app = app

    async def shutdown(self, sockets: Any = None) -> None:
        engine = getattr(self.app.state, "engine", None)
        if engine is not None:
            await engine.drain(self.grace_s)
        await super().shutdown(sockets)


def _uvicorn(config: ServeConfig, verifiers: Mapping[str, Verifier] | Callable[[], Mapping[str, Verifier]],
             own_verifiers: bool, log_level: str) -> _Server:
    app = create_app(config, verifiers, own_verifiers=own_verifiers)
    ucfg = uvicorn.Config(app, host=config.host, port=config.port, log_level=log_level, lifespan="on",
                          timeout_graceful_shutdown=int(config.shutdown_grace_s) + 15, access_log=False)
    return _Server(ucfg, config.shutdown_grace_s, app)


class ServeThread:
    """The service on a background thread of this process: ``start()``, ``url``, ``stop()``."""

    def __init__(self, config: ServeConfig, verifiers: Mapping[str, Verifier] | Callable[[], Mapping[str, Verifier]] | None = None,
                 *, own_verifiers: bool = True, log_level: str = "warning") -> None:
        self.config = config
        self.server = _uvicorn(config, verifiers if verifiers is not None else (lambda: build_verifiers(config)),
                               own_verifiers, log_level)
        self._thread = threading.Thread(target=self.server.run, name="prover-serve", daemon=True)
        self.port = 0

    def start(self, timeout_s: float = 1200.0) -> "ServeThread":
        """Start serving (idempotent); returns once the verifiers are up and the port is bound."""
        if self._thread.is_alive() or self.port:
            return self
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self._thread.is_alive():
                raise RuntimeError("prover serve failed to start (see the log above)")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"prover serve did not start within {timeout_s:g}s")
            time.sleep(0.05)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    def stop(self, timeout_s: float | None = None) -> None:
        """Drain (grace period), close connections and verifiers; bounded."""
        self.server.should_exit = True
        self._thread.join(timeout_s if timeout_s is not None else self.config.shutdown_grace_s + 60)

    def __enter__(self) -> "ServeThread":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of ``prover serve`` (the CLI adds them to its ``serve`` subparser)."""
    d = ServeConfig()
    p.add_argument("--host", default=d.host, help="address to bind (default 127.0.0.1; set a token before exposing it)")
    p.add_argument("--port", type=int, default=d.port, help="TCP port (0 = a free one)")
    p.add_argument("--domains", default=",".join(d.domains), help="comma-separated domains served: lean,code,math")
    p.add_argument("--workers", type=int, default=0, help="checkers per domain (default: the domain's default)")
    p.add_argument("--timeout", type=float, default=0.0, help="seconds per check (default: the domain's default)")
    p.add_argument("--backend", choices=["wasm", "native"], default=d.lean_backend, help="Lean backend")
    p.add_argument("--max-queue-rows", type=int, default=d.max_queue_rows, help="rows admitted at once; beyond: HTTP 429 + Retry-After")
    p.add_argument("--max-rows-per-request", type=int, default=d.max_rows_per_request, help="largest batch per request")
    p.add_argument("--deadline", type=float, default=d.deadline_s, help="default per-request deadline in seconds")
    p.add_argument("--shutdown-grace", type=float, default=d.shutdown_grace_s, help="seconds running requests get on shutdown")
    p.add_argument("--token-file", default="", help="file holding the bearer token (or set PROVER_SERVE_TOKEN)")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return p


def config_from_args(args: argparse.Namespace) -> ServeConfig:
    token = Path(args.token_file).read_text(encoding="utf-8").strip() if args.token_file else ""
    return ServeConfig(host=args.host, port=args.port, domains=args.domains, workers=args.workers, timeout_s=args.timeout,
                       lean_backend=args.backend, max_queue_rows=args.max_queue_rows,
                       max_rows_per_request=args.max_rows_per_request, deadline_s=args.deadline,
                       shutdown_grace_s=args.shutdown_grace, token=token)


def run(args: argparse.Namespace) -> int:
    """``prover serve`` with parsed arguments: serves until SIGINT/SIGTERM."""
    try:
        config = config_from_args(args)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if config.host not in ("127.0.0.1", "localhost", "::1") and not config.token:
        log.warning("serving on %s without a token: anyone who reaches this port can use the verifiers", config.host)
    server = _uvicorn(config, lambda: build_verifiers(config), True, args.log_level)
    server.run()
    return 0 if server.started else 1


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m prover.serve [options]`` (the same as ``prover serve``)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = add_arguments(argparse.ArgumentParser(prog="prover serve", description=__doc__,
                                                   formatter_class=argparse.RawDescriptionHelpFormatter))
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
