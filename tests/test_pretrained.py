"""The model shipped inside the package: present, loaded without executing code, and it decodes valid graphs."""
import pytest
import torch

from graphfx.errors import GraphFXError
from graphfx.estimator import load_checkpoint, load_estimator
from graphfx.pretrained import MODELS, checkpoint_path


def test_the_singing_model_ships_without_optimizer_state():
    path = checkpoint_path("singing")
    state = load_checkpoint(path)  # weights_only=True inside
    assert "optimizer" not in state and state["model_config"]["decoder"] == "tokengt"


def test_the_shipped_model_estimates_a_valid_graph():
    model = load_estimator(checkpoint_path("singing"))
    rate = model.config.encoder["sample_rate"]
    clip = 0.1 * torch.randn(1, 2, 2 * rate, generator=torch.Generator().manual_seed(0))
    (graph,) = model.estimate(clip, sample_rate=rate)
    assert graph.is_valid() and {"in", "out"} <= {n.type for n in graph.nodes}


def test_unknown_task_is_one_clear_error():
    with pytest.raises(GraphFXError, match="no trained model ships"):
        checkpoint_path("bagpipes")
    assert set(MODELS) == {"singing"}
