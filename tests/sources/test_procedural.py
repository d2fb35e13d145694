"""Tests of the built-in procedural dry sources and the DrySource interface."""
import numpy as np
import pytest
from scipy import signal

from graphfx.catalog import DRUM_SOURCES
from graphfx.sources import SPLITS, DrySource, SyntheticDrums, SyntheticSinger, make_source, split_rng
from graphfx.sources.procedural import make_kit, make_voice

SR = 44100
N = 160000  # 3.63 s, the paper's clip length


@pytest.fixture(scope="module")
def singer():
    return SyntheticSinger(sample_rate=SR)


@pytest.fixture(scope="module")
def drums():
    return SyntheticDrums(sample_rate=SR)


def _check_audio(audio, channels=1, n=N):
    assert audio.dtype == np.float32
    assert audio.shape == (channels, n)
    assert np.isfinite(audio).all()
    assert 0 < np.max(np.abs(audio)) <= 1.0


# ----------------------------------------------------------------------------- interface

def test_splits_and_names(singer, drums):
    for source, n_train, n_unseen in ((singer, 15, 5), (drums, 11, 3)):
        train, seen, unseen = (source.names(s) for s in SPLITS)
        assert train == seen and len(train) == n_train and len(unseen) == n_unseen
        assert not set(train) & set(unseen)
        assert sorted(source.names()) == sorted(train + unseen)
    assert singer.tracks == ("in",) and drums.tracks == DRUM_SOURCES
    assert singer.task == "singing" and drums.task == "drums"


def test_bad_arguments(singer):
    with pytest.raises(ValueError):
        singer.clip("test", 0, 1000)
    with pytest.raises(ValueError):
        singer.clip("train", 0, 0)
    with pytest.raises(ValueError):
        singer.clip("train", -1, 1000)
    with pytest.raises(ValueError):  # an unseen voice is not in the train split
        singer.clip("train", 0, 1000, name=singer.names("unseen")[0])


def test_seed_streams():
    a = split_rng(3, "train").random(4)
    assert np.array_equal(a, split_rng(3, "train").random(4))
    assert not np.array_equal(a, split_rng(3, "seen").random(4))
    g1, g2 = np.random.default_rng(7), np.random.default_rng(7)
    assert np.array_equal(split_rng(g1, "train").random(4), split_rng(g2, "train").random(4))


def test_finish_drops_silent_tracks():
    class Dummy(DrySource):
        def names(self, split=None):
            return ["k"]

        def _clip(self, split, name, rng, num_samples):
            loud = np.full((1, num_samples), 2.0)  # also checks the peak limit
            return {"snare": np.full((1, num_samples), 1e-4), "kick": loud, "tom": np.zeros((1, num_samples))}

    out = Dummy("drums").clip("train", 0, 100)
    assert list(out) == ["kick"] and np.max(out["kick"]) == pytest.approx(1.0)
    assert out["kick"].dtype == np.float32


def test_make_source_and_describe(singer):
    assert isinstance(make_source("singing"), SyntheticSinger)
    assert isinstance(make_source("drums", num_kits=5, num_unseen=1), SyntheticDrums)
    text = singer.describe()
    assert "voice19 [unseen]" in text and "SyntheticSinger" in text
    with pytest.raises(ValueError):
        make_source("guitar")


# ----------------------------------------------------------------------------- singing

def test_singer_deterministic_and_valid(singer):
    a = singer.clip("train", 11, N)
    b = singer.clip("train", 11, N)
    assert list(a) == ["in"]
    _check_audio(a["in"])
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
    _check_audio(singer.clip("unseen", 2, n)["in"], n=n)


def test_singer_other_sample_rate():
    audio = SyntheticSinger(sample_rate=16000).clip("train", 0, 16000)["in"]
    _check_audio(audio, n=16000)


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


# ----------------------------------------------------------------------------- drums

def test_drums_deterministic_and_valid(drums):
    a = drums.clip("train", 4, N)
    b = drums.clip("train", 4, N)
    assert list(a) == list(b) and len(a) >= 1
    assert list(a) == [t for t in DRUM_SOURCES if t in a]  # canonical order
    for track in a:
        _check_audio(a[track])
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
