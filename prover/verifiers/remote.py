"""Verifiers that check on other machines: ``prover serve`` instances, or an existing kimina-lean-server.

``RemoteVerifier`` (``backend: remote``) sends batches as ``prover verify``
rows to one or more ``prover serve`` URLs: chunks spread over the URLs by
fewest requests in flight, retried on another URL after a connection error,
a 5xx or a 429/503 (honouring Retry-After), each under a deadline; a chunk
that still fails gets ``error`` verdicts (never a pass). The verdicts are the
server's own, so the server's verifier is the trust root.

``KiminaVerifier`` (``lean.backend: kimina``) lives in ``prover.verifiers.kimina``.
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import httpx

from prover.types import Problem, Status, Verdict
from prover.verifiers import verifier_class
from prover.verifiers.base import Verifier, check_lengths

log = logging.getLogger(__name__)


def parse_urls(urls: str | Sequence[str], name: str, server: str) -> tuple[str, ...]:
    """Base URLs from a list or a comma-separated string, trailing slashes removed; ``ValueError`` naming
    the setting when there are none or one is not http(s)."""
    if isinstance(urls, str):
        urls = [u.strip() for u in urls.split(",") if u.strip()]
    out = tuple(str(u).rstrip("/") for u in urls)
    if not out:
        raise ValueError(f"{name} must name at least one {server} URL, e.g. {name}: [http://10.0.0.5:8000]")
    bad = [u for u in out if not u.startswith(("http://", "https://"))]
    if bad:
        raise ValueError(f"{name} must be http:// or https:// URLs of {server}, got {bad}")
    return out


@dataclass
class RemoteConfig:
    """Where and how to reach ``prover serve``."""

    urls: tuple[str, ...] = field(default=("http://127.0.0.1:8000",), metadata={"help": "base URLs of prover serve instances; load is spread over them"})
    token: str = field(default="", repr=False, metadata={"help": "bearer token ('' = env PROVER_SERVE_TOKEN, or none)"})
    batch_rows: int = field(default=64, metadata={"help": "rows per HTTP request"})
    max_inflight_per_url: int = field(default=2, metadata={"help": "requests in flight per URL at once"})
    deadline_s: float = field(default=900.0, metadata={"help": "server-side deadline per request; rows unfinished by then get error verdicts"})
    connect_timeout_s: float = field(default=10.0, metadata={"help": "seconds to open a connection"})
    retries: int = field(default=3, metadata={"help": "extra attempts per chunk after a connection error, 5xx, 429 or 503"})
    backoff_s: float = field(default=1.0, metadata={"help": "first wait between attempts (doubles, with jitter, capped at 30 s)"})
    max_wait_s: float = field(default=1800.0, metadata={"help": "most seconds one chunk may spend across all its attempts and waits"})

    def __post_init__(self) -> None:
        self.urls = parse_urls(self.urls, "urls", "prover serve")
        for name in ("batch_rows", "max_inflight_per_url"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.retries < 0:
            raise ValueError(f"retries must be >= 0, got {self.retries}")
        for name in ("deadline_s", "connect_timeout_s", "max_wait_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0 seconds, got {getattr(self, name)}")
        if self.backoff_s < 0:
            raise ValueError(f"backoff_s must be >= 0, got {self.backoff_s}")
        if not self.token:
            self.token = os.environ.get("PROVER_SERVE_TOKEN", "")


class _NoRetry(Exception):
    """The server refused the request for a reason another attempt cannot fix (4xx)."""


class _Retry(Exception):
    def __init__(self, message: str, wait_s: float = 0.0) -> None:
        super().__init__(message)
        self.wait_s = wait_s


class UrlSpreader:
    """Picks the URL with the fewest requests in flight (ties: round robin), skipping ones that just failed."""

    def __init__(self, urls: Sequence[str], cooldown_s: float = 5.0) -> None:
        self.urls = list(urls)
        self._inflight = {u: 0 for u in self.urls}
        self._down_until = {u: 0.0 for u in self.urls}
        self._rr = itertools.count()
        self._lock = threading.Lock()
        self.cooldown_s = cooldown_s

    def acquire(self, avoid: str = "") -> str:
        with self._lock:
            now = time.monotonic()
            up = [u for u in self.urls if self._down_until[u] <= now] or list(self.urls)
            if avoid and len(up) > 1:
                up = [u for u in up if u != avoid] or up
            start = next(self._rr)
            order = [up[(start + i) % len(up)] for i in range(len(up))]
            url = min(order, key=lambda u: self._inflight[u])
            self._inflight[url] += 1
            return url

    def release(self, url: str, ok: bool) -> None:
        with self._lock:
            self._inflight[url] -= 1
            if not ok:
                self._down_until[url] = time.monotonic() + self.cooldown_s


def retry_after(response: httpx.Response, default: float) -> float:
    try:
        return max(0.0, float(response.headers.get("Retry-After", default)))
    except ValueError:
        return default


def post_with_retries(client: httpx.Client, spreader: UrlSpreader, path: str, payload: Any, *, retries: int, backoff_s: float,
                      max_wait_s: float, read_timeout_s: float, headers: Mapping[str, str],
                      parse: Callable[[httpx.Response], Any]) -> Any:
    """POST ``payload`` to ``path`` on some URL until ``parse`` accepts an answer; raises ``RuntimeError`` when out of tries."""
    deadline = time.monotonic() + max_wait_s
    last, avoid = "no attempt made", ""
    for attempt in range(retries + 1):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        url = spreader.acquire(avoid)
        ok = False
        wait = 0.0
        try:
            r = client.post(url + path, json=payload, headers=dict(headers),
                            timeout=httpx.Timeout(min(read_timeout_s, left), connect=min(10.0, left)))
            if r.status_code in (429, 503):
                ok = r.status_code == 429  # a full queue is healthy; a draining server is going away
                raise _Retry(f"{url}: HTTP {r.status_code}: {_error_text(r)}", retry_after(r, backoff_s))
            if r.status_code >= 500:
                raise _Retry(f"{url}: HTTP {r.status_code}: {_error_text(r)}")
            if r.status_code >= 400:
                ok = True
                raise _NoRetry(f"{url}: HTTP {r.status_code}: {_error_text(r)}")
            result = parse(r)
            ok = True
            return result
        except _NoRetry as e:
            raise RuntimeError(str(e)) from None
        except _Retry as e:
            last, wait = str(e), e.wait_s
        except (httpx.HTTPError, ValueError) as e:
            last = f"{url}: {type(e).__name__}: {e}"
        finally:
            spreader.release(url, ok)
        avoid = url
        if attempt < retries:
            pause = max(wait, min(30.0, backoff_s * (2 ** attempt)) * (0.5 + random.random() / 2))
            time.sleep(max(0.0, min(pause, deadline - time.monotonic())))
        log.warning("attempt %d/%d failed: %s", attempt + 1, retries + 1, last)
    raise RuntimeError(f"gave up after {retries + 1} attempts: {last}")


def _error_text(r: httpx.Response) -> str:
    try:
        body = r.json()
        return str(body.get("error") or body.get("detail") or body)[:500]
    except ValueError:
        return r.text[:500]


def error_verdict(message: str, reason: str = "remote") -> Verdict:
    return Verdict(Status.ERROR, 0.0, feedback=message, details={"reason": reason}, timings={"total": 0.0})


class RemoteVerifier(Verifier):
    """A ``Verifier`` whose checks run on ``prover serve`` instances (see the module doc)."""

    def __init__(self, domain: str, config: RemoteConfig | None = None) -> None:
        verifier_class(domain)  # validates the domain
        self.domain = domain
        self.config = config or RemoteConfig()
        self.workers = len(self.config.urls) * self.config.max_inflight_per_url
        self._spreader = UrlSpreader(self.config.urls)
        self._client = httpx.Client(limits=httpx.Limits(max_connections=self.workers + 4))
        self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix=f"remote-{domain}")
        self._closed = False

    @classmethod
    def problem_from_row(cls, row: Mapping[str, Any]) -> Problem:
        """Rows read as the domain's own verifier reads them (``remote_class(domain)`` binds the domain)."""
        if not cls.domain:
            raise TypeError("RemoteVerifier.problem_from_row needs a domain: use remote_class(domain)")
        from prover.data import problem_from_row

        return problem_from_row(row, cls.domain)

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.config.token}"} if self.config.token else {}

    def _chunk(self, problems: Sequence[Problem], responses: Sequence[str]) -> list[Verdict]:
        from prover.verify_rows import problem_to_row, verdict_from_result

        rows = [problem_to_row(p, r) for p, r in zip(problems, responses)]
        payload = {"domain": self.domain, "rows": rows, "deadline_s": self.config.deadline_s, "bad_rows": "report"}

        def parse(r: httpx.Response) -> list[Verdict]:
            results = r.json()["results"]
            if len(results) != len(rows) or [str(x.get("id")) for x in results] != [str(row["id"]) for row in rows]:
                raise ValueError(f"the server answered {len(results)} rows for {len(rows)}, or out of order")
            return [verdict_from_result(x) for x in results]

        try:
            return post_with_retries(self._client, self._spreader, "/v1/verify", payload, retries=self.config.retries,
                                     backoff_s=self.config.backoff_s, max_wait_s=self.config.max_wait_s,
                                     read_timeout_s=self.config.deadline_s + 60, headers=self._headers(), parse=parse)
        except RuntimeError as e:
            return [error_verdict(f"remote {self.domain} verifier unavailable: {e}") for _ in rows]

    def verify(self, problems: Sequence[Problem], responses: Sequence[str], *, progress: bool = False) -> list[Verdict]:
        check_lengths(problems, responses)
        if self._closed:
            raise RuntimeError("RemoteVerifier is closed")
        n, size = len(problems), self.config.batch_rows
        futures = [self._executor.submit(self._chunk, problems[i:i + size], responses[i:i + size]) for i in range(0, n, size)]
        out: list[Verdict] = []
        for f in futures:
            out.extend(f.result())
        return out

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._executor.shutdown(wait=True)
        self._client.close()


_CLASSES: dict[str, type[RemoteVerifier]] = {}


def remote_class(domain: str) -> type[RemoteVerifier]:
    """``RemoteVerifier`` bound to one domain (so ``problem_from_row`` works on the class)."""
    verifier_class(domain)
    if domain not in _CLASSES:
        _CLASSES[domain] = type(f"Remote{domain.title()}Verifier", (RemoteVerifier,), {"domain": domain})
    return _CLASSES[domain]


def make_remote_verifier(domain: str, config: RemoteConfig | Mapping[str, Any] | None = None) -> RemoteVerifier:
    """``backend: remote`` for any domain: ``config`` is a ``RemoteConfig`` or its fields as a mapping (YAML)."""
    if isinstance(config, Mapping):
        config = RemoteConfig(**dict(config))
    return remote_class(domain)(domain, config)


__all__ = ["RemoteConfig", "RemoteVerifier", "UrlSpreader", "make_remote_verifier", "post_with_retries", "remote_class"]
