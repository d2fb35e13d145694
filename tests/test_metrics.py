import math

import pytest
import torch

from conftest import EXAMPLE_JSON, chain
from graphfx import AudioGraph
from graphfx.graph import Edge, Node
from graphfx.metrics import (invalid_rate, mean_ci, mss_between_graphs, node_type_iou, parameter_loss, summarize,
                             token_error_rates, with_default_params)
from graphfx.tokens import Tokens, graph_to_tokens, pad_tokens


def test_iou_of_type_multisets():
    a = chain(["bell", "bell", "reverb"])
    b = chain(["bell", "delay"])
    # a: in, out, bell x2, reverb; b: in, out, bell, delay -> intersection 3, union 6
    assert node_type_iou(a, b) == pytest.approx(3 / 6)
    assert node_type_iou(a, a) == 1.0


def test_consensus_is_the_expected_iou_against_the_pool():
    from graphfx.metrics import consensus

    a, b = chain(["bell"]), chain(["bell", "lowpass"])  # IOU 3/4 (in and out count)
    assert consensus([a, b]) == pytest.approx([(1 + 0.75) / 2, (0.75 + 1) / 2])
    assert consensus([a, b], votes=[1, 3]) == pytest.approx([(1 + 3 * 0.75) / 4, (0.75 + 3) / 4])
    assert consensus([a]) == [1.0]


def test_drum_iou_averages_bus_and_tracks():
    truth = AudioGraph([Node("kick", "kick"), Node("k1", "compressor", track="kick"), Node("snare", "snare"),
                        Node("m", "mix", track="bus"), Node("out", "out")],
                       [Edge("kick", "k1"), Edge("k1", "m"), Edge("snare", "m"), Edge("m", "out")])
    estimate = AudioGraph([Node("kick", "kick"), Node("m", "mix", track="bus"), Node("out", "out")],
                          [Edge("kick", "m"), Edge("m", "out")])
    # bus {mix, out} vs {mix, out}: 1; kick {kick, compressor} vs {kick}: 1/2; snare {snare} vs {}: 0
    assert node_type_iou(truth, estimate) == pytest.approx((1 + 0.5 + 0) / 3)


def test_invalid_rate():
    good = chain(["bell"])
    bad = chain(["bell"])
    bad.edges.append(Edge("n0", "n0"))  # a self loop: a cycle
    assert invalid_rate([good, bad, good, bad]) == 0.5


def test_token_error_rates_count_node_and_edge_steps_separately(example_graph):
    target = pad_tokens([graph_to_tokens(example_graph)])
    assert token_error_rates(target, target) == {"node_error_rate": 0.0, "edge_error_rate": 0.0}
    wrong = pad_tokens([graph_to_tokens(example_graph)])
    nodes = (target.kind == 2).nonzero()
    edges = (target.kind == 3).nonzero()
    wrong.proc_type[tuple(nodes[0])] = 7           # one of 6 node steps gets a wrong type
    wrong.inlet[tuple(edges[0])] = 4               # one of 6 edge steps gets a wrong inlet
    wrong.dst[tuple(edges[1])] = 5                 # and another a wrong endpoint
    rates = token_error_rates(wrong, target)
    assert rates["node_error_rate"] == pytest.approx(1 / 6)
    assert rates["edge_error_rate"] == pytest.approx(2 / 6)


def test_parameter_loss_uses_the_mask():
    target = torch.tensor([[0.5, 0.5, 0.0]])
    predicted = torch.tensor([[0.75, 0.25, 1.0]])
    mask = torch.tensor([[True, True, False]])
    assert parameter_loss(predicted, target, mask) == pytest.approx(0.25)


def test_mss_between_graphs_zero_for_the_same_graph_and_default_params():
    g = AudioGraph.from_json(EXAMPLE_JSON)
    g.sample_rate = 16000
    dry = {"in": 0.1 * torch.randn(2, 1, 4000)}
    same = mss_between_graphs([g, g], [g, with_default_params(g)], dry, 16000)
    assert same[0] < 1e-6 and same[1] > 1e-3  # the defaults change the distortion
    broken = chain(["bell"])
    broken.edges.append(Edge("n0", "n0"))
    assert mss_between_graphs([g], [broken], {"in": dry["in"][:1]}, 16000)[0] > 0


def test_mean_ci_and_summary():
    mean, half = mean_ci([1.0, 2.0, 3.0])
    assert mean == 2.0 and half == pytest.approx(1.96 * 1.0 / math.sqrt(3))
    assert math.isnan(mean_ci([])[0]) and math.isnan(mean_ci([4.0])[1])
    summary = summarize([{"iou": 1.0}, {"iou": 0.5, "mss": 2.0}])
    assert summary["iou"][0] == 0.75 and summary["mss"][0] == 2.0


def _truth_and_guess():
    """Two true graphs (one with a drawn mix gain) and the perfect guess of them."""
    from graphfx.metrics import Guess
    g = AudioGraph.from_json(EXAMPLE_JSON)
    g.sample_rate = 16000
    h = chain(["bell", "compressor"], sample_rate=16000)
    truth = [g, h]
    tokens = pad_tokens([graph_to_tokens(x) for x in truth])
    predicted = Tokens(**{k: v[:, 1:] for k, v in tokens.as_dict().items()})
    return truth, tokens, Guess(graphs=list(truth), free=list(truth), predicted=predicted, completed=tokens)


def test_the_truth_scores_perfectly_on_every_metric():
    from graphfx.metrics import score
    truth, tokens, guess = _truth_and_guess()
    dry = {"in": 0.1 * torch.randn(2, 1, 4000, generator=torch.Generator().manual_seed(0))}
    for row in score(truth, tokens, guess, dry, 16000):
        assert row["iou"] == 1.0 and row["node_error_rate"] == 0 and row["edge_error_rate"] == 0
        assert row["invalid_rate"] == 0 and row["invalid_rate_unconstrained"] == 0
        for name in ("parameter_loss", "gain_loss", "mss_default", "mss_oracle", "mss_full"):
            assert row[name] < 1e-6, name


def test_one_wrong_node_scores_above_zero():
    from dataclasses import replace
    from graphfx.metrics import score
    truth, tokens, guess = _truth_and_guess()
    wrong = AudioGraph([Node(n.id, "lowpass" if n.type == "bell" else n.type,
                             {} if n.type == "bell" else n.params) for n in truth[1].nodes],
                       truth[1].edges, 16000)
    guess = replace(guess, graphs=[truth[0], wrong])
    dry = {"in": 0.1 * torch.randn(2, 1, 4000, generator=torch.Generator().manual_seed(0))}
    rows = score(truth, tokens, guess, dry, 16000)
    assert rows[1]["iou"] < 1 and rows[1]["mss_default"] > 1e-4 and rows[1]["mss_full"] > 1e-4
    assert rows[0]["mss_full"] < 1e-6


def test_default_params_reset_edge_gains_on_both_sides():
    g = AudioGraph.from_json(EXAMPLE_JSON)
    assert any(e.gain != 1 for e in g.edges)
    assert all(e.gain == 1 for e in with_default_params(g).edges)
