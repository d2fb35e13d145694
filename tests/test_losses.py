import torch

from graphfx.losses import band_difference_db, mss_loss


def test_identical_signals_have_zero_loss():
    x = torch.randn(2, 2, 8000)
    assert torch.allclose(mss_loss(x, x), torch.zeros(2), atol=1e-6)


def test_loss_grows_with_difference_and_is_per_example():
    x = torch.randn(1, 1, 8000)
    small = mss_loss(x, x + 0.01 * torch.randn_like(x))
    large = mss_loss(x, x + 0.5 * torch.randn_like(x))
    assert 0 < small < large
    both = mss_loss(torch.cat([x, x]), torch.cat([x, 2 * x]))
    assert both.shape == (2,) and both[0] < 1e-6 < both[1]


def test_differentiable():
    x = torch.randn(1, 1, 4000, requires_grad=True)
    mss_loss(x, torch.randn(1, 1, 4000)).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_band_difference_sees_a_change_confined_to_one_band():
    sr = 16000
    t = torch.arange(sr) / sr
    low = torch.sin(2 * torch.pi * 200 * t)
    high = torch.sin(2 * torch.pi * 3000 * t)
    x = (low + high)[None, None]
    y = (low + 2 * high)[None, None]  # +6 dB on one partial only
    assert abs(float(band_difference_db(x, y, sr)) - 6.02) < 0.5  # window leakage between bands
    assert float(band_difference_db(x, x, sr)) < 1e-4
    assert abs(float(band_difference_db(x, 0.5 * x, sr)) - 6.02) < 0.1
