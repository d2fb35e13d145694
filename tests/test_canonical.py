import itertools
import random

from hypothesis import given, settings, strategies as st

from conftest import chain, random_graph
from graphfx import AudioGraph
from graphfx.canonical import bfs_order, canonical_form, lti_reorder
from graphfx.graph import Edge, Node

LTI = ["bell", "lowpass", "highshelf", "delay"]


def types_along_chain(graph):
    order, node = [], "in"
    while node != "out":
        (edge,) = graph.out_edges(node)
        node = edge.dst
        order.append(graph.node(node).type)
    return order[:-1]


def test_every_permutation_of_an_lti_chain_has_one_canonical_form():
    forms = {canonical_form(chain(list(p))).to_json() for p in itertools.permutations(LTI)}
    assert len(forms) == 1


def test_reordering_stops_at_non_lti_nodes():
    a = lti_reorder(chain(["bell", "lowpass", "compressor", "highpass", "lowshelf"]))
    assert types_along_chain(a) == ["lowpass", "bell", "compressor", "highpass", "lowshelf"]
    b = canonical_form(chain(["lowpass", "compressor", "bell"]))
    assert canonical_form(chain(["bell", "compressor", "lowpass"])) != b


def test_parameters_travel_with_nodes_and_gains_stay_in_place():
    g = chain(["bell", "lowpass"])
    g.node("n0").params["gain"] = 6.0
    g.node("n1").params["frequency"] = 300.0
    g.edges = [Edge(e.src, e.dst, gain=float(i + 2)) for i, e in enumerate(g.edges)]
    r = lti_reorder(g)
    assert types_along_chain(r) == ["lowpass", "bell"]
    assert r.node("n0").params["gain"] == 6.0 and r.node("n1").params["frequency"] == 300.0
    assert [e.gain for e in r.edges] == [2.0, 3.0, 4.0]
    assert [(e.src, e.dst) for e in r.edges] == [("in", "n1"), ("n1", "n0"), ("n0", "out")]


def test_modulated_filters_are_not_moved():
    g = chain(["bell", "lowpass"])
    g.nodes.insert(1, Node("l", "lfo"))
    g.edges.append(Edge("l", "n0", "lfo", "frequency"))
    assert types_along_chain(lti_reorder(g)) == ["bell", "lowpass"]


def multiband(before: bool):
    """A crossover block (split, two filters, mix) and a highshelf, in either order."""
    nodes = [Node("in", "in"), Node("x", "crossover"), Node("a", "lowpass"), Node("b", "bell"),
             Node("m", "mix"), Node("h", "highshelf"), Node("out", "out")]
    inner = [Edge("x", "a", "low"), Edge("x", "b", "high"), Edge("a", "m"), Edge("b", "m")]
    outer = ([Edge("in", "h"), Edge("h", "x"), Edge("m", "out")] if before
             else [Edge("in", "x"), Edge("m", "h"), Edge("h", "out")])
    return AudioGraph(nodes, inner + outer)


def test_lti_subgraphs_move_as_one_block():
    assert canonical_form(multiband(True)) == canonical_form(multiband(False))
    r = lti_reorder(multiband(False))
    # The single node is smaller than the 4-node block, so it comes first.
    assert [e for e in r.edges if e.src == "in"][0].dst == "h"


def test_chains_inside_a_block_are_sorted_too():
    g = multiband(True)
    g.nodes.insert(3, Node("c", "lowshelf"))
    g.edges = [e for e in g.edges if (e.src, e.dst) != ("a", "m")] + [Edge("a", "c"), Edge("c", "m")]
    swapped = g.copy()
    swapped.node("a").type, swapped.node("c").type = "lowshelf", "lowpass"
    swapped.node("a").params, swapped.node("c").params = g.node("c").params, g.node("a").params
    assert canonical_form(g) == canonical_form(swapped)


def test_ids_and_list_order_do_not_matter():
    g = random_graph(7)
    rng = random.Random(0)
    rename = {n.id: (n.id if n.spec.terminal else f"zz{rng.random()}") for n in g.nodes}
    nodes = [Node(rename[n.id], n.type, n.params, n.track) for n in g.nodes]
    edges = [Edge(rename[e.src], rename[e.dst], e.outlet, e.inlet, e.gain) for e in g.edges]
    rng.shuffle(nodes)
    rng.shuffle(edges)
    assert canonical_form(AudioGraph(nodes, edges)) == canonical_form(g)


def test_bfs_order_starts_at_out_and_follows_ports(example_graph):
    order = bfs_order(example_graph)
    assert order[0] == "out" and order[1] == "m" and order[-1] == "in"
    assert set(order) == set(example_graph.node_ids)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**6), drums=st.booleans())
def test_canonical_form_is_valid_and_idempotent(seed, drums):
    g = random_graph(seed, drums=drums)
    c = canonical_form(g)
    c.validate()
    assert canonical_form(c) == c
    assert sorted(n.type for n in c.nodes) == sorted(n.type for n in g.nodes)
    assert len(c.edges) == len(g.edges)
