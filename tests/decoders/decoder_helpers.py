"""Shared helpers of the decoder tests: prototype token batches, an overfitting run.

(A module, not a ``conftest.py``: the top-level tests import from ``conftest`` by name.)
"""
import random

import torch

from graphfx.synth.prototype import PrototypeConfig, sample_prototype
from graphfx.tokens import graph_to_tokens, pad_tokens


def prototype_batch(seeds=(0, 1), drums=False):
    """Sampled prototype graphs and their padded token batch."""
    inputs = ["kick", "snare"] if drums else ["in"]
    graphs = [sample_prototype(random.Random(s), PrototypeConfig(max_nodes=24), inputs) for s in seeds]
    return graphs, pad_tokens([graph_to_tokens(g) for g in graphs])


def overfit(decoder, tokens, steps, heads):
    """Trains ``decoder`` on one batch from fixed random latents; checks the loss entries; returns the losses."""
    latents = torch.randn(tokens.kind.shape[0], 1, decoder.config.d_model)
    optimizer = torch.optim.AdamW(decoder.parameters(), lr=3e-3)
    history = []
    for _ in range(steps):
        losses = decoder.loss(latents, tokens)
        assert set(losses) == heads and all(torch.isfinite(v) for v in losses.values())
        optimizer.zero_grad()
        losses["loss"].backward()
        optimizer.step()
        history.append(losses["loss"].item())
    return history
