"""Tests of graphfx.dsp.nonlinear: waveshaper closed forms and quantizer levels."""
import math

import numpy as np
import pytest
import torch

from graphfx.catalog import get
from graphfx.dsp.nonlinear import PROCESSORS, bitcrush, distortion

SR = 44100


def _noise(n, batch=1, seed=0, scale=1.0):
    return scale * (torch.rand(batch, 2, n, generator=torch.Generator().manual_seed(seed)) * 2 - 1)


def _dist(x, gain, hardness, asymmetry, grad=False):
    batch = x.shape[0]
    params = {name: torch.full((batch,), float(value))
              for name, value in (("gain", gain), ("hardness", hardness), ("asymmetry", asymmetry))}
    return distortion({"in": x}, params, sample_rate=SR, grad=grad)["out"]


def _crush(x, bit, grad=False):
    params = {"bit": torch.full((x.shape[0],), float(bit))}
    return bitcrush({"in": x}, params, sample_rate=SR, grad=grad)["out"]


def test_registry():
    assert PROCESSORS == {"distortion": distortion, "bitcrush": bitcrush}


# --- distortion -------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [2001, 2000])
@pytest.mark.parametrize("grad", [False, True])
def test_distortion_closed_forms(n, grad):
    x = _noise(n, scale=0.8)
    xs = x.double().numpy()
    g = 10 ** (18 / 20)
    soft = _dist(x, 18, 0.0, 0.0, grad).double().numpy()
    np.testing.assert_allclose(soft, np.tanh(g * xs), atol=1e-6)
    hard = _dist(x, 18, 1.0, 0.0, grad).double().numpy()
    np.testing.assert_allclose(hard, np.clip(g * xs, -1, 1), atol=1e-6)
    a, h = 0.4, 0.3
    mixed = _dist(x, 18, h, a, grad).double().numpy()

    def shaper(u):
        return (1 - h) * np.tanh(u) + h * np.clip(u, -1, 1)

    np.testing.assert_allclose(mixed, shaper(g * xs + a) - shaper(a), atol=1e-6)


@pytest.mark.parametrize("hardness", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("asymmetry", [0.0, 0.5, 1.0])
def test_distortion_is_monotonic_in_drive(hardness, asymmetry):
    x = _noise(3001, scale=0.5)
    previous = torch.zeros_like(x)
    for gain in [0.0, 6.0, 12.0, 24.0, 40.0]:
        y = _dist(x, gain, hardness, asymmetry)
        assert (y * x >= 0).all()                              # keeps the sign
        assert (y.abs() >= previous.abs() - 1e-6).all()         # more drive, never less output
        previous = y


@pytest.mark.parametrize("gain", [0.0, 40.0])
@pytest.mark.parametrize("asymmetry", [0.0, 0.3, 1.0])
def test_distortion_keeps_silence_silent(gain, asymmetry):
    y = _dist(torch.zeros(1, 2, 999), gain, 0.5, asymmetry)
    assert not y.any()


def test_asymmetry_adds_even_harmonics():
    n, f0 = 4410, 440.0   # 10 Hz bins: f0 and its harmonics fall on bins
    x = 0.8 * torch.sin(2 * math.pi * f0 * torch.arange(n) / SR).expand(1, 2, n).contiguous()

    def harmonic(y, k):
        return np.abs(np.fft.rfft(y[0, 0].numpy()))[int(k * f0 * n / SR)]

    symmetric, skewed = _dist(x, 20, 0.5, 0.0), _dist(x, 20, 0.5, 0.6)
    assert harmonic(symmetric, 2) < 1e-3 * harmonic(symmetric, 1)
    assert harmonic(skewed, 2) > 0.05 * harmonic(skewed, 1)


def test_distortion_gradients_flow():
    x = _noise(1001, batch=2, scale=0.5).requires_grad_(True)
    params = {name: torch.tensor([v, v], requires_grad=True)
              for name, v in (("gain", 12.0), ("hardness", 0.5), ("asymmetry", 0.3))}
    distortion({"in": x}, params, sample_rate=SR, grad=True)["out"].square().sum().backward()
    for tensor in [x] + list(params.values()):
        assert torch.isfinite(tensor.grad).all() and tensor.grad.abs().sum() > 0


# --- bitcrush -------------------------------------------------------------------------------
@pytest.mark.parametrize("bit", [2.0, 3.5, 4.0, 7.3])
@pytest.mark.parametrize("n", [4001, 4000])
def test_bitcrush_levels(bit, n):
    x = _noise(n, batch=1)
    y = _crush(x, bit).double()
    steps = 2 ** (bit - 1)
    values = torch.unique(y)
    assert len(values) <= 2 * math.ceil(steps) + 1
    torch.testing.assert_close(values * steps, torch.round(values * steps), rtol=0, atol=1e-4)
    assert (y - x).abs().max() <= 0.5 / steps + 1e-6


def test_bitcrush_two_bits_exact():
    x = torch.tensor([[[-1.0, -0.8, -0.26, -0.24, 0.0, 0.24, 0.26, 0.74, 0.76, 1.0]] * 2])
    expected = torch.tensor([-1.0, -1.0, -0.5, 0.0, 0.0, 0.0, 0.5, 0.5, 1.0, 1.0])
    torch.testing.assert_close(_crush(x, 2)[0, 0], expected)


def test_bitcrush_high_resolution_is_nearly_transparent():
    x = _noise(2000)
    assert (_crush(x, 16) - x).abs().max() <= 2 ** -16 + 1e-7


def test_bitcrush_grad_mode_matches_and_passes_gradient_through():
    x = _noise(1501, batch=2).requires_grad_(True)
    bit = torch.tensor([3.0, 6.5], requires_grad=True)
    y = bitcrush({"in": x}, {"bit": bit}, sample_rate=SR, grad=True)["out"]
    fast = bitcrush({"in": x.detach()}, {"bit": bit.detach()}, sample_rate=SR)["out"]
    torch.testing.assert_close(y.detach(), fast, rtol=0, atol=1e-6)
    y.sum().backward()
    torch.testing.assert_close(x.grad, torch.ones_like(x))     # straight-through
    assert torch.isfinite(bit.grad).all() and (bit.grad != 0).all()


# --- both ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["distortion", "bitcrush"])
@pytest.mark.parametrize("signal", ["silence", "noise"])
@pytest.mark.parametrize("end", ["min", "max"])
@pytest.mark.parametrize("grad", [False, True])
def test_finite_at_extremes(name, signal, end, grad):
    x = torch.zeros(1, 2, 1025) if signal == "silence" else _noise(1025)
    params = {p.name: torch.full((1,), getattr(p, end)) for p in get(name).params}
    y = PROCESSORS[name]({"in": x}, params, sample_rate=SR, grad=grad)["out"]
    assert torch.isfinite(y).all() and y.abs().max() <= 2.0
    if signal == "silence":
        assert not y.any()


def test_distortion_fast_mode_is_the_grad_path_bit_for_bit():
    gen = torch.Generator().manual_seed(4)
    x = _noise(2001, batch=3, seed=4)
    modulated = {name: lo + (hi - lo) * torch.rand(3, 2, 2001, generator=gen)
                 for name, lo, hi in (("gain", 0.0, 40.0), ("hardness", 0.0, 1.0), ("asymmetry", 0.0, 1.0))}
    constant = {name: p[:, 0, 0].contiguous() for name, p in modulated.items()}
    for audio, params in ((x, constant), (x, modulated), (x[:, :1], constant), (x[:, :1], modulated)):
        fast = distortion({"in": audio}, params, sample_rate=SR)["out"]
        slow = distortion({"in": audio}, params, sample_rate=SR, grad=True)["out"]
        assert torch.equal(fast, slow)
