"""The unbiased pass@k estimator against hand-computed values, and its aggregation."""

from __future__ import annotations

import math

import pytest

from prover.eval.passk import by_group, mean_pass_at_k, pass_at_k, pass_curve
from prover.eval.report import ProblemResult, curve_ks, equal_budget, summarize


@pytest.mark.parametrize("n, c, k, expected", [
    (5, 2, 1, 2 / 5),                # c/n
    (5, 2, 2, 1 - 3 / 10),           # 1 - C(3,2)/C(5,2) = 0.7
    (5, 2, 3, 1 - 1 / 10),           # 1 - C(3,3)/C(5,3) = 0.9
    (5, 2, 4, 1.0),                  # n - c < k: some correct sample is always drawn
    (10, 0, 1, 0.0),
    (10, 0, 10, 0.0),
    (10, 10, 1, 1.0),
    (10, 10, 10, 1.0),
    (1, 1, 1, 1.0),
    (1, 0, 1, 0.0),
    (10, 3, 5, 1 - 21 / 252),        # 1 - C(7,5)/C(10,5)
    (32, 1, 8, 8 / 32),              # one correct: k/n
])
def test_hand_computed(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_matches_binomial_form_and_is_monotone_in_k():
    for n in (1, 7, 16, 64):
        for c in range(n + 1):
            prev = 0.0
            for k in range(1, n + 1):
                exact = 1 - math.comb(n - c, k) / math.comb(n, k)
                got = pass_at_k(n, c, k)
                assert got == pytest.approx(exact, abs=1e-12)
                assert got >= prev - 1e-12
                prev = got


def test_large_n_is_stable():
    # binomials of this size overflow floats; the product form does not
    assert 0.0 < pass_at_k(5000, 1, 1) == pytest.approx(1 / 5000)
    assert pass_at_k(5000, 3, 4000) == pytest.approx(1 - math.comb(4997, 4000) / math.comb(5000, 4000))


@pytest.mark.parametrize("n, c, k, hint", [
    (5, 2, 6, "1 <= k <= n"),
    (5, 2, 0, "1 <= k <= n"),
    (0, 0, 1, "n >= 1"),
    (5, 6, 1, "0 <= c <= n"),
    (5, -1, 1, "0 <= c <= n"),
])
def test_bad_arguments_raise(n, c, k, hint):
    with pytest.raises(ValueError, match=hint.replace("(", r"\(")):
        pass_at_k(n, c, k)


def test_mean_curve_and_groups():
    counts = {"a1": (4, 0), "a2": (4, 4), "b1": (4, 2)}
    assert mean_pass_at_k(counts.values(), 1) == pytest.approx((0 + 1 + 0.5) / 3)
    assert mean_pass_at_k([], 1) == 0.0
    assert pass_curve(list(counts.values()), [1, 2, 8]) == {1: pytest.approx(0.5), 2: pytest.approx((0 + 1 + 5 / 6) / 3)}
    groups = by_group(counts, {"a1": "a", "a2": "a", "b1": "b"}, [1, 2])
    assert list(groups) == ["a", "b"]
    assert groups["a"] == {"problems": 2, "pass@k": {"pass@1": 0.5, "pass@2": 0.5}}
    assert groups["b"]["pass@k"]["pass@2"] == pytest.approx(5 / 6)


def test_summary_with_correction_and_equal_budget():
    results = [
        ProblemResult("p1", "amc", n=4, c=0, m=4, c_corrected=2, fixes_tried=4, fixes_valid=2),
        ProblemResult("p2", "mathd", n=4, c=1, m=4, c_corrected=1, fixes_tried=3, fixes_valid=0),
    ]
    s = summarize(results, [1, 2, 4], correction=True, meta={"dataset": "x"})
    assert s["dataset"] == "x" and s["problems"] == 2 and s["n"] == 4
    assert s["pass@k"]["pass@1"] == pytest.approx((0 + 0.25) / 2)
    assert s["correction"]["pass@k"]["pass@1"] == pytest.approx((0.5 + 0.25) / 2)
    assert s["correction"]["fix_rate"] == pytest.approx(2 / 7)
    rows = {r["generations"]: r for r in s["correction"]["equal_budget"]}
    assert sorted(rows) == [2, 4]  # 2 = even k and 2*1; 4 = even k and 2*2; 8 > n
    assert rows[4]["pass_attempts_only"] == pytest.approx(mean_pass_at_k([(4, 0), (4, 1)], 4))
    assert rows[4]["pass_with_correction"] == pytest.approx(mean_pass_at_k([(4, 2), (4, 1)], 2))
    assert rows[4]["gain"] == pytest.approx(rows[4]["pass_with_correction"] - rows[4]["pass_attempts_only"])
    assert s["by_source"]["amc"]["pass@k_corrected"]["pass@1"] == pytest.approx(0.5)
    assert s["per_problem"]["p1"] == {"source": "amc", "n": 4, "c": 0, "m": 4, "c_corrected": 2}
    assert equal_budget(results, [1]) == [rows[2]]


def test_curve_ks():
    assert curve_ks(4) == [1, 2, 3, 4]
    assert curve_ks(100, [3]) == [1, 2, 3, 4, 8, 16, 32, 64, 100]
    assert curve_ks(0) == []
