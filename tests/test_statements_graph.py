"""The theorem -> premise graph (networkx): depths, curriculum order, novel-premises split, reports."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import pytest

from prover.data import dojo, graph
from prover.types import Problem

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "leandojo_mini"


@pytest.fixture(scope="module")
def problems() -> list[Problem]:
    return [p for s in ("train", "val", "test") for p in dojo.load_leandojo(FIXTURE, s)]


def _p(name: str, *premises: str) -> Problem:
    return Problem(id=name, domain="lean", statement=f"theorem {name} : True := by", meta={"premises": list(premises)})


def test_graph_has_an_edge_per_premise_use(problems):
    g = graph.dependency_graph(problems)
    assert isinstance(g, nx.DiGraph)
    assert set(g.successors("Mini.two_mul_pos")) == {"Mini.double_eq", "Mini.double_pos"}
    assert g.nodes["Mini.double_eq"]["kind"] == "theorem"
    assert g.nodes["Nat.le_add_right"]["kind"] == "premise"
    assert g.number_of_edges() == sum(len(p.meta["premises"]) for p in problems)


def test_depth_is_the_longest_premise_chain(problems):
    depth = graph.dependency_depths(graph.dependency_graph(problems))
    assert depth["Nat.le_add_right"] == 0 and depth["Mini.double_eq"] == 0
    assert depth["Mini.le_double"] == 1
    assert depth["Mini.double_pos"] == 2      # -> le_double -> Nat.le_add_right
    assert depth["Mini.two_mul_pos"] == 3     # -> double_pos
    assert depth["Mini.two_mul_succ_pos"] == 4


def test_curriculum_puts_every_theorem_after_the_lemmas_it_uses(problems):
    order = graph.curriculum_order(problems)
    assert sorted(p.id for p in order) == sorted(p.id for p in problems)
    pos = {p.id: i for i, p in enumerate(order)}
    g = graph.dependency_graph(problems)
    edges_in_set = [(t, q) for t, q in g.edges if q in pos]
    assert edges_in_set  # the fixture has in-set dependencies
    assert all(pos[q] < pos[t] for t, q in edges_in_set)
    # also on a reversed input order
    rev = graph.curriculum_order(list(reversed(problems)))
    pos = {p.id: i for i, p in enumerate(rev)}
    assert all(pos[q] < pos[t] for t, q in edges_in_set)


def test_cycles_do_not_break_the_order():
    ps = [_p("A", "B"), _p("B", "A"), _p("C", "A"), _p("D")]
    depth = graph.dependency_depths(graph.dependency_graph(ps))
    assert depth["A"] == depth["B"] == 0 and depth["C"] == 1
    order = [p.id for p in graph.curriculum_order(ps)]
    assert order.index("C") > order.index("A")
    assert graph.graph_report(graph.dependency_graph(ps))["cycles"] == [["A", "B"]]


def test_novel_premises_split_keeps_every_held_out_theorem_s_new_premise_out_of_train(problems):
    parts = graph.novel_premises_split(problems, n_val=2, n_test=2, seed=1)
    ids = [p.id for part in parts.values() for p in part]
    assert sorted(ids) == sorted(p.id for p in problems)  # a partition
    assert len(parts["val"]) == 2 and len(parts["test"]) >= 2
    train_premises = {q for p in parts["train"] for q in p.meta["premises"]}
    for p in parts["val"] + parts["test"]:
        assert set(p.meta["premises"]) - train_premises, f"{p.id} uses no premise unseen in train"
    # deterministic for a seed
    again = graph.novel_premises_split(problems, n_val=2, n_test=2, seed=1)
    assert [p.id for p in again["test"]] == [p.id for p in parts["test"]]


def test_random_split_sizes(problems):
    parts = graph.random_split(problems, 2, 3, seed=0)
    assert (len(parts["val"]), len(parts["test"])) == (2, 3)
    assert len(parts["train"]) == len(problems) - 5
    with pytest.raises(ValueError):
        graph.random_split(problems, len(problems), 1)


def test_report_counts_premise_use_and_depths(problems):
    rep = graph.graph_report(graph.dependency_graph(problems), top=3)
    assert rep["theorems"] == len(problems) == 12
    assert rep["max_depth"] == 4
    assert rep["depth_histogram"]["4"] == 1
    assert sum(rep["depth_histogram"].values()) == 12
    # three premises are used by two theorems each; ties go by name
    assert rep["most_used_premises"][0] == {"premise": "List.length_append", "used_by": 2, "used_transitively_by": 2}
    assert rep["premise_in_degree_histogram"]["2"] == 3
    assert rep["most_used_premises"][1]["premise"] == "Mini.double_eq"
    assert rep["most_used_premises"][1]["used_transitively_by"] == 3  # two_mul_pos, length_append_self, two_mul_succ_pos
    assert rep["deepest_theorems"][0] == {"theorem": "Mini.two_mul_succ_pos", "depth": 4,
                                          "transitive_premises": len(nx.descendants(graph.dependency_graph(problems),
                                                                                    "Mini.two_mul_succ_pos"))}
    assert rep["cycles"] == []
