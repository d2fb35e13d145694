"""Tests of graphfx.synth.adaptive and the pairs it draws parameters for."""
import numpy as np

from graphfx.sources import make_source
from graphfx.synth.pairs import balance_tracks, make_pairs

SR = 16000


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
