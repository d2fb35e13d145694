"""The autoencoder's graph encoder: pooled latents, and one latent per node for the parameter stage."""
import random

import torch

from graphfx.decoders import create
from graphfx.models.graph_encoder import GraphEncoder, GraphEncoderConfig
from graphfx.synth.prototype import PrototypeConfig, sample_prototype
from graphfx.tokens import NODE, graph_to_tokens, pad_tokens


def _tokens(seeds=(0, 1)):
    return pad_tokens([graph_to_tokens(sample_prototype(random.Random(s), PrototypeConfig())) for s in seeds])


def test_node_slots_hold_each_nodes_output_by_id():
    torch.manual_seed(0)
    pooled = GraphEncoder(GraphEncoderConfig(d_model=16, num_heads=2, num_queries=2)).eval()
    slotted = GraphEncoder(GraphEncoderConfig(d_model=16, num_heads=2, num_queries=2, node_slots=32)).eval()
    slotted.load_state_dict(pooled.state_dict())
    tokens = _tokens()
    with torch.no_grad():
        z, zs = pooled(tokens), slotted(tokens)
    assert zs.shape == (2, 2 + 32, 16) and torch.equal(zs[:, :2], z)
    for b in range(2):
        ids = tokens.src[b][tokens.kind[b] == NODE]
        assert (zs[b, 2 + ids].abs().sum(-1) > 0).all()               # every node has its slot
        assert (zs[b, 2 + len(ids):] == 0).all()                      # no node, no value


def test_node_latents_reach_only_the_parameter_stage():
    torch.manual_seed(0)
    decoder = create("tokengt", preset="tiny", max_nodes=32, node_latents=True).eval()
    tokens = _tokens()
    prefix = torch.randn(2, 1, decoder.config.d_model)
    nodes = torch.randn(2, 32, decoder.config.d_model)
    other = torch.cat([prefix, nodes + 1.0], 1)
    latents = torch.cat([prefix, nodes], 1)
    with torch.no_grad():
        same_prototype = decoder.loss(latents, tokens)["proc_type"] == decoder.loss(other, tokens)["proc_type"]
        params, other_params = decoder.estimate_params(latents, tokens), decoder.estimate_params(other, tokens)
    assert same_prototype and not torch.allclose(params, other_params)
