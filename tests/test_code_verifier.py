"""CodeVerifier: config, input rows, feedback, and correctness on HumanEval/MBPP references."""

from __future__ import annotations

import dataclasses

import pytest

from prover.data.code import load_humaneval, load_mbpp
from prover.types import Problem, Status
from prover.verifiers.base import RowError
from prover.verifiers.code import BINARY_FEEDBACK, CodeVerifier, CodeVerifierConfig

# MBPP references that fail in plain CPython too: 596 expects sys.getsizeof of an older
# Python, 642 expects a different tuple order, 341 depends on set iteration order;
# 123 needs far more CPU than a test budget (amicable numbers below 9999).
MBPP_BROKEN_REFERENCES = {123, 341, 596, 642}

HE_PROMPT = 'def inc(x: int) -> int:\n    """Return x + 1.\n    >>> inc(1)\n    2\n    """\n'
HE_TEST = "def check(candidate):\n    assert candidate(1) == 2\n    assert candidate(-1) == 0, 'negative'\n"


def humaneval_style(pid="he") -> Problem:
    return Problem(id=pid, domain="code", prompt=HE_PROMPT, test_code=HE_TEST, entry_point="inc")


def mbpp_style(tests, entry="f", setup="", pid="mb") -> Problem:
    return Problem(id=pid, domain="code", prompt="Write f.", tests=tuple(tests), entry_point=entry, test_setup_code=setup)


@pytest.fixture
def verifier(code_verifier):
    return code_verifier


# ---------------------------------------------------------------- config


def test_config_defaults_and_help():
    cfg = CodeVerifierConfig()
    assert cfg.feedback_cap == 3000 and cfg.feedback_mode == "detailed" and cfg.sandbox == "auto"
    for f in dataclasses.fields(CodeVerifierConfig):
        assert f.metadata.get("help"), f"{f.name} has no help text"


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"timeout_s": 0}, "timeout_s"),
        ({"timeout_s": "10"}, "timeout_s"),
        ({"memory_mb": 1}, "memory_mb"),
        ({"max_output_bytes": -1}, "max_output_bytes"),
        ({"workers": -2}, "workers"),
        ({"feedback_cap": 1.5}, "feedback_cap"),
        ({"feedback_mode": "verbose"}, "binary"),
        ({"sandbox": "docker"}, "auto"),
        ({"max_processes": 0}, "max_processes"),
    ],
)
def test_config_rejects_bad_values_with_a_fix(kwargs, needle):
    with pytest.raises(ValueError) as err:
        CodeVerifierConfig(**kwargs)
    assert needle in str(err.value)
    assert "e.g." in str(err.value) or "one of" in str(err.value)


# ---------------------------------------------------------------- rows


def test_problem_from_row_humaneval_and_mbpp_styles():
    p = CodeVerifier.problem_from_row({"id": "x", "prompt": HE_PROMPT, "test": HE_TEST, "entry_point": "inc"})
    assert p.domain == "code" and p.test_code == HE_TEST and p.entry_point == "inc"
    q = CodeVerifier.problem_from_row({"id": 7, "prompt": "Add.", "tests": ["assert add(1, 2) == 3"], "test_setup_code": "import math"})
    assert q.id == "7" and q.tests == ("assert add(1, 2) == 3",) and q.test_setup_code == "import math"


@pytest.mark.parametrize(
    "row, field",
    [
        ({"prompt": "x", "tests": ["assert f(1)"]}, "id"),
        ({"id": "", "tests": ["assert f(1)"]}, "id"),
        ({"id": "a"}, "tests"),
        ({"id": "a", "tests": "assert f(1)"}, "tests"),
        ({"id": "a", "tests": ["assert f(1"]}, "tests"),
        ({"id": "a", "tests": [3]}, "tests"),
        ({"id": "a", "test": HE_TEST}, "entry_point"),
        ({"id": "a", "test": "def other(c):\n    pass\n", "entry_point": "f"}, "test"),
        ({"id": "a", "test": HE_TEST, "tests": ["assert f(1)"], "entry_point": "f"}, "test"),
        ({"id": "a", "prompt": 3, "tests": ["assert f(1)"]}, "prompt"),
        ({"id": "a", "tests": ["assert f(1)"], "entry_point": "not valid"}, "entry_point"),
        ({"id": "a", "tests": ["assert f(1)"], "test_setup_code": "x ="}, "test_setup_code"),
        ({"id": "a", "tests": ["assert 1 == 1"]}, "tests"),
    ],
)
def test_problem_from_row_names_the_bad_field(row, field):
    with pytest.raises(RowError) as err:
        CodeVerifier.problem_from_row(row)
    assert err.value.field == field


# ---------------------------------------------------------------- verdicts and feedback


def test_humaneval_style_full_function_and_continuation(verifier):
    full = "```python\ndef inc(x):\n    return x + 1\n```"
    cont = "    return x + 1\n"
    verdicts = verifier.verify([humaneval_style(), humaneval_style()], [full, cont])
    assert [v.status for v in verdicts] == [Status.VALID, Status.VALID]
    assert verdicts[0].details["extraction"] == "fenced" and verdicts[1].details["extraction"] == "continuation"
    for v in verdicts:
        assert v.reward == 1.0 and v.feedback == "" and v.timings["total"] > 0
        assert {"extract", "sandbox", "total"} <= set(v.timings)


def test_failing_assertion_feedback_names_the_test_and_the_call(verifier):
    (v,) = verifier.verify([humaneval_style()], ["```python\ndef inc(x):\n    return abs(x) + 1\n```"])
    assert v.status is Status.INVALID and v.reward == 0.0
    assert "assert candidate(-1) == 0, 'negative'" in v.feedback
    assert "inc(-1) returned 2" in v.feedback
    assert "AssertionError: negative" in v.feedback
    assert v.details["failing_test"] == "assert candidate(-1) == 0, 'negative'"


def test_exception_feedback_has_the_last_traceback_lines(verifier):
    code = "```python\ndef helper(x):\n    return 1 // (x - x)\n\ndef f(x):\n    return helper(x)\n```"
    (v,) = verifier.verify([mbpp_style(["assert f(3) == 4"])], [code])
    assert v.status is Status.INVALID and v.details["reason"] == "exception"
    assert 'File "solution.py", line 2, in helper' in v.feedback
    assert "ZeroDivisionError: integer division or modulo by zero" in v.feedback
    assert "assert f(3) == 4" in v.feedback


def test_load_error_and_truncation_feedback(verifier):
    problems = [mbpp_style(["assert f(1) == 2"])] * 2
    responses = ["```python\nimport no_such_module_xyz\ndef f(x):\n    return x + 1\n```", "```python\ndef f(x):\n    return (x +"]
    load, cut = verifier.verify(problems, responses)
    assert load.status is Status.INVALID and load.details["reason"] == "load_error"
    assert "ModuleNotFoundError" in load.feedback
    assert cut.status is Status.INVALID and cut.details["reason"] == "truncated"
    assert "truncated" in cut.feedback


def test_binary_feedback_mode_says_only_failed():
    with CodeVerifier(CodeVerifierConfig(feedback_mode="binary", workers=1, timeout_s=3)) as v:
        bad, cut, loop, good = v.verify(
            [mbpp_style(["assert f(1) == 2"])] * 4,
            ["```python\ndef f(x):\n    return 0\n```", "```python\ndef f(x):\n    return (", "```python\ndef f(x):\n    while True: pass\n```", "```python\ndef f(x):\n    return x + 1\n```"],
        )
    assert bad.feedback == cut.feedback == loop.feedback == BINARY_FEEDBACK
    assert (bad.status, cut.status, loop.status, good.status) == (Status.INVALID, Status.INVALID, Status.TIMEOUT, Status.VALID)
    assert bad.details["reason"] == "assertion"  # the reason stays in details for logs


def test_feedback_is_capped_and_flagged():
    with CodeVerifier(CodeVerifierConfig(feedback_cap=120, workers=1)) as v:
        (verdict,) = v.verify([mbpp_style([f"assert f({'1' * 400}) == 0"])], ["```python\ndef f(x):\n    return x\n```"])
    assert verdict.status is Status.INVALID
    assert len(verdict.feedback) <= 120 and verdict.feedback_over_cap


def test_values_cross_the_boundary_with_their_exact_types(verifier):
    code = """```python
import collections
from collections import namedtuple
Point = namedtuple("Point", "x y")
def f(kind):
    return {
        "tuple": (1, 2), "list": [1, 2], "set": {1, 2}, "dict": {(1, 2): [3]}, "float": 0.1 + 0.2,
        "counter": collections.Counter("aab"), "defaultdict": collections.defaultdict(list, a=[1]),
        "namedtuple": Point(1, 2), "gen": (i * i for i in range(3)), "none": None, "bytes": b"ab",
        "type": int,
    }[kind]
```"""
    tests = [
        "assert f('tuple') == (1, 2) and f('tuple') != [1, 2]",
        "assert f('list') == [1, 2] and type(f('list')) is list",
        "assert f('set') == {2, 1}",
        "assert f('dict') == {(1, 2): [3]}",
        "assert abs(f('float') - 0.3) < 1e-9 and f('float') != 0.3",
        "assert f('counter') == {'a': 2, 'b': 1}",
        "assert f('defaultdict') == {'a': [1]}",
        "assert f('namedtuple') == (1, 2)",
        "assert list(f('gen')) == [0, 1, 4] and f('gen') != [0, 1, 4]",
        "assert f('none') is None",
        "assert f('bytes') == b'ab'",
        "assert f('type') is int",
    ]
    (v,) = verifier.verify([mbpp_style(tests)], [code])
    assert v.status is Status.VALID, v.feedback
    assert v.details["tests_passed"] == v.details["tests_total"] == len(tests)


def test_tests_may_expect_the_solution_to_raise(verifier):
    code = "```python\ndef f(x):\n    if x < 0:\n        raise ValueError('negative')\n    return x\n```"
    tests = ["try:\n    f(-1)\n    raise AssertionError('no error')\nexcept ValueError as e:\n    assert 'negative' in str(e)"]
    (v,) = verifier.verify([mbpp_style(tests)], [code])
    assert v.status is Status.VALID, v.feedback


def test_solution_classes_work_in_setup_code(verifier):
    code = "```python\nclass Node:\n    def __init__(self, v):\n        self.v = v\n        self.next = None\n\ndef length(node):\n    return 0 if node is None else 1 + length(node.next)\n```"
    setup = "head = Node(1)\nhead.next = Node(2)"
    (v,) = verifier.verify([mbpp_style(["assert length(head) == 2"], entry="length", setup=setup)], [code])
    assert v.status is Status.VALID, v.feedback


def test_solution_may_shadow_a_builtin_only_as_the_entry_point(verifier):
    code = "```python\ndef sum(a, b):\n    return a + b\n\ndef sorted(x):\n    return 'fake'\n```"
    tests = ["assert sum(2, 3) == 5", "assert sorted([2, 1]) == [1, 2]"]
    (v,) = verifier.verify([mbpp_style(tests, entry="sum")], [code])
    assert v.status is Status.VALID, v.feedback


def test_wrong_domain_and_missing_tests_are_errors(verifier):
    math_problem = Problem(id="m", domain="math", reference="1")
    empty = Problem(id="e", domain="code", prompt="x")
    a, b = verifier.verify([math_problem, empty], ["1", "x"])
    assert a.status is Status.ERROR and b.status is Status.ERROR


def test_length_mismatch_raises(verifier):
    with pytest.raises(ValueError):
        verifier.verify([humaneval_style()], [])


def test_averify(verifier):
    import asyncio

    (v,) = asyncio.run(verifier.averify([humaneval_style()], ["    return x + 1\n"]))
    assert v.valid


# ---------------------------------------------------------------- reference solutions


@pytest.mark.slow
def test_all_humaneval_canonical_solutions_pass(verifier):
    problems = load_humaneval()
    assert len(problems) == 164
    verdicts = verifier.verify(problems, [p.meta["canonical_solution"] for p in problems])
    failed = {p.id: v.feedback[:300] for p, v in zip(problems, verdicts) if v.status is not Status.VALID}
    assert not failed


BREAKERS = (
    "    raise NotImplementedError\n",
    "    import sys\n    sys.exit(0)\n",
    "    class Yes:\n        def __eq__(self, other):\n            return True\n    return Yes()\n",
    "    import os\n    os._exit(0)\n",
)


@pytest.mark.slow
def test_all_humaneval_broken_solutions_fail(verifier):
    problems = load_humaneval()
    responses = [BREAKERS[i % len(BREAKERS)] for i in range(len(problems))]
    verdicts = verifier.verify(problems, responses)
    passed = [p.id for p, v in zip(problems, verdicts) if v.status is not Status.INVALID]
    assert not passed


@pytest.mark.slow
def test_mbpp_reference_solutions_pass(verifier):
    problems = [p for p in load_mbpp() if p.meta["task_id"] not in MBPP_BROKEN_REFERENCES]
    assert len(problems) == 974 - len(MBPP_BROKEN_REFERENCES)
    verdicts = verifier.verify(problems, ["```python\n" + p.meta["reference_code"] + "\n```" for p in problems])
    failed = {p.id: v.feedback[:300] for p, v in zip(problems, verdicts) if v.status is not Status.VALID}
    assert not failed


@pytest.mark.slow
def test_mbpp_reference_solutions_fail_against_another_problems_tests(verifier):
    problems = [p for p in load_mbpp(split="test")][:100]
    shifted = problems[1:] + problems[:1]  # each problem gets its neighbour's reference code
    verdicts = verifier.verify(problems, ["```python\n" + q.meta["reference_code"] + "\n```" for q in shifted])
    assert all(v.status in (Status.INVALID, Status.TIMEOUT) for v in verdicts)
