"""Constrained decoding: ground truth always allowed, random decoding always valid."""
import random

import pytest
import torch

from graphfx import catalog
from graphfx.decoders.constraints import NUM_TRACK_CLASSES, DecodingConstraints, check_sequence, choose_unconstrained
from graphfx.errors import GraphFXError
from graphfx.synth.prototype import PrototypeConfig, sample_prototype
from graphfx.tokens import EDGE, END, KINDS, NODE, START, Token, graph_to_tokens, tokens_from_rows, tokens_to_graph

T = catalog.TYPE_INDEX
O = catalog.OUTLET_INDEX
I = catalog.INLET_INDEX


def _prototype(seed, drums):
    rng = random.Random(seed)
    if drums:
        inputs = sorted(rng.sample(catalog.DRUM_SOURCES, rng.randint(1, 6)), key=catalog.DRUM_SOURCES.index)
    else:
        inputs = ["in"]
    return sample_prototype(rng, PrototypeConfig(), inputs)


@pytest.mark.parametrize("drums", [False, True])
def test_ground_truth_sequences_are_always_allowed(drums):
    for seed in range(150):
        tokens = graph_to_tokens(_prototype(seed, drums))
        for task in ("drums" if drums else "singing", "auto"):
            assert check_sequence(tokens, task) is None, (seed, task)


def test_ground_truth_wrong_task_is_rejected():
    singing = graph_to_tokens(_prototype(1, drums=False))
    drums = graph_to_tokens(_prototype(2, drums=True))
    assert check_sequence(singing, "drums") is not None
    assert check_sequence(drums, "singing") is not None


def _random_logits(gen, max_nodes, kind_bias):
    return {"kind": torch.randn(len(KINDS), generator=gen) * 2 + kind_bias,
            "proc_type": torch.randn(len(catalog.NODE_TYPES), generator=gen) * 3,
            "track": torch.randn(NUM_TRACK_CLASSES, generator=gen),
            "src": torch.randn(max_nodes, generator=gen), "dst": torch.randn(max_nodes, generator=gen),
            "outlet": torch.randn(len(catalog.OUTLETS), generator=gen),
            "inlet": torch.randn(len(catalog.INLETS), generator=gen)}


def test_random_logits_always_decode_valid_graphs():
    gen = torch.Generator().manual_seed(0)
    biases = [torch.zeros(len(KINDS)), torch.tensor([0, 0, 3.0, 0, 0]), torch.tensor([0, 0, 0, 3.0, 0])]
    tasks = {"singing": set(), "drums": set(), "auto": set()}
    for k in range(200):
        task = list(tasks)[k % 3]
        max_tokens = [24, 48, 96, 160][k % 4]
        max_nodes = [64, 12, 32][k % 3 if k % 7 else 1]
        c = DecodingConstraints(task, max_tokens=max_tokens, max_nodes=max_nodes)
        rows = [Token(START)]
        while not c.done:
            tok = c.choose(_random_logits(gen, max_nodes, biases[(k // 3) % 3]))
            c.update(tok)  # checks that the chosen token is allowed
            rows.append(tok)
        assert rows[-1].kind == END and len(rows) <= max_tokens and c.num_nodes <= max_nodes
        graph = tokens_to_graph(tokens_from_rows(rows)).validate()
        assert graph.decode_issues == []
        types = {n.type for n in graph.nodes}
        tasks[task] |= types
        if task == "singing":
            assert "in" in types and not types & set(catalog.DRUM_SOURCES)
            assert all(n.track is None for n in graph.nodes)
        if task == "drums":
            assert "in" not in types and types & set(catalog.DRUM_SOURCES)
            assert all((n.track is None) == n.spec.terminal for n in graph.nodes)
    assert tasks["auto"] & {"in"} and tasks["auto"] & set(catalog.DRUM_SOURCES)  # both kinds of graph happen


def test_first_token_is_out_and_end_needs_a_valid_graph():
    c = DecodingConstraints("singing")
    assert c.kind_mask() == [k == NODE for k in range(len(KINDS))]
    assert [i for i, ok in enumerate(c.type_mask()) if ok] == [T["out"]]
    assert [i for i, ok in enumerate(c.track_mask(T["out"])) if ok] == [0]
    c.update(Token(NODE, 0, 0, T["out"]))
    assert not c.kind_mask()[END] and not c.kind_mask()[EDGE]
    assert not c.type_mask()[T["out"]] and not c.type_mask()[T["kick"]] and c.type_mask()[T["in"]]
    c.update(Token(NODE, 1, 1, T["in"]))
    assert not c.kind_mask()[END]  # in is not connected yet
    assert not c.kind_mask()[NODE] or not c.type_mask()[T["in"]]  # a second in never
    assert [i for i, ok in enumerate(c.src_mask()) if ok] == [1]
    assert [i for i, ok in enumerate(c.dst_mask(1)) if ok] == [0]
    assert [i for i, ok in enumerate(c.inlet_mask(1, 0, O["out"])) if ok] == [I["in"]]
    c.update(Token(EDGE, 1, 0, outlet=O["out"], inlet=I["in"]))
    assert c.kind_mask()[END]
    assert not c.src_mask()[1]  # no duplicate edge
    with pytest.raises(GraphFXError):
        c.update(Token(EDGE, 1, 0, outlet=O["out"], inlet=I["in"]))
    c.update(Token(END))
    assert c.done and not any(c.kind_mask())


def test_ports_kinds_cycles_and_tracks():
    c = DecodingConstraints("drums")
    for tok in [Token(NODE, 0, 0, T["out"]), Token(NODE, 1, 1, T["mix"], track=catalog.TRACKS.index("bus")),
                Token(EDGE, 1, 0, outlet=O["out"], inlet=I["in"])]:
        c.update(tok)
    assert not c.type_mask()[T["in"]] and c.type_mask()[T["kick"]]
    assert not c.track_mask(T["lowpass"])[0] and all(c.track_mask(T["lowpass"])[1:])
    assert c.track_mask(T["kick"]) == [k == 0 for k in range(NUM_TRACK_CLASSES)]
    c.update(Token(NODE, 2, 2, T["lfo"], track=0))
    # an lfo drives control inlets only: [out] and [mix] have none, so no edge at all
    assert not c.kind_mask()[EDGE] and not any(c.src_mask())
    c.update(Token(NODE, 3, 3, T["lowpass"], track=0))
    assert c.inlet_mask(2, 3, O["lfo"]) == [i == I["frequency"] for i in range(len(catalog.INLETS))]
    assert c.outlet_mask(3, 1) == [o == O["out"] for o in range(len(catalog.OUTLETS))]
    c.update(Token(EDGE, 3, 1, outlet=O["out"], inlet=I["in"]))
    # mix reaches lowpass? no: lowpass -> mix; mix -> lowpass would close a cycle
    assert not c.dst_mask(1)[3] and not c.src_mask()[1]
    assert not c.allows(Token(EDGE, 0, 3, outlet=O["out"], inlet=I["in"]))  # [out] has no outlet
    assert not c.allows(Token(EDGE, 0, 2, outlet=O["out"], inlet=I["in"]))  # not touching the newest node
    c.update(Token(EDGE, 2, 3, outlet=O["lfo"], inlet=I["frequency"]))
    c.update(Token(NODE, 4, 4, T["kick"]))
    assert not c.type_mask()[T["kick"]] and c.type_mask()[T["snare"]]
    c.update(Token(EDGE, 4, 3, outlet=O["out"], inlet=I["in"]))
    assert c.kind_mask()[END]
    c.update(Token(END))


def test_closing_is_forced_near_max_tokens():
    c = DecodingConstraints("singing", max_tokens=5)
    rows = [Token(START)]
    while not c.done:
        assert c.closing
        tok = c.choose({})
        c.update(tok)
        rows.append(tok)
    graph = tokens_to_graph(tokens_from_rows(rows)).validate()
    assert [n.type for n in graph.nodes] == ["out", "in"] and len(rows) == 5
    with pytest.raises(GraphFXError, match="too small"):
        DecodingConstraints(max_tokens=4)
    with pytest.raises(GraphFXError, match="unknown task"):
        DecodingConstraints("speech")


def test_a_dangling_node_is_completed_by_the_plan():
    # ground truth of drum graphs may leave a node unconnected for a while; the plan closes it
    c = DecodingConstraints("drums", max_tokens=64)
    for tok in [Token(NODE, 0, 0, T["out"]), Token(NODE, 1, 1, T["kick"]), Token(NODE, 2, 2, T["lfo"], track=0)]:
        c.update(tok)
    plan = c.plan()
    assert plan[-1].kind == END
    rows = [Token(START), Token(NODE, 0, 0, T["out"]), Token(NODE, 1, 1, T["kick"]),
            Token(NODE, 2, 2, T["lfo"], track=0)] + plan
    tokens_to_graph(tokens_from_rows(rows)).validate()


def test_wanting_to_end_an_incomplete_graph_closes_it_instead_of_growing_it():
    c = DecodingConstraints("singing", max_tokens=256)
    prefix = [Token(NODE, 0, 0, T["out"]), Token(NODE, 1, 1, T["pan"]),
              Token(EDGE, 1, 0, outlet=O["out"], inlet=I["in"]), Token(NODE, 2, 2, T["in"])]  # pan's input is open
    for tok in prefix:
        c.update(tok)
    # A decoder that only wants to stop, and would otherwise rather add a node than an edge.
    prefers_end = {"kind": [0.0, 0.0, 1.0, 0.5, 2.0], "proc_type": [1.0] * len(catalog.NODE_TYPES)}
    rows = [Token(START)] + prefix
    while not c.done:
        tok = c.choose(prefers_end)
        c.update(tok)
        rows.append(tok)
    assert c.finishing
    graph = tokens_to_graph(tokens_from_rows(rows)).validate()
    assert sorted(n.type for n in graph.nodes) == ["in", "out", "pan"] and len(rows) == len(prefix) + 3


def test_unconstrained_choice_is_plain_argmax():
    logits = {"kind": [9.0, 9.0, 0.0, 1.0, 0.0], "src": [0.0, 5.0, 1.0], "dst": [3.0, 0.0, 0.0],
              "outlet": [0.0, 1.0], "inlet": [2.0, 1.0]}
    assert choose_unconstrained(logits, 2) == Token(EDGE, 1, 0, outlet=1, inlet=0)  # pad/start never
