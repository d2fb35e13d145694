import dataclasses

import pytest
import torch
from torch_geometric.data import Batch

from conftest import chain, random_graph
from graphfx import AudioError, AudioGraph
from graphfx.errors import GraphError
from graphfx.canonical import lti_reorder
from graphfx.graph import Edge, Node
from graphfx import catalog
from graphfx.dsp import get_processor
from graphfx.renderer import render

SR = 16000


def noise(batch=1, channels=2, n=8000, seed=0):
    g = torch.Generator().manual_seed(seed)
    return 0.3 * torch.randn(batch, channels, n, generator=g)


def energy(x):
    return x.square().sum(dim=(-1, -2))


def test_identity_graph_and_mono_promotion():
    g = AudioGraph([Node("in", "in"), Node("out", "out")], [Edge("in", "out")], SR)
    x = noise(channels=1, n=1001)
    y = render(g, x, sample_rate=SR)
    assert y.shape == (1, 2, 1001)
    assert torch.equal(y[0, 0], x[0, 0]) and torch.equal(y[0, 1], x[0, 0])


def test_energy_normalization_keeps_input_energy():
    x = noise()
    g = chain(["lowpass", "bell", "distortion", "reverb"], sample_rate=SR)
    y = render(g, x, sample_rate=SR)
    assert torch.allclose(energy(y), energy(x), rtol=1e-4)
    raw = render(g, x, sample_rate=SR, normalize=False)
    assert not torch.allclose(energy(raw), energy(x), rtol=1e-2)


def test_batch_of_different_graphs_equals_one_by_one():
    graphs = [random_graph(s) for s in range(6)]
    for g in graphs:
        g.sample_rate = SR
    x = noise(batch=len(graphs), n=4001)
    together = render(graphs, x, sample_rate=SR)
    for i, g in enumerate(graphs):
        alone = render(g, x[i:i + 1], sample_rate=SR)
        assert torch.allclose(together[i], alone[0], atol=1e-5, rtol=1e-4), i


@pytest.mark.parametrize("name", sorted(n for n, s in catalog.SPECS.items() if s.channelwise))
def test_channelwise_processors_run_a_mono_clip_as_its_stereo_copy(name):
    # What lets the renderer run equal-channel clips once: one channel in, the same as either of two equal.
    x = noise(batch=3, channels=1, n=3000)
    g = torch.Generator().manual_seed(1)
    params = {p.name: p.denormalize(torch.rand(3, generator=g)) for p in catalog.get(name).params}
    mono = get_processor(name)({"in": x}, params, sample_rate=SR)
    stereo = get_processor(name)({"in": x.expand(-1, 2, -1).contiguous()}, params, sample_rate=SR)
    assert mono.keys() == stereo.keys()
    for outlet, y in stereo.items():
        assert mono[outlet].shape == (3, 1, 3000)
        assert torch.equal(y, mono[outlet].expand(-1, 2, -1)), outlet


def test_equal_channels_render_as_without_the_shortcut(monkeypatch):
    graphs = [random_graph(s) for s in (21, 22, 23, 24)]
    x = noise(batch=4, channels=1, n=3000)
    fast = render(graphs, x, sample_rate=SR)
    monkeypatch.setattr(catalog, "SPECS", {n: dataclasses.replace(s, channelwise=False)
                                           for n, s in catalog.SPECS.items()})
    slow = render(graphs, x, sample_rate=SR)
    assert torch.allclose(fast, slow, rtol=1e-5, atol=1e-6)  # energy sums over one channel or two round apart


def test_deterministic_bits():
    graphs = [random_graph(s) for s in (11, 12, 13)]
    x = noise(batch=3, n=3000)
    assert torch.equal(render(graphs, x, sample_rate=SR), render(graphs, x, sample_rate=SR))


def test_every_output_finite_on_random_graphs():
    for seed in range(20):
        g = random_graph(seed + 100)
        y = render(g, noise(n=2000, seed=seed), sample_rate=SR)
        assert torch.isfinite(y).all(), seed


def test_lfo_modulates_pan_over_time():
    g = AudioGraph([Node("in", "in"), Node("l", "lfo", {"frequency": 2.0}), Node("p", "pan"), Node("out", "out")],
                   [Edge("in", "p"), Edge("l", "p", "lfo", "pan"), Edge("p", "out")], SR)
    x = torch.ones(1, 1, SR)
    y = render(g, x, sample_rate=SR, normalize=False)
    quarter = SR // 8  # the LFO peaks at 1/8 s (2 Hz sine) and troughs at 3/8 s
    assert y[0, 1, quarter] > 1.3 and y[0, 0, quarter] < 0.1
    assert y[0, 0, 3 * quarter] > 1.3 and y[0, 1, 3 * quarter] < 0.1


def test_sidechain_mixed_with_plain_compressors_in_one_batch():
    plain = chain(["compressor"], sample_rate=SR)
    keyed = chain(["compressor"], sample_rate=SR)
    keyed.nodes.insert(1, Node("k", "highpass", {"frequency": 4000.0}))
    keyed.edges += [Edge("in", "k"), Edge("k", "n0", inlet="sidechain")]
    x = noise(batch=2)
    both = render([plain, keyed.validate()], x, sample_rate=SR)
    assert torch.allclose(both[0], render(plain, x[:1], sample_rate=SR)[0], atol=1e-5)
    assert torch.allclose(both[1], render(keyed, x[1:], sample_rate=SR)[0], atol=1e-5)


def test_drum_graph_takes_named_tracks():
    g = AudioGraph([Node("kick", "kick"), Node("snare", "snare"), Node("m", "mix"), Node("out", "out")],
                   [Edge("kick", "m"), Edge("snare", "m", gain=0.5), Edge("m", "out")], SR)
    k, s = noise(seed=1), noise(seed=2)
    y = render(g, {"kick": k, "snare": s}, sample_rate=SR, normalize=False)
    assert torch.allclose(y, k + 0.5 * s)
    with pytest.raises(AudioError, match="snare"):
        render(g, {"kick": k}, sample_rate=SR)


@pytest.mark.parametrize("bad, message", [
    (torch.full((1, 2, 100), float("nan")), "NaN"),
    (torch.zeros(1, 2, 0), "empty"),
    (torch.zeros(2, 2, 100), "batch 2"),
    (torch.zeros(1, 3, 100), "1 or 2 channels"),
])
def test_bad_audio_is_a_clear_error(bad, message):
    with pytest.raises(AudioError, match=message):
        render(chain(["bell"]), bad)


def test_lti_reordering_does_not_change_the_sound():
    g = chain(["bell", "lowpass", "highshelf", "highpass"], sample_rate=SR)
    g.node("n0").params.update(frequency=700.0, gain=9.0)
    g.node("n1").params.update(frequency=3000.0)
    r = lti_reorder(g)
    assert r != g
    x = noise(n=6000)
    assert torch.allclose(render(g, x, sample_rate=SR), render(r, x, sample_rate=SR), atol=2e-4)


def test_gradients_flow_to_batch_parameters():
    data = Batch.from_data_list([chain(["bell", "compressor", "delay"], sample_rate=SR).to_hetero()])
    data["proc"].params.requires_grad_(True)
    x = noise(n=4000).requires_grad_(True)
    y = render(data, x, sample_rate=SR, grad=True)
    y.square().mean().backward()
    assert torch.isfinite(data["proc"].params.grad).all() and data["proc"].params.grad.abs().sum() > 0
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_processors_sharing_memory_are_normalized_correctly():
    # ms_split may hand back views; mix returns its input: neither may be scaled in place.
    g = AudioGraph([Node("in", "in"), Node("s", "ms_split"), Node("m", "ms_merge"), Node("x", "mix"),
                    Node("out", "out")],
                   [Edge("in", "s"), Edge("s", "m", "mid", "mid"), Edge("s", "m", "side", "side"), Edge("m", "x"),
                    Edge("in", "x"), Edge("x", "out")], SR)
    x = noise(n=3000)
    y = render(g, x, sample_rate=SR)
    assert torch.allclose(y, 2 * x, atol=1e-5)  # split + merge is the identity; the mix adds the dry path
    assert torch.equal(x, noise(n=3000))  # the input was not touched


def test_energy_is_the_same_bits_whatever_shares_the_batch():
    from graphfx.renderer import _energy

    torch.set_num_threads(max(2, torch.get_num_threads()))  # a lone row would be summed by several threads
    bad = 0
    for seed in range(10):
        x = torch.randn(3, 1, 50000, generator=torch.Generator().manual_seed(seed))
        alone, batched, stereo = _energy(x[:1]), _energy(x)[:1], _energy(x[:1].expand(-1, 2, -1))
        bad += not (torch.equal(alone, batched) and torch.equal(alone, stereo))
    assert bad == 0


def test_a_batch_split_over_threads_renders_the_same_audio(monkeypatch):
    import graphfx.renderer as renderer

    graphs = [random_graph(seed) for seed in range(9)]
    x = noise(batch=9, n=4000)
    parts = []
    real = renderer._render_in_parts
    monkeypatch.setattr(renderer, "_render_in_parts", lambda *a: parts.append(a[-1]) or real(*a))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = render(graphs, x, sample_rate=SR)
        torch.set_num_threads(3)
        split = render(graphs, x, sample_rate=SR)  # 9 graphs: two parts of at least MIN_PART = 4
    finally:
        torch.set_num_threads(threads)
    assert parts == [2] and torch.equal(one, split)


def test_an_empty_list_of_graphs_is_one_clear_error():
    with pytest.raises(GraphError, match="no graphs to render"):
        render([], torch.zeros(0, 2, 100))


def test_fast_energy_is_the_same_bits_whatever_shares_the_batch_or_measures_it():
    from graphfx.renderer import _fast_energy, _flat_rows, _scale_kernel, _stereo

    for seed in range(5):
        x = torch.randn(3, 1, 50001, generator=torch.Generator().manual_seed(seed))
        alone = _fast_energy(x[:1])
        assert torch.equal(alone, _fast_energy(x)[:1])
        assert torch.equal(alone, _fast_energy(x[:1].expand(-1, 2, -1)))               # a broadcast channel
        assert torch.equal(alone, _fast_energy(x.expand(-1, 2, -1).contiguous()[:1]))  # two equal channels
        assert torch.equal(alone, _fast_energy(torch.cat([x, -x], dim=1)[:, :1])[:1])  # strided rows
        assert torch.allclose(alone, 2 * x[0].double().square().sum(), rtol=1e-12)
        # The kernel that rescales in place measures the result as _fast_energy does.
        y, scale = x.expand(-1, 2, -1).contiguous(), torch.rand(3, generator=torch.Generator().manual_seed(9)) + 0.5
        flat, offsets = _flat_rows(y)
        measured = _stereo(_scale_kernel(flat, offsets, y.shape[-1], scale.numpy()))
        assert torch.equal(y, x.expand(-1, 2, -1) * scale[:, None, None])
        assert torch.equal(measured, _fast_energy(y))


def _modulated_graphs():
    """LFOs, a stereo LFO and an envelope driving linear and log-scaled parameters: one inlet driven
    twice, nodes of one group with and without a driver, drivers from different groups."""
    def graph(extra_nodes, extra_edges, body):
        nodes = [Node("in", "in")] + [Node(i, t, p) for i, t, p in body] + extra_nodes + [Node("out", "out")]
        seq = ["in"] + [i for i, _, _ in body] + ["out"]
        return AudioGraph(nodes, [Edge(a, b) for a, b in zip(seq, seq[1:])] + extra_edges, SR)

    body = [("c", "chorus", {}), ("b", "bell", {"gain": 6.0}), ("p", "pan", {"pan": 0.3})]
    lfo = [Node("l", "lfo", {"frequency": 3.0}), Node("m", "lfo", {"frequency": 0.7, "phase": 0.2})]
    return [
        graph(lfo, [Edge("l", "c", "lfo", "mod", 0.3), Edge("m", "c", "lfo", "mod", -0.2),
                    Edge("l", "p", "lfo", "pan", 0.8)], body),
        graph([], [], body),
        graph([Node("s", "stereo_lfo", {"frequency": 5.0, "stereo_offset": 0.25})],
              [Edge("s", "b", "lfo", "frequency", 0.5), Edge("s", "b", "lfo", "gain", 0.25)], body),
        graph([Node("e", "envelope", {"attack": 1.0})], [Edge("in", "e"), Edge("e", "b", "env", "frequency", -0.6)],
              body),
    ]


def test_compiled_modulation_equals_the_torch_path(monkeypatch):
    import graphfx.renderer as renderer

    graphs = _modulated_graphs() + [random_graph(seed) for seed in range(30, 42)]
    for g in graphs:
        g.sample_rate = SR
    x = noise(batch=len(graphs), n=3001)
    fast = render(graphs, x, sample_rate=SR)
    monkeypatch.setattr(renderer._Renderer, "_modulated_fast", lambda *args: None)
    assert torch.equal(fast, render(graphs, x, sample_rate=SR))


def test_one_pass_normalization_is_the_stepwise_one_bit_for_bit():
    from graphfx.renderer import _normalize_energy

    gen = torch.Generator().manual_seed(5)
    x = torch.randn(4, 2, 30001, generator=gen)
    y = torch.randn(4, 2, 30001, generator=gen) * torch.rand(4, 1, 1, generator=gen)
    one, energies = _normalize_energy({"in": x}, {"out": y.clone()}, {}, fast=True)           # one kernel
    # Two outlets take the stepwise path (measure all, then rescale each): the second one silent.
    two, both = _normalize_energy({"in": x}, {"out": y.clone(), "high": torch.zeros_like(y)}, {}, fast=True)
    assert torch.equal(one["out"], two["out"]) and torch.equal(energies["out"], both["out"])
    assert torch.allclose(energies["out"], x.double().square().sum((1, 2)), rtol=1e-6)


def test_energies_passed_on_are_the_ones_measured_afresh(monkeypatch):
    import graphfx.renderer as renderer

    graphs = [random_graph(seed) for seed in range(50, 62)] + [chain(["bell", "reverb", "pan"], sample_rate=SR)] * 3
    for g in graphs:
        g.sample_rate = SR
    for x in (noise(batch=len(graphs), n=2500), noise(batch=len(graphs), channels=1, n=2500)):
        reused = render(graphs, x, sample_rate=SR)
        real = renderer._Renderer._gather
        with monkeypatch.context() as m:
            m.setattr(renderer._Renderer, "_gather", lambda *args: (real(*args)[0], None))
            assert torch.equal(reused, render(graphs, x, sample_rate=SR))
