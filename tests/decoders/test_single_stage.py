"""The single-stage token-by-token baseline decoder, Table 2 ➅ (tiny preset, random latents)."""
import pytest
import torch

from graphfx import catalog
from graphfx.decoders import create, list_decoders
from graphfx.decoders.single_stage import SingleStageDecoder
from graphfx.graph import AudioGraph
from graphfx.tokens import NODE

from decoder_helpers import overfit, prototype_batch

pytestmark = pytest.mark.usefixtures("one_thread")

HEADS = {"loss", "kind", "proc_type", "track", "src", "dst", "outlet", "inlet", "params", "gains"}


def _batch(seeds=(0, 1), drums=False):
    return prototype_batch(seeds, drums)[1]


def _decoder(**overrides):
    torch.manual_seed(0)
    return create("single_stage", preset="tiny", **overrides)


def test_registered_with_presets():
    assert "single_stage" in list_decoders()
    assert isinstance(_decoder(), SingleStageDecoder)
    assert SingleStageDecoder.make_config("paper").d_model == 512
    sizes = [sum(p.numel() for p in create("single_stage", preset=p).parameters()) for p in ("tiny", "small")]
    assert sizes[0] < sizes[1]


def test_loss_is_finite_and_decreases():
    history = overfit(_decoder(), _batch(), 40, HEADS)
    assert history[-1] < 0.7 * history[0]


def test_gradient_reaches_the_latents():
    decoder = _decoder()
    latents = torch.randn(2, 3, decoder.config.d_model, requires_grad=True)
    decoder.loss(latents, _batch(drums=True))["params"].backward()  # the parameter loss alone reads the latents
    assert latents.grad is not None and latents.grad.abs().sum() > 0


def test_estimate_params_is_the_single_causal_pass():
    decoder = _decoder().eval()
    tokens = _batch()
    latents = torch.randn(2, 1, decoder.config.d_model)
    params = decoder.estimate_params(latents, tokens)
    assert params.shape == (2, tokens.kind.shape[1], catalog.MAX_PARAMS)
    assert params.min() >= 0 and params.max() <= 1
    assert (params[:, 0] == 0).all() and (params[tokens.kind != NODE] == 0).all()
    assert (params[~tokens.param_mask] == 0).all() and (params[tokens.param_mask] > 0).all()
    # causal: changing the tokens from position cut on leaves the parameters of positions <= cut unchanged
    cut = 6
    changed = type(tokens)(**{k: v.clone() for k, v in tokens.as_dict().items()})
    changed.outlet[:, cut:] = torch.where(changed.outlet[:, cut:] >= 0, 0, changed.outlet[:, cut:])
    changed.proc_type[:, cut + 1:] = torch.where(changed.kind[:, cut + 1:] == NODE, 7, changed.proc_type[:, cut + 1:])
    with torch.no_grad():
        again = decoder.estimate_params(latents, changed)
    assert torch.allclose(params[:, :cut + 1], again[:, :cut + 1], atol=1e-6)


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
    [g.is_valid() for g in graphs]
