"""Tests of graphfx.synth.audition: predicted audibility of filter and dynamics draws, redrawing."""
import numpy as np

from graphfx.synth.audition import MAX_REDRAWS, dynamics_swing_db, filter_change_db, most_audible
from graphfx.synth.incoming import Incoming, dry_spectra, mix_shares

SR = 16000


def _tones(*freqs, n=SR):
    t = np.arange(n) / SR
    return sum(np.sin(2 * np.pi * f * t) for f in freqs)[None].astype(np.float32)


def test_filter_change_is_what_normalization_leaves():
    x = Incoming(_tones(200, 3000), SR)
    # A broad boost where all the energy is is mostly a gain, undone by energy normalization.
    assert filter_change_db("bell", {"frequency": 1000.0, "q": 0.1, "gain": 12.0}, x) < 1.0
    # Cutting one of two equal tones moves both bands by about 3 dB at least.
    assert filter_change_db("lowpass4", {"frequency": 800.0, "q": 0.7}, x) > 6.0
    # A bell on a tone that another track covers 100 times over is barely heard in the mix.
    solo = filter_change_db("bell", {"frequency": 200.0, "q": 1.0, "gain": -12.0}, x)
    spectra = dry_spectra({"it": _tones(200, 3000), "other": 10 * _tones(200)}, SR)
    masked = Incoming(_tones(200, 3000), SR, others=(spectra["other"][1], float(spectra["it"][1].sum())))
    assert filter_change_db("bell", {"frequency": 200.0, "q": 1.0, "gain": -12.0}, masked) < solo - 1.0


def test_bus_filters_that_bury_a_track_score_below_audible():
    kick, hat = _tones(60), _tones(6000)
    shares = mix_shares({"kick": kick, "hat": hat}, SR)
    bus = Incoming(kick + hat, SR, bus_tracks=shares)
    buried = filter_change_db("lowpass4", {"frequency": 100.0, "q": 0.7}, bus)
    gentle = filter_change_db("highshelf", {"frequency": 4000.0, "q": 0.7, "gain": -9.0}, bus)
    assert buried < 1.0 < gentle
    # Bus frequencies are placed among both tracks, not only under the louder kick.
    freqs, power = Incoming(kick * 30 + hat, SR, bus_tracks=shares).placement_spectrum
    assert power[freqs > 4000].sum() > 0.3 * power.sum()


def test_dynamics_swing_sees_gain_that_moves():
    rng = np.random.default_rng(0)
    burst = np.zeros((1, SR), np.float32)
    burst[0, :SR // 4] = rng.standard_normal(SR // 4) * 0.5   # loud, then quiet
    burst[0, SR // 4:] = rng.standard_normal(SR - SR // 4) * 0.01
    x = Incoming(burst, SR)
    common = {"ratio": 10.0, "attack": 1.0, "release": 50.0, "knee": 0.0}
    assert dynamics_swing_db("compressor", {"threshold": -20.0, **common}, x) > 3.0
    assert dynamics_swing_db("compressor", {"threshold": 0.0, **common}, x) < 0.5  # never reached
    assert dynamics_swing_db("compressor", {"threshold": -20.0, **common}, Incoming(0 * burst, SR)) == float("inf")


def test_inaudible_draws_are_drawn_again():
    calls = []

    def draw():
        calls.append(1)
        return {"n": len(calls)}

    pick = most_audible({"n": 0}, draw, lambda v: float(v["n"] == 3) * 5, 4.0)
    assert pick == {"n": 3} and len(calls) == 3
    calls.clear()
    pick = most_audible({"n": 0}, draw, lambda v: v["n"] % 4, 10.0)  # never enough
    assert len(calls) == MAX_REDRAWS and pick == {"n": 3}  # the most audible draw
