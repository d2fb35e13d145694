import json

import networkx as nx
import pytest
from hypothesis import given, settings, strategies as st
from torch_geometric.data import Batch, HeteroData

from conftest import chain, random_graph
from graphfx import AudioGraph, catalog
from graphfx.graph import Edge


def test_example_file_parses_with_defaults(example_graph):
    g = example_graph
    assert g.node_ids == ["in", "x", "d1", "d2", "m", "out"]
    assert g.node("x").params == {"frequency": 800.0}
    assert g.node("d2").params == catalog.get("distortion").defaults()
    assert g.edges[1] == Edge("x", "d1", "low", "in", 1.0)
    assert g.edges[4].gain == 0.5
    g.validate()


def test_json_round_trip(example_graph, tmp_path):
    again = AudioGraph.from_json(example_graph.to_json())
    assert again == example_graph
    path = tmp_path / "g.json"
    example_graph.save(str(path))
    assert AudioGraph.load(str(path)) == example_graph
    assert json.loads(path.read_text())["format"] == "graphfx.graph"


def test_json_writes_defaults_compactly(example_graph):
    edges = json.loads(example_graph.to_json())["edges"]
    assert edges[0] == {"src": "in", "dst": "x"}
    assert edges[1] == {"src": "x", "dst": "d1", "outlet": "low"}


def test_hetero_layout(example_graph):
    data = example_graph.to_hetero()
    assert isinstance(data, HeteroData)
    assert data.node_types == ["proc"]
    store = data["proc"]
    assert store.num_nodes == 6
    assert store.proc_type.tolist() == [catalog.TYPE_INDEX[t] for t in
                                        ["in", "crossover", "distortion", "distortion", "mix", "out"]]
    assert store.params.shape == (6, catalog.MAX_PARAMS)
    assert store.param_mask.sum(1).tolist() == [0, 1, 3, 3, 0, 0]
    assert float(store.params[1, 0]) == pytest.approx(catalog.get("crossover").param("frequency").normalize(800))
    edges = data["proc", "to", "proc"]
    assert edges.edge_index.tolist() == [[0, 1, 1, 2, 3, 4], [1, 2, 3, 4, 4, 5]]
    assert edges.port[1].tolist() == [catalog.OUTLET_INDEX["low"], catalog.INLET_INDEX["in"]]
    assert edges.gain.tolist() == [1, 1, 1, 1, 0.5, 1]
    data.validate(raise_on_error=True)
    assert AudioGraph.from_hetero(data) == example_graph


def test_batching_many_different_graphs():
    graphs = [random_graph(s) for s in range(8)] + [random_graph(s, drums=True) for s in range(8)]
    batch = Batch.from_data_list([g.to_hetero() for g in graphs])
    assert batch["proc"].num_nodes == sum(len(g.nodes) for g in graphs)
    assert batch["proc"].batch.max().item() == len(graphs) - 1
    for i, g in enumerate(graphs):
        assert AudioGraph.from_hetero(batch.get_example(i)) == g


def test_networkx_round_trip(example_graph):
    g = example_graph.to_networkx()
    assert isinstance(g, nx.MultiDiGraph)
    assert g.nodes["x"]["type"] == "crossover"
    assert nx.is_directed_acyclic_graph(g)
    assert AudioGraph.from_networkx(g) == example_graph


def test_edge_cases_of_the_format():
    g = AudioGraph.from_json('{"nodes": [{"id": "in", "type": "in"}, {"id": "out", "type": "out"}],'
                             ' "edges": [{"src": "in", "dst": "out"}]}')
    assert g.sample_rate == 44100 and g.validate() is g
    assert AudioGraph.from_hetero(g.to_hetero()) == g


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10**6), drums=st.booleans())
def test_random_graphs_round_trip_everywhere(seed, drums):
    g = random_graph(seed, drums=drums)
    g.validate()
    via_json = AudioGraph.from_json(g.to_json())
    assert via_json == g
    assert AudioGraph.from_hetero(via_json.to_hetero()) == g
    assert AudioGraph.from_networkx(g.to_networkx()) == g


def test_topological_order_respects_edges(example_graph):
    order = example_graph.topological_order()
    position = {n: i for i, n in enumerate(order)}
    assert all(position[e.src] < position[e.dst] for e in example_graph.edges)


def test_copy_is_independent(example_graph):
    c = example_graph.copy()
    c.node("x").params["frequency"] = 100.0
    assert example_graph.node("x").params["frequency"] == 800.0


def test_drum_graph_detection():
    assert not chain(["bell"]).is_drum_graph()
    assert random_graph(3, drums=True).is_drum_graph()
