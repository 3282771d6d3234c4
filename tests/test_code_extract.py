"""Extraction of the solution program from model responses (no sandbox needed)."""

from __future__ import annotations

import pytest

from prover.formats.code import extract_code, find_code_blocks, is_code_prompt

PROMPT = 'from typing import List\n\n\ndef add(a: int, b: int) -> int:\n    """Add two numbers.\n    >>> add(1, 2)\n    3\n    """\n'
BODY = "def add(a, b):\n    return a + b\n"


def run(response: str, prompt: str = PROMPT, entry: str = "add"):
    return extract_code(response, prompt=prompt, entry_point=entry)


def test_single_fenced_block_is_used_with_prompt_prepended():
    ext = run(f"Here you go:\n```python\n{BODY}```\nIt adds.")
    assert ext.ok and ext.kind == "fenced"
    assert ext.code == BODY
    assert ext.program.startswith(PROMPT.rstrip("\n")) and ext.program.endswith(BODY)


def test_last_block_defining_the_entry_point_wins_over_a_later_usage_block():
    response = f"```python\n{BODY}```\nUsage:\n```python\nprint(add(1, 2))\n```\n"
    assert run(response).code == BODY


def test_last_of_several_defining_blocks_wins():
    first = "def add(a, b):\n    return a - b\n"
    response = f"First try:\n```python\n{first}```\nFixed:\n```python\n{BODY}```"
    assert run(response).code == BODY


def test_untagged_and_py_fences_count_non_python_fences_do_not():
    assert run(f"```\n{BODY}```").ok
    assert run(f"```py\n{BODY}```").ok
    ext = run("```bash\npip install numpy\n```")
    assert not ext.ok and ext.reason == "no_code"


def test_tilde_fences_and_info_strings():
    assert run(f"~~~python\n{BODY}~~~").code == BODY
    assert run(f"```python title=solution.py\n{BODY}```").code == BODY


def test_prose_after_fenced_code_is_ignored():
    ext = run(f"```python\n{BODY}```\n\nThe function returns `a + b`; complexity O(1).")
    assert ext.ok and ext.code == BODY


def test_fence_inside_a_string_does_not_close_the_block():
    code = 'def add(a, b):\n    marker = "```"\n    return a + b\n'
    ext = run(f"```python\n{code}```")
    assert ext.ok and ext.code == code


def test_missing_closing_fence_with_complete_code_is_accepted():
    ext = run(f"```python\n{BODY}")
    assert ext.ok and ext.code == BODY


@pytest.mark.parametrize(
    "tail",
    [
        "def add(a, b):\n    return (a +",  # unclosed bracket
        'def add(a, b):\n    s = "abc',  # unterminated string
        "def add(a, b):\n    '''doc\n    more",  # unterminated triple-quoted string
        "def add(a, b):\n",  # header without a body
        "def add(a, b):\n    if a:\n",  # block without a body
        "def add(a, b):\n    retur",  # last word cut in half
        "def add(a, b):\n    return a +",  # incomplete last line
    ],
)
def test_cut_off_fenced_code_is_truncated_never_run(tail):
    ext = run("```python\n" + tail)
    assert not ext.ok
    assert ext.reason == "truncated"
    assert "truncated" in ext.message


def test_stop_sequence_inside_a_string_leaves_a_truncated_continuation():
    # The generation stopped at "\ndef" that was inside a string literal.
    ext = run('    text = "line one')
    assert not ext.ok and ext.reason == "truncated"


def test_continuation_of_the_prompt_function():
    ext = run("    return a + b\n")
    assert ext.ok and ext.kind == "continuation"
    assert ext.program == PROMPT + "    return a + b\n"


def test_continuation_with_prose_after_it():
    ext = run("    return a + b\n\nThis returns the sum of the two numbers.\n")
    assert ext.ok and ext.kind == "continuation"
    assert "This returns" not in ext.program


def test_continuation_cut_mid_call_is_truncated():
    ext = run("    total = sum([a,")
    assert not ext.ok and ext.reason == "truncated"


def test_unfenced_full_function_with_prose_before_and_after():
    ext = run(f"Sure! Here is the code.\n{BODY}\nThis function adds two numbers.\n")
    assert ext.ok and ext.kind == "plain"
    assert "Sure" not in ext.program and "This function" not in ext.program


def test_syntax_error_in_a_closed_block_is_a_syntax_error_not_truncation():
    ext = run("```python\ndef add(a, b)\n    return a + b\n```")
    assert not ext.ok and ext.reason == "syntax_error"
    assert "line 1 of your code" in ext.message


def test_missing_entry_point_is_reported():
    ext = run("```python\ndef plus(a, b):\n    return a + b\n```")
    assert not ext.ok and ext.reason == "missing_entry_point"
    assert "`add`" in ext.message


def test_empty_and_prose_only_responses():
    assert run("   \n").reason == "empty"
    assert run("I am not sure how to solve this.").reason == "no_code"


def test_mbpp_style_without_code_prompt():
    ext = extract_code(f"```python\nimport math\n{BODY}```", prompt="Write a function to add two numbers.", entry_point="add")
    assert ext.ok and ext.program == f"import math\n{BODY}"


def test_indented_fenced_block_is_dedented():
    indented = "".join("    " + line + "\n" for line in BODY.splitlines())
    ext = run(f"1. Code:\n   ```python\n{indented}   ```")
    assert ext.ok and ext.code == BODY


def test_find_code_blocks_reports_closure_and_language():
    blocks = find_code_blocks("a\n```Python\nx = 1\n```\n```js\nlet y\n```\n```python\nz = 2")
    assert [(b.lang, b.closed) for b in blocks] == [("python", True), ("js", True), ("python", False)]
    assert blocks[0].code == "x = 1\n" and blocks[2].code == "z = 2"


def test_is_code_prompt():
    assert is_code_prompt(PROMPT, "add")
    assert not is_code_prompt("Write a function to add numbers.", "add")
    assert not is_code_prompt(PROMPT, "other")


def test_truncated_later_block_redefining_the_function_is_truncated():
    response = f"```python\n{BODY}```\nA faster version:\n```python\ndef add(a, b):\n    return sum([a,"
    ext = run(response)
    assert not ext.ok and ext.reason == "truncated"


def test_truncated_later_usage_block_does_not_hide_the_solution():
    response = f"```python\n{BODY}```\nExample:\n```python\nprint(add(1,"
    ext = run(response)
    assert ext.ok and ext.code == BODY


def test_response_repeating_the_whole_prompt_without_fences():
    ext = run(PROMPT + "    return a + b\n")
    assert ext.ok and ext.kind == "plain"
    assert ext.program.count("def add") == 2  # the prompt's stub, then the full definition
