"""Settings of ``prover serve``."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from prover.types import DOMAINS


@dataclass
class ServeConfig:
    """How the verification service listens, admits work and shuts down."""

    host: str = field(default="127.0.0.1", metadata={"help": "address to bind; 0.0.0.0 exposes the service to the network (set a token)"})
    port: int = field(default=8000, metadata={"help": "TCP port; 0 picks a free one (printed at start)"})
    domains: tuple[str, ...] = field(default=DOMAINS, metadata={"help": "domains served: any of lean, code, math"})
    workers: int = field(default=0, metadata={"help": "checkers per domain (Lean workers, code sandboxes); 0 = the domain's default"})
    lean_backend: str = field(default="wasm", metadata={"help": "Lean backend of the served verifier: wasm or native"})
    timeout_s: float = field(default=0.0, metadata={"help": "seconds per check (0 = the domain's default)"})
    max_queue_rows: int = field(default=1024, metadata={"help": "rows admitted (queued + running) at once; past it requests get HTTP 429 + Retry-After"})
    max_rows_per_request: int = field(default=4096, metadata={"help": "largest batch one request may carry (HTTP 413 beyond)"})
    max_body_mb: float = field(default=64.0, metadata={"help": "largest request body, MiB (HTTP 413 beyond; 411 without Content-Length)"})
    deadline_s: float = field(default=600.0, metadata={"help": "default per-request deadline: rows not checked by then get an error verdict"})
    max_deadline_s: float = field(default=3600.0, metadata={"help": "largest deadline a client may ask for"})
    retry_after_s: int = field(default=2, metadata={"help": "seconds a client is told to wait (Retry-After) when the queue is full"})
    shutdown_grace_s: float = field(default=30.0, metadata={"help": "on shutdown, seconds running requests may finish; then they get error verdicts"})
    token: str = field(default="", repr=False, metadata={"help": "bearer token required on every route but /health ('' = none); or env PROVER_SERVE_TOKEN"})
    latency_window: int = field(default=2048, metadata={"help": "recent checks kept for the p50/p99 latency and checks/s gauges"})

    def __post_init__(self) -> None:
        if isinstance(self.domains, str):
            self.domains = tuple(d.strip() for d in self.domains.split(",") if d.strip())
        self.domains = tuple(self.domains)
        bad = [d for d in self.domains if d not in DOMAINS]
        if bad or not self.domains:
            raise ValueError(f"domains must be a non-empty subset of {','.join(DOMAINS)}, got {','.join(self.domains) or '(none)'}; e.g. --domains code,math")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in [0, 65535], got {self.port}; 0 picks a free port")
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0 (0 = the domain's default), got {self.workers}")
        if self.lean_backend not in ("wasm", "native"):
            raise ValueError(f"lean_backend must be 'wasm' or 'native', got {self.lean_backend!r}")
        if self.max_body_mb <= 0:
            raise ValueError(f"max_body_mb must be > 0, got {self.max_body_mb}; e.g. 64")
        if self.timeout_s < 0:
            raise ValueError(f"timeout_s must be >= 0 seconds (0 = the domain's default), got {self.timeout_s}")
        for name in ("max_queue_rows", "max_rows_per_request", "retry_after_s", "latency_window"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 < self.deadline_s <= self.max_deadline_s:
            raise ValueError(f"deadline_s must be in (0, max_deadline_s={self.max_deadline_s}], got {self.deadline_s}; e.g. 600")
        if self.shutdown_grace_s < 0:
            raise ValueError(f"shutdown_grace_s must be >= 0 seconds, got {self.shutdown_grace_s}")
        if not self.token:
            self.token = os.environ.get("PROVER_SERVE_TOKEN", "")
