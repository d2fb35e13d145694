"""Tests of graphfx.dsp.dynamics against the textbook formulas of Giannoulis et al. (2012)."""
import itertools
import math

import numpy as np
import pytest
import torch

from graphfx import catalog
from graphfx.dsp import dynamics
from graphfx.dsp.dynamics import (GRAD_PATH_TOLERANCE_DB, MIN_GAIN_DB, compressor,
                                  expander, gain_computer, noisegate, smooth_attack_release)

SR = 44100
KINDS = ["compressor", "expander", "noisegate"]


def textbook_gain_computer(x, T, R, W, kind):
    """Giannoulis et al. 2012, eq. 4 (compressor) and its downward-expander mirror, for one level.

    A hard knee (``W = 0``) has no knee region (the pieces meet at ``x = T``).
    """
    knee = W > 0 and 2 * abs(x - T) <= W
    if kind == "compressor":
        if 2 * (x - T) < -W:
            return x
        if knee:
            return x + (1 / R - 1) * (x - T + W / 2) ** 2 / (2 * W)
        return T + (x - T) / R
    if 2 * (x - T) > W:
        return x
    if knee:
        return x + (1 - R) * (x - T - W / 2) ** 2 / (2 * W)
    return T + (x - T) * R


def reference_smoother(x, alpha_attack, alpha_release, y0):
    """Eq. 17 of Giannoulis et al., a plain loop over one lane (float64)."""
    y, state = np.empty(len(x)), y0
    for n, value in enumerate(x):
        a = alpha_attack if value > state else alpha_release
        state = a * state + (1 - a) * value
        y[n] = state
    return y


def params(kind, batch, **values):
    """Catalog defaults for ``kind``, overridden by ``values``, as ``[batch]`` tensors."""
    spec = catalog.get(kind)
    return {name: torch.full((batch,), float(values.get(name, default)))
            for name, default in spec.defaults().items()}


def gain_db(y, x):
    """Applied gain in dB where the input is not tiny."""
    mask = x.abs() > 1e-3
    return (20 * torch.log10(y.abs() / x.abs()))[mask]


def sine(levels_db, num_samples, freq=1000.0):
    n = torch.arange(num_samples)
    amp = 10 ** (torch.as_tensor(levels_db, dtype=torch.float32) / 20)
    wave = torch.sin(2 * math.pi * freq * n / SR).expand(len(amp), 2, num_samples)
    return amp[:, None, None] * wave


def corner_params(kind):
    """All 32 corners of the catalog ranges of ``kind`` as one batch."""
    spec = catalog.get(kind)
    corners = list(itertools.product(*[(p.min, p.max) for p in spec.params]))
    return {p.name: torch.tensor([c[i] for c in corners], dtype=torch.float32)
            for i, p in enumerate(spec.params)}


# --- gain computer -------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_gain_computer_matches_textbook(kind):
    levels = np.concatenate([np.linspace(-100, 10, 441), [-23.0, -20.0, -17.0, -14.0, -26.0]])
    for T, R, W in itertools.product([-40.0, -20.0], [1.0, 2.5, 20.0], [0.0, 6.0, 24.0]):
        got = gain_computer(torch.tensor(levels, dtype=torch.float64), T, R, W, kind).numpy()
        curve = "compressor" if kind == "compressor" else "expander"
        want = [textbook_gain_computer(x, T, R, W, curve) for x in levels]
        np.testing.assert_allclose(got, want, atol=1e-9)


def test_gain_computer_tensor_params_and_gradient():
    level = torch.arange(-59.5, 0.0, 1.0).requires_grad_(True)   # 30 levels above -30 dB
    threshold = torch.tensor(-30.0, requires_grad=True)
    knee = torch.tensor(0.0, requires_grad=True)
    out = gain_computer(level, threshold, torch.tensor(4.0), knee, "compressor")
    out.sum().backward()
    for t in (level, threshold, knee):
        assert torch.isfinite(t.grad).all()
    # Above threshold the slope is 1/R; the threshold receives 1 - 1/R per compressed level.
    assert torch.allclose(level.grad[-10:], torch.full((10,), 0.25))
    assert threshold.grad == pytest.approx(0.75 * 30, rel=1e-5)


# --- static curve and keying ---------------------------------------------------------
@pytest.mark.parametrize("num_samples", [20000, 20001])
@pytest.mark.parametrize("grad", [False, True])
def test_compressor_static_curve_on_sine(num_samples, grad):
    levels = [-40.0, -26.0, -23.0, -20.0, -17.0, -14.0, -6.0, 0.0]
    x = sine(levels, num_samples)
    p = params("compressor", len(levels), threshold=-20, ratio=4, knee=6, attack=0.1, release=1000)
    y = compressor({"in": x}, p, sample_rate=SR, grad=grad)["out"]
    tail = slice(num_samples - 2000, num_samples)  # settled
    measured = 20 * torch.log10(y[:, :, tail].abs().amax(-1) / x[:, :, tail].abs().amax(-1))
    for level, got in zip(levels, measured):
        want = textbook_gain_computer(level, -20, 4, 6, "compressor") - level
        assert got.tolist() == pytest.approx([want] * 2, abs=0.1)


@pytest.mark.parametrize("kind", ["expander", "noisegate"])
@pytest.mark.parametrize("num_samples", [20000, 20001])
def test_expander_and_gate_attenuate_below_threshold(kind, num_samples):
    levels = [-70.0, -60.0, -50.0, -35.0, -20.0]
    x = sine(levels, num_samples)
    p = params(kind, len(levels), threshold=-40, ratio=3, knee=0, attack=0.1, release=1000)
    y = dynamics.PROCESSORS[kind]({"in": x}, p, sample_rate=SR)["out"]
    tail = slice(num_samples - 2000, num_samples)
    measured = 20 * torch.log10(y[:, 0, tail].abs().amax(-1) / x[:, 0, tail].abs().amax(-1))
    want = [(3 - 1) * (level + 40) if level < -40 else 0.0 for level in levels]
    assert measured.tolist() == pytest.approx(want, abs=0.1)
    assert measured[0] < -55  # -70 dB in, 30 dB under threshold: 60 dB of attenuation



@pytest.mark.parametrize("grad", [False, True])
def test_sidechain_keys_the_gain(grad):
    num_samples = 8001
    quiet = sine([-40.0], num_samples)
    loud = torch.rand(1, 2, num_samples, generator=torch.Generator().manual_seed(0)) * 2 - 1
    p = params("compressor", 1, threshold=-20, ratio=4, knee=0, attack=1, release=50)
    alone = compressor({"in": quiet}, p, sample_rate=SR, grad=grad)["out"]
    keyed = compressor({"in": quiet, "sidechain": loud}, p, sample_rate=SR, grad=grad)["out"]
    assert torch.allclose(alone, quiet)                          # below threshold: untouched
    gain = gain_db(keyed[..., 4000:], quiet[..., 4000:])
    # The noise peaks near 0 dB: (1/4 - 1) * 20 = -15 dB at the peaks, released between them.
    assert gain.max() < -9 and gain.min() > -15.5
    # One gain for both channels (stereo-linked), and the signal keeps its sign.
    assert torch.equal(keyed[:, 0], keyed[:, 1])
    assert torch.all(keyed * quiet >= 0)


def test_stereo_link_uses_the_louder_channel():
    x = sine([-6.0], 4000).clone()
    x[:, 1] *= 0.01                                            # right channel 40 dB down
    p = params("compressor", 1, threshold=-20, ratio=4, knee=0, attack=0.1, release=1000)
    y = compressor({"in": x}, p, sample_rate=SR)["out"]
    ratio = y[0, :, 3000:] / x[0, :, 3000:]
    ratio = ratio[:, x[0, 0, 3000:].abs() > 1e-2]
    assert torch.allclose(ratio[0], ratio[1], rtol=1e-5)
    # -6 dB peaks, 14 dB over: (1/4 - 1) * 14 = -10.5 dB
    assert 20 * math.log10(ratio.min()) == pytest.approx(-10.5, abs=0.1)


# --- ballistics ------------------------------------------------------------------------------
@pytest.mark.parametrize("grad", [False, True])
def test_attack_and_release_step_response(grad):
    """A DC step 0 dB -> -40 dB: the reduction rises with the attack, falls with the release."""
    attack_ms, release_ms, onset, offset, num_samples = 5.0, 50.0, 100, 3100, 12000
    x = torch.full((1, 2, num_samples), 0.01)
    x[..., onset:offset] = 1.0
    p = params("compressor", 1, threshold=-20, ratio=5, knee=0, attack=attack_ms,
               release=release_ms)
    y = compressor({"in": x}, p, sample_rate=SR, grad=grad)["out"]
    reduction = -20 * torch.log10(y[0, 0] / x[0, 0]).double().numpy()
    final = 20 * (1 - 1 / 5)                                    # 16 dB at 0 dB in
    alpha_a = math.exp(-1000 / (attack_ms * SR))
    alpha_r = math.exp(-1000 / (release_ms * SR))
    k = np.arange(offset - onset)
    np.testing.assert_allclose(reduction[onset:offset], final * (1 - alpha_a ** (k + 1)), atol=2e-3)
    peak = reduction[offset - 1]
    k = np.arange(num_samples - offset)
    np.testing.assert_allclose(reduction[offset:], peak * alpha_r ** (k + 1), atol=2e-3)
    assert np.all(reduction[:onset] == 0)
    # One time constant after each edge: 1 - 1/e of the way.
    tau_a, tau_r = round(attack_ms * SR / 1000), round(release_ms * SR / 1000)
    assert reduction[onset + tau_a - 1] / final == pytest.approx(1 - math.exp(-1), abs=0.005)
    assert reduction[offset + tau_r - 1] / peak == pytest.approx(math.exp(-1), abs=0.005)


@pytest.mark.parametrize("grad", [False, True])
def test_gate_attack_is_the_opening_time(grad):
    attack_ms, onset, num_samples = 2.0, 500, 4001
    x = torch.full((1, 2, num_samples), 1e-4)                   # -80 dB: gated
    x[..., onset:] = 0.5
    p = params("noisegate", 1, threshold=-50, ratio=10, knee=0, attack=attack_ms, release=1000)
    y = noisegate({"in": x}, p, sample_rate=SR, grad=grad)["out"]
    gain = 20 * torch.log10(y[0, 0] / x[0, 0]).double().numpy()
    closed = max((10 - 1) * (-80 + 50), MIN_GAIN_DB)          # -120 dB floor
    assert gain[:onset] == pytest.approx(np.full(onset, closed), abs=1e-2)
    alpha_a = math.exp(-1000 / (attack_ms * SR))
    k = np.arange(num_samples - onset)
    np.testing.assert_allclose(gain[onset:], closed * alpha_a ** (k + 1), atol=2e-2)


@pytest.mark.parametrize("num_samples", [3000, 3001])
@pytest.mark.parametrize("sample_rate", [16000, 44100])
def test_smoother_matches_reference_loop(num_samples, sample_rate):
    gen = torch.Generator().manual_seed(1)
    target = torch.randn(6, num_samples, generator=gen).cumsum(-1)  # wandering, both signs
    target[3] = torch.rand(num_samples, generator=gen) * 40           # spiky, like a detector
    attack = torch.tensor([0.1, 1.0, 100.0, 5.0, 0.1, 50.0])
    release = torch.tensor([1000.0, 10.0, 10.0, 100.0, 0.1, 1000.0])
    init = torch.tensor([0.0, -3.0, 5.0, 0.0, 1.0, 2.0])
    fast = smooth_attack_release(target, attack, release, sample_rate=sample_rate, init=init)
    slow = smooth_attack_release(target, attack, release, sample_rate=sample_rate, init=init,
                                 grad=True)
    for lane in range(6):
        a = math.exp(-1000 / (attack[lane].item() * sample_rate))
        r = math.exp(-1000 / (release[lane].item() * sample_rate))
        want = reference_smoother(target[lane].double().numpy(), a, r, init[lane].item())
        scale = 1 + np.abs(want).max()
        np.testing.assert_allclose(fast[lane].numpy(), want, atol=1e-5 * scale)
        np.testing.assert_allclose(slow[lane].numpy(), want, atol=1e-4 * scale)


# --- fast vs gradient path ------------------------------------------------------------------------
def music_like(batch, num_samples, seed):
    gen = torch.Generator().manual_seed(seed)
    block = 500
    env = torch.rand(batch, 1, num_samples // block + 1, generator=gen) ** 3
    env = env.repeat_interleave(block, -1)[..., :num_samples]
    return (torch.randn(batch, 2, num_samples, generator=gen) * 0.4 * env).clamp(-1, 1)


def grad_path_gain_errors(kind, num_samples):
    """The largest gain difference in dB between grad and fast mode, without and with a sidechain."""
    batch = 16
    gen = torch.Generator().manual_seed(2)
    spec = catalog.get(kind)
    p = {q.name: q.denormalize(torch.rand(batch, generator=gen)) for q in spec.params}
    x = music_like(batch, num_samples, seed=3)
    side = music_like(batch, num_samples, seed=4)
    errors = []
    for inputs in ({"in": x}, {"in": x, "sidechain": side}):
        fast = dynamics.PROCESSORS[kind](inputs, p, sample_rate=SR)["out"]
        slow = dynamics.PROCESSORS[kind](inputs, p, sample_rate=SR, grad=True)["out"]
        errors.append(float((gain_db(fast, x) - gain_db(slow, x)).abs().max()))
    return errors


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("num_samples", [12000, 12001])
def test_grad_path_matches_fast_path(kind, num_samples):
    assert max(grad_path_gain_errors(kind, num_samples)) <= GRAD_PATH_TOLERANCE_DB


@pytest.mark.parametrize("kind", KINDS)
def test_gradients_flow(kind):
    num_samples = 4001
    x = music_like(2, num_samples, seed=5).mul(2).requires_grad_(True)
    side = music_like(2, num_samples, seed=6).requires_grad_(True)
    spec = catalog.get(kind)
    p = {q.name: torch.full((2,), q.default, requires_grad=True) for q in spec.params}
    p["threshold"] = torch.tensor([-30.0, -45.0], requires_grad=True)
    for inputs in ({"in": x}, {"in": x, "sidechain": side}):
        out = dynamics.PROCESSORS[kind](inputs, p, sample_rate=SR, grad=True)["out"]
        out.square().sum().backward()
        leaves = [("x", x)] + list(p.items()) + [("sidechain", side)] * ("sidechain" in inputs)
        for name, t in leaves:
            assert t.grad is not None and torch.isfinite(t.grad).all(), name
        assert x.grad.abs().sum() > 0 and p["threshold"].grad.abs().sum() > 0
        if "sidechain" in inputs:
            assert side.grad.abs().sum() > 0
        for t in [x, side, *p.values()]:
            t.grad = None


# --- gradient path on CPU: compiled forward and adjoint -----------------------------------------
def rising_and_falling(lanes, num_samples, dtype, seed, block=8):
    """Blocks of constant level, alternately above and below zero by 0.2-1.

    Each block's edge moves the target far from the smoother state, which
    approaches it without crossing: both branches occur and none near a tie.
    """
    gen = torch.Generator().manual_seed(seed)
    blocks = -(-num_samples // block)
    sign = torch.tensor([1.0, -1.0]).repeat(blocks)[:blocks]
    levels = sign * (0.2 + 0.8 * torch.rand(lanes, blocks, generator=gen))
    return levels.repeat_interleave(block, -1)[:, :num_samples].to(dtype)


def test_grad_path_gradcheck():
    sample_rate = 1000                                # alpha = exp(-1 / ms): 0.51 to 0.95
    target = rising_and_falling(3, 64, torch.float64, seed=0, block=4).requires_grad_(True)
    attack = torch.tensor([1.5, 2.0, 3.0], dtype=torch.float64, requires_grad=True)
    release = torch.tensor([20.0, 8.0, 4.0], dtype=torch.float64, requires_grad=True)
    init = torch.tensor([0.0, -0.5, 1.5], dtype=torch.float64, requires_grad=True)

    def smooth(target, attack, release, init):
        return smooth_attack_release(target, attack, release, sample_rate=sample_rate,
                                     init=init, grad=True)

    with torch.no_grad():
        y = smooth(target, attack, release, init)
        before = torch.cat([init[:, None], y[:, :-1]], dim=1)
    rising = target > before
    assert rising.any(-1).all() and (~rising).any(-1).all()      # both branches in every lane
    assert (target - before).abs().min() > 1e-3                  # no ties: finite differences hold
    assert torch.autograd.gradcheck(smooth, (target, attack, release, init))
    # Only what is asked for: any subset of the inputs gets the same gradients.
    weights = torch.randn(y.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    inputs = (target, attack, release, init)
    full = torch.autograd.grad((smooth(*inputs) * weights).sum(), inputs)
    for i, t in enumerate(inputs):
        (alone,) = torch.autograd.grad((smooth(*inputs) * weights).sum(), (t,))
        assert torch.equal(alone, full[i])


@pytest.mark.parametrize("num_samples", [3000, 3001])
def test_grad_path_equals_fast_path(num_samples):
    gen = torch.Generator().manual_seed(1)
    target = torch.randn(6, num_samples, generator=gen).cumsum(-1)
    target[3] = torch.rand(num_samples, generator=gen) * 40
    attack = torch.tensor([0.1, 1.0, 100.0, 5.0, 0.1, 50.0])
    release = torch.tensor([1000.0, 10.0, 10.0, 100.0, 0.1, 1000.0])
    init = torch.tensor([0.0, -3.0, 5.0, 0.0, 1.0, 2.0])
    fast = smooth_attack_release(target, attack, release, sample_rate=SR, init=init)
    slow = smooth_attack_release(target.requires_grad_(True), attack, release, sample_rate=SR,
                                 init=init, grad=True)
    assert slow.dtype == torch.float32 and slow.requires_grad
    # Same kernel arithmetic in the same order: equal, not just close.
    assert torch.equal(fast, slow.detach())


class _ScanPath:
    """Stand-in for ``_SmoothAttackRelease`` that sends CPU tensors down the CUDA path."""
    apply = staticmethod(dynamics._smooth_torch)


def test_cuda_path_gradients_match_grad_path(monkeypatch):
    """The CUDA path's scans, run on CPU: same gradients as the compiled adjoint (float64)."""
    sample_rate, num_samples = 16000, 1001
    target = rising_and_falling(4, num_samples, torch.float64, seed=2, block=40)
    attack = torch.tensor([0.1, 1.0, 5.0, 0.5], dtype=torch.float64)
    release = torch.tensor([1.0, 20.0, 50.0, 0.2], dtype=torch.float64)
    init = torch.tensor([0.0, 1.0, -1.0, 0.5], dtype=torch.float64)
    weights = torch.randn(4, num_samples, dtype=torch.float64,
                          generator=torch.Generator().manual_seed(3))
    grads = []
    for path in ("cpu", "scan"):
        if path == "scan":
            monkeypatch.setattr(dynamics, "_SmoothAttackRelease", _ScanPath)
        inputs = [t.clone().requires_grad_(True) for t in (target, attack, release, init)]
        y = smooth_attack_release(*inputs[:3], sample_rate=sample_rate, init=inputs[3], grad=True)
        grads.append(torch.autograd.grad((y * weights).sum(), inputs))
    for cpu, scan in zip(*grads):
        assert torch.allclose(cpu, scan, rtol=1e-9, atol=1e-9 * cpu.abs().max())


@pytest.mark.parametrize("kind", KINDS)
def test_cuda_path_matches_fast_path(kind, monkeypatch):
    """The CUDA path's fixed-point search, run on CPU, within ``GRAD_PATH_TOLERANCE_DB``."""
    monkeypatch.setattr(dynamics, "_SmoothAttackRelease", _ScanPath)
    assert max(grad_path_gain_errors(kind, 12001)) <= GRAD_PATH_TOLERANCE_DB


def test_fast_mode_builds_no_graph():
    x = music_like(1, 1000, seed=7).requires_grad_(True)
    out = compressor({"in": x}, params("compressor", 1), sample_rate=SR)["out"]
    assert not out.requires_grad


# --- robustness --------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("num_samples", [4000, 4001])
def test_extremes_are_finite(kind, num_samples):
    p = corner_params(kind)
    batch = len(p["threshold"])
    noise = torch.rand(batch, 2, num_samples, generator=torch.Generator().manual_seed(8)) * 2 - 1
    noise[:, :, ::7] = torch.sign(noise[:, :, ::7])                      # full-scale peaks
    silence = torch.zeros(batch, 2, num_samples)
    for x in (noise, silence):
        for inputs in ({"in": x}, {"in": noise, "sidechain": x}):
            fast = dynamics.PROCESSORS[kind](inputs, p, sample_rate=16000)["out"]
            slow = dynamics.PROCESSORS[kind](inputs, p, sample_rate=16000, grad=True)["out"]
            for y in (fast, slow):
                assert y.shape == (batch, 2, num_samples) and torch.isfinite(y).all()
                assert (y.abs() <= inputs["in"].abs() + 1e-6).all()         # no make-up gain
            assert (fast - slow).abs().max() <= 1e-3


def test_silence_in_gives_silence_out():
    for kind in KINDS:
        silence = torch.zeros(1, 2, 999)
        y = dynamics.PROCESSORS[kind]({"in": silence}, params(kind, 1), sample_rate=SR)
        assert torch.equal(y["out"], torch.zeros(1, 2, 999))


def test_processors_registered():
    assert set(dynamics.PROCESSORS) == {"compressor", "noisegate", "expander"}
    assert dynamics.PROCESSORS["expander"] is expander


@pytest.mark.parametrize("kind", KINDS)
def test_fast_detector_and_gain_computer_are_the_torch_path_bit_for_bit(kind):
    p = corner_params(kind)
    batch = len(p["threshold"])
    x = music_like(batch, 3001, seed=9)
    x[::3] = 0.0                                                         # silence: the detector floor
    sign = -1.0 if kind == "compressor" else 1.0
    threshold, ratio, knee = (p[k][:, None] for k in ("threshold", "ratio", "knee"))
    for detector in (x, x[:, :1], x[:, :1].expand(-1, 2, -1)):
        gain = dynamics._static_gain(dynamics._level_db(detector), threshold, ratio, knee, kind)
        torch_path = sign * (gain if kind == "compressor" else torch.clamp(gain, min=MIN_GAIN_DB))
        fast = dynamics._target_fast(detector, threshold, ratio, knee, kind, sign)
        assert torch.equal(fast, torch_path)
