"""Tests of the built-in procedural singer (graphfx.sources.singer)."""
import numpy as np
import pytest
from scipy import signal

from conftest import check_audio
from graphfx.sources import SyntheticSinger
from graphfx.sources.singer import make_voice

SR = 44100
N = 160000  # 3.63 s, the paper's clip length


@pytest.fixture(scope="module")
def singer():
    return SyntheticSinger(sample_rate=SR)


def test_singer_deterministic_and_valid(singer):
    a = singer.clip("train", 11, N)
    b = singer.clip("train", 11, N)
    assert list(a) == ["in"]
    check_audio(a["in"])
    assert np.array_equal(a["in"], b["in"])


def test_singer_varies(singer):
    base = singer.clip("train", 0, N)["in"]
    assert not np.allclose(base, singer.clip("train", 1, N)["in"])
    assert not np.allclose(base, singer.clip("seen", 0, N)["in"])
    v0 = singer.clip("train", 5, N, name="voice00")["in"]
    v1 = singer.clip("train", 5, N, name="voice01")["in"]
    assert not np.allclose(v0, v1)
    assert make_voice(0) == make_voice(0) and make_voice(0) != make_voice(4)


@pytest.mark.parametrize("n", [1, 1000, 4411])
def test_singer_short_and_odd_lengths(singer, n):
    check_audio(singer.clip("unseen", 2, n)["in"], n=n)


def test_singer_other_sample_rate():
    audio = SyntheticSinger(sample_rate=16000).clip("train", 0, 16000)["in"]
    check_audio(audio, n=16000)


def _autocorr_f0(frame, sr, fmin, fmax, cutoff):
    """f0 in [fmin, fmax] of one frame: the highest peak of the biased autocorrelation after a low-pass.

    The low-pass (Rabiner, 1977) keeps a formant-boosted harmonic from making a
    fraction of the period look periodic; the bias penalizes multiples of it.
    """
    frame = signal.sosfiltfilt(signal.butter(8, cutoff, fs=sr, output="sos"), frame - frame.mean())
    ac = signal.fftconvolve(frame, frame[::-1])[len(frame) - 1:]
    ac = ac / ac[0]
    lo, hi = int(sr / fmax), int(sr / fmin)
    lags = np.arange(lo, hi)
    vals = ac[lo:hi]
    peaks = [i for i in range(1, len(vals) - 1) if vals[i] >= vals[i - 1] and vals[i] >= vals[i + 1]]
    if not peaks:
        return None, 0.0
    best = max(peaks, key=lambda i: vals[i])
    return sr / lags[best], vals[best]


@pytest.mark.parametrize("name,seed", [("voice00", 1), ("voice01", 2), ("voice02", 3), ("voice03", 4),
                                       ("voice16", 5), ("voice19", 6)])
def test_singer_f0_in_voice_range(singer, name, seed):
    voice = singer.voice(name)
    split = "unseen" if name in singer.names("unseen") else "train"
    x = singer.clip(split, seed, N, name=name)["in"][0].astype(np.float64)
    hop, size = 2048, 2048
    frames = [x[i:i + size] for i in range(0, N - size, hop)]
    rms = np.array([np.sqrt(np.mean(f**2)) for f in frames])
    estimates = []
    for f in (frames[i] for i in np.argsort(rms)[::-1][:8]):  # the loudest (voiced) frames
        f0, strength = _autocorr_f0(f, SR, voice.f0_min / 2, voice.f0_max * 2, 1.05 * voice.f0_max)
        if f0 is not None and strength > 0.5:
            estimates.append(f0)
    assert len(estimates) >= 4
    inside = [voice.f0_min / 1.03 <= f0 <= voice.f0_max * 1.03 for f0 in estimates]
    assert voice.f0_min / 1.03 <= np.median(estimates) <= voice.f0_max * 1.03
    assert np.mean(inside) >= 0.75, (estimates, voice.f0_min, voice.f0_max)


def test_singer_spectrum_is_voice_like(singer):
    """Energy peaks below 1 kHz, but the voice is not band-limited (air above 4 kHz)."""
    f, p = signal.welch(singer.clip("train", 3, N)["in"][0], SR, nperseg=4096)
    low = p[(f > 100) & (f < 1000)].mean()
    high = p[(f > 4000) & (f < 8000)].mean()
    top = p[(f > 16000)].mean()
    assert 1e-5 < high / low < 1e-1
    assert top < high
