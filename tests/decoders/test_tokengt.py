"""The TokenGT decoder and its backbone (tiny preset, random latents instead of an encoder)."""
import random

import pytest
import torch

from graphfx import catalog
from graphfx.decoders import create
from graphfx.decoders.tokengt import TokenGTDecoder
from graphfx.errors import GraphFXError
from graphfx.graph import AudioGraph
from graphfx.models.backbone import Backbone, BackboneConfig, node_id_table
from graphfx.synth.prototype import PrototypeConfig, sample_prototype
from graphfx.tokens import NODE, graph_to_tokens, pad_tokens

from decoder_helpers import overfit, prototype_batch

pytestmark = pytest.mark.usefixtures("one_thread")


def _batch(seeds=(0, 1), drums=False):
    return prototype_batch(seeds, drums)


def _decoder(**overrides):
    torch.manual_seed(0)
    return create("tokengt", preset="tiny", **overrides)


def test_presets_sizes():
    counts = {name: sum(p.numel() for p in create("tokengt", preset=name).parameters())
              for name in ("tiny", "small", "paper")}
    assert counts["tiny"] < counts["small"] < counts["paper"]
    paper = TokenGTDecoder.make_config("paper")
    assert (paper.num_layers, paper.num_heads, paper.d_model, paper.label_smoothing) == (6, 16, 512, 0.1)


def test_loss_is_finite_and_decreases_when_overfitting():
    heads = {"loss", "kind", "proc_type", "track", "src", "dst", "outlet", "inlet", "params", "gains"}
    history = overfit(_decoder(), _batch()[1], 60, heads)
    assert history[-1] < 0.6 * history[0]


def test_gradient_reaches_the_latents():
    decoder = _decoder()
    _, tokens = _batch(drums=True)
    latents = torch.randn(2, 6, decoder.config.d_model, requires_grad=True)
    decoder.loss(latents, tokens)["loss"].backward()
    assert latents.grad is not None and latents.grad.abs().sum() > 0
    # the parameter task alone also reads the latents
    latents.grad = None
    decoder.estimate_params(latents, tokens).sum().backward()
    assert latents.grad.abs().sum() > 0


@pytest.mark.parametrize("task", ["singing", "drums"])
def test_generate_constrained_gives_valid_graphs(task):
    decoder = _decoder(dropout=0.1)
    decoder.train()
    latents = torch.randn(3, 2, decoder.config.d_model)
    graphs = decoder.generate(latents, max_tokens=72, task=task, sample_rate=22050)
    assert len(graphs) == 3 and decoder.training  # the mode is restored
    for graph in graphs:
        graph.validate()
        assert graph.sample_rate == 22050
        assert ("in" in {n.type for n in graph.nodes}) == (task == "singing")
        for node in graph.nodes:  # parameters come from the estimator, within range
            for p in node.spec.params:
                assert p.contains(node.params[p.name])


def test_generate_unconstrained_still_returns_graphs():
    decoder = _decoder()
    graphs = decoder.generate(torch.randn(3, 1, decoder.config.d_model), max_tokens=40, constrained=False)
    assert len(graphs) == 3 and all(isinstance(g, AudioGraph) for g in graphs)
    assert all(isinstance(g.decode_issues, list) for g in graphs)
    [g.is_valid() for g in graphs]  # measurable, whatever the answer


def test_estimate_params_shape_and_range():
    decoder = _decoder()
    _, tokens = _batch()
    params = decoder.estimate_params(torch.randn(2, 1, decoder.config.d_model), tokens)
    assert params.shape == (2, tokens.kind.shape[1], catalog.MAX_PARAMS)
    assert params.min() >= 0 and params.max() <= 1
    assert (params[tokens.kind != NODE] == 0).all()
    assert (params[~tokens.param_mask] == 0).all() and (params[tokens.param_mask] > 0).all()


@pytest.mark.parametrize("typed", [True, False])
def test_each_node_type_reads_its_own_parameter_slots(typed):
    # With typed_params the read-out of slot k differs between types (its own weights); without, it is shared.
    decoder = _decoder(typed_params=typed)
    types = len(catalog.NODE_TYPES) if typed else 1
    with torch.no_grad():
        decoder.param_head.weight.zero_()
        decoder.param_head.bias.copy_(torch.arange(types * catalog.MAX_PARAMS, dtype=torch.float) * 0.01)
    _, tokens = _batch()
    params = decoder.estimate_params(torch.randn(2, 1, decoder.config.d_model), tokens)
    nodes = tokens.kind == NODE
    slot = torch.arange(catalog.MAX_PARAMS)
    row = (tokens.proc_type if typed else torch.zeros_like(tokens.proc_type))[nodes][:, None] * catalog.MAX_PARAMS
    expected = torch.sigmoid((row + slot) * 0.01) * tokens.param_mask[nodes]
    assert torch.allclose(params[nodes], expected, atol=1e-6)


def test_orthonormal_node_ids():
    table = node_id_table("orthonormal", 32, 48)
    assert torch.allclose(table @ table.T, torch.eye(32), atol=1e-5)
    sinusoidal = node_id_table("sinusoidal", 32, 48)
    assert torch.allclose(sinusoidal.norm(dim=1), torch.ones(32))
    assert (sinusoidal @ sinusoidal.T - torch.eye(32)).abs().max() > 0.5  # far from orthogonal
    with pytest.raises(GraphFXError, match="orthonormal"):
        BackboneConfig(d_model=32, num_heads=4, max_nodes=64, node_id="orthonormal")
    decoder = _decoder(node_id="orthonormal", max_nodes=32, node_id_dim=32)
    _, tokens = _batch()
    assert torch.isfinite(decoder.loss(torch.randn(2, 1, decoder.config.d_model), tokens)["loss"])


def test_causal_mask_prevents_looking_ahead():
    decoder = _decoder().eval()
    _, tokens = _batch(seeds=(5,))
    latents = torch.randn(1, 2, decoder.config.d_model)
    cut = 6
    changed = pad_tokens([graph_to_tokens(sample_prototype(random.Random(5), PrototypeConfig(max_nodes=24), ["in"]))])
    changed.proc_type[0, cut:] = torch.where(changed.kind[0, cut:] == NODE, 7, changed.proc_type[0, cut:])
    changed.src[0, cut:] = torch.where(changed.src[0, cut:] >= 0, 0, changed.src[0, cut:])
    with torch.no_grad():
        before = decoder.head_logits(decoder.backbone(latents, tokens, causal=True))
        after = decoder.head_logits(decoder.backbone(latents, changed, causal=True))
        full_before = decoder.backbone(latents, tokens, causal=False)
        full_after = decoder.backbone(latents, changed, causal=False)
    for name in before:
        assert torch.allclose(before[name][:, :cut], after[name][:, :cut], atol=1e-5), name
    assert not torch.allclose(before["proc_type"][:, cut:], after["proc_type"][:, cut:])
    assert not torch.allclose(full_before[:, :cut], full_after[:, :cut])  # without the mask they do see ahead
    mask = Backbone.causal_mask(2, 3)
    assert mask.tolist() == [[False, False, True, True, True], [False, False, True, True, True],
                             [False, False, False, True, True], [False, False, False, False, True],
                             [False, False, False, False, False]]


def test_padding_does_not_change_outputs():
    decoder = _decoder().eval()
    graphs, _ = _batch(seeds=range(6))
    sequences = sorted((graph_to_tokens(g) for g in graphs), key=len)
    alone = pad_tokens(sequences[:1])
    both = pad_tokens([sequences[0], sequences[-1]])
    assert both.kind.shape[1] > alone.kind.shape[1]
    latents = torch.randn(1, 1, decoder.config.d_model)
    with torch.no_grad():
        for causal in (True, False):
            a = decoder.backbone(latents, alone, causal=causal)
            b = decoder.backbone(latents.expand(2, -1, -1), both, causal=causal)
            assert torch.allclose(a[0], b[0, :a.shape[1]], atol=1e-5)


def test_too_many_nodes_is_a_clear_error():
    decoder = _decoder(max_nodes=4)
    _, tokens = _batch()
    with pytest.raises(GraphFXError, match="max_nodes"):
        decoder.loss(torch.randn(2, 1, decoder.config.d_model), tokens)


def _slice(tokens, start, stop):
    return type(tokens)(**{name: value[:, start:stop] for name, value in tokens.as_dict().items()})


def test_incremental_decoding_matches_the_full_causal_pass():
    decoder = _decoder().eval()
    _, tokens = _batch(seeds=(2,), drums=True)
    latents = torch.randn(1, 3, decoder.config.d_model)
    backbone = decoder.backbone
    with torch.no_grad():
        full = backbone(latents, tokens, causal=True)
        h, cache = backbone.prefill(latents, _slice(tokens, 0, 3))
        outputs, t = [h], 3
        while t < tokens.kind.shape[1]:
            step = 1 if t % 3 else 2  # one token, or two at once
            h, cache = backbone.extend(cache, _slice(tokens, t, t + step))
            outputs.append(h)
            t += step
    assert torch.allclose(torch.cat(outputs, dim=1), full, atol=1e-5)


def test_config_preset_constructors():
    assert TokenGTDecoder.make_config("small", d_model=64).d_model == 64
    assert TokenGTDecoder.make_config("paper").num_heads == 16


def test_edge_gains_are_estimated_and_learned():
    graphs, tokens = _batch(seeds=(3, 4))
    tokens.gain = torch.where(tokens.kind == 3, torch.tensor(0.4, dtype=torch.float64), tokens.gain)  # edges: 0.4
    decoder = _decoder()
    latents = torch.randn(2, 1, decoder.config.d_model)
    done = decoder.complete(latents, tokens)
    assert torch.all((done.gain > 0) & (done.gain < 2)) and torch.all(done.gain[tokens.kind != 3] == 1)
    optimizer = torch.optim.AdamW(decoder.parameters(), lr=3e-3)
    first = None
    for _ in range(80):
        losses = decoder.loss(latents, tokens)
        first = first if first is not None else losses["gains"].item()
        optimizer.zero_grad()
        losses["loss"].backward()
        optimizer.step()
    assert losses["gains"].item() < 0.25 * first
    decoder.eval()
    done = decoder.complete(latents, tokens)
    edges = tokens.kind == 3
    assert torch.allclose(done.gain[edges], torch.full_like(done.gain[edges], 0.4), atol=0.05)
    # decoded graphs carry the estimated gains (not 1)
    gains = [e.gain for g in decoder.generate(latents, task="singing") for e in g.edges]
    assert gains and all(g != 1.0 for g in gains)


def test_sampled_decoding_is_valid_seeded_and_varied():
    decoder = _decoder().eval()
    latents = torch.randn(4, 1, decoder.config.d_model)
    first = decoder.generate(latents, task="singing", generator=torch.Generator().manual_seed(1))
    again = decoder.generate(latents, task="singing", generator=torch.Generator().manual_seed(1))
    other = decoder.generate(latents, task="singing", generator=torch.Generator().manual_seed(2))
    assert all(g.is_valid() for g in first + other)
    assert [g.to_json() for g in first] == [g.to_json() for g in again]
    assert [g.to_json() for g in first] != [g.to_json() for g in other]


def test_log_likelihood_is_the_teacher_forced_cross_entropy_and_ignores_padding():
    decoder = _decoder(label_smoothing=0.0).eval()
    graphs, tokens = _batch((0, 1))
    latents = torch.randn(2, 1, decoder.config.d_model)
    score = decoder.log_likelihood(latents, tokens)
    assert score.shape == (2,) and (score < 0).all()
    alone = pad_tokens([graph_to_tokens(graphs[1])])
    assert torch.allclose(decoder.log_likelihood(latents[1:], alone), score[1:], atol=1e-4)  # padding adds nothing
    with torch.no_grad():
        losses = decoder.loss(latents[1:], alone)
    counts = {name: int((target != -100).sum()) for name, target in decoder.targets(alone).items()}
    total = sum(losses[name] * count for name, count in counts.items())
    assert torch.allclose(-score[1], total, rtol=1e-4)
