"""Tests of the built-in procedural drums (graphfx.sources.drums)."""
import numpy as np
import pytest

from conftest import check_audio
from graphfx.catalog import DRUM_SOURCES
from graphfx.sources import SyntheticDrums
from graphfx.sources.drums import make_kit

SR = 44100
N = 160000  # 3.63 s, the paper's clip length


@pytest.fixture(scope="module")
def drums():
    return SyntheticDrums(sample_rate=SR)


def test_drums_deterministic_and_valid(drums):
    a = drums.clip("train", 4, N)
    b = drums.clip("train", 4, N)
    assert list(a) == list(b) and len(a) >= 1
    assert list(a) == [t for t in DRUM_SOURCES if t in a]  # canonical order
    for track in a:
        check_audio(a[track])
        assert np.array_equal(a[track], b[track])


def test_drums_vary(drums):
    a, b = drums.clip("train", 0, N), drums.clip("train", 1, N)
    assert list(a) != list(b) or any(not np.allclose(a[t], b[t]) for t in a)
    k0 = drums.clip("train", 2, N, name="kit00")
    k1 = drums.clip("train", 2, N, name="kit01")
    common = [t for t in k0 if t in k1]
    assert any(not np.allclose(k0[t], k1[t]) for t in common) or list(k0) != list(k1)
    assert make_kit(0) == make_kit(0) and make_kit(0) != make_kit(1)


def test_drums_only_non_silent_tracks(drums):
    seen_sets = set()
    counts = dict.fromkeys(DRUM_SOURCES, 0)
    for seed in range(40):
        clip = drums.clip("train", seed, N)
        for track, audio in clip.items():
            assert track in DRUM_SOURCES
            assert 20 * np.log10(np.max(np.abs(audio))) >= drums.silence_db
            counts[track] += 1
        seen_sets.add(tuple(clip))
    assert len(seen_sets) > 3  # the set of present tracks varies from clip to clip
    assert all(counts[t] > 0 for t in DRUM_SOURCES), counts
    assert any(counts[t] < 40 for t in DRUM_SOURCES)


def _low_fraction(x, sr, cutoff=200.0):
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / sr)
    return spec[f < cutoff].sum() / spec.sum()


def test_kick_lower_than_hat(drums):
    for name in ("kit00", "kit12"):
        shots = drums.shots(name)
        kick, hat = shots["kick"][0][1], shots["hat_closed"][0][1]
        assert _low_fraction(kick, SR) > 0.5 > 0.01 > _low_fraction(hat, SR)
    for seed in range(20):
        clip = drums.clip("train", seed, N)
        if "kick" in clip and "hat" in clip:
            assert _low_fraction(clip["kick"][0], SR) > 10 * _low_fraction(clip["hat"][0], SR)


@pytest.mark.parametrize("n", [1, 999])
def test_drums_short_and_odd_lengths(drums, n):
    clip = drums.clip("unseen", 0, n)
    assert clip and all(a.shape == (1, n) and a.dtype == np.float32 for a in clip.values())
