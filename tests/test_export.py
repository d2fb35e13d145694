"""Export of graphs as scripts: graphfx (run here, round trip) and pedalboard (the serial part, checked with a
stand-in pedalboard module, and against the real one where it is installed)."""
import runpy
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch
from click.testing import CliRunner

import graphfx
from conftest import chain, random_graph
from graphfx.cli import main
from graphfx.export import PEDALBOARD, serial_chain, to_pedalboard, to_python
from graphfx.graph import Edge, Node

RATE = 16000


def _graph():
    graph = chain(["bell", "compressor", "delay"], sample_rate=RATE)
    graph.node("n0").params.update(frequency=900.0, gain=6.0, q=1.5)
    return graph


def _dry(path, seconds=0.5):
    x = 0.1 * np.random.default_rng(0).standard_normal((int(seconds * RATE), 1)).astype("float32")
    sf.write(str(path), x, RATE, subtype="FLOAT")
    return torch.from_numpy(x.T)


@pytest.mark.parametrize("seed", [0, 3])
def test_python_export_rebuilds_the_same_graph(seed, example_graph, tmp_path):
    for graph in (example_graph, random_graph(seed)):
        script = tmp_path / "g.py"
        script.write_text(to_python(graph, "g.json"))
        assert runpy.run_path(str(script))["graph"] == graph


def test_python_export_renders_like_graphfx(tmp_path):
    graph_file, script, wet = tmp_path / "g.json", tmp_path / "g.py", tmp_path / "wet.wav"
    graph = _graph()
    graph.save(str(graph_file))
    result = CliRunner().invoke(main, ["export", str(graph_file), "--to", "python", "-o", str(script)])
    assert result.exit_code == 0, result.output
    dry = _dry(tmp_path / "dry.wav")
    run = subprocess.run([sys.executable, str(script), str(tmp_path / "dry.wav"), str(wet)], capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    expected = graphfx.render(graph, dry[None], sample_rate=RATE)[0]
    assert np.allclose(sf.read(str(wet), always_2d=True)[0].T, expected.numpy(), atol=1e-6)


def test_pedalboard_export_of_a_serial_graph(tmp_path):
    script, left = to_pedalboard(_graph(), "g.json")
    assert left == []
    assert "pb.PeakFilter(cutoff_frequency_hz=900.0, gain_db=6.0, q=1.5)" in script
    assert "pb.Compressor(" in script and "pb.Delay(" in script
    # Runs with a stand-in pedalboard whose plugins pass audio through.
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "pedalboard.py").write_text(
        "class _Plugin:\n    def __init__(self, **kwargs):\n        self.kwargs = kwargs\n"
        "    def __call__(self, x, sample_rate):\n        return 2 * x\n"
        + "".join(f"{name} = _Plugin\n" for name, _, _ in PEDALBOARD.values()))
    (tmp_path / "pb.py").write_text(script)
    _dry(tmp_path / "dry.wav")
    run = subprocess.run([sys.executable, str(tmp_path / "pb.py"), str(tmp_path / "dry.wav"), str(tmp_path / "w.wav")],
                         capture_output=True, text=True, timeout=120, env={"PYTHONPATH": str(fake), "PATH": ""})
    assert run.returncode == 0, run.stderr
    wet, dry = sf.read(str(tmp_path / "w.wav"), always_2d=True)[0], sf.read(str(tmp_path / "dry.wav"))[0]
    assert wet.shape == (len(dry), 2) and np.allclose(wet[:, 0], dry, atol=1e-5)  # energy normalized: unchanged


def test_branches_sidechains_and_modulation_are_reported(example_graph):
    chain_ids, left = serial_chain(example_graph)
    assert chain_ids == ["in"]
    reasons = dict(left)
    assert set(reasons) == {"x", "d1", "d2", "m"} and "branch" in reasons["x"]
    graph = chain(["bell", "chorus", "compressor"])
    graph.nodes.insert(1, Node("lfo", "lfo"))
    graph.edges.append(Edge("lfo", "n1", "lfo", "mod", 0.2))
    graph.nodes.insert(1, Node("gate", "noisegate"))
    graph.edges[:] = [e for e in graph.edges if e.dst != "n2"] + [Edge("n1", "n2"), Edge("n0", "gate"),
                                                                    Edge("gate", "n2", inlet="sidechain")]
    script, notes = to_pedalboard(_fixed(graph))
    text = "\n".join(notes)
    assert "lfo (lfo): modulation source" in text and "n1 (chorus): modulated" in text
    assert "n2 (compressor): sidechain" in text and "out (out)" in text
    assert serial_chain(graph)[0] == ["in", "n0"]  # the bell feeds two nodes: the chain stops after it
    assert "(1.0, pb.PeakFilter(" in script and "gate (noisegate): after a branch" in text


def _fixed(graph):
    """The gate's audio reaches out through a mix, so that the graph is valid."""
    graph.nodes.insert(-1, Node("m", "mix"))
    graph.edges[:] = [e for e in graph.edges if e.dst != "out"] + [Edge("n2", "m"), Edge("gate", "m"),
                                                                    Edge("m", "out")]
    return graph.validate()


def test_export_command_prints_to_stdout_and_lists_what_is_left_out(example_graph, tmp_path):
    path = tmp_path / "g.json"
    example_graph.save(str(path))
    result = CliRunner().invoke(main, ["export", str(path), "--to", "pedalboard"])
    assert result.exit_code == 0 and "import pedalboard as pb" in result.output
    assert "not exported: x (crossover): crossover branch" in result.output
    result = CliRunner().invoke(main, ["export", str(path), "--to", "vst"])
    assert result.exit_code == 2


def test_pedalboard_chain_sounds_like_graphfx_for_a_peak_filter(tmp_path):
    pb = pytest.importorskip("pedalboard")
    graph = chain(["bell"], sample_rate=RATE)
    graph.node("n0").params.update(frequency=1000.0, gain=6.0, q=1.0)
    script, _ = to_pedalboard(graph)
    namespace = {}
    exec(compile(script, "pb_chain", "exec"), namespace)
    dry = 0.1 * np.random.default_rng(0).standard_normal((2, RATE)).astype("float32")
    theirs = namespace["process"](dry)
    ours = graphfx.render(graph, torch.from_numpy(dry)[None], sample_rate=RATE)[0].numpy()
    assert np.linalg.norm(theirs - ours) / np.linalg.norm(ours) < 0.05 and pb
