"""backend: remote — RemoteVerifier against real `prover serve` instances on loopback."""

from __future__ import annotations

import socket

import httpx
import pytest

from prover.serve import ServeConfig, ServeThread
from prover.verify_rows import parse_row, problem_to_row
from prover.types import Problem, Status
from prover.verifiers.code import CodeVerifier
from prover.verifiers.math import MathVerifier
from prover.verifiers.remote import RemoteConfig, make_remote_verifier, remote_class
try:
    from serve_helpers import code_row, math_rows
except ImportError:  # run from the repository root
    from tests.serve_helpers import code_row, math_rows


def dead_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def servers():
    a = ServeThread(ServeConfig(port=0, domains=("code", "math"), workers=1, token="tok")).start()
    b = ServeThread(ServeConfig(port=0, domains=("code", "math"), workers=1, token="tok")).start()
    yield a, b
    a.stop()
    b.stop()


def pairs(cls, rows):
    return [cls.problem_from_row(r) for r in rows], [r["response"] for r in rows]


def verify_requests(url: str) -> float:
    text = httpx.get(f"{url}/metrics", headers={"Authorization": "Bearer tok"}).text
    line = next((ln for ln in text.splitlines() if ln.startswith('prover_serve_requests_total{code="200",route="/v1/verify"}')), "")
    return float(line.split()[-1]) if line else 0.0


def test_problem_to_row_round_trips_every_domain():
    lean = Problem(id="l", domain="lean", statement="theorem t (n : Nat) : n = n := by", header="import Init\nopen Nat",
                   prompt="informal", meta={"split": "test", "source": "l"})
    humaneval = CodeVerifier.problem_from_row({**code_row("h"), "tests": None, "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n"})
    mbpp = CodeVerifier.problem_from_row({**code_row("m"), "test_setup_code": "import math"})
    math_p = MathVerifier.problem_from_row(math_rows(1)[0])
    for p in (lean, humaneval, mbpp, math_p):
        back, response = parse_row(p.domain, problem_to_row(p, "resp"))
        assert back == p and response == "resp"


def test_remote_matches_in_process_and_spreads_load(servers):
    a, b = servers
    rows = math_rows(12)
    problems, responses = pairs(MathVerifier, rows)
    before = (verify_requests(a.url), verify_requests(b.url))
    with make_remote_verifier("math", {"urls": [a.url, b.url], "token": "tok", "batch_rows": 2}) as remote:
        got = remote.verify(problems, responses)
    with MathVerifier() as local:
        want = local.verify(problems, responses)
    assert [(v.status, v.reward, v.feedback) for v in got] == [(v.status, v.reward, v.feedback) for v in want]
    after = (verify_requests(a.url), verify_requests(b.url))
    assert after[0] > before[0] and after[1] > before[1]  # both servers took chunks
    assert after[0] - before[0] + after[1] - before[1] == 6


def test_remote_code_rows_and_problem_from_row(servers):
    a, _ = servers
    rows = [code_row("ok"), code_row("bad", "return a * b")]
    cls = remote_class("code")
    problems, responses = pairs(cls, rows)
    with make_remote_verifier("code", RemoteConfig(urls=(a.url,), token="tok")) as remote:
        got = remote.verify(problems, responses)
    assert [v.status for v in got] == [Status.VALID, Status.INVALID]
    assert "failed a test" in got[1].feedback


def test_dead_url_is_skipped(servers):
    a, _ = servers
    problems, responses = pairs(MathVerifier, math_rows(6))
    with make_remote_verifier("math", RemoteConfig(urls=(dead_url(), a.url), token="tok", batch_rows=1, backoff_s=0.05)) as remote:
        got = remote.verify(problems, responses)
    assert all(v.status in (Status.VALID, Status.INVALID) for v in got)


def test_unreachable_service_gives_error_verdicts_not_exceptions():
    problems, responses = pairs(MathVerifier, math_rows(3))
    with make_remote_verifier("math", RemoteConfig(urls=(dead_url(),), retries=1, backoff_s=0.05, max_wait_s=20)) as remote:
        got = remote.verify(problems, responses)
    assert [v.status for v in got] == [Status.ERROR] * 3
    assert all("unavailable" in v.feedback for v in got)


def test_wrong_token_is_not_retried_and_reported(servers):
    a, _ = servers
    problems, responses = pairs(MathVerifier, math_rows(2))
    with make_remote_verifier("math", RemoteConfig(urls=(a.url,), token="nope", retries=3, backoff_s=5)) as remote:
        got = remote.verify(problems, responses)
    assert all(v.status is Status.ERROR and "401" in v.feedback for v in got)


def test_full_queue_is_retried_after_retry_after():
    with ServeThread(ServeConfig(port=0, domains=("code",), workers=1, max_queue_rows=1, retry_after_s=1)).start() as srv:
        rows = [code_row(f"q{i}", sleep_s=0.5) for i in range(4)]
        problems, responses = pairs(CodeVerifier, rows)
        with make_remote_verifier("code", RemoteConfig(urls=(srv.url,), batch_rows=1, max_inflight_per_url=4,
                                                       retries=20, backoff_s=0.2)) as remote:
            got = remote.verify(problems, responses)
        assert [v.status for v in got] == [Status.VALID] * 4
        text = httpx.get(f"{srv.url}/metrics").text
        assert 'prover_serve_rejected_total{reason="queue_full"}' in text  # the 429s happened and were retried


def test_the_one_factory_selects_the_remote_backend_by_config(servers):
    """scale_out in a verifier config is all it takes: training, evaluation and prover verify use get_verifier."""
    from prover.verifiers import get_verifier, verifier_config
    from prover.verifiers.remote import RemoteVerifier

    a, _ = servers
    rows = math_rows(4)
    problems, responses = pairs(MathVerifier, rows)
    config = verifier_config("math", {"scale_out": {"remote": {"urls": [a.url], "token": "tok"}}})
    with get_verifier("math", config) as remote:
        assert isinstance(remote, RemoteVerifier)
        got = remote.verify(problems, responses)
    with MathVerifier() as local:
        want = local.verify(problems, responses)
    assert [(v.status, v.feedback) for v in got] == [(v.status, v.feedback) for v in want]


@pytest.mark.parametrize("domain, scale_out, match", [
    ("code", {"kimina": {"urls": ["http://127.0.0.1:1"]}}, "kimina serves only lean"),
    ("math", {"remote": {"urls": []}}, "urls"),
    ("lean", {"remote": {"urls": ["http://x:1"]}, "ray": {}}, "choose one"),
    ("code", {"ray": {"actorz": 2}}, "actorz"),
    ("math", {"cluster": {}}, "unknown"),
])
def test_scale_out_mistakes_are_refused_before_anything_starts(domain, scale_out, match):
    from prover.verifiers import verifier_config

    with pytest.raises(ValueError, match=match):
        verifier_config(domain, {"scale_out": scale_out})


def test_url_settings_are_parsed_and_bad_ones_name_the_setting():
    from prover.verifiers.kimina import KiminaConfig

    assert RemoteConfig(urls="http://a:1/, https://b:2").urls == ("http://a:1", "https://b:2")
    with pytest.raises(ValueError, match=r"urls must name at least one prover serve URL"):
        RemoteConfig(urls=())
    with pytest.raises(ValueError, match=r"lean\.kimina\.urls must be http:// or https:// URLs of kimina-lean-server.*ftp://x"):
        KiminaConfig(urls=("ftp://x",))
