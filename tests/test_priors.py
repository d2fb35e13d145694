"""The constant prior: chosen on training graphs, the same answer for every clip."""
import random

import torch

from graphfx.metrics import mean_ci, node_type_iou
from graphfx.priors import ConstantPrior, greedy_chain, mean_iou, median_gains, median_params
from graphfx.synth.prototype import PrototypeConfig, sample_prototype
from graphfx.tokens import END, graph_to_tokens, pad_tokens

from conftest import chain


def _graphs(n, seed=0):
    return [sample_prototype(random.Random(seed + i), PrototypeConfig(max_nodes=24), ["in"]) for i in range(n)]


def test_the_prior_beats_every_single_candidate_it_was_chosen_from():
    train = _graphs(60)
    prior = ConstantPrior.fit(train, num_candidates=30, num_scored=30)
    scored = train[30:]
    assert mean_iou(prior.graph, scored) >= max(mean_iou(g, scored) for g in train[:30])
    assert prior.graph.is_valid()


def test_greedy_chain_grows_while_the_iou_rises():
    graphs = [chain(["bell", "bell", "compressor"]), chain(["bell", "reverb"])]
    g = greedy_chain(graphs, 16000)
    types = sorted(n.type for n in g.nodes if n.type not in ("in", "out"))
    assert "bell" in types and g.is_valid()
    assert mean_iou(g, graphs) >= mean_iou(chain([]), graphs)


def test_medians_of_parameters_and_gains():
    a, b, c = (chain(["bell"]) for _ in range(3))
    for graph, gain in zip((a, b, c), (-6.0, 0.0, 12.0)):
        graph.nodes[1].params["gain"] = gain
    spec = a.nodes[1].spec
    assert median_params([a, b, c])["bell"][[p.name for p in spec.params].index("gain")] == spec.param("gain").normalize(0.0)
    assert median_gains([a])[("out", "in")] == 1.0


def test_guess_is_constant_and_complete():
    prior = ConstantPrior.fit(_graphs(40), num_candidates=20, num_scored=20)
    truth = _graphs(3, seed=100)
    tokens = pad_tokens([graph_to_tokens(g) for g in truth])
    guess = prior.guess(tokens, 16000)
    assert all(g.to_json() == guess.graphs[0].to_json() for g in guess.graphs)
    # teacher-forced "predictions": the constant's tokens, position by position, then end
    assert guess.predicted.kind.shape == (3, tokens.kind.shape[1] - 1)
    assert int(guess.predicted.kind[0, -1]) == END or tokens.kind.shape[1] - 1 <= len(prior.tokens) - 1
    # the true prototypes get the medians: same structure, parameters filled where the types have them
    assert torch.equal(guess.completed.kind, tokens.kind) and torch.equal(guess.completed.param_mask, tokens.param_mask)
    assert bool((guess.completed.params[~tokens.param_mask] == 0).all())
    assert 0 < mean_ci(node_type_iou(t, guess.graphs[0]) for t in truth)[0] <= 1
