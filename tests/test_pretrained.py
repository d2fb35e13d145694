"""The models shipped inside the package: present, loaded without executing code, and they decode valid graphs."""
import pytest
import torch

import graphfx
from graphfx.errors import GraphFXError
from graphfx.estimator import load_checkpoint, load_estimator
from graphfx.pretrained import MODELS, checkpoint_path


@pytest.mark.parametrize("task", sorted(MODELS))
def test_each_model_ships_without_optimizer_state(task):
    state = load_checkpoint(checkpoint_path(task))  # weights_only=True inside
    assert "optimizer" not in state and state["model_config"]["decoder"] == "tokengt"


@pytest.mark.parametrize("task", sorted(MODELS))
def test_each_shipped_model_estimates_a_valid_graph_of_its_task(task):
    model = load_estimator(checkpoint_path(task))
    rate = model.config.encoder["sample_rate"]
    clip = 0.1 * torch.randn(2, 2 * rate, generator=torch.Generator().manual_seed(0))
    graph, report = graphfx.estimate(clip, rate, task=task, candidates=2)
    inputs = {"in"} if task == "singing" else {"kick", "snare", "hat", "tom", "ride", "crash"}
    assert graph.is_valid() and report["model"]["shipped"]
    assert inputs & {n.type for n in graph.nodes} and "out" in {n.type for n in graph.nodes}


def test_unknown_task_is_one_clear_error():
    with pytest.raises(GraphFXError, match="no trained model ships"):
        checkpoint_path("bagpipes")
    assert set(MODELS) == {"singing", "drums"}
