import json
import math
import os

import pytest
from click.testing import CliRunner

from conftest import EXAMPLE_JSON, chain
from graphfx.cli import main
from graphfx.graph import AudioGraph
from graphfx.stats import PCQM4MV2, dataset_stats, graph_stats


def write_dataset(root, graphs_per_split):
    """A lazy-mode dataset written by hand: graphs.jsonl shards of two examples, no audio."""
    meta = {"format": "graphfx.dataset", "version": 1, "mode": "lazy", "task": "singing", "sample_rate": 44100,
            "num_samples": 1000, "seed": 0, "shard_size": 2,
            "sizes": {s: len(g) for s, g in graphs_per_split.items()}, "tracks": ["in"], "prototype": {},
            "source": {"kind": "synthetic"}}
    os.makedirs(root)
    with open(os.path.join(root, "dataset.json"), "w") as f:
        json.dump(meta, f)
    for split, graphs in graphs_per_split.items():
        for j in range(0, len(graphs), 2):
            shard = os.path.join(root, split, f"shard-{j // 2:05d}")
            os.makedirs(shard)
            with open(os.path.join(shard, "graphs.jsonl"), "w") as f:
                for i, g in enumerate(graphs[j:j + 2]):
                    f.write(json.dumps({"index": j + i, "seed": j + i, "tracks": ["in"], "graph": g.to_dict()}) + "\n")


@pytest.fixture
def known(tmp_path):
    # in -> a -> out: N=3, E=2; in -> a -> b -> c -> out: N=5, E=4; the example graph: N=6, E=6.
    root = str(tmp_path / "known")
    example = AudioGraph.from_json(EXAMPLE_JSON)
    write_dataset(root, {"train": [chain(["bell"]), chain(["bell", "compressor", "reverb"]), example],
                         "seen": [chain(["bell"])], "unseen": []})
    return root


def test_graph_stats_by_hand():
    s = graph_stats([chain(["bell"]), chain(["bell", "compressor", "reverb"])])
    assert s.num_graphs == 2
    assert (s.nodes_mean, s.nodes_std, s.edges_mean, s.edges_std) == (4.0, 1.0, 3.0, 1.0)
    assert s.degree == pytest.approx((4 / 3 + 8 / 5) / 2)
    assert s.density == pytest.approx((4 / 6 + 8 / 20) / 2)
    assert s.node_types == {"in": 2, "out": 2, "bell": 2, "compressor": 1, "reverb": 1}
    assert s.edge_kinds == {"audio": 6, "sidechain": 0, "control": 0}
    assert graph_stats([]).num_graphs == 0


def test_dataset_stats_on_a_known_dataset(known):
    stats = dataset_stats(known)
    train = stats["train"]
    assert train.num_graphs == 3 and train.nodes == [3, 5, 6] and train.edges == [2, 4, 6]
    assert train.nodes_mean == pytest.approx(14 / 3) and train.edges_mean == pytest.approx(4)
    assert train.degree == pytest.approx((4 / 3 + 8 / 5 + 12 / 6) / 3)
    assert train.density == pytest.approx((4 / 6 + 8 / 20 + 12 / 30) / 3)
    assert train.node_types["bell"] == 2 and train.node_types["crossover"] == 1 and train.node_types["mix"] == 1
    assert stats["seen"].num_graphs == 1 and stats["unseen"].num_graphs == 0


def test_pcqm_reference_is_marked_quoted():
    assert PCQM4MV2.quoted and PCQM4MV2.num_graphs == 3_700_000
    assert (PCQM4MV2.nodes_mean, PCQM4MV2.edges_mean) == (14.1, 14.6) and math.isnan(PCQM4MV2.nodes_std)


def test_stats_cli_table_json_and_plot(known, tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["stats", known, "--plot", str(tmp_path / "fig.png")])
    assert result.exit_code == 0, result.output
    assert "PCQM4Mv2" in result.output and "quoted" in result.output and "4.7 ± 1.2" in result.output
    assert (tmp_path / "fig.png").stat().st_size > 1000
    data = json.loads(runner.invoke(main, ["stats", known, "--json"]).output)
    assert data["train"]["num_graphs"] == 3 and data["PCQM4Mv2"]["quoted"] is True


def test_stats_cli_errors_are_one_line(tmp_path):
    result = CliRunner().invoke(main, ["stats", str(tmp_path / "missing")])
    assert result.exit_code == 2 and result.output.strip().count("\n") == 0 and "does not exist" in result.output
