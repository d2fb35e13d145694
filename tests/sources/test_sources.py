"""Tests of choosing and opening dry sources (graphfx.sources: make_source, open_source, ...)."""
import pytest

from graphfx.errors import GraphFXError
from graphfx.sources import (SyntheticDrums, SyntheticSinger, describe_source, make_source, make_source_from_meta,
                             open_source)


@pytest.fixture(scope="module")
def singer():
    return SyntheticSinger()


def test_make_source_and_describe(singer):
    assert isinstance(make_source("singing"), SyntheticSinger)
    assert isinstance(make_source("drums", num_kits=5, num_unseen=1), SyntheticDrums)
    text = singer.describe()
    assert "voice19 [unseen]" in text and "SyntheticSinger" in text
    with pytest.raises(ValueError):
        make_source("guitar")


def test_describe_source_identifies_the_source(singer):
    info = describe_source(singer, None)
    assert info["kind"] == "synthetic" and info["class"] == "SyntheticSinger" and info["root"] is None
    assert list(info["names"]) == ["train", "seen", "unseen"]
    assert info["names"]["unseen"] == singer.names("unseen") and info["description"] == singer.describe()


def test_open_source_errors_are_one_line(tmp_path):
    for root in (tmp_path / "missing", tmp_path):
        with pytest.raises(GraphFXError) as err:
            open_source("drums", str(root), 16000)
        assert "\n" not in str(err.value)


def test_make_source_from_meta_reopens_a_dataset_source(tmp_path):
    meta = {"task": "drums", "sample_rate": 16000, "source": {"root": None}}
    source = make_source_from_meta(meta)
    assert isinstance(source, SyntheticDrums) and source.sample_rate == 16000
    moved = {**meta, "source": {"root": str(tmp_path / "gone")}}
    with pytest.raises(GraphFXError, match="gone"):
        make_source_from_meta(moved)
    with pytest.raises(GraphFXError, match="elsewhere"):  # the override wins over the recorded folder
        make_source_from_meta(moved, str(tmp_path / "elsewhere"))
