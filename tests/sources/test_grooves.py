"""Tests of the drum groove generator (graphfx.sources.grooves)."""
import numpy as np
import pytest

from graphfx.catalog import DRUM_SOURCES
from graphfx.sources import grooves
from graphfx.sources.grooves import STYLES, TRACKS, VARIANTS, grid, make_groove, play


def test_play_keeps_its_draws():
    """The built-in drums' clips follow from this exact sequence of draws (made before the module existed)."""
    g = play(STYLES["funk"], np.random.default_rng(7), -3.0, 4.0)
    assert g.style == "funk" and g.count() == {"kick": 15, "snare": 21, "hat": 58, "tom": 2, "ride": 0, "crash": 1}
    assert g.hits["snare"][0].time == -3.0133498168799644 and g.hits["snare"][0].velocity == 0.9015479194800862
    assert g.hits["hat"][-1].time == 5.518658033041039


def test_play_covers_whole_bars_in_time_order():
    g = play(STYLES["rock"], np.random.default_rng(1), -1.0, 2.0)
    bar = 16 * 60.0 / g.tempo / 4
    assert -1.0 - bar <= g.downbeat <= -1.0 and STYLES["rock"].tempo[0] <= g.tempo <= STYLES["rock"].tempo[1]
    assert list(g.hits) == list(TRACKS) == list(DRUM_SOURCES)
    for track, hits in g.hits.items():
        assert [h.time for h in hits] == sorted(h.time for h in hits)
        assert all(0.1 <= h.velocity <= 1.0 and 0 <= h.variant < len(VARIANTS[track]) for h in hits)
    assert max(h.time for hits in g.hits.values() for h in hits) > 2.0 - bar / 4


def test_hat_pedal_under_the_ride_and_alternating_crashes():
    pedal = [play(STYLES["jazz"], np.random.default_rng(s), 0.0, 8.0) for s in range(12)]
    assert any(g.hits["ride"] and {h.variant for h in g.hits["hat"]} == {2} for g in pedal)
    metal = [play(STYLES["metal"], np.random.default_rng(s), 0.0, 30.0, phrase=0) for s in range(4)]
    assert {h.variant for g in metal for h in g.hits["crash"]} == {0, 1}


def test_groove_deterministic_and_well_formed():
    a, b = make_groove(8.0, seed=3), make_groove(8.0, seed=3)
    assert a == b
    assert make_groove(8.0, seed=4).hits != a.hits
    assert set(a.hits) == set(grooves.TRACKS)
    for track, hits in a.hits.items():
        times = [h.time for h in hits]
        assert times == sorted(times)
        assert all(0.0 <= h.time < 8.0 and 0.0 < h.velocity <= 1.0 for h in hits)
        assert all(h.variant in (0, 1, 2) for h in hits)
    assert len(a.hits["kick"]) > 4 and (len(a.hits["hat"]) + len(a.hits["ride"])) > 8


def test_groove_styles_fills_and_crashes():
    for style in grooves.STYLES:
        g = make_groove(6.0, seed=1, style=style, tempo=100)
        assert g.style == style and g.tempo == 100
        assert sum(g.count().values()) > 10
    many = [make_groove(12.0, seed=s) for s in range(20)]
    assert sum(len(g.hits["tom"]) for g in many) > 0  # fills
    assert any(g.hits["crash"] and g.hits["crash"][0].time < 0.2 for g in many)  # crash on the first downbeat
    assert {h.variant for g in many for h in g.hits["tom"]} == {0, 1, 2}
    straight = make_groove(4.0, seed=0, style="disco", tempo=120, jitter=0.0)
    steps = np.array([h.time for h in straight.hits["kick"]]) / (60 / 120 / 4)
    assert np.allclose(steps - np.round(steps), np.mean(steps - np.round(steps)), atol=0.3)
    with pytest.raises(ValueError):
        make_groove(4.0, style="polka")
    with pytest.raises(ValueError):
        make_groove(0.0)


def test_grid_shows_the_first_bars():
    text = grid(make_groove(4.0, seed=2, style="rock", tempo=120), bars=1)
    lines = text.splitlines()
    assert lines[0].startswith("rock 120 BPM") and len(lines) == 1 + len(TRACKS)
    assert all(len(line) == 6 + 16 for line in lines[1:])
    assert lines[2].strip().startswith("snare") and lines[2][6 + 4] in "Xx"  # backbeat on 2
