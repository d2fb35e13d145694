import json
import random

import pytest

from graphfx import catalog
from graphfx.errors import GraphFXError
from graphfx.synth.motifs import MOTIFS
from graphfx.synth.prototype import PrototypeConfig, sample_prototype


def test_singing_graphs_are_valid_and_varied():
    graphs = [sample_prototype(random.Random(s), PrototypeConfig()) for s in range(200)]
    types = {n.type for g in graphs for n in g.nodes}
    # Every processor of the catalog shows up somewhere in a couple of hundred graphs.
    assert set(catalog.PROCESSORS) <= types
    assert any(e.inlet == "sidechain" for g in graphs for e in g.edges)
    assert any(e.outlet in ("lfo", "env") for g in graphs for e in g.edges)
    assert any(n.type == "crossover" for g in graphs for n in g.nodes)
    assert all(len(g.nodes) <= PrototypeConfig().max_nodes for g in graphs)


def test_same_seed_same_graph():
    a = sample_prototype(random.Random(5), PrototypeConfig())
    b = sample_prototype(random.Random(5), PrototypeConfig())
    assert a == b


def test_drum_graphs_have_one_subgraph_per_track_and_a_bus():
    tracks = ("kick", "snare", "ride")
    g = sample_prototype(random.Random(1), PrototypeConfig(), tracks)
    assert sorted(n.type for n in g.nodes if n.spec.terminal) == sorted(tracks + ("out",))
    for n in g.nodes:
        if not n.spec.terminal:
            assert n.track in tracks + ("bus",)
    bus_mix = [n for n in g.nodes if n.type == "mix" and n.track == "bus"]
    assert bus_mix and {e.src for e in g.in_edges(bus_mix[0].id)}


def test_motif_weights_are_configuration(tmp_path):
    only_echo = {name: 0.0 for name in MOTIFS}
    only_echo["echo"] = 1.0
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps({"motifs": only_echo, "multiband": 0.0, "max_motifs": 2}))
    config = PrototypeConfig.load(str(path))
    for s in range(20):
        g = sample_prototype(random.Random(s), config)
        assert {n.type for n in g.nodes} <= {"in", "out", "delay", "pingpong_delay"}


def test_bad_config_is_a_clear_error(tmp_path):
    with pytest.raises(GraphFXError, match="unknown motif"):
        PrototypeConfig(motifs={"wobble": 1.0})
    with pytest.raises(GraphFXError, match="at least one positive"):
        PrototypeConfig(motifs={"echo": 0.0})
    path = tmp_path / "bad.json"
    path.write_text("{nope")
    with pytest.raises(GraphFXError, match="cannot read"):
        PrototypeConfig.load(str(path))
