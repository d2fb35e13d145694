import json

import pytest

from conftest import EXAMPLE_JSON
from graphfx import AudioGraph, GraphError


def broken(mutate):
    obj = json.loads(EXAMPLE_JSON)
    mutate(obj)
    return obj


CASES = {
    "duplicate-id": (lambda o: o["nodes"].append({"id": "m", "type": "mix"}), "m"),
    "unknown-type": (lambda o: o["nodes"][3].update(type="warp_drive"), "d2"),
    "unknown-param": (lambda o: o["nodes"][3].update(params={"drive": 1}), "d2"),
    "param-range": (lambda o: o["nodes"][1].update(params={"frequency": 5}), "x"),
    "bad-track": (lambda o: o["nodes"][3].update(track="cowbell"), "d2"),
    "terminal": (lambda o: o["nodes"].append({"id": "out2", "type": "out"}), None),
    "unknown-node": (lambda o: o["edges"].append({"src": "ghost", "dst": "m"}), "ghost"),
    "unknown-port": (lambda o: o["edges"][1].update(outlet="middle"), "x"),
    "port-kind": (lambda o: (o["nodes"].append({"id": "l", "type": "lfo"}),
                             o["edges"].append({"src": "l", "dst": "m", "outlet": "lfo"})), "m"),
    "duplicate-edge": (lambda o: o["edges"].append({"src": "d1", "dst": "m"}), "m"),
    "cycle": (lambda o: o["edges"].append({"src": "m", "dst": "x"}), None),
    "missing-input": (lambda o: o["edges"].pop(2), "d2"),
    "unreachable": (lambda o: (o["nodes"].append({"id": "r", "type": "reverb"}),
                               o["edges"].append({"src": "in", "dst": "r"})), "r"),
}


@pytest.mark.parametrize("rule", list(CASES))
def test_each_rule_is_reported_with_its_node(rule):
    mutate, node = CASES[rule]
    graph = AudioGraph.from_dict(broken(mutate))
    with pytest.raises(GraphError) as info:
        graph.validate()
    assert info.value.rule == rule
    if node is not None:
        assert info.value.node == node
        assert repr(node) in str(info.value)
    assert not graph.is_valid()


def test_cycle_names_a_node_on_the_cycle():
    graph = AudioGraph.from_dict(broken(CASES["cycle"][0]))
    with pytest.raises(GraphError) as info:
        graph.validate()
    assert info.value.node in {"x", "d1", "d2", "m"}


@pytest.mark.parametrize("text, fragment", [
    ("{", "malformed JSON"),
    ("[]", "JSON object"),
    ('{"nodes": 3, "edges": []}', "'nodes' must be a list"),
    ('{"nodes": [], "edges": {}}', "'edges' must be a list"),
    ('{"nodes": [{"type": "in"}], "edges": []}', "non-empty string 'id'"),
    ('{"nodes": [{"id": "a", "type": "bell", "params": {"q": "high"}}], "edges": []}', "must be a number"),
    ('{"nodes": [{"id": "a", "type": "bell", "colour": 1}], "edges": []}', "unknown field"),
    ('{"nodes": [], "edges": [{"src": "a"}]}', "string 'dst'"),
    ('{"nodes": [], "edges": [{"src": "a", "dst": "b", "gain": "loud"}]}', "finite number"),
    ('{"format": "other", "nodes": [], "edges": []}', "format"),
    ('{"version": 9, "nodes": [], "edges": []}', "version"),
    ('{"sample_rate": -1, "nodes": [], "edges": []}', "sample_rate"),
])
def test_malformed_files_raise_format_errors(text, fragment):
    with pytest.raises(GraphError) as info:
        AudioGraph.from_json(text)
    assert info.value.rule == "format"
    assert fragment in str(info.value)


def test_drum_graph_with_both_kinds_of_input_is_invalid():
    obj = broken(lambda o: (o["nodes"].append({"id": "kick", "type": "kick"}),
                            o["edges"].append({"src": "kick", "dst": "m"})))
    with pytest.raises(GraphError, match="cannot be combined"):
        AudioGraph.from_dict(obj).validate()


def test_nan_parameter_is_out_of_range():
    graph = AudioGraph.from_json(EXAMPLE_JSON)
    graph.node("x").params["frequency"] = float("nan")
    with pytest.raises(GraphError) as info:
        graph.validate()
    assert info.value.rule == "param-range"
