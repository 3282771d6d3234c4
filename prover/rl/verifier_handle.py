"""The training verifier, started in the background (wasm Lean takes minutes) while the model loads."""

from __future__ import annotations

import threading
import time
from typing import Callable

from prover.rl.config import TrainConfig
from prover.verifiers import get_verifier, verifier_config
from prover.verifiers.base import Verifier


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
