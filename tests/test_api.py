"""The top-level API: ``graphfx.load``, ``graphfx.render``, ``graphfx.GraphFXDataset``, and a light import."""
import glob
import os
import subprocess
import sys

import pytest
import torch

import graphfx
from graphfx.graph import AudioGraph

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = sorted(glob.glob(os.path.join(ROOT, "examples", "graphs", "*.json")))


def test_examples_exist():
    assert EXAMPLES


@pytest.mark.parametrize("path", EXAMPLES, ids=os.path.basename)
def test_load_reads_example_graphs(path):
    graph = graphfx.load(path)
    assert isinstance(graph, AudioGraph) and graph == AudioGraph.load(path)


def test_load_validates_unless_told_not_to(tmp_path):
    path = tmp_path / "dangling.json"
    path.write_text('{"format": "graphfx.graph", "version": 1, "nodes": [{"id": "in", "type": "in"}], "edges": []}')
    with pytest.raises(graphfx.GraphError):
        graphfx.load(str(path))
    assert len(graphfx.load(str(path), validate=False).nodes) == 1


def test_render_is_the_renderer_function():
    import graphfx.renderer

    assert callable(graphfx.render) and graphfx.render is graphfx.renderer.render
    graph = graphfx.load(EXAMPLES[0])
    dry = 0.3 * torch.randn(1, 2, 2000, generator=torch.Generator().manual_seed(0))
    wet = graphfx.render(graph, dry, sample_rate=16000)
    assert wet.shape == (1, 2, 2000)
    assert torch.equal(wet, graphfx.renderer.render(graph, dry, sample_rate=16000))


def test_dataset_class():
    import graphfx.datasets

    assert graphfx.GraphFXDataset is graphfx.datasets.GraphFXDataset


def test_lazy_names_are_listed():
    for name in ("render", "GraphFXDataset", "load", "AudioGraph"):
        assert name in graphfx.__all__ and name in dir(graphfx)
    with pytest.raises(AttributeError, match="no_such_name"):
        graphfx.no_such_name


def test_import_stays_light():
    code = ("import sys, graphfx; print(' '.join(m for m in sys.modules if m.split('.')[0] in "
            "('torch', 'numba', 'torch_geometric') or m.startswith(('graphfx.dsp', 'graphfx.renderer', "
            "'graphfx.datasets', 'graphfx.models', 'graphfx.decoders'))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
