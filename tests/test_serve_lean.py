"""`prover serve` and the kimina backend with the real wasm Lean (one warm worker: the session's `lean_verifier`).

Run under the wasm slot lock: flock /tmp/wasm-slot-2.lock pytest tests/test_serve_lean.py
"""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from prover.serve import ServeConfig, ServeThread
from prover.serve.kimina import split_imports
from prover.types import Status
from prover.verifiers.kimina import KiminaConfig, KiminaVerifier
from prover.verifiers.lean import LeanVerifier

pytestmark = [pytest.mark.lean, pytest.mark.slow]

ADD = "theorem add_comm' (a b : Nat) : a + b = b + a := by"
LT = "theorem lt_attack (a b : Nat) : a < b := by"


def block(code: str) -> str:
    return f"Proof:\n```lean4\n{code}\n```\n"


ROWS = [
    {"id": "full", "formal_statement": ADD, "header": "", "response": block(ADD + "\n  omega")},
    {"id": "body", "formal_statement": ADD, "header": "", "response": block("omega")},
    {"id": "wrong", "formal_statement": ADD, "header": "", "response": block(ADD + "\n  rfl")},
    {"id": "sorry", "formal_statement": ADD, "header": "", "response": block(ADD + "\n  sorry")},
    {"id": "axiom", "formal_statement": ADD, "header": "", "response": block("axiom cheat : False\n" + ADD + "\n  exact cheat.elim")},
    {"id": "restated", "formal_statement": ADD, "header": "", "response": block("theorem add_comm' (a b : Nat) : a + b = a + b := by\n  rfl")},
    {"id": "instance", "formal_statement": LT, "header": "",
     "response": block("instance (priority := high) myLt : LT Nat := ⟨fun _ _ => True⟩\n" + LT + "\n  trivial")},
    {"id": "none", "formal_statement": ADD, "header": "", "response": "I cannot do it."},
]


def in_process(lean_verifier) -> list:
    problems = [LeanVerifier.problem_from_row(r) for r in ROWS]
    return lean_verifier.verify(problems, [r["response"] for r in ROWS])


def key(v: dict) -> tuple:
    return (v["status"], v["reward"], v["feedback"])


def test_own_and_kimina_api_match_in_process_verdicts(lean_verifier):
    want = [v.to_json() for v in in_process(lean_verifier)]
    assert [v["status"] for v in want] == ["valid", "valid", "invalid", "invalid", "invalid", "invalid", "invalid", "invalid"]
    with ServeThread(ServeConfig(port=0, domains=("lean",)), {"lean": lean_verifier}, own_verifiers=False).start() as srv, \
            httpx.Client(base_url=srv.url, timeout=600) as c:
        own = c.post("/v1/verify", json={"domain": "lean", "rows": ROWS}).json()["results"]
        assert [key(x) for x in own] == [key(v) for v in want]
        codes = [{"custom_id": r["id"], "proof": r["response"], "formal_statement": r["formal_statement"], "header": r["header"]}
                 for r in ROWS]
        back = c.post("/verify", json={"codes": codes, "timeout": 60}).json()["results"]
        assert [x["custom_id"] for x in back] == [r["id"] for r in ROWS]
        # a proof with a ```lean4 block is read as the model's response, exactly as /v1/verify reads it;
        # one without is raw Lean (kimina's meaning), so the last row's feedback differs, not its status
        assert [key(x["verdict"]) for x in back[:-1]] == [key(v) for v in want[:-1]]
        assert back[-1]["verdict"]["status"] == want[-1]["status"] == "invalid"
        for x, v in zip(back, want):  # a kimina client reading only kimina's fields reaches the same pass/fail
            msgs = (x.get("response") or {}).get("messages", [])
            passed = x["error"] is None and not any(m["severity"] == "error" for m in msgs)
            assert passed == (v["status"] == "valid"), x
        snippets = [{"id": r["id"], "code": r["response"], "formal_statement": r["formal_statement"]} for r in ROWS]
        checks = c.post("/api/check", json={"snippets": snippets, "timeout": 60}).json()["results"]
        assert [key(x["verdict"]) for x in checks[:-1]] == [key(v) for v in want[:-1]]
        # plain kimina snippets (no statement given): the last theorem is its own statement
        plain = [{"id": "ok", "code": f"{ADD}\n  omega"}, {"id": "sorry", "code": f"{ADD}\n  sorry"},
                 {"id": "helper", "code": "theorem h (x y : Nat) : x + y = y + x := Nat.add_comm x y\n\n" + ADD + " exact h a b"},
                 {"id": "eval", "code": "#eval 1\n" + ADD + "\n  omega"}]
        got = c.post("/api/checks", json={"snippets": plain}).json()
        assert [x["verdict"]["status"] for x in got] == ["valid", "invalid", "valid", "invalid"]
        assert any(m["severity"] == "error" for m in got[1]["response"]["messages"])
        single = c.post("/api/check", json={"snippet": plain[0]}).json()
        assert single["id"] == "ok" and single["verdict"]["status"] == "valid" and "error" not in single


class FakeKimina:
    """A kimina-lean-server stand-in on loopback: its /verify elaborates each file with the real Lean checker and
    answers with Lean's messages in kimina's JSON (lines relative to the body, as kimina does).

    One emulation: the wasm build imports theorems without their proofs, so Lean's own `#print axioms` cannot see
    through them there; the stand-in answers the file's final `#print axioms X` line with the checker's axiom
    audit of X (what `#print axioms` reports on a native Lean with full imports) at that line.
    """

    def __init__(self, lean_verifier: LeanVerifier) -> None:
        app = FastAPI()
        self.seen: list[str] = []

        @app.post("/verify")
        async def verify(body: dict) -> dict:
            results = []
            for item in body["codes"]:
                self.seen.append(item["proof"])
                imports, lines = split_imports(item["proof"])
                while lines and not lines[-1].strip():
                    lines.pop()
                target = lines.pop()[len("#print axioms "):].strip() if lines and lines[-1].startswith("#print axioms ") else ""
                payload = {"id": str(item["custom_id"]), "imports": "\n".join(imports), "code": "\n".join(lines),
                           "ref": "theorem prover_emul_ref : True := trivial", "name": target or "prover_emul_ref", "goals": False}
                fut = asyncio.run_coroutine_threadsafe(lean_verifier.pool.run(payload, 60.0), lean_verifier._loop)
                res = await asyncio.wrap_future(fut)
                if res.answer is None or not res.answer.get("ok"):
                    results.append({"custom_id": item["custom_id"], "error": "Lean REPL command timed out in 60 seconds"
                                    if res.timed_out else f"repl failure: {res.error}", "response": None})
                    continue
                msgs = [{"severity": m["severity"], "pos": {"line": m["line"], "column": m["col"]},
                         "endPos": {"line": m["end_line"], "column": m["end_col"]}, "data": m["text"]}
                        for m in res.answer["messages"]]
                if target:
                    pos = {"line": len(lines) + 1, "column": 0}
                    axioms = res.answer["axioms"]
                    if not res.answer["found"]:
                        msgs.append({"severity": "error", "pos": pos, "data": f"unknown constant '{target}'"})
                    elif axioms:
                        msgs.append({"severity": "info", "pos": pos, "data": f"'{target}' depends on axioms: [{', '.join(axioms)}]"})
                    else:
                        msgs.append({"severity": "info", "pos": pos, "data": f"'{target}' does not depend on any axioms"})
                results.append({"custom_id": item["custom_id"], "error": None,
                                "response": {"env": 0, "messages": msgs, "time": res.run_s}})
            return {"results": results}

        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.server.servers[0].sockets[0].getsockname()[1]}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def test_kimina_backend_enforces_the_policy_on_real_lean_answers(lean_verifier):
    want = in_process(lean_verifier)
    extra = [
        ("elab", ADD, block("@[command_elab Lean.Parser.Command.printAxioms] def quiet : Lean.Elab.Command.CommandElab := "
                            "fun _ => pure ()\n" + ADD + "\n  sorry")),
        ("section", ADD, block("section\nvariable (h : False)\ninclude h\n" + ADD + "\n  exact h.elim")),
    ]
    fake = FakeKimina(lean_verifier)
    with fake as url, KiminaVerifier(KiminaConfig(urls=(url,), batch_size=3)) as kimina:
        problems = [LeanVerifier.problem_from_row(r) for r in ROWS]
        got = kimina.verify(problems, [r["response"] for r in ROWS])
        assert [v.status for v in got] == [v.status for v in want], [(v.status, v.feedback, v.details.get("check_errors"))
                                                                     for v in got]
        assert got[0].details["axioms"] == [] or set(got[0].details["axioms"]) <= {"propext"}
        assert "sorry" in got[3].feedback
        assert "stated differently" in got[5].feedback
        attacks = kimina.verify([LeanVerifier.problem_from_row({"id": i, "formal_statement": s}) for i, s, _ in extra],
                                [r for _, _, r in extra])
        assert [v.status for v in attacks] == [Status.INVALID, Status.INVALID]
        assert all(v.details.get("refused") for v in attacks)
    assert any("#print axioms prover_chk_" in s for s in fake.seen)
