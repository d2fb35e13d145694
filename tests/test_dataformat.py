"""Tests of the on-disk dataset format shared by the writer and the reader (graphfx.dataformat)."""
import json

import numpy as np
import pytest

from graphfx.catalog import DRUM_SOURCES
from graphfx.dataformat import (FORMAT, META_FILE, VERSION, DatasetError, dry_matrix, graph_line,
                                num_shards, read_graph_lines, read_meta, shard_name, shard_range, splits, tracks_of)


def test_shards_cover_a_split_once():
    assert shard_name(3) == "shard-00003" and num_shards(0, 4) == 0 and num_shards(9, 4) == 3
    ranges = [shard_range(j, 9, 4) for j in range(num_shards(9, 4))]
    assert ranges == [(0, 4), (4, 4), (8, 1)]


def test_dry_matrix_mixes_to_mono_in_track_order():
    assert tracks_of("singing") == ("in",) and tracks_of("drums") == DRUM_SOURCES
    stereo = np.stack([np.ones(5), 3 * np.ones(5)]).astype(np.float32)
    out = dry_matrix({"snare": stereo}, DRUM_SOURCES, 5)
    assert out.dtype == np.float32 and out.shape == (6, 5)
    assert np.all(out[1] == 2.0) and not out[[0, 2, 3, 4, 5]].any()


def _meta(**changes):
    meta = {"format": FORMAT, "version": VERSION, "synthesis": 2, "mode": "stored", "task": "drums",
            "sample_rate": 16000, "num_samples": 100, "seed": 0, "shard_size": 2,
            "sizes": {"train": 3, "seen": 1, "unseen": 1}, "tracks": list(DRUM_SOURCES), "prototype": {},
            "source": {}}
    return {**meta, **changes}


def test_read_meta_checks_every_field(tmp_path):
    (tmp_path / META_FILE).write_text(json.dumps(_meta()))
    assert read_meta(str(tmp_path))["task"] == "drums"
    assert splits(str(tmp_path)) == {"train": 3, "seen": 1, "unseen": 1}
    for bad, fragment in ((_meta(format="x"), "is not a"), (_meta(version=2), "unsupported version"),
                          (_meta(sample_rate=True), "'sample_rate'"), (_meta(sizes={"train": 1}), "'sizes'")):
        (tmp_path / META_FILE).write_text(json.dumps(bad))
        with pytest.raises(DatasetError, match=fragment):
            read_meta(str(tmp_path))
    with pytest.raises(DatasetError, match="does not exist"):
        read_meta(str(tmp_path / "missing"))


def test_graph_lines_round_trip(tmp_path):
    path = tmp_path / "graphs.jsonl"
    path.write_text(graph_line(0, 7, ["kick"], {"nodes": []}) + "\n" + graph_line(1, 8, ["in"], {}) + "\n")
    assert path.read_text().splitlines()[0] == '{"index":0,"seed":7,"tracks":["kick"],"graph":{"nodes":[]}}'
    records = read_graph_lines(str(path), expected=2)
    assert [r["seed"] for r in records] == [7, 8]
    with pytest.raises(DatasetError, match="expected 3"):
        read_graph_lines(str(path), expected=3)
    path.write_text('{"index": 0}\n')
    with pytest.raises(DatasetError, match="malformed"):
        read_graph_lines(str(path))
