"""Tests of graphfx.dsp.biquad against independent references (numpy cookbook formulas, scipy)."""
import math

import numpy as np
import pytest
import scipy.signal
import torch

from graphfx.dsp import biquad
from graphfx.dsp.biquad import (KINDS, biquad_filter, cascade_lanes, rbj_coefficients,
                                state_space_blocks)

SR = 44100


def cookbook(kind, f0, q, gain_db, fs):
    """RBJ Audio EQ Cookbook coefficients, written out with numpy: (b0, b1, b2, a1, a2)."""
    w0 = 2 * np.pi * f0 / fs
    cw, sw = np.cos(w0), np.sin(w0)
    alpha = sw / (2 * q)
    A = 10 ** (gain_db / 40)
    if kind == "lowpass":
        b, a = [(1 - cw) / 2, 1 - cw, (1 - cw) / 2], [1 + alpha, -2 * cw, 1 - alpha]
    elif kind == "highpass":
        b, a = [(1 + cw) / 2, -(1 + cw), (1 + cw) / 2], [1 + alpha, -2 * cw, 1 - alpha]
    elif kind == "bandpass":
        b, a = [alpha, 0.0, -alpha], [1 + alpha, -2 * cw, 1 - alpha]
    elif kind == "bandreject":
        b, a = [1.0, -2 * cw, 1.0], [1 + alpha, -2 * cw, 1 - alpha]
    elif kind == "bell":
        b, a = [1 + alpha * A, -2 * cw, 1 - alpha * A], [1 + alpha / A, -2 * cw, 1 - alpha / A]
    elif kind == "lowshelf":
        r = 2 * np.sqrt(A) * alpha
        b = [A * ((A + 1) - (A - 1) * cw + r), 2 * A * ((A - 1) - (A + 1) * cw),
             A * ((A + 1) - (A - 1) * cw - r)]
        a = [(A + 1) + (A - 1) * cw + r, -2 * ((A - 1) + (A + 1) * cw), (A + 1) + (A - 1) * cw - r]
    elif kind == "highshelf":
        r = 2 * np.sqrt(A) * alpha
        b = [A * ((A + 1) + (A - 1) * cw + r), -2 * A * ((A - 1) + (A + 1) * cw),
             A * ((A + 1) + (A - 1) * cw - r)]
        a = [(A + 1) - (A - 1) * cw + r, 2 * ((A - 1) - (A + 1) * cw), (A + 1) - (A - 1) * cw - r]
    b, a = np.array(b) / a[0], np.array(a) / a[0]
    return b[0], b[1], b[2], a[1], a[2]


def sos_reference(x, sections_per_clip):
    """scipy sosfilt per clip; ``sections_per_clip[b]`` is a list of 5-tuples."""
    out = []
    for xb, sections in zip(x.double().numpy(), sections_per_clip):
        sos = np.array([[b0, b1, b2, 1.0, a1, a2] for b0, b1, b2, a1, a2 in sections])
        out.append(scipy.signal.sosfilt(sos, xb, axis=-1))
    return np.stack(out)


def rel_err(y, ref):
    y = y.detach().double().numpy() if torch.is_tensor(y) else y
    return np.linalg.norm(y - ref) / np.linalg.norm(ref)


def df2t_reference(x, coeffs):
    """Time-varying Direct Form II transposed, one sample at a time (numpy, float64).

    x: [P, T]; coeffs: five arrays [P, T].
    """
    b0, b1, b2, a1, a2 = coeffs
    z1 = np.zeros(x.shape[0])
    z2 = np.zeros(x.shape[0])
    y = np.empty_like(x)
    for n in range(x.shape[1]):
        y[:, n] = b0[:, n] * x[:, n] + z1
        z1, z2 = (b1[:, n] * x[:, n] - a1[:, n] * y[:, n] + z2,
                  b2[:, n] * x[:, n] - a2[:, n] * y[:, n])
    return y


@pytest.mark.parametrize("kind", KINDS)
def test_coefficients_match_cookbook(kind):
    f = torch.tensor([20.0, 440.0, 3000.0, 19000.0], dtype=torch.float64)
    q = torch.tensor([0.1, 0.707, 3.0, 10.0], dtype=torch.float64)
    g = torch.tensor([-24.0, -3.0, 6.0, 24.0])
    got = torch.stack(rbj_coefficients(kind, f, q, g, SR), -1).numpy()
    want = np.array([cookbook(kind, *v, SR) for v in zip(f.numpy(), q.numpy(), g.double().numpy())])
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def test_coefficients_broadcast_and_clamp():
    f = torch.full((2, 2, 5), 1000.0)
    b0, *_ = rbj_coefficients("lowpass", f, torch.tensor(0.7), 0.0, SR)
    assert b0.shape == (2, 2, 5) and b0.dtype == torch.float32
    # Above Nyquist (20 kHz at 16 kHz) the frequency is clamped: finite, stable coefficients.
    coeffs = rbj_coefficients("highshelf", torch.tensor([20000.0]), 10.0, 24.0, 16000)
    assert all(torch.isfinite(c).all() for c in coeffs)
    assert biquad._pole_radius(coeffs[3], coeffs[4]).item() < 1


def _random_setup(kind, T, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(3, 2, T, generator=g)
    f = torch.tensor([200.0, 1000.0, 9000.0], dtype=torch.float64)
    q = torch.tensor([0.5, 0.707, 4.0], dtype=torch.float64)
    gain = torch.tensor([9.0, -12.0, 3.0], dtype=torch.float64)
    coeffs = rbj_coefficients(kind, f.view(-1, 1, 1), q.view(-1, 1, 1), gain.view(-1, 1, 1), SR)
    numpy_coeffs = [cookbook(kind, *v, SR) for v in zip(f.numpy(), q.numpy(), gain.numpy())]
    return x, coeffs, numpy_coeffs


@pytest.mark.parametrize("grad", [False, True])
@pytest.mark.parametrize("T", [3001, 3000])
@pytest.mark.parametrize("kind", KINDS)
def test_constant_coefficients_match_sosfilt(kind, T, grad):
    x, coeffs, ref_coeffs = _random_setup(kind, T)
    # These decay within the clip (on GPU the grad path would be the FFT one; on CPU it is the recursion).
    assert biquad._tail_length(coeffs[3], coeffs[4], 2) <= T
    for repeat in (1, 2):
        y = biquad_filter(x, coeffs, grad=grad, repeat=repeat)
        assert y.shape == x.shape and y.dtype == torch.float32
        ref = sos_reference(x, [[c] * repeat for c in ref_coeffs])
        assert rel_err(y, ref) < 1e-4


@pytest.mark.parametrize("grad", [False, True])
@pytest.mark.parametrize("T", [2001, 2000])
def test_per_sample_coefficients_match_sosfilt(T, grad):
    # Constant values given per sample ([B, 2, T]) take the time-varying code paths.
    x, coeffs, ref_coeffs = _random_setup("bell", T)
    per_sample = [c.expand(-1, 2, T) for c in coeffs]
    y = biquad_filter(x, per_sample, grad=grad, repeat=2)
    assert rel_err(y, sos_reference(x, [[c] * 2 for c in ref_coeffs])) < 1e-4


@pytest.mark.parametrize("T", [1999, 2048])
def test_time_varying_paths_match_sample_by_sample_reference(T):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 2, T, generator=g)
    t = torch.arange(T, dtype=torch.float64) / SR
    # A fast sweep (8 Hz LFO over 100 Hz - 8 kHz) with different Q per clip and channel.
    f = 100 * 80 ** ((1 + torch.sin(2 * math.pi * 8 * t)) / 2)
    q = torch.tensor([[0.5, 2.0], [0.8, 6.0]], dtype=torch.float64).unsqueeze(-1)
    coeffs = rbj_coefficients("lowpass", f.expand(2, 2, T), q, 0.0, SR)
    ref = df2t_reference(x.double().reshape(4, T).numpy(), [c.reshape(4, T).numpy() for c in coeffs])
    for grad in (False, True):
        y = biquad_filter(x, coeffs, grad=grad)
        assert rel_err(y.reshape(4, T), ref) < 1e-5


@pytest.mark.parametrize("T", [1001, 1000])
def test_long_ringing_filter_on_short_clip(T):
    # 20 Hz, Q 10: the impulse response rings far longer than the clip, so on GPU the
    # grad path could not use a 2T-point FFT and would run through state-space blocks.
    x = torch.randn(1, 2, T, generator=torch.Generator().manual_seed(2))
    coeffs = rbj_coefficients("bandpass", torch.tensor([[[20.0]]], dtype=torch.float64), 10.0, 0.0, SR)
    assert biquad._tail_length(coeffs[3], coeffs[4], 1) > T
    ref = sos_reference(x, [[cookbook("bandpass", 20.0, 10.0, 0.0, SR)]])
    for grad in (False, True):
        assert rel_err(biquad_filter(x, coeffs, grad=grad), ref) < 1e-4


def test_cascade_lanes_distinct_sections():
    x = np.random.default_rng(3).standard_normal((1500, 4)).astype(np.float32)
    specs = [("lowshelf", 200.0, 0.7, 6.0), ("bell", 2000.0, 2.0, -9.0), ("highpass", 50.0, 0.7, 0.0)]
    sections = [[np.full((1, 4), c) for c in cookbook(*s, SR)] for s in specs]
    y = cascade_lanes(x, sections)
    sos = np.array([[b0, b1, b2, 1, a1, a2] for b0, b1, b2, a1, a2 in (cookbook(*s, SR) for s in specs)])
    ref = scipy.signal.sosfilt(sos, x.astype(np.float64), axis=0)
    assert rel_err(y.astype(np.float64), ref) < 1e-5


def _df2t_matrices(coeffs):
    b0, b1, b2, a1, a2 = coeffs
    one, zero = torch.ones_like(a1), torch.zeros_like(a1)
    A = torch.stack([torch.stack([-a1, one], -1), torch.stack([-a2, zero], -1)], -2)
    B = torch.stack([b1 - a1 * b0, b2 - a2 * b0], -1)
    C = torch.stack([one, zero], -1)
    return A, B, C, b0


@pytest.mark.parametrize("T", [1000, 1025])
def test_state_space_blocks_constant_matches_scipy(T):
    rng = np.random.default_rng(4)
    N = 3
    A = rng.standard_normal((N, N))
    A *= 0.95 / np.abs(np.linalg.eigvals(A)).max()
    B, C, D = rng.standard_normal(N), rng.standard_normal(N), 0.3
    x = rng.standard_normal((2, T))
    ref = np.concatenate([scipy.signal.dlsim((A, B[:, None], C[None, :], np.array([[D]]), 1),
                                             xi)[1] for xi in x], -1).T
    t = lambda v: torch.tensor(v).unsqueeze(0)  # block dim of 1: constant
    y = state_space_blocks(torch.tensor(x, dtype=torch.float32), t(A), t(B), t(C),
                           torch.tensor([D]), block=64)
    assert rel_err(y, ref) < 1e-5


def test_state_space_blocks_block_constant_biquad():
    # Coefficients that change every block: equal to the sample-by-sample recursion.
    T, L = 1500, biquad.STATE_SPACE_BLOCK
    K = -(-T // L)
    f = torch.logspace(math.log10(30), math.log10(12000), K, dtype=torch.float64)
    per_block = rbj_coefficients("highpass", f, 2.0, 0.0, SR)  # [K]
    per_sample = [c.repeat_interleave(L)[:T] for c in per_block]
    x = torch.randn(1, T, generator=torch.Generator().manual_seed(5))
    y = state_space_blocks(x, *_df2t_matrices(per_block))
    ref = df2t_reference(x.double().numpy(), [c[None].numpy() for c in per_sample])
    assert rel_err(y, ref) < 1e-5


@pytest.mark.parametrize("varying", [False, True])
def test_gradients_flow(varying):
    T = 1200
    x = torch.randn(2, 2, T, generator=torch.Generator().manual_seed(6), requires_grad=True)
    f = torch.tensor([300.0, 3000.0], dtype=torch.float64, requires_grad=True)
    q = torch.tensor([0.7, 2.0], dtype=torch.float64, requires_grad=True)
    freq = f.view(-1, 1, 1) * (torch.linspace(0.5, 1.5, T, dtype=torch.float64) if varying else 1)
    coeffs = rbj_coefficients("bell", freq, q.view(-1, 1, 1), 6.0, SR)
    biquad_filter(x, coeffs, grad=True, repeat=2).square().mean().backward()
    for leaf in (x, f, q):
        assert leaf.grad is not None and torch.isfinite(leaf.grad).all() and leaf.grad.abs().sum() > 0


def test_silence_and_full_scale():
    for x in (torch.zeros(1, 2, 1000), torch.ones(1, 2, 1000), torch.rand(1, 2, 1000) * 2 - 1):
        for kind in KINDS:
            coeffs = rbj_coefficients(kind, torch.tensor([[[20.0]]]), 10.0, 24.0, SR)
            for grad in (False, True):
                assert torch.isfinite(biquad_filter(x, coeffs, grad=grad, repeat=2)).all()


# --- constant coefficients with gradients on CPU: compiled recursion and adjoint ---------
GRADCHECK_FILTERS = {  # (kind, frequencies of the two clips, Q, gain in dB)
    "lowpass": ("lowpass", [1000.0, 6000.0], [0.7, 2.0], 0.0),
    "bell": ("bell", [300.0, 3000.0], [1.0, 4.0], [9.0, -12.0]),
    # Poles at radius ~0.9998 (a tail of ~1e5 samples): large gradients that grow along the clip.
    "resonant": ("lowpass", [30.0, 60.0], [10.0, 20.0], 0.0),
}


def _leaf_coefficients(kind, f, q, gain, shape=(-1, 1, 1)):
    as_param = lambda v: torch.as_tensor(v, dtype=torch.float64).view(shape)
    return [c.detach().requires_grad_(True)
            for c in rbj_coefficients(kind, as_param(f), as_param(q), as_param(gain), SR)]


@pytest.mark.parametrize("repeat", [1, 2])
@pytest.mark.parametrize("name", sorted(GRADCHECK_FILTERS))
def test_grad_path_gradcheck(name, repeat):
    coeffs = _leaf_coefficients(*GRADCHECK_FILTERS[name])  # [B, 1, 1]
    x = torch.randn(2, 2, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(7),
                    requires_grad=True)
    filt = lambda x, *c: biquad_filter(x, c, grad=True, repeat=repeat)
    assert torch.autograd.gradcheck(filt, (x, *coeffs))


def test_grad_path_gradcheck_mixed_broadcast_shapes():
    # Per clip, per channel, shared and per clip-and-channel coefficients: the gradients are
    # summed back to each shape.
    b0, b1, b2, a1, a2 = (c.detach() for c in _leaf_coefficients("bell", [500.0, 2000.0], [1.0, 3.0],
                                                                  [6.0, -6.0]))
    coeffs = [b0, b1[:1, :, :].expand(1, 2, 1).clone(), b2[0, 0].clone(),
              a1.expand(2, 2, 1).clone(), a2[:1, :, :].clone()]
    coeffs = [c.requires_grad_(True) for c in coeffs]  # [2,1,1], [1,2,1], [1], [2,2,1], [1,1,1]
    x = torch.randn(2, 2, 48, dtype=torch.float64, generator=torch.Generator().manual_seed(8),
                    requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, *c: biquad_filter(x, c, grad=True), (x, *coeffs))


@pytest.mark.parametrize("repeat", [1, 2])
@pytest.mark.parametrize("kind", KINDS)
def test_grad_path_equals_fast_path(kind, repeat):
    x, coeffs, _ = _random_setup(kind, 3001)
    y = biquad_filter(x.requires_grad_(True), coeffs, grad=True, repeat=repeat)
    assert y.dtype == torch.float32 and y.requires_grad
    torch.testing.assert_close(y.detach(), biquad_filter(x, coeffs, repeat=repeat), rtol=0, atol=1e-6)


def test_grad_path_gradients_match_torch_path():
    # Gradients through the RBJ formulas (float32 audio) against those of the FFT path, an
    # independent implementation; and the same coefficient gradients when x needs none.
    x = torch.randn(2, 2, 3000, generator=torch.Generator().manual_seed(9))
    w = torch.randn(2, 2, 3000, generator=torch.Generator().manual_seed(10))

    def grads(path, x_grad):
        leaves = [torch.tensor(v, dtype=torch.float64, requires_grad=True)
                  for v in ([400.0, 5000.0], [0.8, 3.0], [6.0, -9.0])]
        xl = x.clone().requires_grad_(x_grad)
        f, q, gain = (v.view(-1, 1, 1) for v in leaves)
        (path(xl, rbj_coefficients("bell", f, q, gain, SR)) * w).sum().backward()
        return [v.grad for v in leaves] + ([xl.grad] if x_grad else [])

    recursion = grads(lambda x, c: biquad_filter(x, c, grad=True, repeat=2), True)
    fft = grads(lambda x, c: biquad._constant_torch(x, c, 2), True)
    for got, want in zip(recursion, fft):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4 * want.abs().max().item())
    for got, want in zip(grads(lambda x, c: biquad_filter(x, c, grad=True, repeat=2), False), recursion):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=0)


@pytest.mark.parametrize("kind", KINDS)
def test_gpu_fft_path_matches_sosfilt(kind):
    # The torch path that CUDA tensors take, run here on CPU tensors.
    x, coeffs, ref_coeffs = _random_setup(kind, 3000)
    assert biquad._tail_length(coeffs[3], coeffs[4], 2) <= 3000  # FFT
    y = biquad._constant_torch(x, coeffs, 2)
    assert rel_err(y, sos_reference(x, [[c] * 2 for c in ref_coeffs])) < 1e-4


def test_gpu_state_space_path_matches_sosfilt():
    x = torch.randn(1, 2, 1000, generator=torch.Generator().manual_seed(11))
    coeffs = rbj_coefficients("bandpass", torch.tensor([[[20.0]]], dtype=torch.float64), 10.0, 0.0, SR)
    assert biquad._tail_length(coeffs[3], coeffs[4], 1) > 1000  # state-space blocks
    ref = sos_reference(x, [[cookbook("bandpass", 20.0, 10.0, 0.0, SR)]])
    assert rel_err(biquad._constant_torch(x, coeffs, 1), ref) < 1e-4


# --- time-varying coefficients with gradients on CPU: compiled recursion and adjoint -----
def _swept(kind, B, T, dtype=torch.float64, rate=300.0):
    # Coefficients [B, 1, T] of a filter swept over an octave each way by a fast LFO.
    t = torch.arange(T, dtype=dtype) / SR
    f = torch.tensor([500.0, 2000.0, 1000.0, 4000.0][:B], dtype=dtype).view(-1, 1, 1)
    f = f * 2 ** torch.sin(2 * math.pi * rate * t + torch.arange(B, dtype=dtype).view(-1, 1, 1))
    q = torch.tensor([1.0, 3.0, 0.7, 2.0][:B], dtype=dtype).view(-1, 1, 1)
    return [c.detach() for c in rbj_coefficients(kind, f, q, 6.0, SR)]


def _mixed_shapes(coeffs):
    # Per clip and sample, per clip, per clip, channel and sample, per clip and sample, shared.
    b0, b1, b2, a1, a2 = coeffs
    B, _, T = b0.shape
    return [b0, b1[..., :1].clone(), b2.expand(B, 2, T).clone(), a1, a2[:1, :, :1].clone()]


@pytest.mark.parametrize("repeat", [1, 2])
def test_varying_grad_path_gradcheck(repeat):
    coeffs = [c.requires_grad_(True) for c in _mixed_shapes(_swept("bell", 2, 48))]
    assert [tuple(c.shape) for c in coeffs] == [(2, 1, 48), (2, 1, 1), (2, 2, 48), (2, 1, 48), (1, 1, 1)]
    x = torch.randn(2, 2, 48, dtype=torch.float64, generator=torch.Generator().manual_seed(12),
                    requires_grad=True)
    filt = lambda x, *c: biquad_filter(x, c, grad=True, repeat=repeat)
    assert torch.autograd.gradcheck(filt, (x, *coeffs))


def test_varying_grad_path_computes_only_needed_gradients():
    # The same gradients whichever subset of the inputs needs them.
    x = torch.randn(2, 2, 500, dtype=torch.float64, generator=torch.Generator().manual_seed(13))
    w = torch.randn(2, 2, 500, dtype=torch.float64, generator=torch.Generator().manual_seed(14))
    coeffs = _mixed_shapes(_swept("lowpass", 2, 500))

    def grads(wanted):
        leaves = [v.clone().requires_grad_(i in wanted) for i, v in enumerate([x, *coeffs])]
        (biquad_filter(leaves[0], leaves[1:], grad=True, repeat=2) * w).sum().backward()
        return [v.grad for v in leaves]

    everything = grads(range(6))
    for wanted in ([0], [4], [1, 3], [2, 5]):
        got = grads(wanted)
        for i in range(6):
            if i in wanted:
                torch.testing.assert_close(got[i], everything[i], rtol=0, atol=0)
            else:
                assert got[i] is None


@pytest.mark.parametrize("repeat", [1, 2])
def test_varying_grad_path_equals_fast_path(repeat):
    # LFO-swept lowpass, float32 throughout: the compiled forward is the fast kernel, bit for bit.
    x = torch.randn(3, 2, 3001, generator=torch.Generator().manual_seed(15))
    freq = 200 * 40 ** ((1 + torch.sin(2 * math.pi * 5 * torch.arange(3001) / SR)) / 2)
    coeffs = rbj_coefficients("lowpass", freq.expand(3, 1, 3001), torch.full((3, 1, 1), 4.0), 0.0, SR)
    for per_sample in (coeffs, _mixed_shapes(coeffs)):
        y = biquad_filter(x.requires_grad_(True), per_sample, grad=True, repeat=repeat)
        assert y.dtype == torch.float32 and y.requires_grad
        assert torch.equal(y.detach(), biquad_filter(x, per_sample, repeat=repeat))


def test_cuda_varying_path_matches_compiled_path():
    # _biquad_varying (the path CUDA tensors take), run on CPU: the same output and gradients as
    # the compiled path, an independent implementation.
    x = torch.randn(2, 2, 700, dtype=torch.float64, generator=torch.Generator().manual_seed(16))
    w = torch.randn(2, 2, 700, dtype=torch.float64, generator=torch.Generator().manual_seed(17))
    coeffs = _mixed_shapes(_swept("bell", 2, 700, rate=60.0))

    def run(path):
        leaves = [v.clone().requires_grad_(True) for v in [x, *coeffs]]
        y = path(leaves[0], leaves[1:])
        (y * w).sum().backward()
        return [y.detach()] + [v.grad for v in leaves]

    torch_blocks = run(lambda x, c: biquad._biquad_varying(x, c, 2))
    compiled = run(lambda x, c: biquad_filter(x, c, grad=True, repeat=2))
    for got, want in zip(torch_blocks, compiled):
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9 * want.abs().max().item())
