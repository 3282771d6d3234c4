"""Typed Lean checker protocol: requests serialise to Checker.lean's fields; answers are checked field by field."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from prover.verifiers.lean.protocol import CheckAnswer, CheckRequest, ProtocolError

CHECKER = Path(__file__).resolve().parents[1] / "lean_env" / "Checker.lean"
GOOD = {"id": "t", "ok": True, "found": True, "type_matches": True, "axioms": ["propext"], "ref_error": "", "ms": 12,
        "messages": [{"severity": "error", "line": 2, "col": 2, "end_line": 2, "end_col": 7,
                      "text": "unsolved goals", "goals": "⊢ False"}]}


def test_request_has_the_checker_fields():
    req = CheckRequest(id="t", imports="", ref="theorem t : True := sorry", code="theorem t : True := trivial",
                       name="t", goals=True)
    doc = " ".join(CHECKER.read_text(encoding="utf-8").split())
    documented = re.search(r'\{"id": str, "seq": nat, "secret": str, "imports": str, "ref": str, "code": str, '
                           r'"name": str, "trusted": nat, "goals": bool, "notify": bool\}', doc)
    # seq and secret bind an answer to its request, notify picks the channel: the worker adds them when it sends
    assert documented and list(req.to_json()) == ["id", "imports", "ref", "code", "name", "trusted", "goals"]
    assert json.loads(json.dumps(req.to_json(), ensure_ascii=False)) == req.to_json()


def test_answer_round_trip_and_failure():
    ans = CheckAnswer.from_json({**GOOD, "kernel": "rechecked"})
    assert ans.ok and ans.found and ans.type_matches and ans.axioms == ("propext",) and ans.ms == 12
    assert [m.text for m in ans.errors] == ["unsolved goals"] and ans.messages[0].goals == "⊢ False"
    assert ans.extra == {"kernel": "rechecked"}  # fields added later are kept, not lost
    bad = CheckAnswer.from_json({"ok": False, "error": "bad request JSON: x"})
    assert not bad.ok and "bad request" in bad.error


@pytest.mark.parametrize("change, field", [
    ({"ok": "yes"}, "ok"),
    ({"found": 1}, "found"),
    ({"ms": True}, "ms"),
    ({"axioms": ["a", 3]}, "axioms"),
    ({"messages": [{"severity": "fatal", "line": 1, "col": 0, "end_line": 1, "end_col": 1, "text": ""}]}, "severity"),
    ({"messages": [{"severity": "error", "line": "1", "col": 0, "end_line": 1, "end_col": 1, "text": ""}]}, "line"),
])
def test_malformed_answers_name_the_field(change, field):
    with pytest.raises(ProtocolError, match=field):
        CheckAnswer.from_json({**GOOD, **change})
    missing = {k: v for k, v in GOOD.items() if k != "type_matches"}
    with pytest.raises(ProtocolError, match="type_matches"):
        CheckAnswer.from_json(missing)
