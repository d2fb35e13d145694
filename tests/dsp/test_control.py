"""Tests of graphfx.dsp.control: LFOs against numpy, the envelope follower against a plain loop."""
import itertools
import math

import numpy as np
import pytest
import torch

from graphfx import catalog
from graphfx.dsp import control
from graphfx.dsp.control import envelope, lfo, stereo_lfo

SR = 16000


def lfo_params(freq, phase, offset):
    as_tensor = lambda v: torch.tensor(v, dtype=torch.float32)  # noqa: E731
    return {"frequency": as_tensor(freq), "phase": as_tensor(phase),
            "stereo_offset": as_tensor(offset)}


def reference_envelope(x, attack_ms, release_ms, gain_db, sample_rate):
    """Branching one-pole peak follower of |x| (Giannoulis et al. 2012, eq. 17), a plain loop."""
    a = math.exp(-1000 / (attack_ms * sample_rate))
    r = math.exp(-1000 / (release_ms * sample_rate))
    y, state = np.empty(len(x)), 0.0
    for n, value in enumerate(np.abs(x)):
        coef = a if value > state else r
        state = coef * state + (1 - coef) * value
        y[n] = state
    return np.clip(y * 10 ** (gain_db / 20), 0, 1)


# --- LFOs -----------------------------------------------------------------------------------
@pytest.mark.parametrize("num_samples", [48000, 48001])
@pytest.mark.parametrize("grad", [False, True])
def test_lfo_matches_numpy_sine(num_samples, grad):
    freq, phase, offset = [0.1, 1.0, 7.3, 20.0], [0.0, 0.25, 0.6, 0.99], [0.0, 0.1, 0.25, 0.5]
    t = np.arange(num_samples) / SR
    mono = lfo({}, lfo_params(freq, phase, offset), sample_rate=SR, grad=grad,
               num_samples=num_samples)["lfo"]
    stereo = stereo_lfo({}, lfo_params(freq, phase, offset), sample_rate=SR, grad=grad,
                        num_samples=num_samples)["lfo"]
    assert mono.shape == stereo.shape == (4, 2, num_samples) and mono.dtype == torch.float32
    for b, (f, p, o) in enumerate(zip(freq, phase, offset)):
        f, p, o = (float(np.float32(v)) for v in (f, p, o))    # the values the tensors hold
        left = np.sin(2 * np.pi * (f * t + p))
        right = np.sin(2 * np.pi * (f * t + p + o))
        np.testing.assert_allclose(mono[b, 0].numpy(), left, atol=2e-6)
        np.testing.assert_allclose(mono[b, 1].numpy(), left, atol=2e-6)  # stereo_offset ignored
        np.testing.assert_allclose(stereo[b, 0].numpy(), left, atol=2e-6)
        np.testing.assert_allclose(stereo[b, 1].numpy(), right, atol=2e-6)


def test_lfo_half_cycle_offset_is_inverted():
    out = stereo_lfo({}, lfo_params([3.0], [0.1], [0.5]), sample_rate=SR, num_samples=5001)["lfo"]
    assert torch.allclose(out[:, 0], -out[:, 1], atol=1e-6)


def test_lfo_batch_size_and_device():
    p = lfo_params([2.0], [0.0], [0.0])
    out = lfo({}, p, sample_rate=SR, num_samples=10, batch_size=3)["lfo"]
    assert out.shape == (3, 2, 10)
    assert torch.equal(out[0], out[2])
    assert out[0, 0, 0] == 0


def test_lfo_gradients_flow():
    p = lfo_params([1.5, 4.0], [0.1, 0.7], [0.2, 0.3])
    p = {k: v.requires_grad_(True) for k, v in p.items()}
    out = stereo_lfo({}, p, sample_rate=SR, grad=True, num_samples=3001)["lfo"]
    (out * torch.linspace(-1, 1, 3001)).sum().backward()
    for name, t in p.items():
        assert torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0, name
    fast = stereo_lfo({}, p, sample_rate=SR, num_samples=3001)["lfo"]
    assert not fast.requires_grad and torch.equal(fast, out.detach())


def test_lfo_extremes_in_range():
    spec = catalog.get("stereo_lfo")
    corners = list(itertools.product(*[(p.min, p.max) for p in spec.params]))
    p = {q.name: torch.tensor([c[i] for c in corners], dtype=torch.float32)
         for i, q in enumerate(spec.params)}
    for fn in (lfo, stereo_lfo):
        out = fn({}, p, sample_rate=44100, num_samples=44101)["lfo"]
        assert torch.isfinite(out).all() and out.abs().max() <= 1.0


# --- envelope ---------------------------------------------------------------------------------
def burst(num_samples, start, stop, amp=0.5, freq=440.0):
    n = torch.arange(num_samples)
    x = amp * torch.sin(2 * math.pi * freq * n / SR) * ((n >= start) & (n < stop))
    return x.expand(1, 2, num_samples).clone()


@pytest.mark.parametrize("num_samples", [8000, 8001])
@pytest.mark.parametrize("grad", [False, True])
def test_envelope_tracks_a_burst(num_samples, grad):
    start, stop, attack, release = 1000, 4000, 2.0, 50.0
    x = burst(num_samples, start, stop)
    x[:, 1] *= 0.5                                              # per-channel envelopes
    p = {"attack": torch.tensor([attack]), "release": torch.tensor([release]),
         "gain": torch.tensor([0.0])}
    env = envelope({"in": x}, p, sample_rate=SR, grad=grad)["env"]
    assert env.shape == (1, 2, num_samples)
    for ch in range(2):
        want = reference_envelope(x[0, ch].double().numpy(), attack, release, 0.0, SR)
        np.testing.assert_allclose(env[0, ch].numpy(), want, atol=1e-5)
    left = env[0, 0]
    assert torch.all(left[:start] == 0)
    # Attack: close to the 0.5 peak within a few time constants; release: 1/e per release time.
    assert 0.45 < left[start + 10 * int(attack * SR / 1000)] <= 0.5
    tau = int(release * SR / 1000)
    assert left[stop - 1 + tau] / left[stop - 1] == pytest.approx(math.exp(-1), abs=0.01)
    assert torch.allclose(env[0, 1], env[0, 0] * 0.5, atol=1e-6)


def test_envelope_gain_and_clipping():
    x = burst(4000, 0, 4000, amp=1.0)
    p = {"attack": torch.tensor([0.1, 0.1]), "release": torch.tensor([1000.0, 1000.0]),
         "gain": torch.tensor([-6.0, 24.0])}
    env = envelope({"in": x.expand(2, 2, 4000)}, p, sample_rate=SR)["env"]
    assert env[0, :, 2000:].max() == pytest.approx(10 ** (-6 / 20), abs=0.01)
    assert torch.all(env[1, :, 2000:] == 1.0)                  # clipped


def test_envelope_gradients_flow():
    x = (burst(3001, 200, 2000) + 0.01 * torch.randn(1, 2, 3001)).requires_grad_(True)
    p = {name: torch.tensor([value], requires_grad=True)
         for name, value in [("attack", 3.0), ("release", 80.0), ("gain", 3.0)]}
    out = envelope({"in": x}, p, sample_rate=SR, grad=True)["env"]
    out.sum().backward()
    for name, t in [("x", x)] + list(p.items()):
        assert torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0, name
    fast = envelope({"in": x}, p, sample_rate=SR)["env"]
    assert (fast - out.detach()).abs().max() < 1e-4


@pytest.mark.parametrize("num_samples", [4000, 4001])
def test_envelope_extremes_finite(num_samples):
    spec = catalog.get("envelope")
    corners = list(itertools.product(*[(p.min, p.max) for p in spec.params]))
    p = {q.name: torch.tensor([c[i] for c in corners], dtype=torch.float32)
         for i, q in enumerate(spec.params)}
    batch = len(corners)
    noise = torch.rand(batch, 2, num_samples, generator=torch.Generator().manual_seed(0)) * 2 - 1
    noise[:, :, ::5] = torch.sign(noise[:, :, ::5])
    for x in (noise, torch.zeros(batch, 2, num_samples)):
        for grad in (False, True):
            env = envelope({"in": x}, p, sample_rate=44100, grad=grad)["env"]
            assert torch.isfinite(env).all() and env.min() >= 0 and env.max() <= 1
        if not x.any():
            assert torch.equal(env, torch.zeros_like(env))


def test_processors_registered():
    assert control.PROCESSORS == {"lfo": lfo, "stereo_lfo": stereo_lfo, "envelope": envelope}


@pytest.mark.parametrize("fn", [lfo, stereo_lfo])
def test_fast_mode_is_the_grad_path_bit_for_bit(fn):
    p = lfo_params([0.1, 3.3, 20.0], [0.0, 0.4, 0.97], [0.0, 0.3, 0.5])
    for num_samples in (1, 4099, 44101):
        fast = fn({}, p, sample_rate=44100, num_samples=num_samples)["lfo"]
        slow = fn({}, p, sample_rate=44100, num_samples=num_samples, grad=True)["lfo"]
        assert fast.shape == (3, 2, num_samples) and torch.equal(fast, slow)
