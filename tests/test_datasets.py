import json
import shutil

import numpy as np
import pytest
import torch
from torch_geometric.loader import DataLoader

from graphfx.catalog import DRUM_SOURCES
from graphfx.datasets import DatasetError, GraphFXDataset
from graphfx.graph import AudioGraph
from graphfx.graph import HETERO_EDGE as EDGE, HETERO_NODE as NODE
from graphfx.synth.generate import DatasetSpec, generate

RATE, SAMPLES = 16000, 4000


@pytest.fixture(scope="module")
def drums(tmp_path_factory):
    root = tmp_path_factory.mktemp("ds") / "drums"
    generate(str(root), DatasetSpec("drums", 5, 1, seed=1, sample_rate=RATE, num_samples=SAMPLES, shard_size=2))
    return str(root)


def test_length_items_and_validity(drums):
    ds = GraphFXDataset(drums)
    assert len(ds) == 5 and len(GraphFXDataset(drums, "seen")) == 1 and ds.tracks == DRUM_SOURCES
    for i in range(len(ds)):
        data = ds[i]
        data.validate(raise_on_error=True)
        assert data.reference.shape == (1, 2, SAMPLES) and data.reference.dtype == torch.float32
        assert data.dry.shape == (1, 6, SAMPLES) and data.dry.dtype == torch.float32
        assert data[NODE].num_nodes == len(ds.graph(i).nodes)
        assert data[EDGE].edge_index.shape[1] == len(ds.graph(i).edges)
        assert AudioGraph.from_hetero(data) == ds.graph(i)
        assert int(data.seed) == ds.seed(i)
        graph, reference, dry = ds.example(i)
        assert np.array_equal(data.reference[0].numpy(), reference)
    with pytest.raises(IndexError):
        ds.example(5)


def test_dataloader_batches_audio_at_graph_level(drums):
    ds = GraphFXDataset(drums)
    batches = list(DataLoader(ds, batch_size=3, shuffle=False))
    assert [b.num_graphs for b in batches] == [3, 2]
    batch = batches[0]
    assert batch.reference.shape == (3, 2, SAMPLES) and batch.dry.shape == (3, 6, SAMPLES)
    assert batch.seed.shape == (3,) and batch.seed.tolist() == [ds.seed(i) for i in range(3)]
    assert batch[NODE].num_nodes == sum(len(ds.graph(i).nodes) for i in range(3))
    assert torch.equal(batch.reference[2], ds[2].reference[0])
    assert int(batch[EDGE].edge_index.max()) < batch[NODE].num_nodes


def test_graphs_only_and_slicing(drums):
    ds = GraphFXDataset(drums, audio=False)
    assert "reference" not in ds[0] and len(list(ds.graphs())) == 5
    assert len(ds[1:4]) == 3 and ds[1:4][0].seed == ds[1].seed
    assert repr(ds[3:5]).endswith("len=2)") and repr(ds).endswith("len=5)")


def test_missing_or_corrupt_datasets_give_one_line_errors(drums, tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        GraphFXDataset(str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="not a graphfx dataset"):
        GraphFXDataset(str(tmp_path / "empty"))
    with pytest.raises(DatasetError, match="split"):
        GraphFXDataset(drums, "test")

    broken = tmp_path / "broken"
    shutil.copytree(drums, broken)
    meta = json.loads((broken / "dataset.json").read_text())
    (broken / "dataset.json").write_text("{not json")
    with pytest.raises(DatasetError, match="cannot read") as err:
        GraphFXDataset(str(broken))
    assert "\n" not in str(err.value)
    (broken / "dataset.json").write_text(json.dumps({**meta, "num_samples": "many"}))
    with pytest.raises(DatasetError, match="num_samples"):
        GraphFXDataset(str(broken))
    (broken / "dataset.json").write_text(json.dumps(meta))

    shard = broken / "train" / "shard-00001"
    np.save(shard / "reference.npy", np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    ds = GraphFXDataset(str(broken))
    ds[0]  # other shards still load
    with pytest.raises(DatasetError, match="reference.npy"):  # a pickled array is never loaded
        ds[2]
    (shard / "graphs.jsonl").write_text((shard / "graphs.jsonl").read_text().splitlines()[0] + "\n")
    with pytest.raises(DatasetError, match="corrupt"):
        GraphFXDataset(str(broken))[3]
    shutil.rmtree(shard)
    with pytest.raises(DatasetError, match="incomplete"):
        GraphFXDataset(str(broken))


def test_lazy_dataset_renders_on_access(tmp_path):
    spec = DatasetSpec("singing", 2, 0, sample_rate=RATE, num_samples=SAMPLES, shard_size=4, lazy=True)
    generate(str(tmp_path / "lazy"), spec)
    ds = GraphFXDataset(str(tmp_path / "lazy"))
    batch = next(iter(DataLoader(ds, batch_size=2)))
    assert batch.reference.shape == (2, 2, SAMPLES) and batch.dry.shape == (2, 1, SAMPLES)
    assert batch.reference.abs().max() > 0
    # A stored graph that the seed no longer reproduces is reported, not silently replaced.
    path = tmp_path / "lazy" / "train" / "shard-00000" / "graphs.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    records[0]["graph"]["edges"][-1]["gain"] = 0.5
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    with pytest.raises(DatasetError, match="another graph"):
        GraphFXDataset(str(tmp_path / "lazy"))[0]


def test_pickled_dataset_carries_no_open_shards(drums):
    import pickle

    ds = GraphFXDataset(drums)
    ds[0]
    copy = pickle.loads(pickle.dumps(ds))
    assert len(copy._cache) == 0 and torch.equal(copy[0].reference, ds[0].reference)
