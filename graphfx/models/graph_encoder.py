"""The graph encoder of the autoencoding sanity check (➀ of Table 2, Lee et al., 2023).

"We first trained a graph autoencoder by introducing another TokenGT as a
graph encoder (we also embedded the parameters for the encoder input)": the
ground-truth graph's tokens, parameters included, go through a TokenGT
transformer without causal mask, and learnable queries pool them into latents
of the same shape as the reference encoder's, ``[B, num_queries, d_model]``.
If the decoder cannot reconstruct graphs from these, the decoder (or the
latent size) is the bottleneck, not the audio.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from graphfx import catalog
from graphfx.models.backbone import BackboneConfig, TokenEmbedding
from graphfx.tokens import PAD, Tokens


@dataclass
class GraphEncoderConfig:
    d_model: int = 128
    num_layers: int = 2
    num_heads: int = 4
    num_queries: int = 1
    max_nodes: int = 64


class GraphEncoder(nn.Module):
    """Tokens (with parameters) ``[B, L]`` -> latents ``[B, num_queries, d_model]``."""

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
        return self.norm(z)
