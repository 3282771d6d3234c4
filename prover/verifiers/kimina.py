"""``lean.backend: kimina``: Lean checks on an existing kimina-lean-server, under this project's verdict policy.

kimina-lean-server runs a Lean REPL and answers with Lean's messages; it does
not know statements, axioms or refusals. This backend enforces them by what it
sends and how it reads the answer:

- before sending: the same extraction (``extract_proof``) and refusal policy
  (``refused``) as the in-process verifier, plus refusals needed because the
  model's code shares one file with our checks: attributes outside a small
  allowlist (``@[command_elab]`` and friends could rewrite our checks),
  ``variable``/``include``/``omit``/``section``/``namespace``/``end`` (they change
  what our check theorem means), ``set_option`` outside an allowlist, ``#exit``;
- the file sent is: header imports, the header's other lines, the reference
  statement under a fresh random name ``prover_ref_<nonce>`` closed with
  ``sorry`` (elaborated before any model code, so the model cannot change its
  meaning), the model's code, then
  ``theorem prover_chk_<nonce> : type_of% @prover_ref_<nonce> := @<name>`` and
  ``#print axioms prover_chk_<nonce>``;
- valid only when: Lean reports no error anywhere, no ``sorry`` warning outside
  the reference line, the axiom report for ``prover_chk_<nonce>`` is present
  (the model cannot print the nonce: it is drawn after the response exists),
  does not contain ``sorryAx`` (a proof that used the reference through a
  search tactic is caught here) and names only allowed axioms.

So a valid verdict means: the server's Lean kernel accepted a term of the
reference type, as elaborated from the reference header alone, using only the
allowed axioms. What this cannot give, unlike the in-process verifier: the
statement is matched up to definitional equality, not syntactic identity of
types; there is no re-check in a fresh environment, so any Lean feature our
refusals miss runs inside the server's REPL before our checks; the answer is
trusted as the server sends it (no per-request secret: a compromised server
can forge anything; use HTTPS and an API key); and the Lean/Mathlib version
are the server's. Feedback carries Lean's messages but no goal states.
"""

from __future__ import annotations

import re
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import httpx

from prover.types import Problem, Status, Verdict
from prover.verifiers.base import Verifier, check_lengths
from prover.formats.lean import extract_proof, split_header, theorem_name
from prover.verifiers.lean.acceptance import SORRY_WARNING
from prover.verifiers.lean.feedback import build_feedback
from prover.formats.lean import strip_comments_and_strings
from prover.verifiers.lean.policy import STANDARD_AXIOMS, ProofPolicy, disallowed_axioms, refused
from prover.verifiers.remote import UrlSpreader, error_verdict, parse_urls, post_with_retries

ALLOWED_ATTRIBUTES = frozenset({"simp", "reducible", "irreducible", "semireducible", "inline", "ext", "norm_cast",
                                "push_cast", "instance", "match_pattern", "symm", "refl", "trans", "congr", "gcongr",
                                "positivity", "elab_as_elim", "induction_eliminator", "cases_eliminator", "specialize"})
ALLOWED_OPTIONS = frozenset({"maxHeartbeats", "maxRecDepth", "synthInstance.maxHeartbeats", "synthInstance.maxSize",
                             "autoImplicit", "relaxedAutoImplicit"})
_SCOPE = re.compile(r"(?m)^\s*(variable|variables|include|omit|section|namespace|end|#exit)(?![\w'!?])")
_ATTR_BLOCK = re.compile(r"(?:@\[|\battribute\s*\[)([^\]]*)\]")
_OPTION = re.compile(r"(?<![\w'.])set_option\s+([\w.]+)")
_AXIOMS = re.compile(r"depends on axioms:\s*\[([^\]]*)\]")


@dataclass
class KiminaConfig:
    """Where the kimina-lean-server runs and the verdict policy applied to its answers."""

    urls: tuple[str, ...] = field(default=("http://127.0.0.1:8000",), metadata={"help": "kimina-lean-server base URLs; load is spread over them"})
    api_key: str = field(default="", repr=False, metadata={"help": "its API key ('' = env LEAN_SERVER_API_KEY, or none)"})
    timeout_s: float = field(default=60.0, metadata={"help": "Lean time per proof, sent to the server (its `timeout`)"})
    batch_size: int = field(default=8, metadata={"help": "proofs per /verify request"})
    max_inflight_per_url: int = field(default=2, metadata={"help": "requests in flight per URL"})
    retries: int = field(default=3, metadata={"help": "extra attempts per request after a connection error, 5xx or 429"})
    backoff_s: float = field(default=1.0, metadata={"help": "first wait between attempts (doubles)"})
    max_wait_s: float = field(default=1800.0, metadata={"help": "most seconds one request may spend across attempts"})
    allowed_axioms: tuple[str, ...] = field(default=STANDARD_AXIOMS, metadata={"help": "axioms a valid proof may depend on"})
    allow_native_decide: bool = field(default=False, metadata={"help": "accept native_decide (adds Lean.ofReduceBool)"})
    feedback_cap: int = field(default=3000, metadata={"help": "characters of feedback kept"})
    max_errors: int = field(default=3, metadata={"help": "errors shown in feedback"})
    context_lines: int = field(default=2, metadata={"help": "code lines shown around an error line"})

    def __post_init__(self) -> None:
        import os

        self.urls = parse_urls(self.urls, "lean.kimina.urls", "kimina-lean-server")
        if self.timeout_s <= 0 or self.max_wait_s <= 0 or self.backoff_s < 0:
            raise ValueError("timeout_s and max_wait_s must be > 0 and backoff_s >= 0 seconds")
        if self.batch_size < 1 or self.max_inflight_per_url < 1 or self.retries < 0:
            raise ValueError("batch_size and max_inflight_per_url must be >= 1, retries >= 0")
        if self.feedback_cap < 200 or self.max_errors < 1 or self.context_lines < 0:
            raise ValueError("feedback_cap must be >= 200, max_errors >= 1, context_lines >= 0")
        self.allowed_axioms = tuple(self.allowed_axioms)
        if self.allow_native_decide and "Lean.ofReduceBool" not in self.allowed_axioms:
            self.allowed_axioms = (*self.allowed_axioms, "Lean.ofReduceBool")
        if not self.api_key:
            self.api_key = os.environ.get("LEAN_SERVER_API_KEY", "")


def kimina_refused(code: str) -> str | None:
    """Refusals needed only because the model's code shares a file with our checks."""
    clean = strip_comments_and_strings(code)
    m = _SCOPE.search(clean)
    if m:
        return (f"Refused before checking: `{m.group(1)}` is not allowed on the kimina backend (it changes the scope in "
                "which the statement is checked). Write helper lemmas and the theorem at top level.")
    for block in _ATTR_BLOCK.findall(clean):
        for entry in block.split(","):
            words = [w for w in re.split(r"\s+", entry.strip()) if w and w not in ("local", "scoped", "-")]
            name = words[0].lstrip("-") if words else ""
            if name and name not in ALLOWED_ATTRIBUTES:
                return f"Refused before checking: the attribute `{name}` is not allowed on the kimina backend."
    for option in _OPTION.findall(clean):
        if option not in ALLOWED_OPTIONS and not option.startswith("linter."):
            return f"Refused before checking: `set_option {option}` is not allowed on the kimina backend."
    return None


@dataclass(frozen=True)
class Layout:
    """Where each part of the sent file lies (1-based file lines)."""

    nonce: str
    name: str
    header_lines: int  # import lines at the top (kimina strips them before its REPL)
    rest: str
    code: str
    rest_start: int
    ref_start: int
    ref_end: int
    code_start: int
    chk_line: int
    audit_line: int

    def shown(self) -> str:
        """The code the feedback quotes: the header's other lines, then the model's code (as in-process)."""
        return f"{self.rest}\n{self.code}" if self.rest else self.code

    def shown_line(self, file_line: int) -> int | None:
        if self.rest and self.rest_start <= file_line < self.ref_start:
            return file_line - self.rest_start + 1
        if self.code_start <= file_line < self.chk_line:
            return file_line - self.code_start + 1 + (len(self.rest.splitlines()) if self.rest else 0)
        return None


def build_file(problem: Problem, code: str, nonce: str) -> tuple[str, Layout]:
    """The Lean file sent to the server for a model's ``code`` (see the module doc)."""
    imports, rest = split_header(problem.header)
    name = theorem_name(problem.statement)
    ref_name = f"prover_ref_{nonce}"
    ref, n = re.subn(rf"\b(theorem|lemma)(\s+){re.escape(name)}(?=[\s(:{{\[⦃]|$)", rf"\g<1>\g<2>{ref_name}", problem.statement, count=1)
    if not n:
        raise ValueError(f"cannot rename the theorem `{name}` of the statement")
    ref = ref.rstrip() + " sorry"
    parts: list[str] = []
    imp = imports.splitlines() if imports else []
    parts.extend(imp)
    rest_start = len(parts) + 1
    if rest:
        parts.extend(rest.splitlines())
    ref_start = len(parts) + 1
    parts.extend(ref.splitlines())
    ref_end = len(parts)
    code_start = len(parts) + 1
    parts.extend(code.splitlines())
    parts.append(f"theorem prover_chk_{nonce} : type_of% @{ref_name} := @{name}")
    chk_line = len(parts)
    parts.append(f"#print axioms prover_chk_{nonce}")
    return "\n".join(parts) + "\n", Layout(nonce, name, len(imp), rest, code, rest_start, ref_start, ref_end, code_start,
                                           chk_line, len(parts))


def judge(answer: Mapping[str, Any], layout: Layout, policy: ProofPolicy, config: KiminaConfig, kind: str) -> Verdict:
    """This project's verdict from one kimina ``/verify`` result item."""
    t = float((answer.get("response") or {}).get("time") or 0.0)
    timings = {"total": t, "lean": t}
    base: dict[str, Any] = {"extraction": kind, "code": layout.shown(), "backend": "kimina"}
    err = answer.get("error")
    response = answer.get("response")
    if err or not isinstance(response, Mapping):
        text = str(err or "no response")
        if "timed out" in text or "timeout" in text.lower():
            return Verdict(Status.TIMEOUT, 0.0, feedback=f"Checking the proof took longer than {config.timeout_s:g}s and was "
                           "stopped. Make the proof cheaper (avoid heavy automation or large decide).", details=base, timings=timings)
        return Verdict(Status.ERROR, 0.0, feedback=f"kimina-lean-server error: {text[:1000]}", details=base, timings=timings)
    messages = [m for m in (response.get("messages") or []) if isinstance(m, Mapping)]
    tag = f"prover_chk_{layout.nonce}"
    audits = [m for m in messages if tag in str(m.get("data", "")) and "axioms" in str(m.get("data", ""))
              and m.get("severity") == "info"]
    offset = layout.header_lines
    if audits and _line(audits[-1]) == layout.audit_line:
        offset = 0  # this server reports file lines, not body lines

    def file_line(m: Mapping[str, Any]) -> int:
        return _line(m) + offset

    mapped, ours, ref_errors, audit_errors = [], [], [], []
    for m in messages:
        fl = file_line(m)
        sev = str(m.get("severity", "info"))
        if layout.ref_start <= fl <= layout.ref_end:
            if sev == "error":
                ref_errors.append(str(m.get("data", "")))
            continue
        line = layout.shown_line(fl)
        if line is None:
            if sev == "error" and fl == layout.audit_line:
                audit_errors.append(str(m.get("data", "")))
            elif sev == "error":
                ours.append(str(m.get("data", "")))
            continue
        pos, end = m.get("pos") or {}, m.get("endPos") or {}
        end_line = layout.shown_line(_line({"pos": end}) + offset) if end else None
        mapped.append({"severity": sev, "line": line, "col": int(pos.get("column", 0) or 0), "end_line": end_line or line,
                       "end_col": int(end.get("column", 0) or 0), "text": str(m.get("data", "")), "goals": ""})
    if ref_errors:
        return Verdict(Status.ERROR, 0.0, feedback=f"The reference statement could not be checked: {ref_errors[0][:500]}",
                       details={**base, "messages": mapped}, timings=timings)
    axioms: list[str] | None = None
    if audits:
        data = str(audits[-1].get("data", ""))
        found = _AXIOMS.search(data)
        if found:
            axioms = sorted(a.strip() for a in found.group(1).split(",") if a.strip())
        elif "does not depend on any axioms" in data:
            axioms = []
    errors = [m for m in mapped if m["severity"] == "error"]
    problems: list[str] = []
    sorry = any(m["severity"] == "warning" and SORRY_WARNING.search(m["text"]) for m in mapped) or "sorryAx" in (axioms or [])
    if sorry:
        problems.append("The proof uses `sorry` (or an error left a hole), so it proves nothing. Replace every `sorry`.")
    if ours and not errors:
        if any("unknown" in e for e in ours):
            problems.append(f"The theorem `{layout.name}` is not declared by the proof. Keep the theorem's name and statement exactly as given.")
        else:
            problems.append(f"The theorem `{layout.name}` was stated differently from the given statement. "
                            "Prove exactly the statement as given; do not change it.")
    bad = [a for a in disallowed_axioms(axioms or [], policy) if a != "sorryAx"]
    if bad:
        problems.append(f"The proof depends on axioms beyond {', '.join(policy.allowed_axioms)}: {', '.join(bad)}.")
    details = {**base, "messages": mapped, "axioms": axioms or [], "type_matches": not ours, "check_errors": ours[:5]}
    if not errors and not problems and not ours:
        if audit_errors or axioms is None:
            why = f"it failed: {audit_errors[0][:300]}" if audit_errors else "the answer is incomplete"
            return Verdict(Status.ERROR, 0.0, feedback=f"kimina-lean-server did not report the axiom check of the proof ({why}), "
                           "so no verdict can be given.", details={**details, "reason": "audit_missing"}, timings=timings)
        return Verdict(Status.VALID, 1.0, details=details, timings=timings)
    text, over = build_feedback(layout.shown(), mapped, problems, max_errors=config.max_errors,
                                context=config.context_lines, cap=config.feedback_cap)
    return Verdict(Status.INVALID, 0.0, feedback=text, feedback_over_cap=over, details=details, timings=timings)


def _line(m: Mapping[str, Any]) -> int:
    pos = m.get("pos") or {}
    try:
        return int(pos.get("line", 0))
    except (TypeError, ValueError):
        return 0


class KiminaVerifier(Verifier):
    """Lean checks on kimina-lean-server (see the module doc for what is and is not guaranteed)."""

    domain = "lean"

    def __init__(self, config: KiminaConfig | None = None) -> None:
        self.config = config or KiminaConfig()
        self.policy = ProofPolicy(self.config.allowed_axioms, self.config.allow_native_decide)
        self.workers = len(self.config.urls) * self.config.max_inflight_per_url
        self._spreader = UrlSpreader(self.config.urls)
        self._client = httpx.Client(limits=httpx.Limits(max_connections=self.workers + 4))
        self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="kimina")
        self._closed = False

    @classmethod
    def problem_from_row(cls, row: Mapping[str, Any]) -> Problem:
        from prover.verifiers.lean import LeanVerifier

        return LeanVerifier.problem_from_row(row)

    def prepare(self, problem: Problem, response: str) -> tuple[Verdict | None, str, Layout | None, str]:
        """(verdict reached before Lean, file, layout, extraction kind)."""
        imports, _ = split_header(problem.header)
        ext = extract_proof(response, problem.statement, imports)
        if ext.code is None:
            return Verdict(Status.INVALID, 0.0, feedback=ext.reason, details={"extraction": ext.kind}, timings={"total": 0.0}), "", None, ext.kind
        why = refused(ext.code, self.policy) or kimina_refused(ext.code)
        if why:
            return (Verdict(Status.INVALID, 0.0, feedback=why, details={"extraction": ext.kind, "refused": True, "code": ext.code},
                            timings={"total": 0.0}), "", None, ext.kind)
        try:
            text, layout = build_file(problem, ext.code, secrets.token_hex(8))
        except ValueError as e:
            return Verdict.infra_error(f"bad formal statement for {problem.id}: {e}"), "", None, ext.kind
        return None, text, layout, ext.kind

    def _send(self, items: list[tuple[int, str, Layout, str]]) -> list[tuple[int, Verdict]]:
        payload = {"codes": [{"custom_id": f"{i}-{layout.nonce}", "proof": text} for i, text, layout, _ in items],
                   "timeout": int(max(1, round(self.config.timeout_s))), "disable_cache": False}
        headers = {"Authorization": f"Bearer {self.config.api_key}"} if self.config.api_key else {}

        def parse(r: httpx.Response) -> dict[str, Mapping[str, Any]]:
            results = r.json()["results"]
            return {str(x["custom_id"]): x for x in results if isinstance(x, Mapping) and "custom_id" in x}

        try:
            got = post_with_retries(self._client, self._spreader, "/verify", payload, retries=self.config.retries,
                                    backoff_s=self.config.backoff_s, max_wait_s=self.config.max_wait_s,
                                    read_timeout_s=self.config.timeout_s * len(items) + 120, headers=headers, parse=parse)
        except RuntimeError as e:
            return [(i, error_verdict(f"kimina-lean-server unavailable: {e}", "kimina")) for i, _, _, _ in items]
        out = []
        for i, _, layout, kind in items:
            answer = got.get(f"{i}-{layout.nonce}")
            out.append((i, judge(answer, layout, self.policy, self.config, kind) if answer is not None
                        else error_verdict("kimina-lean-server gave no result for this proof", "kimina")))
        return out

    def verify(self, problems: Sequence[Problem], responses: Sequence[str], *, progress: bool = False) -> list[Verdict]:
        check_lengths(problems, responses)
        if self._closed:
            raise RuntimeError("KiminaVerifier is closed")
        out: list[Verdict | None] = [None] * len(problems)
        todo: list[tuple[int, str, Layout, str]] = []
        for i, (p, r) in enumerate(zip(problems, responses)):
            verdict, text, layout, kind = self.prepare(p, r)
            if verdict is not None or layout is None:
                out[i] = verdict or Verdict.infra_error("internal: no file built")
            else:
                todo.append((i, text, layout, kind))
        size = self.config.batch_size
        for fut in [self._executor.submit(self._send, todo[k:k + size]) for k in range(0, len(todo), size)]:
            for i, v in fut.result():
                out[i] = v
        return [v if v is not None else Verdict.infra_error("internal: no verdict") for v in out]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._executor.shutdown(wait=True)
        self._client.close()


def make_kimina_verifier(config: KiminaConfig | Mapping[str, Any] | None = None) -> KiminaVerifier:
    """``lean.backend: kimina``: ``config`` is a ``KiminaConfig`` or its fields as a mapping (YAML)."""
    if isinstance(config, Mapping):
        config = KiminaConfig(**dict(config))
    return KiminaVerifier(config)


__all__ = ["KiminaConfig", "KiminaVerifier", "build_file", "judge", "kimina_refused", "make_kimina_verifier"]
