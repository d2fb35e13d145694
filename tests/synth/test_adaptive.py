import numpy as np
import torch

from conftest import chain
from graphfx.graph import Edge, Node
from graphfx.sources import make_source
from graphfx.synth.adaptive import frame_levels_db, mix_shares, spectral_quantile_frequency
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
