"""Tests of graphfx.synth.ghosts: bypassing a node, the ghost report."""
import torch

from conftest import chain
from graphfx.graph import Edge, Node
from graphfx.synth.ghosts import bypass, ghost_report

SR = 16000


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
