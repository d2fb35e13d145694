"""Tests of graphfx.dsp.filters against scipy references and exact known answers."""
import itertools
import math

import numpy as np
import pytest
import scipy.signal
import torch

from graphfx import catalog
from graphfx.dsp import biquad
from graphfx.dsp.filters import PHASER_STAGES, PROCESSORS

from test_biquad import cookbook, rel_err, sos_reference  # tests/dsp is on sys.path (rootdir imports)

SR = 44100
# processor -> (cookbook kind, sections)
BIQUADS = {
    "lowpass": ("lowpass", 1), "bandpass": ("bandpass", 1), "highpass": ("highpass", 1),
    "bandreject": ("bandreject", 1), "lowpass4": ("lowpass", 2), "bandpass4": ("bandpass", 2),
    "highpass4": ("highpass", 2), "lowshelf": ("lowshelf", 1), "highshelf": ("highshelf", 1),
    "bell": ("bell", 1),
}


def noise(B, T, seed=0, scale=1.0):
    return scale * torch.randn(B, 2, T, generator=torch.Generator().manual_seed(seed))


def run(name, x, params, grad=False, sr=SR, outlet="out"):
    out = PROCESSORS[name]({"in": x}, params, sample_rate=sr, grad=grad)
    assert set(out) == set(catalog.get(name).outlets)
    for y in out.values():
        assert y.shape == x.shape and y.dtype == x.dtype
    return out[outlet] if outlet else out


def clip_params(name):
    f = torch.tensor([150.0, 1000.0, 7000.0])
    q = torch.tensor([0.5, 0.707, 3.0])
    gain = torch.tensor([9.0, -12.0, 3.0])
    return {"frequency": f, "q": q, "gain": gain} if catalog.get(name).has_param("gain") else \
        {"frequency": f, "q": q}


def reference(name, x, params):
    kind, sections = BIQUADS[name]
    gain = params.get("gain", torch.zeros(3))
    per_clip = [[cookbook(kind, f, q, g, SR)] * sections
                for f, q, g in zip(params["frequency"].double().numpy(),
                                   params["q"].double().numpy(), gain.double().numpy())]
    return sos_reference(x, per_clip)


def test_processors_cover_the_catalog_family():
    assert set(PROCESSORS) == set(BIQUADS) | {"crossover", "phaser"}
    for name in PROCESSORS:
        assert set(catalog.get(name).param_names) >= {"frequency"}


@pytest.mark.parametrize("grad", [False, True])
@pytest.mark.parametrize("T", [4001, 4000])
@pytest.mark.parametrize("name", sorted(BIQUADS))
def test_biquad_processors_match_sosfilt(name, T, grad):
    x, params = noise(3, T), clip_params(name)
    assert rel_err(run(name, x, params, grad), reference(name, x, params)) < 1e-4


@pytest.mark.parametrize("grad", [False, True])
@pytest.mark.parametrize("name", ["lowpass4", "bell", "highshelf", "crossover", "phaser"])
def test_constant_modulation_equals_static(name, grad):
    T = 3001
    x = noise(3, T, seed=1)
    spec = catalog.get(name)
    params = {p.name: torch.tensor([p.default, p.min * 1.5, p.max * 0.6]) for p in spec.params}
    static = run(name, x, params, grad, outlet=None)
    # Every parameter a control inlet can drive, given per sample.
    driven = {k: v.view(-1, 1, 1).expand(3, 2, T).contiguous() for k, v in params.items()
              if k in ("frequency", "gain")}
    moving = run(name, x, {**params, **driven}, grad, outlet=None)
    for outlet in static:
        # Per-sample coefficients are float32 (1.5e-4 for LR4 at 30 Hz).
        assert rel_err(moving[outlet], static[outlet].double().numpy()) < 1e-3


@pytest.mark.parametrize("T", [2001, 2048])
@pytest.mark.parametrize("name", ["highpass4", "lowshelf", "bandreject"])
def test_swept_filter_grad_path_equals_fast_path(name, T):
    # Both paths run the exact per-sample recursion.
    t = torch.arange(T) / SR
    sweep = (200 * 40 ** ((1 + torch.sin(2 * math.pi * 6 * t)) / 2)).expand(2, 2, T)
    params = {"frequency": sweep, "q": torch.tensor([0.7, 4.0]), "gain": torch.tensor([10.0, -20.0])}
    x = noise(2, T, seed=2)
    fast = run(name, x, params)
    assert rel_err(run(name, x, params, grad=True), fast.double().numpy()) < 1e-4


@pytest.mark.parametrize("grad", [False, True])
@pytest.mark.parametrize("T", [8191, 8192])
def test_crossover_is_linkwitz_riley(T, grad):
    f = torch.tensor([100.0, 1000.0, 10000.0])
    impulse = torch.zeros(3, 2, T)
    impulse[..., 0] = 1
    bands = run("crossover", impulse, {"frequency": f}, grad, outlet=None)
    q = 1 / math.sqrt(2)
    for band, kind in (("low", "lowpass"), ("high", "highpass")):
        ref = sos_reference(impulse, [[cookbook(kind, fc, q, 0.0, SR)] * 2 for fc in f.numpy()])
        assert rel_err(bands[band], ref) < 1e-4
    # low + high is an allpass: flat magnitude.
    magnitude_db = 20 * torch.log10(torch.fft.rfft(bands["low"] + bands["high"]).abs())
    assert magnitude_db.abs().max() < 0.1


def phaser_reference(x, f, feedback, mix):
    """Phaser as one rational transfer function, with scipy.signal.lfilter (float64).

    wet = AP^S / (1 - feedback z^-1 AP^S) x, AP = (c + z^-1) / (1 + c z^-1).
    """
    t = np.tan(np.pi * f / SR)
    c = (t - 1) / (t + 1)
    num, den = np.array([1.0]), np.array([1.0])
    for _ in range(PHASER_STAGES):
        num, den = np.convolve(num, [c, 1.0]), np.convolve(den, [1.0, c])
    den = np.append(den, 0.0)
    den[1:] -= feedback * num
    x = x.double().numpy()
    return (1 - mix) * x + mix * scipy.signal.lfilter(num, den, x, axis=-1)


@pytest.mark.parametrize("grad", [False, True])
@pytest.mark.parametrize("T", [4001, 4000])
def test_phaser_matches_transfer_function(T, grad):
    x = noise(3, T, seed=3)
    f, fb, mix = [500.0, 1500.0, 4000.0], [0.0, 0.5, 0.9], [0.5, 0.3, 1.0]
    params = {"frequency": torch.tensor(f), "feedback": torch.tensor(fb), "mix": torch.tensor(mix)}
    y = run("phaser", x, params, grad)
    for b in range(3):
        assert rel_err(y[b], phaser_reference(x[b], f[b], fb[b], mix[b])) < 1e-4


@pytest.mark.parametrize("grad", [False, True])
def test_phaser_notch_at_frequency(grad):
    # mix 0.5, no feedback: (1 + AP^6) / 2 vanishes where the chain's phase is -540 degrees.
    T, fc = 8000, 1234.0
    x = torch.sin(2 * math.pi * fc * torch.arange(T) / SR).expand(1, 2, T).contiguous()
    y = run("phaser", x, {"frequency": torch.tensor([fc]), "feedback": torch.tensor([0.0]),
                          "mix": torch.tensor([0.5])}, grad)
    assert y[..., T // 2:].abs().max() < 1e-3


def test_phaser_modulated_grad_path_is_block_approximation():
    T, L = 4000, biquad.STATE_SPACE_BLOCK
    x = noise(1, T, seed=4)
    params = {"feedback": torch.tensor([0.7]), "mix": torch.tensor([0.5])}
    # Frequency constant over each block: the grad path is exact.
    steps = 300 * 20 ** torch.rand(-(-T // L), generator=torch.Generator().manual_seed(5))
    stepped = steps.repeat_interleave(L)[:T].expand(1, 2, T)
    p = {**params, "frequency": stepped}
    assert rel_err(run("phaser", x, p, grad=True), run("phaser", x, p).double().numpy()) < 1e-4
    # A slow smooth sweep: block-averaged coefficients, a small error.
    t = torch.arange(T) / SR
    p = {**params, "frequency": (1000 * 2 ** torch.sin(2 * math.pi * 0.5 * t)).expand(1, 2, T)}
    assert rel_err(run("phaser", x, p, grad=True), run("phaser", x, p).double().numpy()) < 0.01


@pytest.mark.parametrize("grad", [False, True])
def test_phaser_max_feedback_is_finite_and_audible(grad):
    x = noise(2, 6000, seed=6)
    params = {"frequency": torch.tensor([50.0, 10000.0]), "feedback": torch.tensor([0.9, 0.9]),
              "mix": torch.tensor([1.0, 0.5])}
    y = run("phaser", x, params, grad)
    assert torch.isfinite(y).all()
    assert ((y - x).norm(dim=(1, 2)) > 0.1 * x.norm(dim=(1, 2))).all()


@pytest.mark.parametrize("name", ["lowpass", "bandpass4", "bell", "crossover", "phaser"])
@pytest.mark.parametrize("modulated", [False, True])
def test_gradients_flow(name, modulated):
    T = 1500
    x = noise(2, T, seed=7).requires_grad_()
    spec = catalog.get(name)
    leaves = {p.name: torch.tensor([p.default, p.default * 0.8], requires_grad=True)
              for p in spec.params}
    params = dict(leaves)
    if modulated:
        lfo = 1 + 0.3 * torch.sin(2 * math.pi * 3 * torch.arange(T) / SR)
        params["frequency"] = leaves["frequency"].view(-1, 1, 1) * lfo.expand(2, 2, T)
    out = PROCESSORS[name]({"in": x}, params, sample_rate=SR, grad=True)
    sum(y.square().mean() for y in out.values()).backward()
    for leaf in [x, leaves["frequency"]]:
        assert leaf.grad is not None and torch.isfinite(leaf.grad).all() and leaf.grad.abs().sum() > 0


@pytest.mark.parametrize("sr", [44100, 16000])
@pytest.mark.parametrize("name", sorted(PROCESSORS))
def test_parameter_extremes_are_finite(name, sr):
    spec = catalog.get(name)
    corners = list(itertools.product(*[(p.min, p.max) for p in spec.params]))
    params = {p.name: torch.tensor([c[i] for c in corners]) for i, p in enumerate(spec.params)}
    n, T = len(corners), 2000
    signals = {"silence": torch.zeros(n, 2, T), "full-scale": noise(n, T, seed=8).clamp(-1, 1)}
    for grad in (False, True):
        for label, x in signals.items():
            for y in run(name, x, params, grad, sr=sr, outlet=None).values():
                assert torch.isfinite(y).all(), (label, grad)
                if label == "silence":
                    assert (y == 0).all()
