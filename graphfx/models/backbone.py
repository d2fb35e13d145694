"""The TokenGT transformer shared by the graph decoders.

From "Pure Transformers are Powerful Graph Learners" (Kim et al., NeurIPS 2022)
<https://arxiv.org/abs/2207.02505>, as used in Section 3 of "Blind Estimation
of Audio Processing Graph" (Lee et al., ICASSP 2023) <https://arxiv.org/abs/2303.08257>:
nodes and edges are both tokens of a plain (pre-LN) transformer. A token's
embedding is the sum of

* a token-kind embedding (``pad``, ``start``, ``node``, ``edge``, ``end``);
* a node-id embedding: the identifiers ``P[src]`` and ``P[dst]`` of its two
  endpoints, concatenated and linearly projected (a node ``v`` is the token
  ``(v, v)``); ``P`` is a fixed sinusoidal table or a fixed table of
  orthonormal rows (TokenGT's ORF ids; exact orthonormality needs
  ``max_nodes <= node_id_dim``);
* node-type and track embeddings (node tokens), outlet and inlet embeddings
  (edge tokens).

Categorical indices are shifted by one so that ``-1`` (field not applicable)
selects the zero padding row 0. The reference latents ``z`` are concatenated
in front of the tokens and stay visible to every token. Prototype decoding
uses a causal mask (a token sees the latents and the tokens up to itself);
parameter estimation uses no causal mask and a learned task token appended
after the sequence. For generation, :meth:`Backbone.prefill` and
:meth:`Backbone.extend` give the causal outputs incrementally with a
key/value cache (one token per step costs O(sequence) instead of a full pass).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphfx import catalog
from graphfx.errors import GraphFXError
from graphfx.tokens import KINDS, NODE, PAD, Tokens

NODE_ID_KINDS = ("sinusoidal", "orthonormal")


@dataclass
class BackboneConfig:
    """Configuration of :class:`Backbone`.

    Args:
        d_model: token width (must equal the encoder's latent width).
        num_layers: transformer layers (paper: 6).
        num_heads: attention heads (paper: 16).
        dim_feedforward: hidden width of each feed-forward block.
        dropout: dropout inside the transformer layers.
        max_nodes: node-id table size: graphs may have at most this many nodes.
        node_id: ``"sinusoidal"`` (the paper's) or ``"orthonormal"`` node identifiers.
        node_id_dim: width of one node identifier (default ``d_model // 2``); the
            orthonormal table needs ``max_nodes <= node_id_dim``.
        node_slots: when > 0, the last ``node_slots`` latents are one per node id (the autoencoder's graph
            encoder gives them): they are no prefix, and in the parameter pass each node token's
            embedding adds a projection of its node's latent.
    """

    d_model: int = 512
    num_layers: int = 6
    num_heads: int = 16
    dim_feedforward: int = 2048
    dropout: float = 0.1
    max_nodes: int = 64
    node_id: str = "sinusoidal"
    node_id_dim: Optional[int] = None
    node_slots: int = 0

    def __post_init__(self):
        if self.d_model % self.num_heads:
            raise GraphFXError(f"d_model={self.d_model} must be divisible by num_heads={self.num_heads}")
        if self.node_id not in NODE_ID_KINDS:
            raise GraphFXError(f"node_id must be one of {NODE_ID_KINDS}, got {self.node_id!r}")
        if self.node_id == "orthonormal" and self.max_nodes > self.id_dim:
            raise GraphFXError(f"orthonormal node ids need max_nodes ({self.max_nodes}) <= node_id_dim "
                               f"({self.id_dim}); raise node_id_dim or d_model, or lower max_nodes")
        if self.max_nodes < 2 or self.num_layers < 1:
            raise GraphFXError("need max_nodes >= 2 and num_layers >= 1")

    @property
    def id_dim(self) -> int:
        return self.node_id_dim or max(2, self.d_model // 2)


def node_id_table(kind: str, max_nodes: int, dim: int, seed: int = 0) -> Tensor:
    """Fixed node identifiers ``[max_nodes, dim]``.

    ``"sinusoidal"``: the transformer's positional encoding of the node index, rows scaled to unit norm
    (like the orthonormal rows; they are far from orthogonal: neighbouring ids have cosines near 1).
    ``"orthonormal"``: rows of the Q factor of a seeded Gaussian matrix, so that
    ``P @ P.T`` is the identity (needs ``max_nodes <= dim``).
    """
    if kind == "sinusoidal":
        position = torch.arange(max_nodes, dtype=torch.float64)[:, None]
        freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float64) * (-math.log(10000.0) / dim))
        table = torch.zeros(max_nodes, dim, dtype=torch.float64)
        table[:, 0::2] = torch.sin(position * freq)
        table[:, 1::2] = torch.cos(position * freq)[:, :dim // 2]
        return (table / table.norm(dim=1, keepdim=True)).float()
    if kind == "orthonormal":
        if max_nodes > dim:
            raise GraphFXError(f"orthonormal ids need max_nodes ({max_nodes}) <= dim ({dim})")
        gen = torch.Generator().manual_seed(seed)
        q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=gen, dtype=torch.float64))
        return q[:max_nodes].float()
    raise GraphFXError(f"unknown node id kind {kind!r}; expected one of {NODE_ID_KINDS}")


class TokenEmbedding(nn.Module):
    """TokenGT input embedding of a token batch (fields ``[B, L]``) -> ``[B, L, d_model]``."""

    def __init__(self, config: BackboneConfig):
        super().__init__()
        d = config.d_model
        self.max_nodes = config.max_nodes
        self.kind = nn.Embedding(len(KINDS), d)
        self.proc_type = nn.Embedding(len(catalog.NODE_TYPES) + 1, d, padding_idx=0)
        self.outlet = nn.Embedding(len(catalog.OUTLETS) + 1, d, padding_idx=0)
        self.inlet = nn.Embedding(len(catalog.INLETS) + 1, d, padding_idx=0)
        self.track = nn.Embedding(len(catalog.TRACKS) + 1, d, padding_idx=0)
        table = node_id_table(config.node_id, config.max_nodes, config.id_dim)
        # Row 0 (id -1: start, end, padding) is zero.
        self.register_buffer("node_ids", torch.cat([table.new_zeros(1, table.shape[1]), table]), persistent=False)
        self.id_proj = nn.Linear(2 * config.id_dim, d, bias=False)
        self.reset_parameters()

    def reset_parameters(self):
        for emb in (self.kind, self.proc_type, self.outlet, self.inlet, self.track):
            nn.init.normal_(emb.weight, std=0.02)
            if emb.padding_idx is not None:
                with torch.no_grad():
                    emb.weight[emb.padding_idx].zero_()
        nn.init.normal_(self.id_proj.weight, std=0.02)

    def forward(self, tokens: Tokens) -> Tensor:
        src, dst = tokens.src, tokens.dst
        if src.numel() and max(int(src.max()), int(dst.max())) >= self.max_nodes:
            raise GraphFXError(f"a graph has more than max_nodes={self.max_nodes} nodes; raise max_nodes")
        ids = torch.cat([self.node_ids[(src + 1).clamp(min=0)], self.node_ids[(dst + 1).clamp(min=0)]], dim=-1)
        x = self.kind(tokens.kind) + self.id_proj(ids)                        # (B, L, D)
        x = x + self.proc_type((tokens.proc_type + 1).clamp(min=0)) + self.track((tokens.track + 1).clamp(min=0))
        x = x + self.outlet((tokens.outlet + 1).clamp(min=0)) + self.inlet((tokens.inlet + 1).clamp(min=0))
        return x


class Backbone(nn.Module):
    """The TokenGT transformer over ``[latents, tokens(, task token)]``.

    Args:
        config: a :class:`BackboneConfig`.
    """

    def __init__(self, config: BackboneConfig):
        super().__init__()
        self.config = config
        self.embed = TokenEmbedding(config)
        self.task_token = nn.Parameter(torch.zeros(config.d_model))
        self.node_in = nn.Linear(config.d_model, config.d_model) if config.node_slots else None
        layer = nn.TransformerEncoderLayer(config.d_model, config.num_heads, config.dim_feedforward, config.dropout,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, config.num_layers, norm=nn.LayerNorm(config.d_model),
                                                 enable_nested_tensor=False)
        nn.init.normal_(self.task_token, std=0.02)

    def split(self, latents: Tensor) -> Tuple[Tensor, Optional[Tensor]]:
        """The prefix latents ``[B, Q, D]`` and the per-node latents ``[B, node_slots, D]`` (``None`` without)."""
        slots = self.config.node_slots
        return (latents, None) if not slots else (latents[:, :-slots], latents[:, -slots:])

    @staticmethod
    def causal_mask(num_latents: int, num_tokens: int, device=None) -> Tensor:
        """``[S, S]`` boolean mask (``True`` = blocked), ``S = Q + L``: latents see latents; token ``t``
        sees the latents and tokens ``0 .. t``."""
        size = num_latents + num_tokens
        i = torch.arange(size, device=device)
        return (i[None, :] > i[:, None]) & (i[None, :] >= num_latents)

    def forward(self, latents: Tensor, tokens: Tokens, *, causal: bool = True, task_token: bool = False) -> Tensor:
        """Transformer outputs at the token positions.

        Args:
            latents: ``[B, Q, D]``.
            tokens: token batch, fields ``[B, L]``.
            causal: prototype decoding (causal mask) or not (parameter estimation).
            task_token: append the learned task token (parameter estimation).

        Returns:
            ``[B, L, D]``: the outputs of the tokens (the task token's output is dropped).
        """
        latents, nodes = self.split(latents)
        B, Q, D = latents.shape
        L = tokens.kind.shape[1]
        embedded = self.embed(tokens).to(latents.dtype)                                 # (B, L, D)
        if nodes is not None and task_token:
            embedded = embedded + self.node_in(node_latents(nodes, tokens))
        x = torch.cat([latents, embedded], dim=1)                                        # (B, Q + L, D)
        padding = torch.cat([torch.zeros(B, Q, dtype=torch.bool, device=latents.device), tokens.kind == PAD], 1)
        if task_token:
            x = torch.cat([x, self.task_token.to(x.dtype).expand(B, 1, D)], dim=1)       # (B, Q + L + 1, D)
            padding = torch.cat([padding, padding.new_zeros(B, 1)], dim=1)
        mask = self.causal_mask(Q, x.shape[1] - Q, latents.device) if causal else None
        h = self.transformer(x, mask=mask, src_key_padding_mask=padding)               # (B, S, D)
        return h[:, Q:Q + L]

    # --- incremental causal decoding ------------------------------------------------------------------------------
    def prefill(self, latents: Tensor, tokens: Tokens) -> Tuple[Tensor, List[Tuple[Tensor, Tensor]]]:
        """Causal outputs ``[B, L, D]`` of an unpadded prefix, and the key/value cache for :meth:`extend`.

        Equals ``forward(latents, tokens, causal=True)`` (eval mode: no dropout is applied).
        """
        latents, _ = self.split(latents)
        Q = latents.shape[1]
        x = torch.cat([latents, self.embed(tokens).to(latents.dtype)], dim=1)             # (B, Q + L, D)
        mask = ~self.causal_mask(Q, x.shape[1] - Q, latents.device)                      # True = may attend
        h, cache = self._cached_layers(x, [], mask)
        return h[:, Q:], cache

    def extend(self, cache: List[Tuple[Tensor, Tensor]], tokens: Tokens) -> Tuple[Tensor, List[Tuple[Tensor, Tensor]]]:
        """Causal outputs ``[B, n, D]`` of ``n`` new tokens following the cached ones, and the grown cache."""
        x = self.embed(tokens).to(cache[0][0].dtype)                                      # (B, n, D)
        n, past = x.shape[1], cache[0][0].shape[2]
        mask = None
        if n > 1:
            i = torch.arange(n, device=x.device)
            mask = torch.cat([mask_ones(n, past, x.device), i[None, :] <= i[:, None]], dim=1)
        return self._cached_layers(x, cache, mask)

    @staticmethod
    def select(cache: List[Tuple[Tensor, Tensor]], index) -> List[Tuple[Tensor, Tensor]]:
        """The cache of the sequences ``index`` of the batch."""
        return [(k[index], v[index]) for k, v in cache]

    def _cached_layers(self, x: Tensor, cache, mask: Optional[Tensor]):
        """The pre-LN layers of :attr:`transformer` by hand, reading and growing a key/value cache."""
        new_cache = []
        for depth, layer in enumerate(self.transformer.layers):
            attn = layer.self_attn
            B, n, D = x.shape
            H = attn.num_heads
            q, k, v = F.linear(layer.norm1(x), attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
            q, k, v = (t.reshape(B, n, H, D // H).transpose(1, 2) for t in (q, k, v))      # (B, H, n, D / H)
            if cache:
                k = torch.cat([cache[depth][0], k], dim=2)
                v = torch.cat([cache[depth][1], v], dim=2)
            new_cache.append((k, v))
            a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)                    # (B, H, n, D / H)
            x = x + attn.out_proj(a.transpose(1, 2).reshape(B, n, D))
            x = x + layer.linear2(layer.activation(layer.linear1(layer.norm2(x))))
        return self.transformer.norm(x), new_cache


def node_latents(nodes: Tensor, tokens: Tokens) -> Tensor:
    """``[B, L, D]``: at each node token the latent of its node id (``nodes`` ``[B, slots, D]``), 0 elsewhere."""
    is_node = (tokens.kind == NODE) & (tokens.src >= 0) & (tokens.src < nodes.shape[1])
    index = torch.where(is_node, tokens.src, torch.zeros_like(tokens.src))
    picked = nodes.gather(1, index[..., None].expand(-1, -1, nodes.shape[-1]))
    return picked * is_node[..., None].to(picked.dtype)


def mask_ones(rows: int, cols: int, device=None) -> Tensor:
    return torch.ones(rows, cols, dtype=torch.bool, device=device)
