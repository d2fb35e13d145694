"""The graph encoder of the autoencoding sanity check (➀ of Table 2, Lee et al., 2023).

"We first trained a graph autoencoder by introducing another TokenGT as a
graph encoder (we also embedded the parameters for the encoder input)": the
ground-truth graph's tokens, parameters included, go through a TokenGT
transformer without causal mask, and learnable queries pool them into latents
of the same shape as the reference encoder's, ``[B, num_queries, d_model]``.
If the decoder cannot reconstruct graphs from these, the decoder (or the
latent size) is the bottleneck, not the audio.

With ``node_slots`` the encoder also returns, after the pooled latents, its
output at each node's token, one slot per node id, for the parameter stage
to read at that node (``TokenGTDecoder.Config.node_latents``). Measured on the
``cpu`` budget, the pooled latents alone do not carry the parameters back
(benchmarks/README.md, "Why the parameter stage did not learn").
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from graphfx import catalog
from graphfx.models.backbone import BackboneConfig, TokenEmbedding
from graphfx.tokens import NODE, PAD, Tokens


@dataclass
class GraphEncoderConfig:
    d_model: int = 128
    num_layers: int = 2
    num_heads: int = 4
    num_queries: int = 1
    max_nodes: int = 64
    node_slots: int = 0


class GraphEncoder(nn.Module):
    """Tokens (with parameters) ``[B, L]`` -> latents ``[B, num_queries (+ node_slots), d_model]``."""

    def __init__(self, config: GraphEncoderConfig):
        super().__init__()
        self.config = config
        d = config.d_model
        self.embed = TokenEmbedding(BackboneConfig(d, config.num_layers, config.num_heads, 2 * d, 0.0,
                                                   config.max_nodes))
        self.params = nn.Linear(2 * catalog.MAX_PARAMS, d)  # values and mask
        layer = nn.TransformerEncoderLayer(d, config.num_heads, 2 * d, 0.0, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, config.num_layers, enable_nested_tensor=False)
        self.queries = nn.Parameter(torch.randn(config.num_queries, d) * 0.02)
        self.pool = nn.MultiheadAttention(d, config.num_heads, batch_first=True)
        self.norm = nn.LayerNorm(d)

    def forward(self, tokens: Tokens) -> Tensor:
        values = torch.cat([tokens.params.float() * tokens.param_mask, tokens.param_mask.float()], dim=-1)
        x = self.embed(tokens) + self.params(values)                       # (B, L, D)
        padding = tokens.kind == PAD
        h = self.encoder(x, src_key_padding_mask=padding)                  # (B, L, D)
        q = self.queries.expand(h.shape[0], -1, -1)                        # (B, Q, D)
        z, _ = self.pool(q, h, h, key_padding_mask=padding)
        z = self.norm(z)
        if not self.config.node_slots:
            return z
        nodes = h.new_zeros(h.shape[0], self.config.node_slots, h.shape[-1])
        b, t = torch.nonzero((tokens.kind == NODE) & (tokens.src < self.config.node_slots), as_tuple=True)
        nodes[b, tokens.src[b, t]] = h[b, t]
        return torch.cat([z, nodes], dim=1)
