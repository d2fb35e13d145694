"""Tests of the DrySource interface (graphfx.sources.base), on the built-in sources."""
import numpy as np
import pytest

from graphfx.catalog import DRUM_SOURCES
from graphfx.sources import SPLITS, DrySource, SyntheticDrums, SyntheticSinger, split_rng


@pytest.fixture(scope="module")
def singer():
    return SyntheticSinger()


@pytest.fixture(scope="module")
def drums():
    return SyntheticDrums()


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
