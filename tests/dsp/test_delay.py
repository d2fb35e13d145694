"""Tests of graphfx.dsp.delay against scipy.signal.lfilter references."""
import math

import numpy as np
import pytest
import scipy.signal
import torch

from graphfx.catalog import get
from graphfx.dsp.delay import (PROCESSORS, _delay_grad, _FeedbackDelay, _mixed, _pingpong_grad, delay,
                                pingpong_delay)

SR = 16000
#: Delays of a few to tens of samples at this rate: in gradcheck's few hundred samples the echoes
#: recirculate many times.
GRADCHECK_SR = 2000
#: The frequency-domain path that gradient mode takes on CUDA tensors (fractional delays).
CUDA_PATHS = {"delay": _delay_grad, "pingpong_delay": _pingpong_grad}


def _params(batch=1, **values):
    spec = get("delay")
    return {p.name: torch.full((batch,), float(values.get(p.name, p.default))) for p in spec.params}


def _rbj_lowpass(frequency, q, sample_rate):
    """Cookbook lowpass (independent of graphfx), peak-normalized as the module documents."""
    w0 = 2 * math.pi * min(frequency, 0.49 * sample_rate) / sample_rate
    alpha = math.sin(w0) / (2 * q)
    b = np.array([1 - math.cos(w0), 2 * (1 - math.cos(w0)), 1 - math.cos(w0)]) / 2
    a = np.array([1 + alpha, -2 * math.cos(w0), 1 - alpha])
    peak = q / math.sqrt(1 - 1 / (4 * q * q)) if q * q > 0.5 else 1.0
    return b / a[0] / peak, a / a[0]


def _shifted(poly, shift):
    return np.concatenate([np.zeros(shift), poly])


def _padded_sum(p, q):
    out = np.zeros(max(len(p), len(q)))
    out[:len(p)] += p
    out[:len(q)] += q
    return out


def _delay_reference(x, lag, feedback, b, a):
    """``z^-D / (1 - g H z^-D)`` with ``H = b / a``: ``z^-D a / (a - g b z^-D)``."""
    return scipy.signal.lfilter(_shifted(a, lag), _padded_sum(a, -feedback * _shifted(b, lag)), x)


def _run(fn, x, params, grad, sample_rate=SR):
    """``grad``: False (fast mode), True (gradient mode) or "cuda_path" (the CUDA path, on CPU tensors)."""
    if grad == "cuda_path":
        return _mixed(x, CUDA_PATHS[fn.__name__](x, params, sample_rate), params["mix"])
    return fn({"in": x}, params, sample_rate=sample_rate, grad=grad)["out"]


@pytest.mark.parametrize("n", [3001, 3000])
@pytest.mark.parametrize("grad", [False, True, "cuda_path"])
def test_delay_matches_scipy(n, grad):
    torch.manual_seed(0)
    x = torch.randn(2, 2, n)
    values = [dict(delay=25.0, feedback=0.7, frequency=1500.0, q=3.0, stereo_offset=12.5, mix=1.0),
              dict(delay=10.0, feedback=0.95, frequency=200.0, q=10.0, stereo_offset=0.0, mix=0.3)]
    params = {k: torch.tensor([v[k] for v in values]) for k in values[0]}
    y = _run(delay, x, params, grad).numpy()
    for i, v in enumerate(values):
        b, a = _rbj_lowpass(v["frequency"], v["q"], SR)
        for c, lag_ms in enumerate([v["delay"], v["delay"] + v["stereo_offset"]]):
            wet = _delay_reference(x[i, c].double().numpy(), round(lag_ms * SR / 1000), v["feedback"], b, a)
            ref = (1 - v["mix"]) * x[i, c].numpy() + v["mix"] * wet
            np.testing.assert_allclose(y[i, c], ref, atol=2e-4)


@pytest.mark.parametrize("n", [4001, 4000])
@pytest.mark.parametrize("grad", [False, True, "cuda_path"])
def test_pingpong_matches_scipy(n, grad):
    torch.manual_seed(1)
    x = torch.randn(1, 2, n)
    v = dict(delay=20.0, feedback=0.8, frequency=3000.0, q=1.5, stereo_offset=6.25, mix=0.6)
    y = _run(pingpong_delay, x, _params(**v), grad).numpy()[0]
    b, a = _rbj_lowpass(v["frequency"], v["q"], SR)
    lag_l, lag_r = round(v["delay"] * SR / 1000), round((v["delay"] + v["stereo_offset"]) * SR / 1000)
    g = v["feedback"]
    a2, b2 = np.convolve(a, a), np.convolve(b, b)
    mono = x[0].double().numpy().mean(axis=0)
    wet_l = scipy.signal.lfilter(_shifted(a2, lag_l), _padded_sum(a2, -g * g * _shifted(b2, lag_l + lag_r)), mono)
    wet_r = scipy.signal.lfilter(g * _shifted(b, lag_r), a, wet_l)
    dry = x[0].numpy()
    np.testing.assert_allclose(y[0], (1 - v["mix"]) * dry[0] + v["mix"] * wet_l, atol=2e-4)
    np.testing.assert_allclose(y[1], (1 - v["mix"]) * dry[1] + v["mix"] * wet_r, atol=2e-4)


@pytest.mark.parametrize("grad", [False, True, "cuda_path"])
def test_impulse_echoes_decay_geometrically(grad):
    n, lag = 2001, 400                                    # 25 ms at 16 kHz
    x = torch.zeros(1, 2, n)
    x[..., 0] = 1.0
    y = _run(delay, x, _params(delay=25.0, feedback=0.5, mix=1.0, frequency=20000.0, q=0.707), grad)[0, 0]
    assert y[:lag].abs().max() < 1e-6
    assert abs(y[lag] - 1.0) < 1e-5                       # first echo: unfiltered
    # The normalized lowpass has unit DC gain, so each echo's sum is feedback times the last.
    sums = torch.stack([y[k * lag:(k + 1) * lag].sum() for k in range(1, 5)])
    torch.testing.assert_close(sums[1:] / sums[:-1], torch.full((3,), 0.5), atol=1e-4, rtol=0)
    # With the lowpass at its top frequency each repeat's peak is close to feedback times the last.
    peaks = torch.stack([y[k * lag:(k + 1) * lag].abs().max() for k in range(1, 4)])
    assert torch.all((peaks[1:] / peaks[:-1] - 0.5).abs() < 0.08)


def test_loop_filter_darkens_repeats():
    n, lag = 4000, 400
    x = torch.zeros(1, 2, n)
    x[..., 0] = 1.0
    y = _run(delay, x, _params(delay=25.0, feedback=0.9, mix=1.0, frequency=1000.0, q=0.707), False)[0, 0]
    echoes = torch.stack([y[k * lag:(k + 1) * lag] for k in range(1, 6)])
    power = torch.fft.rfft(echoes, n=4096).abs() ** 2                     # [echo, bin]
    centroid = (power * torch.arange(power.shape[-1])).sum(-1) / power.sum(-1)
    assert torch.all(centroid[1:] < centroid[:-1])
    energy = power.sum(-1)
    assert torch.all(energy[1:] / energy[:-1] < 0.9 ** 2)                 # loses more than feedback^2


@pytest.mark.parametrize("grad", [False, True, "cuda_path"])
def test_stereo_offset_and_pingpong_alternation(grad):
    n = 3000
    x = torch.zeros(1, 2, n)
    x[..., 0] = 1.0
    v = dict(delay=25.0, stereo_offset=10.0, feedback=0.5, mix=1.0, frequency=20000.0)
    y = _run(delay, x, _params(**v), grad)[0]
    assert y[0].abs().argmax() == 400 and y[1].abs().argmax() == 560
    y = _run(pingpong_delay, x, _params(**v), grad)[0]
    left_peaks = [400, 400 + 560 + 400]
    assert abs(y[0, 400] - 1.0) < 1e-4 and y[1, :960].abs().max() < 1e-4
    assert y[1, 960:1000].abs().max() > 0.3                # first right echo after delay + offset
    assert y[0, left_peaks[1]:left_peaks[1] + 40].abs().max() > 0.15


def test_fractional_delay_on_cuda_path():
    """Between whole samples the CUDA path interpolates (band-limited); on CPU the delay is rounded."""
    n = 2000
    x = torch.zeros(1, 2, n)
    x[..., 300] = 1.0
    params = _params(delay=25.03125, feedback=0.0, mix=1.0)                          # 400.5 samples
    y = _run(delay, x, params, "cuda_path")[0, 0]
    torch.testing.assert_close(y[700] + y[701], torch.tensor(2 / math.pi * 2), atol=1e-3, rtol=0)
    y = _run(delay, x, params, True)[0, 0]                                           # rint(400.5) = 400
    assert y[700] == 1.0 and (y.abs() > 0).sum() == 1


@pytest.mark.parametrize("name", ["delay", "pingpong_delay"])
@pytest.mark.parametrize("path", [True, "cuda_path"])
def test_gradients_flow(name, path):
    """Every parameter gets a gradient on the CUDA path; on CPU the whole-sample delay times get none."""
    torch.manual_seed(2)
    x = torch.randn(2, 2, 2001, requires_grad=True)
    params = {k: v.requires_grad_() for k, v in _params(2, delay=30.3, feedback=0.6, mix=0.7,
                                                         stereo_offset=3.3).items()}
    _run(PROCESSORS[name], x, params, path).pow(2).sum().backward()
    rounded = {"delay", "stereo_offset"} if path is True else set()
    for k, t in [("in", x), *params.items()]:
        if k in rounded:
            assert t.grad is None
        else:
            assert torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0


def _random_params(batch, seed, dtype=torch.float32):
    """Short delays (7-30 samples at GRADCHECK_SR), strong feedback, loop lowpasses from dull to resonant."""
    g = torch.Generator().manual_seed(seed)
    u = lambda lo, hi: (lo + (hi - lo) * torch.rand(batch, generator=g, dtype=torch.float64)).to(dtype)  # noqa: E731
    return dict(delay=u(3.5, 12.0), stereo_offset=u(0.0, 3.0), feedback=u(0.7, 0.95), mix=u(0.2, 0.9),
                frequency=u(150.0, 900.0), q=u(0.5, 4.0))


@pytest.mark.parametrize("name", ["delay", "pingpong_delay"])
def test_grad_mode_gradcheck(name):
    """Input, feedback, frequency, q (through the Function's loop coefficients) and mix, float64."""
    x = torch.rand(2, 2, 300, generator=torch.Generator().manual_seed(4), dtype=torch.float64) * 2 - 1
    params = _random_params(2, 4, torch.float64)
    names = ["feedback", "frequency", "q", "mix"]

    def run(x, *values):
        return _run(PROCESSORS[name], x, {**params, **dict(zip(names, values))}, True, GRADCHECK_SR)

    assert torch.autograd.gradcheck(run, [x.requires_grad_(), *(params[k].requires_grad_() for k in names)])


@pytest.mark.parametrize("pingpong", [False, True])
def test_feedback_delay_function_gradcheck(pingpong):
    """All five loop coefficients apart, delays from 1 sample (one-sample tiles) to past a tile."""
    g = torch.Generator().manual_seed(5)
    x = torch.randn(3, 2, 400, generator=g, dtype=torch.float64)
    lag = np.array([1, 5, 17, 3, 130, 29])                                # lane c * B + b
    # Feedback, then loop filters (b0, b1, b2, a1, a2) with poles of radius 0.9, 0.6, 0.95 and
    # peak gains 0.89, 0.94, 0.90 (stable loops).
    loop = [torch.tensor(v, dtype=torch.float64) for v in
            ([0.9, 0.7, 0.95], [0.08, 0.4, 0.04], [0.05, -0.3, 0.02], [0.02, 0.2, -0.03],
             [-1.2, 0.3, -1.6], [0.81, 0.36, 0.9025])]
    run = lambda x, *p: _FeedbackDelay.apply(x, *p, lag, pingpong)  # noqa: E731
    assert run(x, *loop).abs().max() < 20
    assert torch.autograd.gradcheck(run, [t.requires_grad_() for t in (x, *loop)])


@pytest.mark.parametrize("name", ["delay", "pingpong_delay"])
@pytest.mark.parametrize("n", [6001, 6000])
def test_grad_mode_equals_fast_mode(name, n):
    """On CPU gradient mode runs the fast kernel: the same float32 output, bit for bit."""
    x = torch.randn(3, 2, n, generator=torch.Generator().manual_seed(6))
    params = dict(delay=torch.tensor([3.0, 50.0, 333.3]), stereo_offset=torch.tensor([0.0, 12.3, 40.0]),
                  feedback=torch.tensor([0.3, 0.8, 0.95]), mix=torch.tensor([0.5, 1.0, 0.2]),
                  frequency=torch.tensor([2000.0, 500.0, 7000.0]), q=torch.tensor([0.7, 3.0, 10.0]))
    fast = _run(PROCESSORS[name], x, params, False)
    grad = _run(PROCESSORS[name], x.clone().requires_grad_(), params, True)
    assert grad.dtype == torch.float32 and torch.equal(fast, grad.detach())


@pytest.mark.parametrize("name", ["delay", "pingpong_delay"])
def test_grad_mode_float32_gradients_match_float64(name):
    """The float32 adjoint (the one refinement runs) at real delays, against float64."""
    g = torch.Generator().manual_seed(7)
    x, weights = torch.randn(2, 2, 6001, generator=g), torch.randn(2, 2, 6001, generator=g)
    grads = []
    for dtype in (torch.float32, torch.float64):
        xd = x.to(dtype, copy=True).requires_grad_()
        params = {k: v.to(dtype).requires_grad_() for k, v in _params(2, delay=20.0, feedback=0.8, mix=0.7,
                                                                      q=2.0, stereo_offset=5.0).items()}
        (_run(PROCESSORS[name], xd, params, True) * weights.to(dtype)).sum().backward()
        grads.append([xd.grad, *(params[k].grad for k in ["feedback", "frequency", "q", "mix"])])
    for g32, g64 in zip(*grads):
        torch.testing.assert_close(g32.double(), g64, rtol=1e-4, atol=1e-4 * g64.abs().max().item())


@pytest.mark.parametrize("name", ["delay", "pingpong_delay"])
@pytest.mark.parametrize("grad", [False, True])
def test_finite_at_extremes(name, grad):
    spec = get(name)
    corners = [{p.name: (p.min if (i >> j) & 1 else p.max) for j, p in enumerate(spec.params)}
               for i in range(0, 64, 7)]
    corners.append({p.name: p.max for p in spec.params})
    params = {p.name: torch.tensor([c[p.name] for c in corners]) for p in spec.params}
    batch = len(corners)
    torch.manual_seed(3)
    for x in [torch.zeros(batch, 2, 3001), torch.rand(batch, 2, 3001) * 2 - 1]:
        y = PROCESSORS[name]({"in": x}, params, sample_rate=SR, grad=grad)["out"]
        assert y.shape == x.shape and torch.isfinite(y).all()
        assert y.abs().max() < 100
        if not x.any():
            assert not y.any()
