"""Tests of graphfx.dsp.pitch: measured output frequencies, identity, batching, gradients."""
import math

import numpy as np
import pytest
import torch

from graphfx.dsp.pitch import PROCESSORS, pitchshift

SR = 16000


def _shift(x, semitones, grad=False, sample_rate=SR):
    params = {"semitone": torch.as_tensor(semitones, dtype=torch.float32)}
    return pitchshift({"in": x}, params, sample_rate=sample_rate, grad=grad)["out"]


def _sines(freqs, n, sample_rate=SR):
    """``[len(freqs), 2, n]``: sines at ``freqs[i]`` (left) and 1.5 times it (right) in clip i."""
    t = torch.arange(n, dtype=torch.float64) / sample_rate
    f = torch.as_tensor(freqs, dtype=torch.float64).view(-1, 1, 1)
    f = f * torch.tensor([1.0, 1.5], dtype=torch.float64).view(1, 2, 1)
    return (0.5 * torch.sin(2 * math.pi * f * t)).float()


def _frequency(y, sample_rate=SR, trim=2048):
    """Frequency of the strongest partial: Hann window, 8x zero padding, parabolic log-peak."""
    y = np.asarray(y, dtype=np.float64)[trim:-trim]
    size = 8 * len(y)
    mag = np.log(np.abs(np.fft.rfft(y * np.hanning(len(y)), size)) + 1e-300)
    k = int(np.argmax(mag))
    a, b, c = mag[k - 1:k + 2]
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * sample_rate / size


def _cents(measured, expected):
    return 1200 * math.log2(measured / expected)


def test_registry():
    assert PROCESSORS == {"pitchshift": pitchshift}


@pytest.mark.parametrize("n", [16001, 16000])
def test_sines_move_by_the_set_interval(n):
    semitones = [-12.0, -7.5, -3.3, -0.5, 0.25, 1.0, 5.7, 12.0]
    base = [440.0, 523.3, 300.0, 1000.0, 700.0, 250.0, 610.0, 1500.0]
    y = _shift(_sines(base, n), semitones)
    assert y.shape == (len(base), 2, n)
    for i, (f0, st) in enumerate(zip(base, semitones)):
        for channel, ratio in ((0, 1.0), (1, 1.5)):
            expected = f0 * ratio * 2 ** (st / 12)
            assert abs(_cents(_frequency(y[i, channel]), expected)) < 10, (f0, st, channel)


def test_sine_shift_at_44100():
    n, sr = 20001, 44100
    y = _shift(_sines([440.0, 440.0], n, sr), [12.0, -4.6], sample_rate=sr)
    for i, st in enumerate([12.0, -4.6]):
        assert abs(_cents(_frequency(y[i, 0], sr, 4096), 440.0 * 2 ** (st / 12))) < 10


def test_sine_amplitude_is_kept():
    semitones = [-12.0, -5.0, 3.0, 7.0, 12.0]
    x = _sines([500.0] * 5, 16000)
    y = _shift(x, semitones)[..., 2048:-2048]
    ratio = y.square().mean(dim=-1).sqrt() / x[..., 2048:-2048].square().mean(dim=-1).sqrt()
    assert ((ratio > 0.85) & (ratio < 1.05)).all(), ratio


@pytest.mark.parametrize("n", [9001, 9000, 1, 100, 1023])
def test_zero_semitones_gives_back_the_input(n):
    x = torch.randn(2, 2, n, generator=torch.Generator().manual_seed(0))
    y = _shift(x, [0.0, 0.0])
    assert y.shape == x.shape
    torch.testing.assert_close(y, x, rtol=0, atol=1e-5)


def test_clips_are_independent_of_their_batch():
    x = torch.randn(3, 2, 5000, generator=torch.Generator().manual_seed(1))
    semitones = [4.0, -9.0, 0.5]
    together = _shift(x, semitones)
    for i, st in enumerate(semitones):
        torch.testing.assert_close(together[i:i + 1], _shift(x[i:i + 1], [st]), rtol=0, atol=1e-5)


def test_a_mono_clip_on_two_channels_is_shifted_like_each_channel_alone():
    noise = torch.randn(3, 1, 5000, generator=torch.Generator().manual_seed(2))
    x = torch.cat([noise, noise], dim=1)
    x[1, 1] = -x[1, 1]  # clip 1 is stereo, clips 0 and 2 are mono
    semitones = [3.0, -5.0, 7.0]
    y = _shift(x, semitones)
    assert torch.equal(y[0, 0], y[0, 1]) and torch.equal(y[2, 0], y[2, 1])
    for i, st in enumerate(semitones):
        for c in range(2):
            alone = _shift(x[i:i + 1, c:c + 1], [st])[0, 0]
            torch.testing.assert_close(y[i, c], alone, rtol=0, atol=1e-5)
    x.requires_grad_(True)
    _shift(x, semitones, grad=True).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_content_shifted_past_nyquist_is_dropped():
    x = _sines([5000.0], 8000)[:, :1].expand(1, 2, -1)       # 5 kHz up an octave: above 8 kHz
    y = _shift(x, [12.0])
    assert y.square().mean() < 1e-4 * x.square().mean()


@pytest.mark.parametrize("n", [4001, 4000])
def test_grad_mode_matches_and_gradients_flow(n):
    x = torch.randn(2, 2, n, generator=torch.Generator().manual_seed(2)).requires_grad_(True)
    semitones = [3.5, -12.0]
    y = _shift(x, semitones, grad=True)
    fast = _shift(x.detach(), semitones)
    # The fast kernel accumulates phases in float64, the torch path in float32 (measured 6e-5 apart).
    assert (y.detach() - fast).norm() < 1e-3 * fast.norm()
    y.square().sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_rejects_a_modulated_semitone():
    with pytest.raises(ValueError):
        pitchshift({"in": torch.zeros(1, 2, 100)}, {"semitone": torch.zeros(1, 2, 100)},
                   sample_rate=SR)


@pytest.mark.parametrize("signal", ["silence", "noise"])
@pytest.mark.parametrize("grad", [False, True])
def test_finite_at_extremes(signal, grad):
    n = 6001
    if signal == "silence":
        x = torch.zeros(3, 2, n)
    else:
        x = torch.rand(3, 2, n, generator=torch.Generator().manual_seed(3)) * 2 - 1
    x.requires_grad_(grad)
    y = _shift(x, [-12.0, 0.0, 12.0], grad=grad)
    assert torch.isfinite(y).all()
    if signal == "silence":
        assert not y.any()
    if grad:
        y.square().sum().backward()
        assert torch.isfinite(x.grad).all()
