"""The training verifier, started in the background (wasm Lean takes minutes) while the model loads."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any, Callable

from prover.rl.config import TrainConfig
from prover.verifiers import get_verifier, verifier_config
from prover.verifiers.base import Verifier


class NodeVerifier:
    """One verifier per node in multi-process training (``accelerate launch``).

    The node's first process builds the verifier and serves it on loopback with
    ``prover serve`` (``ServeThread``); every process of the node, that one
    included, checks through it as a ``remote`` verifier. So 8 ranks share one
    pool of ``lean.workers`` checkers instead of starting 8 pools. The URL is
    handed over through a file in the run directory, named after the host, and
    read after a barrier. Not used when the config already sends verification
    elsewhere (``scale_out``) or with a single process.
    """

    def __init__(self, cfg: TrainConfig, state: Any, run_dir: Path, say: Callable[[str], None] = print) -> None:
        from prover.verifiers.remote import make_remote_verifier

        self.serve: Any = None
        marker = run_dir / f".verifier-{socket.gethostname()}.url"
        if state.is_local_main_process:
            from prover.serve import ServeConfig, ServeThread

            local = make_verifier(cfg)
            say(f"starting the node's {cfg.domain} verifier for {state.num_processes} processes (prover serve on loopback) ...")
            timeout = float(getattr(getattr(local, "config", None), "timeout_s", 60.0) or 60.0)
            self.serve = ServeThread(ServeConfig(port=0, domains=(cfg.domain,), deadline_s=max(600.0, 20 * timeout)),
                                     {cfg.domain: local}).start()
            tmp = marker.with_suffix(".tmp")
            tmp.write_text(self.serve.url, encoding="utf-8")
            tmp.replace(marker)
        state.wait_for_everyone()
        url = marker.read_text(encoding="utf-8").strip()
        self.verifier = make_remote_verifier(cfg.domain, {"urls": [url]})

    def close(self) -> None:
        self.verifier.close()
        if self.serve is not None:
            self.serve.stop()
            self.serve = None


def needs_node_verifier(cfg: TrainConfig, num_processes: int) -> bool:
    """Several processes and verification in this process's config: share one verifier per node."""
    config = cfg.lean if cfg.domain == "lean" else verifier_config(cfg.domain, cfg.verifier)
    return num_processes > 1 and not getattr(config, "scale_out", None)


def make_verifier(cfg: TrainConfig) -> Verifier:
    """The domain's verifier from the run's settings (``lean:`` section or ``verifier:`` options), not started."""
    config = cfg.lean if cfg.domain == "lean" else verifier_config(cfg.domain, cfg.verifier)
    return get_verifier(cfg.domain, config, start=False)


class VerifierHandle:
    """A verifier started in a background thread (wasm Lean needs minutes); ``get()`` waits, with progress."""

    def __init__(self, verifier: Verifier, *, owned: bool, say: Callable[[str], None] = print) -> None:
        self.verifier = verifier
        self.owned = owned
        self.say = say
        self.error: BaseException | None = None
        self.started_at = time.monotonic()
        self._ready = threading.Event()
        if callable(getattr(verifier, "start", None)):  # start() is idempotent: a running verifier returns at once
            if owned:
                slow = verifier.domain == "lean" and getattr(getattr(verifier, "config", None), "backend", "") == "wasm"
                say(f"starting the {verifier.domain} verifier in the background"
                    + (" (wasm Lean: about 3-4 minutes; the model loads meanwhile)" if slow else "") + " ...")
            threading.Thread(target=self._start, name="verifier-start", daemon=True).start()
        else:
            self._ready.set()

    def _start(self) -> None:
        try:
            self.verifier.start()  # type: ignore[attr-defined]
            if self.owned:
                self.say(f"{self.verifier.domain} verifier ready after {time.monotonic() - self.started_at:.0f}s")
        except BaseException as e:  # noqa: BLE001 - re-raised in get()
            self.error = e
        finally:
            self._ready.set()

    def get(self) -> Verifier:
        """The started verifier; while it is still starting, says so every 30 seconds."""
        while not self._ready.wait(30.0):
            self.say(f"waiting for the {self.verifier.domain} verifier to start "
                     f"({time.monotonic() - self.started_at:.0f}s since launch) ...")
        if self.error is not None:
            raise RuntimeError(f"the {self.verifier.domain} verifier failed to start: {self.error}") from self.error
        return self.verifier

    def close(self) -> None:
        if self.owned:
            self._ready.wait(60.0)
            self.verifier.close()


__all__ = ["VerifierHandle", "make_verifier"]
