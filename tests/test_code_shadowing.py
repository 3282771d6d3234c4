"""The test driver takes every name the tests use from its own trusted namespace.

Against the real sandbox: a solution may define anything, but the tests see only
its entry point (and, for MBPP rows, input builders used inside the entry point's
arguments); modules, builtins and helpers come from the driver, the prompt and the
setup code. See docs/sandbox.md ("Names the tests use").
"""

from __future__ import annotations

import textwrap

import pytest

from prover.types import Problem, Status
from prover.verifiers.code import CodeVerifier, CodeVerifierConfig
from prover.verifiers.code.verifier import RunSpec


def fenced(code: str) -> str:
    return "```python\n" + textwrap.dedent(code).strip("\n") + "\n```"


def mbpp(tests, *, setup="", entry="f", pid="s") -> Problem:
    return Problem(id=pid, domain="code", prompt="Write f.", tests=tuple(tests), entry_point=entry, test_setup_code=setup)


@pytest.fixture
def verifier(code_verifier):
    return code_verifier


def run(verifier, problem, code):
    (verdict,) = verifier.verify([problem], [fenced(code)])
    return verdict


ISCLOSE_TESTS = ("assert math.isclose(f(2), 4.0)", "assert math.isclose(f(3), 9.0, rel_tol=1e-9)")


@pytest.mark.parametrize(
    "cheat",
    [
        # a class named like the module
        """
        class math:
            @staticmethod
            def isclose(*a, **k):
                return True
        def f(x):
            return -1.0
        """,
        # an instance
        """
        math = type("M", (), {"isclose": staticmethod(lambda *a, **k: True)})()
        def f(x):
            return -1.0
        """,
        # the real module, patched in the solution's process
        """
        import math
        math.isclose = lambda *a, **k: True
        def f(x):
            return -1.0
        """,
        # another module bound to the name
        """
        import cmath as math
        def f(x):
            return -1.0
        """,
    ],
    ids=["class", "instance", "patched", "other-module"],
)
def test_a_module_name_the_tests_use_is_never_the_solutions(verifier, cheat):
    v = run(verifier, mbpp(ISCLOSE_TESTS), cheat)
    assert v.status is Status.INVALID, (v.feedback, dict(v.details))
    assert v.details["tests_passed"] == 0


def test_the_driver_imports_modules_the_tests_use_itself(verifier):
    # a correct solution that never imports math: the tests still get the real module
    v = run(verifier, mbpp(ISCLOSE_TESTS), "def f(x):\n    return float(x * x)")
    assert v.status is Status.VALID, v.feedback


@pytest.mark.parametrize(
    "cheat, tests",
    [
        ("def len(x):\n    return 3\ndef f(x):\n    return []", ("assert len(f(1)) == 3",)),
        ("abs = lambda x: 0\ndef f(x):\n    return 99.0", ("assert abs(f(1) - 2.0) < 1e-9",)),
        ("def sorted(x):\n    return [1, 2]\ndef f(x):\n    return [9]", ("assert sorted(f(1)) == [1, 2]",)),
        ("def isinstance(*a):\n    return True\ndef f(x):\n    return 'no'", ("assert isinstance(f(1), int) and f(1) == 'no'",)),
        ("set = lambda x: {1}\ndef f(x):\n    return [7]", ("assert set(f(1)) == {1}",)),
        ("import builtins\nbuiltins.all = lambda x: True\ndef f(x):\n    return [0]", ("assert all(f(1))",)),
    ],
    ids=["len", "abs", "sorted", "isinstance", "set", "builtins.all"],
)
def test_builtins_the_tests_use_are_the_drivers(verifier, cheat, tests):
    v = run(verifier, mbpp(tests), cheat)
    assert v.status is Status.INVALID, (v.feedback, dict(v.details))


def test_an_object_claiming_to_be_true_is_not_a_pass(verifier):
    cheat = """
    class Yes:
        def __bool__(self):
            return True
        def __eq__(self, other):
            return True
    def f(x):
        return Yes()
    """
    tests = ("assert f(7)", "assert f(9) == True")
    v = run(verifier, mbpp(tests), cheat)
    assert v.status is Status.INVALID and v.details["reason"] == "test_error", (v.feedback, dict(v.details))
    assert "truth value" in v.feedback
    honest = run(verifier, mbpp(tests), "def f(x):\n    return x > 5")
    assert honest.status is Status.VALID, honest.feedback


def test_a_helper_that_judges_the_result_never_comes_from_the_solution(verifier):
    cheat = "def check_answer(x):\n    return True\ndef f(x):\n    return 0"
    v = run(verifier, mbpp(["assert check_answer(f(3))"]), cheat)
    assert v.status is Status.INVALID, (v.feedback, dict(v.details))
    assert "`check_answer`" in v.feedback and "never from the solution" in v.feedback


def test_a_setup_helper_wins_over_the_solutions(verifier):
    setup = "def check_answer(x):\n    return x == 9"
    cheat = "def check_answer(x):\n    return True\ndef f(x):\n    return 0"
    assert run(verifier, mbpp(["assert check_answer(f(3))"], setup=setup), cheat).status is Status.INVALID
    honest = run(verifier, mbpp(["assert check_answer(f(3))"], setup=setup), "def f(x):\n    return x * x")
    assert honest.status is Status.VALID, honest.feedback


def test_input_builders_inside_the_entry_points_arguments_come_from_the_solution(verifier):
    # MBPP 601: the tests build `Pair` objects with the solution's own class
    tests = (
        "assert max_chain_length([Pair(5, 24), Pair(15, 25),Pair(27, 40), Pair(50, 60)], 4) == 3",
        "assert max_chain_length([Pair(1, 2), Pair(3, 4),Pair(5, 6), Pair(7, 8)], 4) == 4",
    )
    problem = mbpp(tests, entry="max_chain_length")
    assert RunSpec.from_problem(problem).input_names == ("Pair",)
    code = """
    class Pair:
        def __init__(self, a, b):
            self.a, self.b = a, b
    def max_chain_length(arr, n):
        arr = sorted(arr, key=lambda p: p.b)
        count, end = 0, float("-inf")
        for p in arr:
            if p.a > end:
                count, end = count + 1, p.b
        return count
    """
    v = run(verifier, problem, code)
    assert v.status is Status.VALID, v.feedback


def test_setup_code_may_build_inputs_with_the_solutions_class(verifier):
    setup = "root = Node(1)\nroot.left = Node(2)\nroot.left.left = Node(3)"
    code = """
    class Node:
        def __init__(self, v):
            self.v, self.left, self.right = v, None, None
    def max_height(n):
        return 0 if n is None else 1 + max(max_height(n.left), max_height(n.right))
    """
    v = run(verifier, mbpp(["assert max_height(root) == 3"], setup=setup, entry="max_height"), code)
    assert v.status is Status.VALID, v.feedback


def test_a_name_used_both_as_input_and_as_judge_is_the_drivers_only():
    problem = mbpp(["assert g(f(g(1))) == 2"])
    assert RunSpec.from_problem(problem).input_names == ()


def test_humaneval_prompt_helpers_are_the_prompts_not_the_solutions(verifier):
    prompt = textwrap.dedent('''
        def encode_shift(s: str):
            """shift every letter by 5"""
            return "".join(chr(((ord(ch) + 5 - ord("a")) % 26) + ord("a")) for ch in s)


        def decode_shift(s: str):
            """inverse of encode_shift"""
        ''').lstrip()
    test = "def check(candidate):\n    for s in ['abc', 'hello']:\n        assert candidate(encode_shift(s)) == s\n"
    problem = Problem(id="he", domain="code", prompt=prompt, test_code=test, entry_point="decode_shift")
    cheat = "def encode_shift(s):\n    return s\n\ndef decode_shift(s):\n    return s"
    assert run(verifier, problem, cheat).status is Status.INVALID
    honest = 'def decode_shift(s):\n    return "".join(chr(((ord(ch) - 5 - ord("a")) % 26) + ord("a")) for ch in s)'
    v = run(verifier, problem, honest)
    assert v.status is Status.VALID, v.feedback


def test_humaneval_check_gets_the_drivers_modules(verifier):
    test = "def check(candidate):\n    assert math.isclose(candidate(2), 1.4142135623730951)\n"
    prompt = 'def root(x: float) -> float:\n    """square root"""\n'
    problem = Problem(id="he2", domain="code", prompt=prompt, test_code=test, entry_point="root")
    cheat = "class math:\n    isclose = staticmethod(lambda *a, **k: True)\n\ndef root(x):\n    return 0.0"
    assert run(verifier, problem, cheat).status is Status.INVALID
    v = run(verifier, problem, "def root(x):\n    return x ** 0.5")
    assert v.status is Status.VALID, v.feedback


def test_an_entry_point_named_like_a_builtin_is_still_the_solutions(verifier):
    v = run(verifier, mbpp(["assert sum([1, 2]) == 30"], entry="sum"), "def sum(xs):\n    return 30")
    assert v.status is Status.VALID, v.feedback


def test_test_code_defining_the_entry_points_name_still_tests_the_solution(verifier):
    test = "def inc(x):\n    return x + 1\n\ndef check(candidate):\n    assert candidate(1) == 2\n"
    problem = Problem(id="he3", domain="code", prompt="def inc(x):\n    \"\"\"x + 1\"\"\"\n", test_code=test, entry_point="inc")
    assert run(verifier, problem, "def inc(x):\n    return 0").status is Status.INVALID
    setup = "def f(x):\n    return x + 1"
    assert run(verifier, mbpp(["assert f(1) == 2"], setup=setup), "def f(x):\n    return 0").status is Status.INVALID
