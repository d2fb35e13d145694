"""The node-by-node (DeepGMG-style) baseline decoder, Table 2 ➄ (tiny preset, random latents)."""
import pytest
import torch

from graphfx.decoders import create, list_decoders
from graphfx.decoders.node_by_node import NodeByNodeDecoder
from graphfx.graph import AudioGraph

from decoder_helpers import overfit, prototype_batch

pytestmark = pytest.mark.usefixtures("one_thread")

HEADS = {"loss", "add_node", "track", "add_edge", "endpoint", "direction", "outlet", "inlet", "params", "gains"}


def _batch(seeds=(0, 1), drums=False):
    return prototype_batch(seeds, drums)[1]


def _decoder(**overrides):
    torch.manual_seed(0)
    return create("node_by_node", preset="tiny", **overrides)


def test_registered_with_presets():
    assert "node_by_node" in list_decoders()
    assert isinstance(_decoder(), NodeByNodeDecoder)
    assert NodeByNodeDecoder.make_config("paper").num_heads == 16
    sizes = [sum(p.numel() for p in create("node_by_node", preset=p).parameters()) for p in ("tiny", "small")]
    assert sizes[0] < sizes[1]


def test_loss_is_finite_and_decreases():
    history = overfit(_decoder(), _batch(), 40, HEADS)
    assert history[-1] < 0.7 * history[0]


def test_gradient_reaches_the_latents():
    decoder = _decoder()
    latents = torch.randn(2, 3, decoder.config.d_model, requires_grad=True)
    decoder.loss(latents, _batch(drums=True))["loss"].backward()
    assert latents.grad is not None and latents.grad.abs().sum() > 0


@pytest.mark.parametrize("task", ["singing", "drums"])
def test_generate_constrained_gives_valid_graphs(task):
    decoder = _decoder(dropout=0.1).train()
    graphs = decoder.generate(torch.randn(3, 2, decoder.config.d_model), max_tokens=72, task=task)
    assert len(graphs) == 3 and decoder.training
    for graph in graphs:
        graph.validate()
        assert ("in" in {n.type for n in graph.nodes}) == (task == "singing")
        for node in graph.nodes:
            for p in node.spec.params:
                assert p.contains(node.params[p.name])


def test_generate_unconstrained_still_returns_graphs():
    decoder = _decoder()
    graphs = decoder.generate(torch.randn(3, 1, decoder.config.d_model), max_tokens=40, constrained=False)
    assert len(graphs) == 3 and all(isinstance(g, AudioGraph) for g in graphs)
    [g.is_valid() for g in graphs]  # measurable, whatever the answer


def test_edge_contents_read_node_tokens_not_edge_tokens():
    """Endpoint and direction read node-token outputs only: changing the last node edges leaves them,
    while the graph-level add_edge decision (which reads the latest token) does change."""
    decoder = _decoder().eval()
    tokens = _batch(seeds=(3,))
    latents = torch.randn(1, 1, decoder.config.d_model)
    changed = type(tokens)(**{k: v.clone() for k, v in tokens.as_dict().items()})
    last_node = int((tokens.kind[0] == 2).nonzero().max())
    edges = (tokens.kind[0] == 3).nonzero().flatten()
    edges = edges[edges > last_node]  # the edges of the last node: no node token comes after them
    assert len(edges) >= 1
    changed.outlet[0, edges] = (changed.outlet[0, edges] + 1) % 3
    with torch.no_grad():
        before, after = decoder.loss(latents, tokens), decoder.loss(latents, changed)
    for name in ("endpoint", "direction"):
        assert torch.allclose(before[name], after[name], atol=1e-6), name
    assert not torch.allclose(before["add_edge"], after["add_edge"])


def test_per_token_predictions_are_a_token_by_token_capability():
    decoder = _decoder()
    assert not decoder.token_by_token and create("tokengt", preset="tiny").token_by_token
    with pytest.raises(NotImplementedError, match="node_by_node"):
        decoder.predict_next(torch.randn(2, 1, decoder.config.d_model), _batch())
