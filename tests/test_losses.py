import torch

from graphfx.losses import mss_loss, spectral_difference_db


def test_identical_signals_have_zero_loss():
    x = torch.randn(2, 2, 8000)
    assert torch.allclose(mss_loss(x, x), torch.zeros(2), atol=1e-6)
    assert torch.allclose(spectral_difference_db(x, x), torch.zeros(2), atol=1e-5)


def test_gain_change_reads_as_its_decibels():
    x = torch.randn(1, 2, 8000)
    assert abs(float(spectral_difference_db(x, 2 * x)) - 6.02) < 0.05


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
