"""``prover serve`` on a loopback port with the real code sandbox and the real math verifier."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from prover.cli import main as prover_main
from prover.serve import ServeConfig, ServeThread
try:
    from serve_helpers import code_row, kill_group, math_rows, sandbox_groups, short
except ImportError:  # run from the repository root
    from tests.serve_helpers import code_row, kill_group, math_rows, sandbox_groups, short

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def server():
    srv = ServeThread(ServeConfig(port=0, domains=("code", "math"), workers=2, token=TOKEN, shutdown_grace_s=5)).start()
    yield srv
    srv.stop()


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server.url, timeout=120, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        yield c


def prover_verify(tmp_path, domain: str, rows: list[dict]) -> list[dict]:
    inp, out = tmp_path / f"{domain}.jsonl", tmp_path / f"{domain}.out.jsonl"
    inp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    prover_main(["verify", "--domain", domain, "--input", str(inp), "--output", str(out), "--workers", "2"])
    return [json.loads(line) for line in out.read_text().splitlines()]


@pytest.mark.parametrize("domain", ["math", "code"])
def test_own_api_matches_prover_verify(client, tmp_path, domain):
    rows = math_rows(6) if domain == "math" else [code_row("ok"), code_row("bad", "return a - b"),
                                                   code_row("raise", "raise ValueError('no')"), code_row("ok2")]
    r = client.post("/v1/verify", json={"domain": domain, "rows": rows})
    assert r.status_code == 200, r.text
    got = r.json()["results"]
    assert [x["id"] for x in got] == [row["id"] for row in rows]
    assert [short(x) for x in got] == [short(x) for x in prover_verify(tmp_path, domain, rows)]
    assert {x["status"] for x in got} >= {"valid", "invalid"}


def test_bad_rows_report_mode_mirrors_prover_verify(client, tmp_path):
    rows = [math_rows(1)[0], {"id": "no-answer", "response": "\\boxed{1}"}, math_rows(3)[2]]
    r = client.post("/v1/verify", json={"domain": "math", "rows": rows, "bad_rows": "report"})
    assert r.status_code == 200
    got = r.json()["results"]
    ref = prover_verify(tmp_path, "math", rows)
    assert [(x["id"], x["line"], x["status"], x.get("input_error", False)) for x in got] == \
        [(x["id"], x["line"], x["status"], x.get("input_error", False)) for x in ref]
    assert "answer" in got[1]["feedback"]


@pytest.mark.parametrize("body, field", [
    ({"rows": []}, "domain"),
    ({"domain": "math"}, "rows"),
    ({"domain": "chess", "rows": []}, "domain"),
    ({"domain": "math", "rows": [1, 2]}, "rows[0]"),
    ({"domain": "math", "rows": [], "deadline_s": -1}, "deadline_s"),
    ({"domain": "math", "rows": [{"id": "a", "answer": "1"}]}, "rows[0].response"),
    ({"domain": "code", "rows": [{"id": "a", "prompt": "", "response": ""}]}, "rows[0].tests"),
    ({"domain": "math", "rows": [], "extra": 1}, "extra"),
])
def test_malformed_request_names_the_field_and_server_keeps_serving(client, body, field):
    r = client.post("/v1/verify", json=body)
    assert 400 <= r.status_code < 500, r.text
    assert field in {f["field"] for f in r.json()["fields"]}, r.json()
    ok = client.post("/v1/verify", json={"domain": "math", "rows": math_rows(1)})
    assert ok.status_code == 200 and ok.json()["results"][0]["status"] == "valid"


def test_not_json_and_unserved_domain(client):
    r = client.post("/v1/verify", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    r = client.post("/v1/verify", json={"domain": "lean", "rows": []})
    assert r.status_code == 404 and "lean" in r.json()["error"]
    r = client.post("/api/check", json={"snippet": {"id": "a", "code": "theorem t : True := trivial"}})
    assert r.status_code == 404


def test_hostile_text_and_oversized_bodies(client, server):
    rows = [{"id": "s\ud800", "answer": "2", "response": "\ud800\x00 so \\boxed{2}"}]
    r = client.post("/v1/verify", content=json.dumps({"domain": "math", "rows": rows}).encode(),
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 200 and r.json()["results"][0]["status"] == "valid"
    big = b'{"domain": "math", "rows": []}' + b" " * (65 * 1024 * 1024)
    r = client.post("/v1/verify", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    chunked = client.post("/v1/verify", content=iter([b'{"domain": "math", "rows": []}']), headers={"Content-Type": "application/json"})
    assert chunked.status_code == 411
    assert client.post("/v1/verify", json={"domain": "math", "rows": math_rows(1)}).status_code == 200


def test_token_request_id_health_metrics(server, client):
    with httpx.Client(base_url=server.url, timeout=30) as anon:
        assert anon.get("/health").status_code == 200
        assert anon.post("/v1/verify", json={"domain": "math", "rows": []}).status_code == 401
        assert anon.get("/metrics").status_code == 401
        bad = anon.post("/v1/verify", json={"domain": "math", "rows": []}, headers={"Authorization": "Bearer wrong"})
        assert bad.status_code == 401
    r = client.post("/v1/verify", json={"domain": "math", "rows": math_rows(2)}, headers={"X-Request-ID": "abc-123"})
    assert r.headers["X-Request-ID"] == "abc-123" and r.json()["request_id"] == "abc-123"
    r2 = client.post("/v1/verify", json={"domain": "math", "rows": []}, headers={"X-Request-ID": "bad id;x"})
    assert r2.headers["X-Request-ID"] != "bad id;x" and len(r2.headers["X-Request-ID"]) == 32
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["workers"] == {"code": 2, "math": 1}
    text = client.get("/metrics").text
    for name in ("prover_serve_queue_rows", "prover_serve_workers{domain=\"code\"} 2.0", "prover_serve_checks_total",
                 "prover_serve_checks_per_second", "prover_serve_request_latency_seconds{domain=\"math\",quantile=\"0.99\"}",
                 "prover_serve_request_seconds_bucket"):
        assert name in text, name


def test_deadline_gives_error_verdicts(client):
    rows = [code_row("slow", sleep_s=4)]
    r = client.post("/v1/verify", json={"domain": "code", "rows": rows, "deadline_s": 0.5})
    assert r.status_code == 200
    res = r.json()["results"][0]
    assert res["status"] == "error" and res["details"]["reason"] == "deadline"


@pytest.mark.slow
def test_killed_sandbox_worker_mid_batch_every_row_gets_a_verdict(client):
    rows = [code_row(f"k{i}", sleep_s=1.5) for i in range(6)]
    out: dict = {}

    def send() -> None:
        out["r"] = client.post("/v1/verify", json={"domain": "code", "rows": rows})

    t = threading.Thread(target=send)
    t.start()
    deadline = time.monotonic() + 30
    groups: list[int] = []
    while time.monotonic() < deadline and not groups:
        time.sleep(0.5)
        groups = sandbox_groups()
    assert groups, "no sandbox worker found"
    time.sleep(0.5)
    kill_group(groups[0])
    t.join(120)
    r = out["r"]
    assert r.status_code == 200
    results = r.json()["results"]
    assert [x["id"] for x in results] == [row["id"] for row in rows]
    assert all(x["status"] in ("valid", "error") for x in results)
    assert sum(x["status"] == "valid" for x in results) >= 5


@pytest.mark.slow
def test_full_queue_answers_429_with_retry_after():
    with ServeThread(ServeConfig(port=0, domains=("code",), workers=1, max_queue_rows=2, retry_after_s=3)).start() as srv, \
            httpx.Client(base_url=srv.url, timeout=60) as c:
        first: dict = {}
        t = threading.Thread(target=lambda: first.setdefault("r", c.post("/v1/verify", json={
            "domain": "code", "rows": [code_row("a", sleep_s=2), code_row("b", sleep_s=2)]})))
        t.start()
        deadline = time.monotonic() + 30
        while c.get("/health").json()["queue_rows"] < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        r = c.post("/v1/verify", json={"domain": "code", "rows": [code_row("c")]})
        assert r.status_code == 429 and r.headers["Retry-After"] == "3"
        assert "queue full" in r.json()["error"]
        t.join(60)
        assert [x["status"] for x in first["r"].json()["results"]] == ["valid", "valid"]
        assert c.post("/v1/verify", json={"domain": "code", "rows": [code_row("d")]}).status_code == 200
        assert 'prover_serve_rejected_total{reason="queue_full"} 1.0' in c.get("/metrics").text


@pytest.mark.slow
def test_load_concurrent_clients_lose_no_request():
    """8 clients x 6 requests against a 6-row queue; clients honour Retry-After; every row answered right."""
    rows = math_rows(6)
    expected = {"valid", "invalid"}
    with ServeThread(ServeConfig(port=0, domains=("math",), max_queue_rows=6, retry_after_s=1)).start() as srv:
        def client_run(k: int) -> tuple[int, int, list]:
            answers, throttled = [], 0
            with httpx.Client(base_url=srv.url, timeout=60) as c:
                for j in range(6):
                    batch = [{**row, "id": f"c{k}-r{j}-{row['id']}"} for row in rows[: 1 + (k + j) % 3]]
                    for _attempt in range(60):
                        r = c.post("/v1/verify", json={"domain": "math", "rows": batch})
                        if r.status_code != 429:
                            break
                        throttled += 1
                        time.sleep(min(float(r.headers["Retry-After"]), 1.0) / 10)
                    assert r.status_code == 200, r.text
                    answers.append((batch, r.json()["results"]))
            return k, throttled, answers

        with ThreadPoolExecutor(8) as pool:
            done = list(pool.map(client_run, range(8)))
        sent = got = 0
        for _, _, answers in done:
            for batch, results in answers:
                sent += len(batch)
                got += len(results)
                assert [x["id"] for x in results] == [b["id"] for b in batch]
                assert {x["status"] for x in results} <= expected
        assert sent == got > 0
        health = httpx.get(f"{srv.url}/health").json()
        assert health["queue_rows"] == 0 and health["inflight_requests"] == 0


@pytest.mark.slow
def test_graceful_shutdown_gives_every_accepted_request_a_verdict():
    srv = ServeThread(ServeConfig(port=0, domains=("code",), workers=1, shutdown_grace_s=1.0)).start()
    answers: list = []

    def send(i: int) -> None:
        with httpx.Client(base_url=srv.url, timeout=120) as c:
            answers.append(c.post("/v1/verify", json={"domain": "code", "rows": [code_row(f"s{i}", sleep_s=3)]}))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while httpx.get(f"{srv.url}/health").json()["inflight_requests"] < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    srv.stop()
    for t in threads:
        t.join(60)
    assert len(answers) == 3
    reasons = []
    for r in answers:
        assert r.status_code == 200
        (res,) = r.json()["results"]
        assert res["status"] in ("valid", "error")
        reasons.append(res["details"].get("reason") if res["status"] == "error" else "valid")
    assert "shutdown" in reasons  # one worker, 3 s each, 1 s grace: not all can finish
