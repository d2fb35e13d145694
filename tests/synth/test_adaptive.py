import numpy as np
import torch

from conftest import chain
from graphfx.graph import Edge, Node
from graphfx.sources import make_source
from graphfx.synth.adaptive import (MAX_REDRAWS, AdaptiveParams, Incoming, dry_spectra, dynamics_swing_db,
                                    filter_change_db, frame_levels_db, mix_shares, spectral_quantile_frequency)
from graphfx.synth.ghosts import bypass, ghost_report
from graphfx.synth.pairs import balance_tracks, make_pairs

SR = 16000


def test_spectral_quantile_of_two_tones():
    t = np.arange(SR) / SR
    x = (np.sin(2 * np.pi * 500 * t) + np.sin(2 * np.pi * 3000 * t))[None]
    assert 490 < spectral_quantile_frequency(x, SR, 0.3) < 510
    assert 2990 < spectral_quantile_frequency(x, SR, 0.7) < 3010


def test_masked_energy_is_not_counted():
    t = np.arange(SR) / SR
    low, high = np.sin(2 * np.pi * 500 * t)[None], np.sin(2 * np.pi * 3000 * t)[None]
    # A kick-like track with energy at 500 and 3000 Hz, under a hat that covers 3000 Hz.
    shares = mix_shares({"kick": low + high, "hat": 30 * high}, SR)
    assert set(shares) == {"kick", "hat"}
    freqs, kick = shares["kick"]
    assert kick[np.argmin(abs(freqs - 500))] > 0.99 and kick[np.argmin(abs(freqs - 3000))] < 0.01
    # Unmasked, 3000 Hz holds half the energy; in the mix the kick is heard at 500 Hz only.
    assert spectral_quantile_frequency(low + high, SR, 0.7) > 2900
    assert spectral_quantile_frequency(low + high, SR, 0.7, shares["kick"]) < 600
    assert mix_shares({"in": low}, SR) == {}


def test_buried_tracks_are_raised_to_their_least_share():
    rng = np.random.default_rng(0)
    clip = {"kick": rng.standard_normal((1, 4000)).astype(np.float32),
            "crash": 0.01 * rng.standard_normal((1, 4000)).astype(np.float32),
            "tom": np.zeros((1, 4000), np.float32)}
    balanced = balance_tracks(clip, min_share=0.1)
    energy = {k: float(np.mean(v.astype(np.float64) ** 2)) for k, v in balanced.items()}
    assert balanced["kick"] is clip["kick"] and not balanced["tom"].any()
    assert abs(energy["crash"] / sum(energy.values()) - 0.1) < 0.02
    single = {"in": clip["crash"]}
    assert balance_tracks(single) is single


def test_frame_levels():
    x = np.concatenate([np.zeros(2048), np.ones(2048)])[None]
    levels = frame_levels_db(x)
    assert levels[0] < -90 and abs(levels[-1]) < 1e-6


def test_pairs_do_not_depend_on_the_batch():
    source = make_source("singing", sample_rate=SR)
    together = make_pairs(source, [4, 9, 2], "train", 3000)
    alone = make_pairs(source, [9], "seen", 3000) + make_pairs(source, [9], "train", 3000)
    assert alone[1].graph == together[1].graph
    assert np.array_equal(alone[1].reference, together[1].reference)
    assert alone[0].graph != together[1].graph  # another split draws another example
    for pair in together:
        pair.graph.validate()
        assert np.isfinite(pair.reference).all()


def test_parameters_follow_the_incoming_signal():
    source = make_source("singing", sample_rate=SR)
    for pair in make_pairs(source, range(6), "train", 4000):
        for node in pair.graph.nodes:
            if node.type in ("lowpass", "highpass", "bell", "lowshelf", "highshelf"):
                assert 40.0 <= node.params["frequency"] <= 0.45 * SR


def test_bypass_rewires_and_drops_idle_controls():
    g = chain(["bell", "chorus"])
    g.nodes.insert(1, Node("l", "lfo"))
    g.edges.append(Edge("l", "n1", "lfo", "mod", 0.3))
    b = bypass(g, "n1")
    assert {n.id for n in b.nodes} == {"in", "n0", "out"}
    assert b.edges == [Edge("in", "n0"), Edge("n0", "out")]
    b.validate()


def test_ghost_report_flags_a_do_nothing_node():
    g = chain(["bell", "lowpass"], sample_rate=SR)
    g.node("n0").params["gain"] = 0.0          # a bell with 0 dB gain is a ghost
    g.node("n1").params["frequency"] = 300.0   # a lowpass at 300 Hz on noise is not
    noise = torch.randn(1, 8000) * 0.1
    report = ghost_report([g], [{"in": noise}], SR)
    assert report.types == ["bell", "lowpass"]
    assert report.differences_db[0] < 0.01 < 1.0 < report.differences_db[1]
    assert report.ghost_rate == 0.5 and report.by_type() == {"bell": 1.0, "lowpass": 0.0}
    assert report.by_place() == {"graph": 0.5}
    assert report.ghosts() == [(0, "n0", "bell", report.differences_db[0])]


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

    pick = AdaptiveParams._most_audible({"n": 0}, draw, lambda v: float(v["n"] == 3) * 5, 4.0)
    assert pick == {"n": 3} and len(calls) == 3
    calls.clear()
    pick = AdaptiveParams._most_audible({"n": 0}, draw, lambda v: v["n"] % 4, 10.0)  # never enough
    assert len(calls) == MAX_REDRAWS and pick == {"n": 3}  # the most audible draw


def test_auto_pans_swing_around_the_centre():
    source = make_source("drums", sample_rate=SR)
    seen = 0
    for pair in make_pairs(source, range(24), "train", 4000):
        for node in pair.graph.nodes:
            if node.type == "pan":
                driven = any(e.inlet == "pan" for e in pair.graph.in_edges(node.id))
                assert abs(node.params["pan"]) <= 0.3 + 1e-6 if driven else abs(node.params["pan"]) >= 0.5 - 1e-6
                seen += driven
    assert seen > 0
