"""Tests of graphfx.dsp.modulation against np.interp, scipy.signal.lfilter and a plain loop."""
import math

import numpy as np
import pytest
import scipy.signal
import torch

from graphfx.catalog import get
from graphfx.dsp.modulation import FEEDBACK_ITERATIONS, PROCESSORS, modulated_delay

SR = 16000


def _run(x, delay, feedback, mix, grad, name="chorus"):
    params = {"delay": delay, "feedback": torch.full((x.shape[0],), float(feedback)),
              "mix": torch.full((x.shape[0],), float(mix))}
    return PROCESSORS[name]({"in": x}, params, sample_rate=SR, grad=grad)["out"]


def _lfo_delay(batch, n, centre_ms, depth_ms, rate_hz):
    """A sinusoidally modulated delay in ms, ``[B, 2, T]``, channels a quarter cycle apart."""
    t = torch.arange(n) / SR
    phase = torch.tensor([0.0, math.pi / 2])[:, None]
    rates = torch.linspace(rate_hz, 2 * rate_hz, batch)[:, None, None]
    return centre_ms + depth_ms * torch.sin(2 * math.pi * rates * t + phase)


def _loop_reference(x, lag, feedback):
    """The documented recursion, one sample at a time (float64)."""
    v = np.zeros(len(x))
    wet = np.zeros(len(x))
    for n in range(len(x)):
        whole = int(math.floor(lag[n]))
        frac = lag[n] - whole
        newer = v[n - whole] if n - whole >= 0 else 0.0
        older = v[n - whole - 1] if n - whole - 1 >= 0 else 0.0
        wet[n] = (1 - frac) * newer + frac * older
        v[n] = x[n] + feedback * wet[n]
    return wet


@pytest.mark.parametrize("n", [2001, 2000])
@pytest.mark.parametrize("grad", [False, True])
def test_static_delay_is_exact_shift(n, grad):
    torch.manual_seed(0)
    x = torch.randn(2, 2, n)
    y = _run(x, torch.tensor([5.0, 20.0]), 0.0, 1.0, grad)               # 80 and 320 samples
    for b, lag in enumerate([80, 320]):
        torch.testing.assert_close(y[b, :, lag:], x[b, :, :-lag], atol=2e-6, rtol=0)
        assert y[b, :, :lag].abs().max() < 2e-6


@pytest.mark.parametrize("n", [3001, 3000])
@pytest.mark.parametrize("grad", [False, True])
def test_static_fractional_delay_with_feedback_matches_scipy(n, grad):
    torch.manual_seed(1)
    x = torch.randn(1, 2, n)
    lag = 10.3 * SR / 1000                                                # 164.8 samples
    whole, frac = int(lag), lag - int(lag)
    g, mix = 0.7, 0.6
    y = _run(x, torch.tensor([10.3]), g, mix, grad, name="flanger")[0].numpy()
    read = np.zeros(whole + 2)
    read[whole], read[whole + 1] = 1 - frac, frac                        # (1 - f) z^-m + f z^-(m+1)
    denominator = np.concatenate([[1.0], np.zeros(whole + 1)]) - g * read
    for c in range(2):
        wet = scipy.signal.lfilter(read, denominator, x[0, c].double().numpy())
        np.testing.assert_allclose(y[c], (1 - mix) * x[0, c].numpy() + mix * wet, atol=5e-5)


@pytest.mark.parametrize("n", [4001, 4000])
@pytest.mark.parametrize("grad", [False, True])
def test_modulated_delay_follows_np_interp(n, grad):
    torch.manual_seed(2)
    x = torch.randn(2, 2, n)
    delay_ms = _lfo_delay(2, n, 10.0, 6.0, 3.0)
    y = _run(x, delay_ms, 0.0, 1.0, grad).numpy()
    t = np.arange(n)
    for b in range(2):
        for c in range(2):
            read_time = t - delay_ms[b, c].double().numpy() * SR / 1000
            # Silence before the clip: a zero at t = -1 so reads in (-1, 0) interpolate towards it.
            ref = np.interp(read_time, np.arange(-1, n), np.concatenate([[0.0], x[b, c].double().numpy()]),
                            left=0.0)
            np.testing.assert_allclose(y[b, c], ref, atol=1e-5)


def test_modulated_feedback_matches_plain_loop():
    torch.manual_seed(3)
    n = 3001
    x = torch.randn(1, 2, n)
    delay_ms = _lfo_delay(1, n, 2.0, 1.5, 2.0)                          # flanger range
    y = _run(x, delay_ms, 0.8, 1.0, False, name="flanger")[0].numpy()
    for c in range(2):
        lag = delay_ms[0, c].double().numpy() * SR / 1000
        np.testing.assert_allclose(y[c], _loop_reference(x[0, c].double().numpy(), lag, 0.8), atol=5e-5)


@pytest.mark.parametrize("feedback", [0.2, 0.5])
def test_grad_mode_feedback_truncation_error(feedback):
    """Modulated + feedback in gradient mode drops recirculations beyond FEEDBACK_ITERATIONS."""
    torch.manual_seed(4)
    n = 4000
    x = torch.randn(2, 2, n)
    delay_ms = _lfo_delay(2, n, 5.0, 3.0, 1.0)
    fast = _run(x, delay_ms, feedback, 1.0, False, name="flanger")
    slow = _run(x, delay_ms, feedback, 1.0, True, name="flanger")
    relative = (fast - slow).norm() / fast.norm()
    assert relative < 2 * feedback ** (FEEDBACK_ITERATIONS + 1)


@pytest.mark.parametrize("modulated", [False, True])
def test_gradients_flow(modulated):
    torch.manual_seed(5)
    n = 2001
    x = torch.randn(2, 2, n, requires_grad=True)
    delay_ms = _lfo_delay(2, n, 12.3, 4.0, 2.0) if modulated else torch.tensor([12.3, 7.7])
    delay_ms.requires_grad_()
    feedback = torch.tensor([0.3, 0.5], requires_grad=True)
    mix = torch.tensor([0.5, 0.8], requires_grad=True)
    params = {"delay": delay_ms, "feedback": feedback, "mix": mix}
    modulated_delay({"in": x}, params, sample_rate=SR, grad=True)["out"].pow(2).sum().backward()
    for t in [x, delay_ms, feedback, mix]:
        assert torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0


@pytest.mark.parametrize("name", ["chorus", "flanger", "vibrato"])
@pytest.mark.parametrize("grad", [False, True])
def test_finite_at_extremes(name, grad):
    spec = get(name)
    lo, hi = spec.param("delay").min, spec.param("delay").max
    fb = spec.param("feedback").max
    n = 3001
    torch.manual_seed(6)
    for delay_ms in [torch.tensor([lo, hi]), _lfo_delay(2, n, (lo + hi) / 2, (hi - lo) / 2, 20.0)]:
        for x in [torch.zeros(2, 2, n), torch.rand(2, 2, n) * 2 - 1]:
            for feedback, mix in [(fb, 1.0), (0.0, 0.0)]:
                y = _run(x, delay_ms, feedback, mix, grad, name)
                assert y.shape == x.shape and torch.isfinite(y).all() and y.abs().max() < 20
                if not x.any():
                    assert not y.any()
