"""The proposed decoder: token-by-token prototype generation and parameter estimation with TokenGT.

Section 3 and Fig. 4 of "Blind Estimation of Audio Processing Graph" (Lee et
al., ICASSP 2023) <https://arxiv.org/abs/2303.08257>, row ➂ of Table 2. One
TokenGT transformer (:mod:`graphfx.models.backbone`) serves two tasks:

1. **Prototype decoding** (causal mask). From ``[z, start, x_1 .. x_t]`` the
   output at token ``t`` predicts token ``t + 1`` with one head per field:
   token kind (node / edge / end), node type, track, the edge's source and
   destination node ids (classification over ``max_nodes`` positions; a node's
   id is its count), outlet and inlet. Trained by teacher forcing with
   cross-entropy and label smoothing 0.1. Generation is greedy, and by default
   constrained by :class:`~graphfx.decoders.constraints.DecodingConstraints` so
   that every result is a valid graph.
2. **Parameter estimation** (no causal mask, a learned task token appended).
   The outputs at the node tokens of a prototype regress every normalized
   parameter through a sigmoid, and the outputs at its edge tokens the edge
   gain (mix gains, modulation depths; on ``[0, GAIN_MAX]``), trained with L1
   on the oracle prototype.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import ClassVar, Dict, List, Optional, Tuple

import torch
from torch import Tensor, nn

from graphfx import catalog
from graphfx.decoders.base import IGNORE, GraphDecoder, cross_entropy, eval_mode
from graphfx.decoders.constraints import NUM_TRACK_CLASSES, DecodingConstraints, choose_unconstrained
from graphfx.decoders.registry import register
from graphfx.graph import AudioGraph
from graphfx.models.backbone import Backbone, BackboneConfig
from graphfx.tokens import (EDGE, END, GAIN_MAX, KINDS, NODE, START, Token, Tokens, batch_from_rows, pad_tokens,
                            tokens_from_rows, tokens_to_graph)

#: Classes of the token-kind head, as :data:`graphfx.tokens.KINDS` indices (``pad``/``start`` are never predicted).
KIND_CLASSES = (NODE, EDGE, END)


@dataclass
class Decoding:
    """One sequence of a greedy decoding: its tokens so far, its constraints, the outputs of its node tokens.

    ``nodes`` holds the backbone output ``[D]`` of each node token, in order: their
    count is the id of the next node.
    """

    constraints: DecodingConstraints
    rows: List[Token] = field(default_factory=lambda: [Token(START)])
    nodes: List[Tensor] = field(default_factory=list)


@register("tokengt")
class TokenGTDecoder(GraphDecoder):
    """The TokenGT two-stage graph decoder (Lee et al., 2023, Section 3).

    Args:
        config: a :class:`TokenGTDecoder.Config`.

    Example::

        decoder = graphfx.decoders.create("tokengt", preset="small")
        losses = decoder.loss(latents, tokens)           # latents (B, Q, 128), tokens: pad_tokens([...])
        graphs = decoder.generate(latents, task="singing")
    """

    token_by_token = True

    @dataclass
    class Config:
        """Configuration of :class:`TokenGTDecoder` (defaults: the paper's sizes).

        Args:
            d_model, num_layers, num_heads, dim_feedforward, dropout, max_nodes, node_id,
                node_id_dim: the backbone (see :class:`graphfx.models.backbone.BackboneConfig`).
            label_smoothing: of the prototype cross-entropies (paper: 0.1).
            param_weight: weight of the parameter (and edge-gain) L1 losses in the total.
            estimate_gains: also regress edge gains (checkpoints older than the head load without it).
            typed_params: one parameter read-out per node type (slot ``k`` of a compressor and of an EQ get
                their own weights) instead of one shared by every type (checkpoints before version 3).
            node_latents: the last ``max_nodes`` latents are one per node (the autoencoder's), read by the
                parameter stage at each node token (see :class:`~graphfx.models.backbone.BackboneConfig`).
            task: default task of constrained decoding: ``"auto"``, ``"singing"`` or ``"drums"``.
        """

        d_model: int = 512
        num_layers: int = 6
        num_heads: int = 16
        dim_feedforward: int = 2048
        dropout: float = 0.1
        max_nodes: int = 64
        node_id: str = "sinusoidal"
        node_id_dim: Optional[int] = None
        label_smoothing: float = 0.1
        param_weight: float = 1.0
        estimate_gains: bool = True
        typed_params: bool = True
        node_latents: bool = False
        task: str = "auto"

        PRESETS: ClassVar[Dict[str, Dict]] = {
            "paper": dict(d_model=512, num_layers=6, num_heads=16, dim_feedforward=2048, dropout=0.1),
            "small": dict(d_model=128, num_layers=4, num_heads=4, dim_feedforward=256, dropout=0.1),
            "tiny": dict(d_model=32, num_layers=2, num_heads=4, dim_feedforward=64, dropout=0.0),
        }

        def backbone(self) -> BackboneConfig:
            return BackboneConfig(self.d_model, self.num_layers, self.num_heads, self.dim_feedforward, self.dropout,
                                  self.max_nodes, self.node_id, self.node_id_dim,
                                  node_slots=self.max_nodes if self.node_latents else 0)

    def __init__(self, config: "TokenGTDecoder.Config"):
        super().__init__(config)
        d = config.d_model
        self.backbone = Backbone(config.backbone())
        self.heads = nn.ModuleDict({
            "kind": nn.Linear(d, len(KIND_CLASSES)),
            "proc_type": nn.Linear(d, len(catalog.NODE_TYPES)),
            "track": nn.Linear(d, NUM_TRACK_CLASSES),
            "src": nn.Linear(d, config.max_nodes),
            "dst": nn.Linear(d, config.max_nodes),
            "outlet": nn.Linear(d, len(catalog.OUTLETS)),
            "inlet": nn.Linear(d, len(catalog.INLETS)),
        })
        types = len(catalog.NODE_TYPES) if config.typed_params else 1
        self.param_head = nn.Linear(d, types * catalog.MAX_PARAMS)
        self.gain_head = nn.Linear(d, 1) if config.estimate_gains else None
        counts = [len(catalog.SPECS[t].params) for t in catalog.NODE_TYPES]
        type_mask = torch.arange(catalog.MAX_PARAMS)[None, :] < torch.tensor([0] + counts)[:, None]
        self.register_buffer("type_param_mask", type_mask, persistent=False)  # (num_types + 1, P); row 0: no type

    # --- training -----------------------------------------------------------------------------------------------
    def head_logits(self, h: Tensor) -> Dict[str, Tensor]:
        """Prototype-head logits from backbone outputs ``[..., D]``; ``kind`` is over the 3 :data:`KIND_CLASSES`."""
        return {name: head(h) for name, head in self.heads.items()}

    def loss(self, latents: Tensor, tokens: Tokens) -> Dict[str, Tensor]:
        """Teacher-forced losses: one cross-entropy per prototype head, the parameter L1, and their sum ``loss``."""
        tokens = tokens.to(latents.device)
        h = self.backbone(latents, tokens, causal=True)[:, :-1]                  # (B, L - 1, D): predicts t + 1
        logits = self.head_logits(h)
        targets = self.targets(tokens)
        losses = {}
        for name, target in targets.items():
            losses[name] = cross_entropy(logits[name], target, self.config.label_smoothing)
        return self.add_param_loss(losses, *self.estimate(latents, tokens), tokens)

    def add_param_loss(self, losses: Dict[str, Tensor], pred: Tensor, gains: Optional[Tensor],
                       tokens: Tokens) -> Dict[str, Tensor]:
        """Adds the L1 loss of predicted normalized parameters ``pred`` ``[B, L, P]`` on node tokens, that of
        the edge gains ``gains`` ``[B, L]`` (``None``: not estimated) on edge tokens, normalized by
        :data:`~graphfx.tokens.GAIN_MAX`, and the total ``loss`` (prototype losses + ``param_weight`` * both)."""
        mask = tokens.param_mask & (tokens.kind == NODE)[..., None]
        losses["params"] = ((pred - tokens.params.to(pred.dtype)).abs()[mask].mean() if mask.any()
                            else pred.sum() * 0.0)
        continuous = losses["params"]
        if gains is not None:
            edges = tokens.kind == EDGE
            target = tokens.gain.to(gains.dtype).clamp(0, GAIN_MAX)
            losses["gains"] = ((gains - target).abs()[edges].mean() / GAIN_MAX if edges.any() else gains.sum() * 0.0)
            continuous = continuous + losses["gains"]
        prototype = sum(v for k, v in losses.items() if k not in ("params", "gains"))
        losses["loss"] = prototype + self.config.param_weight * continuous
        return losses

    @torch.no_grad()
    def predict_next(self, latents: Tensor, tokens: Tokens) -> Tokens:
        """Teacher-forced greedy predictions of tokens ``1 .. L-1`` (for the error rates of Section 4.2).

        A predicted node's id is the one its position implies (node ids count up), so a
        node step is judged on its kind and type, an edge step on its kind, endpoints and ports.
        """
        tokens = tokens.to(latents.device)
        logits = self.head_logits(self.backbone(latents, tokens, causal=True)[:, :-1])
        choice = {name: value.argmax(-1) for name, value in logits.items()}
        kind = torch.tensor(KIND_CLASSES, device=latents.device)[choice["kind"]]
        is_node = kind == NODE
        is_edge = kind == EDGE
        none = torch.full_like(kind, -1)
        implied_id = tokens.src[:, 1:]
        return Tokens(kind=kind, src=torch.where(is_node, implied_id, torch.where(is_edge, choice["src"], none)),
                      dst=torch.where(is_node, implied_id, torch.where(is_edge, choice["dst"], none)),
                      proc_type=torch.where(is_node, choice["proc_type"], none),
                      outlet=torch.where(is_edge, choice["outlet"], none),
                      inlet=torch.where(is_edge, choice["inlet"], none),
                      track=torch.where(is_node, choice["track"] - 1, none),
                      params=tokens.params[:, 1:], param_mask=tokens.param_mask[:, 1:], gain=tokens.gain[:, 1:])

    @torch.no_grad()
    def log_likelihood(self, latents: Tensor, tokens: Tokens) -> Tensor:
        """The model's own score of each prototype, ``[B]``: the teacher-forced sum, over the tokens after
        ``start``, of the log-probability of every field chosen (no label smoothing, no constraint masks)."""
        tokens = tokens.to(latents.device)
        with eval_mode(self):
            logits = self.head_logits(self.backbone(latents, tokens, causal=True)[:, :-1])
        total = latents.new_zeros(latents.shape[0])
        for name, target in self.targets(tokens).items():
            log_p = logits[name].log_softmax(-1).gather(-1, target.clamp(min=0)[..., None]).squeeze(-1)
            total = total + torch.where(target != IGNORE, log_p, torch.zeros_like(log_p)).sum(-1)
        return total

    @staticmethod
    def targets(tokens: Tokens) -> Dict[str, Tensor]:
        """Next-token targets ``[B, L - 1]`` per head (``-100`` where a field does not apply)."""
        nxt = {name: getattr(tokens, name)[:, 1:] for name in Token._fields}
        kind = nxt["kind"]
        is_node, is_edge = kind == NODE, kind == EDGE
        kind_class = torch.full_like(kind, IGNORE)
        for c, k in enumerate(KIND_CLASSES):
            kind_class[kind == k] = c
        ignore = torch.full_like(kind, IGNORE)
        return {
            "kind": kind_class,
            "proc_type": torch.where(is_node, nxt["proc_type"], ignore),
            "track": torch.where(is_node, nxt["track"] + 1, ignore),
            "src": torch.where(is_edge, nxt["src"], ignore),
            "dst": torch.where(is_edge, nxt["dst"], ignore),
            "outlet": torch.where(is_edge, nxt["outlet"], ignore),
            "inlet": torch.where(is_edge, nxt["inlet"], ignore),
        }

    # --- parameter estimation -----------------------------------------------------------------------------------
    def estimate(self, latents: Tensor, tokens: Tokens) -> Tuple[Tensor, Optional[Tensor]]:
        """The parameter stage on the given prototypes, in one pass: normalized parameters ``[B, L, MAX_PARAMS]``
        in [0, 1] (zero at non-node tokens and unused slots) and edge gains ``[B, L]`` (``None`` without
        ``estimate_gains``)."""
        tokens = tokens.to(latents.device)
        h = self.backbone(latents, tokens, causal=False, task_token=True)        # (B, L, D)
        return self.continuous(h, tokens)

    def continuous(self, h: Tensor, tokens: Tokens) -> Tuple[Tensor, Optional[Tensor]]:
        """Parameters and edge gains (see :meth:`estimate`) read from the outputs ``h`` ``[B, L, D]`` of the tokens."""
        raw = self.param_head(h)                                                  # (B, L, types * P)
        if self.config.typed_params:  # each token reads its own type's slots
            raw = raw.unflatten(-1, (-1, catalog.MAX_PARAMS))                     # (B, L, types, P)
            index = tokens.proc_type.clamp(min=0)[..., None, None].expand(-1, -1, 1, raw.shape[-1])
            raw = raw.gather(2, index).squeeze(2)                                 # (B, L, P)
        params = self.mask_params(torch.sigmoid(raw), tokens)
        if self.gain_head is None:
            return params, None
        gains = GAIN_MAX * torch.sigmoid(self.gain_head(h).squeeze(-1))          # (B, L)
        return params, torch.where(tokens.kind == EDGE, gains, torch.ones_like(gains))

    def estimate_params(self, latents: Tensor, tokens: Tokens) -> Tensor:
        """Normalized parameters ``[B, L, MAX_PARAMS]`` in [0, 1]; zero at non-node tokens and unused slots."""
        return self.estimate(latents, tokens)[0]

    def complete(self, latents: Tensor, tokens: Tokens) -> Tokens:
        """The prototypes ``tokens`` with the parameters and edge gains of the parameter stage."""
        params, gains = self.estimate(latents, tokens)
        tokens = tokens.to(latents.device)
        return replace(tokens, params=params.to(tokens.params.dtype) * tokens.param_mask,
                       gain=tokens.gain if gains is None else gains.to(tokens.gain.dtype))

    def mask_params(self, pred: Tensor, tokens: Tokens) -> Tensor:
        """``pred`` ``[B, L, P]`` zeroed at non-node tokens and at the slots that each node's type lacks."""
        node_type = torch.where(tokens.kind == NODE, tokens.proc_type + 1, torch.zeros_like(tokens.proc_type))
        return pred * self.type_param_mask[node_type.clamp(0, len(catalog.NODE_TYPES))]

    # --- generation ----------------------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, latents: Tensor, *, max_tokens: int = 256, constrained: bool = True, sample_rate: int = 44100,
                 task: Optional[str] = None, generator: Optional[torch.Generator] = None,
                 temperature: float = 1.0) -> List[AudioGraph]:
        """Greedy (or sampled) prototype decoding, then parameter estimation; one graph per latent.

        Args:
            latents: ``[B, Q, D]``.
            max_tokens: most tokens per sequence, ``start`` and ``end`` included.
            constrained: mask the logits so that every graph is valid. Without it the
                graphs are built as decoded (``graph.decode_issues`` lists skipped tokens)
                and may be invalid.
            sample_rate: given to the graphs.
            task: ``"singing"``, ``"drums"`` or ``"auto"`` (default: ``config.task``).
            generator: sample each field from the model's distribution (restricted to the allowed
                values when constrained) with this generator, instead of taking the most likely.
            temperature: of the sampling: the distribution is ``softmax(logits / temperature)``; below 1 it
                keeps closer to the most likely decoding.
        """
        rows = self.generate_tokens(latents, max_tokens=max_tokens, constrained=constrained, task=task,
                                    generator=generator, temperature=temperature)
        seqs = [tokens_from_rows(r) for r in rows]
        with eval_mode(self):
            done = self.complete(latents, pad_tokens(seqs)).to("cpu")
        graphs = []
        for b, seq in enumerate(seqs):
            seq.params = done.params[b, :len(seq)].double() * seq.param_mask
            seq.gain = done.gain[b, :len(seq)].double()
            graphs.append(tokens_to_graph(seq, sample_rate))
        return graphs

    @torch.no_grad()
    def generate_tokens(self, latents: Tensor, *, max_tokens: int = 256, constrained: bool = True,
                        task: Optional[str] = None, generator: Optional[torch.Generator] = None,
                        temperature: float = 1.0) -> List[List[Token]]:
        """Greedy (or, with ``generator``, sampled at ``temperature``) autoregressive prototype decoding; per
        latent, the token rows from ``start`` on.

        The backbone runs incrementally (key/value cache); at each step :meth:`choose_next`
        picks the next token of every sequence not ended yet.
        """
        task = task or self.config.task
        seqs = [Decoding(DecodingConstraints(task, max_tokens=max_tokens, max_nodes=self.config.max_nodes))
                for _ in range(latents.shape[0])]
        active = seqs
        with eval_mode(self):
            h, cache = self.backbone.prefill(latents, batch_from_rows([s.rows for s in seqs], latents.device))
            h = h[:, -1]                                                               # (A, D)
            while active and len(active[0].rows) < max_tokens:
                still = []
                for j, (seq, tok) in enumerate(zip(active, self.choose_next(h, active, constrained, generator,
                                                                                  temperature))):
                    if tok is None:
                        continue  # unconstrained, out of node ids: the sequence stops here, without end
                    if constrained:
                        seq.constraints.update(tok, check=False)
                    seq.rows.append(tok)
                    if tok.kind != END:
                        still.append(j)
                if still and len(active[still[0]].rows) < max_tokens:
                    if len(still) < len(active):
                        cache = self.backbone.select(cache, still)
                    h, cache = self.backbone.extend(cache, batch_from_rows([active[j].rows[-1:] for j in still],
                                                                           latents.device))
                    h = h[:, -1]
                    for j, hj in zip(still, h):
                        if active[j].rows[-1].kind == NODE:
                            active[j].nodes.append(hj)
                active = [active[j] for j in still]
        return [s.rows for s in seqs]

    def choose_next(self, h: Tensor, seqs: List[Decoding], constrained: bool,
                    generator: Optional[torch.Generator] = None, temperature: float = 1.0) -> List[Optional[Token]]:
        """The next token of each sequence from the outputs ``h`` ``[A, D]`` of their latest tokens: greedy, or
        sampled with ``generator`` from ``softmax(logits / temperature)``.

        ``None`` ends a sequence without ``end`` (unconstrained decoding out of node ids).
        """
        logits = self.head_logits(h)
        if generator is not None:  # Gumbel-max: the (masked) argmax of perturbed logits is a sample
            logits = {name: value + temperature * gumbel_like(value, generator) for name, value in logits.items()}
        kind = logits["kind"].new_full((len(seqs), len(KINDS)), float("-inf"))
        kind[:, list(KIND_CLASSES)] = logits["kind"]
        logits["kind"] = kind
        logits = {name: value.float().cpu().tolist() for name, value in logits.items()}
        chosen = []
        for j, seq in enumerate(seqs):
            head = {name: value[j] for name, value in logits.items()}
            if constrained:
                chosen.append(seq.constraints.choose(head))
                continue
            tok = choose_unconstrained(head, len(seq.nodes))
            chosen.append(None if tok.kind == NODE and len(seq.nodes) >= self.config.max_nodes else tok)
        return chosen


def gumbel_like(x: Tensor, generator: torch.Generator) -> Tensor:
    """Standard Gumbel noise of ``x``'s shape (float32, on ``x``'s device)."""
    u = torch.rand(x.shape, generator=generator).clamp(1e-9, 1 - 1e-9)
    return (-torch.log(-torch.log(u))).to(x.device, x.dtype)
