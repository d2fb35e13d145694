"""Tests of graphfx.dsp.utility: exact mid/side and panning identities."""
import math

import pytest
import torch

from graphfx.catalog import get
from graphfx.dsp.utility import PROCESSORS, imager, mix, ms_merge, ms_split, pan

SR = 44100


def _noise(n, batch=2, seed=0):
    return torch.randn(batch, 2, n, generator=torch.Generator().manual_seed(seed))


def _full(value, batch=2):
    return torch.full((batch,), float(value))


def test_registry_matches_catalog():
    assert set(PROCESSORS) == {"mix", "pan", "imager", "ms_split", "ms_merge"}
    for name, fn in PROCESSORS.items():
        spec = get(name)
        inputs = {inlet: _noise(100) for inlet in spec.required}
        params = {p.name: _full(p.default) for p in spec.params}
        out = fn(inputs, params, sample_rate=SR)
        assert set(out) == set(spec.outlets)
        assert all(y.shape == (2, 2, 100) for y in out.values())


@pytest.mark.parametrize("n", [1001, 1000])
def test_mix_is_identity(n):
    x = _noise(n)
    assert torch.equal(mix({"in": x}, {}, sample_rate=SR)["out"], x)


@pytest.mark.parametrize("n", [1001, 1000])
@pytest.mark.parametrize("grad", [False, True])
def test_split_then_merge_is_identity(n, grad):
    x = _noise(n)
    parts = ms_split({"in": x}, {}, sample_rate=SR, grad=grad)
    y = ms_merge(parts, {}, sample_rate=SR, grad=grad)["out"]
    torch.testing.assert_close(y, x, rtol=0, atol=1e-6)


def test_split_puts_mid_and_side_on_both_channels():
    x = _noise(777)
    parts = ms_split({"in": x}, {}, sample_rate=SR)
    left, right = x[:, 0], x[:, 1]
    for name, expected in (("mid", (left + right) / 2), ("side", (left - right) / 2)):
        torch.testing.assert_close(parts[name][:, 0], expected)
        assert torch.equal(parts[name][:, 0], parts[name][:, 1])


def test_merge_averages_the_channels_of_each_inlet():
    mid, side = _noise(500, seed=1), _noise(500, seed=2)
    y = ms_merge({"mid": mid, "side": side}, {}, sample_rate=SR)["out"]
    m, s = mid.mean(dim=1), side.mean(dim=1)
    torch.testing.assert_close(y[:, 0], m + s)
    torch.testing.assert_close(y[:, 1], m - s)


@pytest.mark.parametrize("n", [1001, 1000])
def test_imager_width_one_is_identity_and_zero_is_mono(n):
    x = _noise(n)
    same = imager({"in": x}, {"width": _full(1.0)}, sample_rate=SR)["out"]
    torch.testing.assert_close(same, x, rtol=0, atol=1e-6)
    mono = imager({"in": x}, {"width": _full(0.0)}, sample_rate=SR)["out"]
    assert torch.equal(mono[:, 0], mono[:, 1])
    torch.testing.assert_close(mono[:, 0], x.mean(dim=1))


def test_imager_width_scales_side_and_keeps_mid():
    x = _noise(600)
    widths = torch.tensor([0.5, 2.0])
    y = imager({"in": x}, {"width": widths}, sample_rate=SR)["out"]
    torch.testing.assert_close(y.sum(dim=1), x.sum(dim=1), rtol=0, atol=1e-5)
    torch.testing.assert_close(y[:, 0] - y[:, 1], widths.view(-1, 1) * (x[:, 0] - x[:, 1]),
                               rtol=0, atol=1e-5)


@pytest.mark.parametrize("n", [1001, 1000])
def test_pan_centre_is_identity(n):
    x = _noise(n)
    y = pan({"in": x}, {"pan": _full(0.0)}, sample_rate=SR)["out"]
    torch.testing.assert_close(y, x, rtol=0, atol=1e-6)


@pytest.mark.parametrize("position", [-1.0, -0.6, -0.1, 0.0, 0.35, 0.8, 1.0])
def test_pan_is_constant_power_for_mono_input(position):
    mono = _noise(999, batch=1)[:, :1].expand(1, 2, -1)
    y = pan({"in": mono}, {"pan": _full(position, 1)}, sample_rate=SR)["out"]
    power = y[:, 0] ** 2 + y[:, 1] ** 2
    torch.testing.assert_close(power, 2 * mono[:, 0] ** 2, rtol=1e-5, atol=1e-6)
    theta = (position + 1) * math.pi / 4
    expected = math.sqrt(2) * math.cos(theta) * mono[:, 0]
    torch.testing.assert_close(y[:, 0], expected, rtol=1e-5, atol=1e-6)


def test_pan_extremes_silence_one_side():
    x = _noise(300)
    y = pan({"in": x}, {"pan": torch.tensor([-1.0, 1.0])}, sample_rate=SR)["out"]
    assert y[0, 1].abs().max() < 1e-6 and y[1, 0].abs().max() < 1e-6
    torch.testing.assert_close(y[0, 0], math.sqrt(2) * x[0, 0])


def test_pan_follows_a_modulated_position_per_channel():
    x = _noise(400)
    position = torch.rand(2, 2, 400, generator=torch.Generator().manual_seed(3)) * 2 - 1
    y = pan({"in": x}, {"pan": position}, sample_rate=SR)["out"]
    theta = (position + 1) * math.pi / 4
    torch.testing.assert_close(y[:, 0], math.sqrt(2) * torch.cos(theta[:, 0]) * x[:, 0])
    torch.testing.assert_close(y[:, 1], math.sqrt(2) * torch.sin(theta[:, 1]) * x[:, 1])


@pytest.mark.parametrize("name", ["pan", "imager", "ms_split", "ms_merge"])
def test_gradients_flow(name):
    spec = get(name)
    inputs = {inlet: _noise(257, seed=i).requires_grad_(True)
              for i, inlet in enumerate(spec.required)}
    params = {p.name: torch.full((2,), 0.3, requires_grad=True) for p in spec.params}
    out = PROCESSORS[name](inputs, params, sample_rate=SR, grad=True)
    sum(y.square().sum() for y in out.values()).backward()
    for tensor in list(inputs.values()) + list(params.values()):
        assert torch.isfinite(tensor.grad).all() and tensor.grad.abs().sum() > 0


@pytest.mark.parametrize("name", ["pan", "imager", "ms_split", "ms_merge", "mix"])
@pytest.mark.parametrize("signal", ["silence", "noise"])
@pytest.mark.parametrize("end", ["min", "max"])
def test_finite_at_extremes(name, signal, end):
    spec = get(name)
    n = 513
    x = torch.zeros(1, 2, n) if signal == "silence" else torch.rand(1, 2, n) * 2 - 1
    inputs = {inlet: x for inlet in spec.required}
    params = {p.name: _full(getattr(p, end), 1) for p in spec.params}
    for y in PROCESSORS[name](inputs, params, sample_rate=SR).values():
        assert torch.isfinite(y).all()
        if signal == "silence":
            assert not y.any()


def test_imager_fast_mode_is_the_torch_path_bit_for_bit():
    x = _noise(3001, batch=3)
    widths = torch.tensor([0.0, 0.7, 2.0])
    for audio in (x, x[:, :1].expand(-1, 2, -1)):                  # stereo, and a broadcast mono clip
        fast = imager({"in": audio}, {"width": widths}, sample_rate=SR)["out"]
        slow = imager({"in": audio}, {"width": widths}, sample_rate=SR, grad=True)["out"]
        assert fast.is_contiguous() and torch.equal(fast, slow)
