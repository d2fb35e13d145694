import pytest
import torch

from conftest import EXAMPLE_JSON
from graphfx.dashboard import _graphs_figure, readable
from graphfx.graph import AudioGraph, Edge


def test_mel_images_are_not_strips():
    tiny = readable(torch.rand(16, 200))  # the tiny encoder's 16 bands over 200 frames
    assert tiny.shape == (128, 200) and torch.equal(tiny[:8], tiny[:1].expand(8, -1))
    assert readable(torch.rand(256, 416)).shape == (256, 416)  # already readable: unchanged


def test_graph_pictures_one_above_the_other_even_for_an_undrawable_estimate():
    pytest.importorskip("matplotlib")
    truth = AudioGraph.from_json(EXAMPLE_JSON)
    cyclic = truth.copy()
    cyclic.edges.append(Edge("m", "x"))
    figure = _graphs_figure(truth, cyclic)
    assert [ax.get_title() for ax in figure.axes] == ["ground truth", "estimate (cannot be drawn)"]
