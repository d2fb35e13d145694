"""Baseline ➄ of Table 2: node-by-node (DeepGMG-style) prototype decoding on the TokenGT backbone.

Lee et al., "Blind Estimation of Audio Processing Graph" (ICASSP 2023), Section 4,
"Blind estimation strategy comparison": the conventional node-by-node decoding of
Li et al., "Learning Deep Generative Models of Graphs" (DeepGMG, 2018), run on the
same TokenGT backbone, which "estimates the next node type first and then performs
an edge prediction task using the transformer outputs". The paper reports it
slightly worse than ➂ and with a high invalid-graph rate when unconstrained.

Same as :class:`~graphfx.decoders.tokengt.TokenGTDecoder` (subclassed): the
backbone, the input token sequence (``start``, nodes in BFS order each followed by
its edges to earlier nodes, ``end``), the causal teacher forcing, the label
smoothing, the two-stage parameter estimation (:meth:`estimate_params`, the task
token pass, L1 loss) and the constrained decoding
(:class:`~graphfx.decoders.constraints.DecodingConstraints`).

What differs (the DeepGMG decision grammar replaces the per-field token heads):

1. ``add_node`` (``num_types + 1`` classes: a node type or *stop*) and ``track``
   are predicted where the next token is a node or ``end``; ``add_edge``
   (2 classes: *add an edge* or *next node*) at every token from the first node on.
   These graph-level decisions read the output of the latest token (DeepGMG's
   graph state ``h_G``, which has seen the edges added so far).
2. An edge's contents are predicted from the output of the newest **node token**
   ``v`` (not from the previous edge token, as in token-by-token): the other
   endpoint ``u < v`` by a pointer (dot-product scores of a projection of ``h_v``
   against projections of the earlier node-token outputs ``h_u``; DeepGMG's
   ``f_nodes``), then the direction (``u -> v`` or ``v -> u``) and the outlet/inlet
   pair from the pair features ``P_v h_v + P_u h_u`` (+ a direction embedding for
   the ports). Endpoints are node ids by construction (no ``src``/``dst``
   classification over ``max_nodes`` positions).
3. All edges of one node share the same query ``h_v``: the pointer is trained on
   the set of its endpoints, and nothing but the constraints keeps greedy
   decoding from repeating an edge. Unconstrained decoding therefore often emits
   duplicate edges / wrong ports (invalid graphs, as in the paper); constrained
   decoding masks each decision (kind, type, track, endpoint and direction jointly,
   outlet, inlet) with the same :class:`DecodingConstraints` and is always valid.

Loss entries: ``add_node``, ``track``, ``add_edge``, ``endpoint``, ``direction``,
``outlet``, ``inlet``, ``params`` and the total ``loss``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphfx import catalog
from graphfx.decoders.base import IGNORE, GraphDecoder, cross_entropy
from graphfx.decoders.constraints import NUM_TRACK_CLASSES, DecodingConstraints
from graphfx.decoders.registry import register
from graphfx.decoders.tokengt import Decoding, TokenGTDecoder
from graphfx.tokens import EDGE, END, NODE, Token, Tokens

NUM_TYPES = len(catalog.NODE_TYPES)
STOP = NUM_TYPES  # the "stop" class of the add_node head


@register("node_by_node")
class NodeByNodeDecoder(TokenGTDecoder):
    """DeepGMG-style node-by-node decoder on the TokenGT backbone (Table 2, ➄).

    Args:
        config: a :class:`NodeByNodeDecoder.Config` (the fields and presets of
            :class:`TokenGTDecoder.Config`).
    """

    #: Teacher-forced per-token predictions (graphfx.bench's error rates) are a tokengt notion: this
    #: decoder's decisions (add node / add edge / pointer) do not map onto token fields one to one.
    token_by_token = False
    predict_next = GraphDecoder.predict_next  # not TokenGTDecoder's

    @dataclass
    class Config(TokenGTDecoder.Config):
        """Same fields and presets (``paper``/``small``/``tiny``) as :class:`TokenGTDecoder.Config`."""

    def __init__(self, config: "NodeByNodeDecoder.Config"):
        super().__init__(config)
        d = config.d_model
        self.heads = nn.ModuleDict({                     # read the latest token's output (graph state)
            "add_node": nn.Linear(d, NUM_TYPES + 1),
            "track": nn.Linear(d, NUM_TRACK_CLASSES),
            "add_edge": nn.Linear(d, 2),                 # 0 = next node (or stop), 1 = add an edge
        })
        self.query = nn.Linear(d, d)                     # pointer: new node v -> earlier node u
        self.key = nn.Linear(d, d)
        self.pair_v = nn.Linear(d, d)
        self.pair_u = nn.Linear(d, d, bias=False)
        self.direction = nn.Linear(d, 2)                 # 0: u -> v, 1: v -> u
        self.direction_emb = nn.Embedding(2, d)
        self.outlet = nn.Linear(d, len(catalog.OUTLETS))
        self.inlet = nn.Linear(d, len(catalog.INLETS))

    # --- edge sub-heads ------------------------------------------------------------------------------------------
    def pointer(self, h_v: Tensor, h_nodes: Tensor) -> Tensor:
        """Endpoint scores ``[..., M]`` of queries ``h_v [..., D]`` against node outputs ``h_nodes [..., M, D]``."""
        q = self.query(h_v).unsqueeze(-2)                                           # (..., 1, D)
        return (q * self.key(h_nodes)).sum(-1) / math.sqrt(h_v.shape[-1])          # (..., M)

    def pair(self, h_v: Tensor, h_u: Tensor) -> Tensor:
        return torch.tanh(self.pair_v(h_v) + self.pair_u(h_u))                     # (..., D)

    def port_logits(self, pair: Tensor, direction: Tensor):
        x = pair + self.direction_emb(direction)
        return self.outlet(x), self.inlet(x)

    # --- training ------------------------------------------------------------------------------------------------
    def loss(self, latents: Tensor, tokens: Tokens) -> Dict[str, Tensor]:
        """Teacher-forced losses of the node-by-node decisions, the parameter L1 and their sum ``loss``."""
        tokens = tokens.to(latents.device)
        h_all = self.backbone(latents, tokens, causal=True)                       # (B, L, D)
        B, L, D = h_all.shape
        h = h_all[:, :-1]                                                          # (B, L - 1, D): predicts t + 1
        kind, nxt = tokens.kind, tokens.kind[:, 1:]
        pos = torch.arange(L, device=latents.device).expand(B, L)
        is_node = kind == NODE
        last_node = torch.where(is_node, pos, torch.full_like(pos, -1)).cummax(dim=1).values[:, :-1]  # (B, L - 1)
        h_v = h_all.gather(1, last_node.clamp(min=0)[..., None].expand(-1, -1, D))  # (B, L - 1, D)
        v = tokens.src.gather(1, last_node.clamp(min=0))                           # (B, L - 1): newest node id
        b_idx, t_idx = is_node.nonzero(as_tuple=True)
        M = self.config.max_nodes
        if len(b_idx) and int(tokens.src[b_idx, t_idx].max()) >= M:
            self.backbone.embed(tokens)  # raises the clear max_nodes error
        h_nodes = h_all.new_zeros(B, M, D).index_put((b_idx, tokens.src[b_idx, t_idx]), h_all[b_idx, t_idx])

        ls = self.config.label_smoothing
        ignore = torch.full_like(nxt, IGNORE)
        logits = self.head_logits(h)
        add_node = torch.where(nxt == END, torch.full_like(nxt, STOP), tokens.proc_type[:, 1:])
        losses = {
            "add_node": cross_entropy(logits["add_node"], torch.where((nxt == NODE) | (nxt == END), add_node, ignore),
                                       ls),
            "track": cross_entropy(logits["track"], torch.where(nxt == NODE, tokens.track[:, 1:] + 1, ignore), ls),
            "add_edge": cross_entropy(logits["add_edge"], torch.where(
                (last_node >= 0) & ((nxt == NODE) | (nxt == EDGE) | (nxt == END)), (nxt == EDGE).long(), ignore), ls),
        }
        sel = nxt == EDGE                                                          # (B, L - 1)
        if sel.any():
            bb = sel.nonzero(as_tuple=True)[0]
            src, dst, vv = tokens.src[:, 1:][sel], tokens.dst[:, 1:][sel], v[sel]  # (E,)
            out_dir = (src == vv).long()
            u = torch.where(out_dir.bool(), dst, src)
            scores = self.pointer(h_v[sel], h_nodes[bb])                           # (E, M)
            scores = scores.masked_fill(torch.arange(M, device=scores.device)[None] >= vv[:, None], -1e4)
            pair = self.pair(h_v[sel], h_nodes[bb, u])                             # (E, D)
            outlet, inlet = self.port_logits(pair, out_dir)
            losses["endpoint"] = _pointer_loss(scores, u, vv, ls)
            losses["direction"] = cross_entropy(self.direction(pair), out_dir, ls)
            losses["outlet"] = cross_entropy(outlet, tokens.outlet[:, 1:][sel], ls)
            losses["inlet"] = cross_entropy(inlet, tokens.inlet[:, 1:][sel], ls)
        else:
            zero = h.sum() * 0.0
            losses.update(endpoint=zero, direction=zero, outlet=zero, inlet=zero)
        return self.add_param_loss(losses, *self.estimate(latents, tokens), tokens)  # the inherited second stage

    # --- generation (the loop is TokenGTDecoder.generate_tokens) ----------------------------------------------------
    def choose_next(self, h: Tensor, seqs: List[Decoding], constrained: bool,
                    generator: Optional[torch.Generator] = None, temperature: float = 1.0) -> List[Optional[Token]]:
        """The next token of each sequence, greedy, from the outputs ``h`` ``[A, D]`` of their latest tokens."""
        if generator is not None:
            raise NotImplementedError("node_by_node decodes greedily only")
        logits = self.head_logits(h)
        return [self._choose({k: x[j] for k, x in logits.items()}, seq.nodes, seq.constraints if constrained else None)
                for j, seq in enumerate(seqs)]

    def _choose(self, logits: Dict[str, Tensor], nodes: List[Tensor],
                c: Optional[DecodingConstraints]) -> Optional[Token]:
        """The next token of one sequence: kind (add_edge, then add_node), then the node or edge fields."""
        n = len(nodes)
        edge_lp = F.log_softmax(logits["add_edge"], -1)                            # (2,)
        node_lp = F.log_softmax(logits["add_node"], -1)                            # (T + 1,)
        kind_scores = {EDGE: float(edge_lp[1]), NODE: float(edge_lp[0] + torch.logsumexp(node_lp[:STOP], 0)),
                       END: float(edge_lp[0] + node_lp[STOP])}
        if n < 2:  # no earlier node to join
            kind_scores.pop(EDGE)
        if c is not None and max(kind_scores, key=kind_scores.__getitem__) == END:
            c.finish()
        allowed = c.kind_mask() if c is not None else None
        kind = max((k for k in kind_scores if allowed is None or allowed[k]), key=kind_scores.__getitem__)
        if kind == NODE:
            if c is None and n >= self.config.max_nodes:
                return None
            types = c.type_mask() if c is not None else [True] * NUM_TYPES
            proc_type = _argmax(node_lp[:STOP], types)
            tracks = c.track_mask(proc_type) if c is not None else [True] * NUM_TRACK_CLASSES
            return Token(NODE, n, n, proc_type, track=_argmax(logits["track"], tracks) - 1)
        if kind == EDGE:
            v = n - 1
            h_nodes = torch.stack(nodes)                                           # (n, D)
            ptr = F.log_softmax(self.pointer(h_nodes[v], h_nodes[:v]), -1)         # (v,)
            pair = self.pair(h_nodes[v].expand(v, -1), h_nodes[:v])                # (v, D)
            joint = (ptr[:, None] + F.log_softmax(self.direction(pair), -1)).tolist()  # (v, 2)
            if c is not None:
                src_ok = c.src_mask()
                ok = [[src_ok[u] and c.dst_mask(u)[v], src_ok[v] and c.dst_mask(v)[u]] for u in range(v)]
            else:
                ok = [[True, True] for _ in range(v)]
            u, d = max(((u, d) for u in range(v) for d in (0, 1) if ok[u][d]), key=lambda ud: joint[ud[0]][ud[1]])
            src, dst = (v, u) if d else (u, v)
            outlet_l, inlet_l = self.port_logits(pair[u], torch.tensor(d, device=pair.device))
            outlet = _argmax(outlet_l, c.outlet_mask(src, dst) if c is not None else None)
            inlet = _argmax(inlet_l, c.inlet_mask(src, dst, outlet) if c is not None else None)
            return Token(EDGE, src, dst, outlet=outlet, inlet=inlet)
        return Token(END)


def _pointer_loss(scores: Tensor, target: Tensor, count: Tensor, label_smoothing: float) -> Tensor:
    """Cross-entropy of pointer scores ``[E, M]``, smoothed over the ``count`` valid positions only."""
    logp = F.log_softmax(scores, -1)                                               # (E, M)
    valid = torch.arange(scores.shape[1], device=scores.device)[None] < count[:, None]
    nll = -logp.gather(1, target[:, None]).squeeze(1)
    uniform = -(logp * valid).sum(-1) / count.clamp(min=1)
    return ((1 - label_smoothing) * nll + label_smoothing * uniform).mean()


def _argmax(values: Tensor, mask: Optional[List[bool]]) -> int:
    if mask is not None:
        values = values.masked_fill(~torch.tensor(mask, device=values.device), float("-inf"))
    return int(values.argmax())
