"""The theorem -> premise dependency graph of a statement set (networkx), and what it is used for.

* ``dependency_graph``: a ``networkx.DiGraph`` with an edge ``T -> P`` when the proof of
  theorem ``T`` uses premise ``P`` (``meta["premises"]``, from LeanDojo's annotated tactics).
  Nodes carry ``kind`` (``theorem`` when the set holds it, else ``premise``: a lemma of a
  dependency such as core Lean or Mathlib).
* ``dependency_depths``: a theorem's depth is the length of the longest chain of premises
  below it (0: uses no premise of the graph). Computed on the condensation (cycles, which
  Lean forbids within one repository but merged data sets may produce, become one node)
  with ``networkx.topological_generations``.
* ``curriculum_order``: theorems after the lemmas they use (by depth, then name).
* ``novel_premises_split``: LeanDojo's harder split: val/test theorems each use at least
  one premise that no training theorem uses (premises are taken from the least used up,
  all their users move to val/test, until val+test are full).
* ``graph_report``: sizes, premise in-degree (how many theorems use it), depth histogram,
  transitive closures of the deepest theorems / most used premises.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any, Sequence

import networkx as nx

from prover.types import Problem


def dependency_graph(problems: Sequence[Problem]) -> nx.DiGraph:
    """Edges ``theorem -> premise`` for every premise in ``meta["premises"]`` of every problem."""
    graph = nx.DiGraph()
    for p in problems:
        graph.add_node(p.id, kind="theorem", file=p.meta.get("file", ""), split=p.meta.get("split", ""))
    for p in problems:
        for premise in p.meta.get("premises", ()) or ():
            if premise == p.id:
                continue  # recursion through the theorem itself is no dependency
            if premise not in graph:
                graph.add_node(premise, kind="premise")
            graph.add_edge(p.id, premise)
    return graph


def dependency_depths(graph: nx.DiGraph) -> dict[str, int]:
    """Longest chain of premises below each node (strongly connected parts count as one node)."""
    cond = nx.condensation(graph)
    # In the reversed condensation, edges go premise -> user; generation k holds the nodes whose
    # longest chain from a premise-free node has length k.
    depth_of_scc: dict[int, int] = {}
    for k, generation in enumerate(nx.topological_generations(cond.reverse(copy=False))):
        for scc in generation:
            depth_of_scc[scc] = k
    mapping = cond.graph["mapping"]
    return {node: depth_of_scc[mapping[node]] for node in graph.nodes}


def curriculum_order(problems: Sequence[Problem], graph: nx.DiGraph | None = None) -> list[Problem]:
    """``problems`` ordered so every theorem comes after the theorems of the set it uses.

    Ties (same depth) keep a stable order by id. A theorem's depth counts premises outside
    the set too (a lemma of Mathlib used by it has depth >= 0), so deeper proofs come later.
    """
    graph = graph if graph is not None else dependency_graph(problems)
    depth = dependency_depths(graph)
    return sorted(problems, key=lambda p: (depth.get(p.id, 0), p.id))


def novel_premises_split(problems: Sequence[Problem], n_val: int, n_test: int, *, seed: int = 0,
                         graph: nx.DiGraph | None = None) -> dict[str, list[Problem]]:
    """LeanDojo's ``novel_premises`` split: every val/test theorem uses a premise unseen in train.

    Premises are visited from the least used (ties by name); all theorems using one go to
    val+test while fewer than ``n_val + n_test`` are there. The val+test theorems are
    shuffled with ``seed`` and cut into val (first ``n_val``) and test (the rest, so test
    may hold a few more than ``n_test`` when the last premise brought several). Train keeps
    the input order.
    """
    if n_val < 0 or n_test < 0:
        raise ValueError(f"n_val and n_test must be >= 0, got {n_val}, {n_test}")
    graph = graph if graph is not None else dependency_graph(problems)
    ids = {p.id for p in problems}
    premises = [n for n in graph.nodes if graph.in_degree(n) > 0]
    premises.sort(key=lambda n: (graph.in_degree(n), n))
    held: set[str] = set()
    for premise in premises:
        if len(held) >= n_val + n_test:
            break
        held.update(u for u in graph.predecessors(premise) if u in ids)
    held_list = sorted(held)
    random.Random(seed).shuffle(held_list)
    val_ids = set(held_list[:n_val])
    by_id = {p.id: p for p in problems}
    return {"train": [p for p in problems if p.id not in held],
            "val": [by_id[i] for i in held_list[:n_val]],
            "test": [by_id[i] for i in held_list[n_val:] if i not in val_ids]}


def random_split(problems: Sequence[Problem], n_val: int, n_test: int, *, seed: int = 0) -> dict[str, list[Problem]]:
    """LeanDojo's ``random`` split: ``n_val`` and ``n_test`` theorems drawn at random."""
    if n_val < 0 or n_test < 0 or n_val + n_test > len(problems):
        raise ValueError(f"need 0 <= n_val + n_test <= {len(problems)}, got {n_val} + {n_test}")
    order = list(range(len(problems)))
    random.Random(seed).shuffle(order)
    val, test = set(order[:n_val]), set(order[n_val:n_val + n_test])
    return {"train": [p for i, p in enumerate(problems) if i not in val and i not in test],
            "val": [problems[i] for i in sorted(val)], "test": [problems[i] for i in sorted(test)]}


def graph_report(graph: nx.DiGraph, *, top: int = 10) -> dict[str, Any]:
    """Sizes, premise use (in-degree), depth histogram and transitive closures, as plain JSON."""
    theorems = [n for n, k in graph.nodes(data="kind") if k == "theorem"]
    used = sorted(((n, graph.in_degree(n)) for n in graph.nodes if graph.in_degree(n) > 0),
                  key=lambda x: (-x[1], x[0]))
    depth = dependency_depths(graph) if graph.number_of_nodes() else {}
    deepest = sorted(theorems, key=lambda n: (-depth[n], n))[:top]
    cycles = [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]
    return {
        "theorems": len(theorems),
        "premises_outside_set": sum(1 for _, k in graph.nodes(data="kind") if k == "premise"),
        "edges": graph.number_of_edges(),
        "theorems_without_premises": sum(1 for n in theorems if graph.out_degree(n) == 0),
        "premise_in_degree_histogram": {str(k): v for k, v in sorted(Counter(d for _, d in used).items())},
        "most_used_premises": [{"premise": n, "used_by": d, "used_transitively_by": len(nx.ancestors(graph, n))}
                               for n, d in used[:top]],
        "depth_histogram": {str(k): v for k, v in sorted(Counter(depth[n] for n in theorems).items())},
        "max_depth": max((depth[n] for n in theorems), default=0),
        "deepest_theorems": [{"theorem": n, "depth": depth[n], "transitive_premises": len(nx.descendants(graph, n))}
                             for n in deepest],
        "cycles": cycles[:top],
        "weak_components": nx.number_weakly_connected_components(graph) if graph.number_of_nodes() else 0,
    }


__all__ = ["curriculum_order", "dependency_depths", "dependency_graph", "graph_report", "novel_premises_split",
           "random_split"]
