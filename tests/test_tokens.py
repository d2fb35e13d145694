import torch
from hypothesis import given, settings, strategies as st

from conftest import random_graph
from graphfx import catalog
from graphfx.canonical import bfs_order
from graphfx.tokens import (EDGE, END, NODE, START, Token, decoding_order, graph_to_tokens, tokens_from_rows,
                            tokens_to_graph)


def renamed(graph):
    """The graph with ids as tokens_to_graph names them (by decoding order)."""
    order = decoding_order(graph)
    counts, rename = {}, {}
    for node_id in order:
        node = graph.node(node_id)
        counts[node.type] = counts.get(node.type, 0) + 1
        rename[node_id] = node.type if node.spec.terminal else f"{node.type}_{counts[node.type]}"
    return {(rename[e.src], rename[e.dst], e.outlet, e.inlet, e.gain) for e in graph.edges}, \
        {rename[n.id]: (n.type, n.params, n.track) for n in graph.nodes}


def test_example_sequence(example_graph):
    tokens = graph_to_tokens(example_graph)
    kinds = tokens.kind.tolist()
    assert kinds[0] == START and kinds[-1] == END
    assert kinds.count(NODE) == 6 and kinds.count(EDGE) == 6
    # out comes first, then the mix and the edge joining them.
    assert catalog.NODE_TYPES[int(tokens.proc_type[1])] == "out"
    assert catalog.NODE_TYPES[int(tokens.proc_type[2])] == "mix"
    assert kinds[3] == EDGE and (int(tokens.src[3]), int(tokens.dst[3])) == (1, 0)
    # every edge token joins the node just emitted to an earlier one
    latest = -1
    for t in range(len(tokens)):
        if kinds[t] == NODE:
            latest = int(tokens.src[t])
        elif kinds[t] == EDGE:
            assert latest in (int(tokens.src[t]), int(tokens.dst[t]))
            assert max(int(tokens.src[t]), int(tokens.dst[t])) == latest


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 10**6), drums=st.booleans())
def test_round_trip_is_exact(seed, drums):
    g = random_graph(seed, drums=drums)
    tokens = graph_to_tokens(g)
    back = tokens_to_graph(tokens, g.sample_rate)
    back.validate()
    assert renamed(back) == renamed(g)
    assert graph_to_tokens(back) == tokens


def test_drum_order_puts_the_bus_first_then_tracks():
    g = random_graph(4, drums=True)
    order = decoding_order(g)
    groups = []
    for node_id in order:
        node = g.node(node_id)
        track = node.type if node.type in catalog.DRUM_SOURCES else node.track
        groups.append(catalog.DRUM_SOURCES.index(track) + 1 if track in catalog.DRUM_SOURCES else 0)
    assert groups == sorted(groups) and order[0] == "out"
    assert set(order) == set(bfs_order(g))


def test_prototype_decoding_ignores_parameters(example_graph):
    proto = tokens_to_graph(graph_to_tokens(example_graph), params=False)
    assert all(n.params == catalog.get(n.type).defaults() for n in proto.nodes)


def test_padding_after_end_is_ignored(example_graph):
    tokens = graph_to_tokens(example_graph)
    padded = type(tokens)(**{k: torch.cat([v, torch.zeros_like(v[:3])]) for k, v in tokens.as_dict().items()})
    assert renamed(tokens_to_graph(padded)) == renamed(example_graph)


def test_pad_tokens_batches_sequences():
    from graphfx.tokens import PAD, pad_tokens

    a, b = graph_to_tokens(random_graph(1)), graph_to_tokens(random_graph(2, max_nodes=20))
    batch = pad_tokens([a, b])
    length = max(len(a), len(b))
    assert batch.kind.shape == (2, length) and batch.params.shape == (2, length, catalog.MAX_PARAMS)
    short = 0 if len(a) < len(b) else 1
    n = min(len(a), len(b))
    assert (batch.kind[short, n:] == PAD).all() and (batch.src[short, n:] == -1).all()
    assert torch.equal(batch.kind[1 - short], (b if short == 0 else a).kind)


def test_tokens_to_graph_tolerates_odd_sequences():
    tokens = graph_to_tokens(random_graph(3, drums=True))
    assert tokens_to_graph(tokens).decode_issues == []
    T, O, I = catalog.TYPE_INDEX, catalog.OUTLET_INDEX, catalog.INLET_INDEX
    rows = [Token(START), Token(NODE, 0, 0, T["out"]), Token(EDGE, 5, 0, outlet=0, inlet=0),
            Token(NODE, 1, 1, T["out"]), Token(EDGE, 1, 0, outlet=O["lfo"], inlet=I["in"])]
    graph = tokens_to_graph(tokens_from_rows(rows))
    assert len(graph.nodes) == 2 and len(graph.edges) == 1 and not graph.is_valid()
    assert any("not decoded" in issue for issue in graph.decode_issues)
    assert "no end token" in graph.decode_issues


def test_rows_and_sequences_convert_both_ways(example_graph):
    from graphfx.tokens import batch_from_rows, tokens_to_rows

    tokens = graph_to_tokens(example_graph)
    padded = type(tokens)(**{k: torch.cat([v, torch.zeros_like(v[:3])]) for k, v in tokens.as_dict().items()})
    rows = tokens_to_rows(padded)  # up to end, padding dropped
    assert rows[0] == Token(START) and rows[-1] == Token(END) and len(rows) == len(tokens)
    assert tokens_from_rows(rows, tokens.params, tokens.gain) == tokens
    batch = batch_from_rows([rows, rows])
    assert batch.kind.shape == (2, len(rows)) and torch.equal(batch.src[1], tokens.src)
    assert tokens.to("cpu") == tokens


def test_tokenize_transform_gives_items_their_graph_and_tokens(example_graph):
    from graphfx.datasets import Tokenize

    data = example_graph.to_hetero()
    item = Tokenize()(data)
    assert item.graph == example_graph and item.tokens == graph_to_tokens(example_graph)
    assert "tokens" not in data  # PyG transforms leave their input alone
