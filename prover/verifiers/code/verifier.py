"""``CodeVerifier``: Python solutions checked against HumanEval/MBPP-style tests in a sandbox."""

from __future__ import annotations

import ast
import builtins
import dataclasses
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from prover.verifiers.scale import check_scale_out
from prover.text import clean_obj, clean_text
from prover.types import Problem, Status, Verdict
from prover.verifiers.base import RowError, Verifier, cap_text, check_lengths
from prover.formats.code import CodeExtraction, called_names, extract_code, is_code_prompt
from prover.verifiers.code.sandbox import MODES, Limits, SandboxPool, default_workers, resolve_mode

FEEDBACK_MODES = ("detailed", "binary")
BINARY_FEEDBACK = "Your solution failed the tests."
_STDOUT_DETAIL_CAP = 2000


@dataclass
class CodeVerifierConfig:
    """Settings of the code verifier (``prover verify --domain code``)."""

    timeout_s: float = field(
        default=10.0,
        metadata={"help": "Wall-clock seconds per sample to load the solution and run all its tests; the CPU-time limit is the same, rounded up."},
    )
    memory_mb: int = field(
        default=512,
        metadata={"help": "Address-space limit (RLIMIT_AS) of each of the solution's processes, in MiB; a sample's worst case is max_processes x memory_mb."},
    )
    max_processes: int = field(
        default=4, metadata={"help": "Most processes/threads the solution may run at once (RLIMIT_NPROC on its own uid)."}
    )
    max_output_bytes: int = field(
        default=64 * 1024, metadata={"help": "Bytes of the solution's stdout/stderr kept; the rest is read and dropped."}
    )
    workers: int = field(default=0, metadata={"help": "Samples verified in parallel, one warm sandbox each; 0 = number of CPU cores."})
    feedback_cap: int = field(default=3000, metadata={"help": "Most characters of feedback per sample (longer feedback is cut and flagged)."})
    feedback_mode: str = field(
        default="detailed",
        metadata={"help": "'detailed': first failing test and the error; 'binary': only 'Your solution failed the tests.' (STaR retry)."},
    )
    sandbox: str = field(
        default="auto",
        metadata={"help": "'bwrap' (bubblewrap namespaces + rlimits), 'rlimits' (no bwrap), or 'auto' (bwrap when it works here)."},
    )
    tmpfs_mb: int = field(default=64, metadata={"help": "Size of the solution's private writable /tmp, in MiB."})
    max_response_bytes: int = field(
        default=1024 * 1024,
        metadata={"help": "Longest response verified, in UTF-8 bytes; a longer one is invalid with reason 'too_long' before any extraction (docs/sandbox.md)."},
    )

    scale_out: dict = field(default_factory=dict, metadata={"help": "Verify elsewhere (prover.verifiers.get_verifier): "
        "{remote: {urls: [...]}} sends rows to prover serve instances; {ray: {actors: N, ...}} runs this verifier as "
        "Ray actors; Lean also {kimina: {urls: [...]}} (an existing kimina-lean-server). Empty = in this process. "
        "docs/serve.md says what each guarantees."})

    def __post_init__(self) -> None:
        check_scale_out(self.scale_out, 'code')
        if not isinstance(self.timeout_s, (int, float)) or isinstance(self.timeout_s, bool) or not 0 < self.timeout_s <= 3600:
            raise ValueError(f"timeout_s must be a number of seconds in (0, 3600], got {self.timeout_s!r}; e.g. timeout_s=10")
        for name, low, high, example in (
            ("memory_mb", 64, 1 << 20, 512),
            ("max_processes", 1, 4096, 4),
            ("max_output_bytes", 0, 1 << 30, 65536),
            ("workers", 0, 1024, 0),
            ("feedback_cap", 0, 1 << 24, 3000),
            ("tmpfs_mb", 1, 1 << 16, 64),
            ("max_response_bytes", 1024, 64 << 20, 1 << 20),
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}; e.g. {name}={example}")
        if self.feedback_mode not in FEEDBACK_MODES:
            raise ValueError(f"feedback_mode must be one of {FEEDBACK_MODES}, got {self.feedback_mode!r}; use 'binary' for STaR-style retries")
        if self.sandbox not in MODES:
            raise ValueError(f"sandbox must be one of {MODES}, got {self.sandbox!r}; 'auto' picks bwrap when it works here")

    def limits(self) -> Limits:
        return Limits(
            timeout_s=float(self.timeout_s),
            memory_mb=self.memory_mb,
            max_processes=self.max_processes,
            max_output_bytes=self.max_output_bytes,
            tmpfs_mb=self.tmpfs_mb,
        )


@dataclass(frozen=True)
class RunSpec:
    """How a problem's tests are run (derived once from the ``Problem``)."""

    style: str  # "check" (HumanEval: test_code defines check(candidate)) or "asserts" (MBPP)
    entry_point: str
    names: tuple[str, ...] = ()  # free names of the tests/setup: the driver resolves them (docs/sandbox.md)
    prompt_code: str = ""
    # Besides the entry point, the only names the solution may give the tests: names the tests
    # use only inside the arguments of a call to the entry point, or the setup code uses
    # (input builders such as MBPP's `Pair`/`Node` classes). Never a name that judges a result.
    input_names: tuple[str, ...] = ()

    @classmethod
    def from_problem(cls, problem: Problem) -> "RunSpec":
        if problem.test_code.strip():
            entry = problem.entry_point
            prompt_code = problem.prompt if is_code_prompt(problem.prompt, entry) else ""
            return cls("check", entry, tuple(free_names([problem.test_code])), prompt_code)
        names = free_names([*problem.tests, problem.test_setup_code])
        entry = problem.entry_point or first_called_name(problem.tests, names)
        if entry and entry not in names:  # e.g. MBPP's own `sum`: only the entry point may shadow a builtin
            names.append(entry)
        prompt_code = problem.prompt if is_code_prompt(problem.prompt, entry) else ""
        judged = judging_names(problem.tests, entry)
        inputs = tuple(n for n in names if n != entry and n not in judged)
        return cls("asserts", entry, tuple(names), prompt_code, inputs)


_BUILTIN_NAMES = frozenset(dir(builtins))


def free_names(sources: Sequence[str]) -> list[str]:
    """Names the snippets read but neither assign nor get from builtins, in first-use order."""
    assigned: set[str] = set()
    seen: dict[str, None] = {}
    for source in sources:
        if not source.strip():
            continue
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                if isinstance(node.ctx, ast.Store):
                    assigned.add(node.id)
                elif node.id not in _BUILTIN_NAMES:
                    seen.setdefault(node.id, None)
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
                assigned.add(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                assigned.update((a.asname or a.name.split(".")[0]) for a in node.names)
    return [n for n in seen if n not in assigned]


def judging_names(tests: Sequence[str], entry: str) -> set[str]:
    """Names the assert lines read outside the arguments of calls to ``entry``.

    Such a name takes part in judging the entry point's result (``math.isclose(f(x), y)``,
    ``helper(f(x))``), so the solution must never be the one to provide it.
    """
    judged: set[str] = set()

    def visit(node: ast.AST, in_args: bool) -> None:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == entry:
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                visit(arg, True)
            return
        if isinstance(node, ast.Name) and not in_args:
            judged.add(node.id)
        for child in ast.iter_child_nodes(node):
            visit(child, in_args)

    for test in tests:
        try:
            visit(ast.parse(test), False)
        except (SyntaxError, RecursionError):
            continue
    return judged


def first_called_name(tests: Sequence[str], names: Sequence[str]) -> str:
    """The function the first test calls (the MBPP entry point)."""
    wanted = set(names)
    return next((n for n in called_names(tests) if n in wanted), names[0] if names else "")


class CodeVerifier(Verifier):
    """Batch of (code problem, response) -> ``Verdict`` per pair, run in warm sandboxes.

    VALID (reward 1) only when the trusted driver saw every test statement
    complete on values the solution computed; see docs/sandbox.md.
    """

    domain = "code"

    def __init__(self, config: CodeVerifierConfig | None = None) -> None:
        self.config = config or CodeVerifierConfig()
        self.sandbox_mode = resolve_mode(self.config.sandbox)  # raises SandboxUnavailable early
        self.workers = self.config.workers or default_workers()
        self._pool: SandboxPool | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._closed = False

    # -- rows
    def _ensure_started(self) -> tuple[SandboxPool, ThreadPoolExecutor]:
        with self._lock:
            if self._closed:
                raise RuntimeError("CodeVerifier is closed")
            if self._pool is None:
                self._pool = SandboxPool(self.sandbox_mode, self.workers, tmpfs_mb=self.config.tmpfs_mb)
                self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="code-verify")
            assert self._executor is not None
            return self._pool, self._executor

    def isolation(self) -> dict[str, Any]:
        """What the sandbox isolates here (mode, per-sample namespaces, separate uid, network); starts it."""
        pool, _ = self._ensure_started()
        return pool.isolation()

    def verify(self, problems: Sequence[Problem], responses: Sequence[str], *, progress: bool = False) -> list[Verdict]:
        check_lengths(problems, responses)
        if not problems:
            return []
        pool, executor = self._ensure_started()
        futures = [executor.submit(self._verify_one, pool, p, r) for p, r in zip(problems, responses)]
        if progress:
            from tqdm import tqdm

            for fut in tqdm(futures, desc="verify code", unit="sample"):
                fut.result()
        return [f.result() for f in futures]

    def verify_one(self, problem: Problem, response: str) -> Verdict:
        pool, _ = self._ensure_started()
        return self._verify_one(pool, problem, response)

    def _verify_one(self, pool: SandboxPool, problem: Problem, response: str) -> Verdict:
        t0 = time.perf_counter()
        try:
            return clean_verdict(self._verify_checked(pool, problem, response, t0))
        except Exception as exc:  # noqa: BLE001 - an infrastructure failure is a verdict, not a crash
            return clean_verdict(Verdict(
                Status.ERROR,
                0.0,
                feedback=f"code verifier error: {type(exc).__name__}: {exc}",
                details={"reason": "harness"},
                timings={"total": time.perf_counter() - t0},
            ))

    def _verify_checked(self, pool: SandboxPool, problem: Problem, response: str, t0: float) -> Verdict:
        if problem.domain != "code":
            return Verdict.infra_error(f"problem {problem.id!r} has domain {problem.domain!r}, not 'code'")
        if not isinstance(response, str):
            return Verdict.infra_error(f"response for {problem.id!r} is {type(response).__name__}, not str")
        problem = dataclasses.replace(  # row text as valid UTF-8 before it is parsed or sent anywhere
            problem,
            prompt=clean_text(problem.prompt),
            test_code=clean_text(problem.test_code),
            tests=tuple(clean_text(t) for t in problem.tests),
            test_setup_code=clean_text(problem.test_setup_code),
        )
        spec = RunSpec.from_problem(problem)
        if not (problem.test_code.strip() or problem.tests):
            return Verdict.infra_error(f"problem {problem.id!r} has no tests")
        size = utf8_size(response, self.config.max_response_bytes)
        if size > self.config.max_response_bytes:
            return self._verdict(
                Status.INVALID,
                f"The response is too long to verify (at least {size} bytes; the limit is {self.config.max_response_bytes}). Give only the solution.",
                {"reason": "too_long", "extraction": "", "tests_passed": 0, "response_bytes": size},
                {"extract": 0.0, "total": time.perf_counter() - t0},
            )
        response = clean_text(response)  # lone surrogates -> U+FFFD before the text reaches a child process
        ext = extract_code(response, prompt=problem.prompt, entry_point=spec.entry_point)
        t_extract = time.perf_counter() - t0
        if not ext.ok:
            return self._verdict(
                Status.INVALID,
                ext.message,
                {"reason": ext.reason, "extraction": ext.kind, "tests_passed": 0},
                {"extract": t_extract, "total": time.perf_counter() - t0},
            )
        limits = self.config.limits()
        job = {
            "id": problem.id,
            "program": ext.program,
            "style": spec.style,
            "prompt_code": spec.prompt_code,
            "test_code": problem.test_code,
            "entry_point": spec.entry_point,
            "tests": list(problem.tests),
            "setup": problem.test_setup_code,
            "names": list(spec.names),
            "input_names": list(spec.input_names),
            "timeout": limits.timeout_s,
            "cpu_s": limits.cpu_s,
            "memory_mb": limits.memory_mb,
            "max_processes": limits.max_processes,
            "file_size_mb": limits.file_size_mb,
            "tmpfs_mb": limits.tmpfs_mb,
            "output_cap": limits.max_output_bytes,
        }
        t_sandbox = time.perf_counter()
        # both ways valid UTF-8: the job (row text too) to the sandbox, the report (the solution's messages, output) back
        report = clean_obj(pool.run(clean_obj(job), limits))
        timings = {
            "extract": t_extract,
            "sandbox": time.perf_counter() - t_sandbox,
            "load": float(report.get("load_s") or 0.0),
            "tests": float(report.get("tests_s") or 0.0),
        }
        details: dict[str, Any] = {
            "reason": report.get("reason", ""),
            "extraction": ext.kind,
            "tests_passed": int(report.get("tests_passed") or 0),
            "tests_total": int(report.get("tests_total") or len(problem.tests) or 1),
            "sandbox": pool.mode,
        }
        for key in ("failing_test", "last_call"):
            if report.get(key):
                details[key] = str(report[key])
        stdout = str(report.get("stdout") or "")
        if stdout:
            details["stdout"] = stdout[:_STDOUT_DETAIL_CAP]
        details["stdout_bytes"] = int(report.get("stdout_bytes") or 0)
        timings["total"] = time.perf_counter() - t0
        outcome = report.get("outcome")
        if outcome == "pass":
            return Verdict(Status.VALID, 1.0, details=details, timings=timings)
        if outcome == "error":
            details["message"] = str(report.get("message", ""))[:4000]
            text, over = cap_text(f"code verifier error: {report.get('message', '')}", self.config.feedback_cap)
            return Verdict(Status.ERROR, 0.0, feedback=text, feedback_over_cap=over, details=details, timings=timings)
        status = Status.TIMEOUT if outcome == "timeout" else Status.INVALID
        return self._verdict(status, format_feedback(report, self.config.timeout_s), details, timings)

    def _verdict(self, status: Status, feedback: str, details: dict[str, Any], timings: dict[str, float]) -> Verdict:
        if self.config.feedback_mode == "binary":
            feedback = BINARY_FEEDBACK
        text, over = cap_text(feedback, self.config.feedback_cap)
        return Verdict(status, 0.0, feedback=text, feedback_over_cap=over, details=details, timings=timings)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            pool, executor = self._pool, self._executor
            self._pool = self._executor = None
        if executor is not None:
            executor.shutdown(wait=True)
        if pool is not None:
            pool.close()


def utf8_size(text: str, cap: int) -> int:
    """Bytes of ``text`` in UTF-8 (lone surrogates counted as 3), computed exactly only near ``cap``."""
    if len(text) > cap:
        return len(text) if len(text) > 4 * cap else len(text.encode("utf-8", "surrogatepass"))
    if 4 * len(text) <= cap:
        return len(text)
    return len(text.encode("utf-8", "surrogatepass"))


def clean_verdict(verdict: Verdict) -> Verdict:
    """``verdict`` with its feedback and details as valid UTF-8 (a file, JSON or SQLite can take them)."""
    return dataclasses.replace(verdict, feedback=clean_text(verdict.feedback), details=clean_obj(dict(verdict.details)))


def _parse_field(name: str, source: str, *, item: int | None = None) -> ast.Module:
    try:
        return ast.parse(source)
    except SyntaxError as exc:
        where = f"item {item} " if item is not None else ""
        raise RowError(name, f"{where}is not valid Python: {exc.msg} (line {exc.lineno})") from None


def format_feedback(report: Mapping[str, Any], timeout_s: float) -> str:
    """Feedback for the error-fix turn from a sandbox report (uncapped)."""
    reason = str(report.get("reason", ""))
    message = str(report.get("message", "")).strip()
    test = str(report.get("failing_test", "")).strip()
    call = str(report.get("last_call", "")).strip()
    parts: list[str] = []
    if reason in ("assertion", "test_error"):
        parts.append(f"Your code failed a test:\n    {test}")
        if call:
            parts.append(f"Last call: {call}")
        parts.append(message)
    elif reason == "exception":
        parts.append(f"Your code raised an exception on the test:\n    {test}")
        parts.append(message)
    elif reason == "load_error":
        parts.append("Your code raised an error while loading, before any test ran:")
        parts.append(message)
    elif reason in ("wall_timeout", "cpu_timeout"):
        kind = "CPU time" if reason == "cpu_timeout" else "time"
        parts.append(f"Your code exceeded the {kind} limit ({timeout_s:g} s).")
        if call:
            parts.append(f"Last call: {call}")
    else:
        parts.append(message or "Your code failed the tests.")
        if test:
            parts.append(f"While running the test:\n    {test}")
        elif call:
            parts.append(f"Last call: {call}")
        detail = str(report.get("detail", "")).strip()
        if detail:
            parts.append(detail)
    return "\n".join(p for p in parts if p)


__all__ = ["CodeVerifier", "CodeVerifierConfig", "RunSpec", "format_feedback", "CodeExtraction", "BINARY_FEEDBACK"]
