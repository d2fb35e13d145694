"""The interface every graph decoder implements.

A graph decoder turns the reference latents ``z`` of "Blind Estimation of
Audio Processing Graph" (Lee et al., ICASSP 2023, Section 3, Fig. 3) into an
:class:`~graphfx.graph.AudioGraph`, in two stages: prototype decoding (types
and connectivity, autoregressive) and parameter estimation (continuous
parameters of the decoded prototype). One small interface covers training
(teacher-forced :meth:`GraphDecoder.loss`) and inference
(:meth:`GraphDecoder.generate`, :meth:`GraphDecoder.estimate_params`), so
every row of the paper's Table 2 can sit on the same encoder and training loop.

A decoder class carries its configuration dataclass as the class attribute
``Config``; ``Config`` may hold a ``PRESETS`` class variable (name -> field
overrides) that :meth:`GraphDecoder.make_config` applies. Register a class
with :func:`graphfx.decoders.registry.register`.
"""
from __future__ import annotations

import abc
import dataclasses
from typing import Any, ClassVar, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from graphfx import catalog
from graphfx.errors import GraphFXError
from graphfx.graph import AudioGraph, Edge, Node, round_param
from graphfx.tokens import EDGE, END, NODE, PAD, Tokens

#: The categorical fields of a token, in this order, as plain ints (-1 = not applicable).
TOKEN_FIELDS: Tuple[str, ...] = ("kind", "src", "dst", "proc_type", "outlet", "inlet", "track")


class GraphDecoder(nn.Module, abc.ABC):
    """Base class of the graph decoders (prototype decoding + parameter estimation).

    Args:
        config: an instance of the subclass's ``Config`` dataclass; it must have a
            ``d_model`` field equal to the encoder's latent width.

    Subclasses implement :meth:`loss`, :meth:`generate` and :meth:`estimate_params`.
    ``forward`` is :meth:`loss`, so that ``DistributedDataParallel`` syncs gradients.
    """

    #: The configuration dataclass of the decoder (set by each subclass).
    Config: ClassVar[type] = None
    #: The registered name (set by :func:`~graphfx.decoders.registry.register`).
    name: ClassVar[Optional[str]] = None

    def __init__(self, config):
        super().__init__()
        if self.Config is not None and not isinstance(config, self.Config):
            raise TypeError(f"{type(self).__name__} needs a {self.Config.__name__}, got {type(config).__name__}")
        self.config = config

    # --- configuration ---------------------------------------------------
    @classmethod
    def make_config(cls, preset: Optional[str] = None, **overrides):
        """Builds a ``Config``: the named preset (``Config.PRESETS``), then ``overrides`` on top.

        Raises :class:`GraphFXError` for an unknown preset or field.
        """
        if cls.Config is None:
            raise GraphFXError(f"decoder {cls.__name__} defines no Config dataclass")
        values: Dict[str, Any] = {}
        if preset is not None:
            presets = getattr(cls.Config, "PRESETS", {}) or {}
            if preset not in presets:
                raise GraphFXError(f"decoder {cls.name or cls.__name__!r} has no preset {preset!r}; "
                                   f"known: {sorted(presets)}")
            values.update(presets[preset])
        values.update(overrides)
        known = {f.name for f in dataclasses.fields(cls.Config)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise GraphFXError(f"unknown config field(s) {unknown} for decoder {cls.name or cls.__name__!r}; "
                               f"fields: {sorted(known)}")
        return cls.Config(**values)

    def config_dict(self) -> Dict[str, Any]:
        """The config as plain data (stored in checkpoints beside :attr:`name`)."""
        return dataclasses.asdict(self.config)

    # --- the interface -----------------------------------------------------
    def forward(self, latents: Tensor, tokens: Tokens) -> Dict[str, Tensor]:
        return self.loss(latents, tokens)

    @abc.abstractmethod
    def loss(self, latents: Tensor, tokens: Tokens) -> Dict[str, Tensor]:
        """Teacher-forced losses of both stages.

        Args:
            latents: ``[B, Q, D]`` reference latents.
            tokens: a padded batch (:func:`graphfx.tokens.pad_tokens`), fields ``[B, L]``.

        Returns:
            ``"loss"`` (the total, to backpropagate) and one scalar per head.
        """

    @abc.abstractmethod
    def generate(self, latents: Tensor, *, max_tokens: int = 256, constrained: bool = True,
                 sample_rate: int = 44100) -> List[AudioGraph]:
        """Decodes one graph per latent: the prototype autoregressively, then its parameters.

        With ``constrained=False`` the decoding is not masked and the result may be
        invalid (it is returned as built, see :func:`build_graph`).
        """

    @abc.abstractmethod
    def estimate_params(self, latents: Tensor, tokens: Tokens) -> Tensor:
        """Normalized parameters ``[B, L, MAX_PARAMS]`` in [0, 1] of the given prototypes."""


# --- helpers shared by decoders -------------------------------------------------------------------------------------

def tokens_from_rows(rows: Sequence[Sequence[int]], params: Optional[Tensor] = None) -> Tokens:
    """Builds one :class:`Tokens` sequence from rows of :data:`TOKEN_FIELDS` ints.

    ``param_mask`` is derived from the node types; ``params`` (``[L, MAX_PARAMS]``)
    defaults to zeros; edge gains are 1.
    """
    length = len(rows)
    cols = list(zip(*rows)) if rows else [()] * len(TOKEN_FIELDS)
    longs = {name: torch.tensor(col, dtype=torch.long) for name, col in zip(TOKEN_FIELDS, cols)}
    mask = torch.zeros(length, catalog.MAX_PARAMS, dtype=torch.bool)
    for t, row in enumerate(rows):
        if row[0] == NODE and 0 <= row[3] < len(catalog.NODE_TYPES):
            mask[t, :len(catalog.SPECS[catalog.NODE_TYPES[row[3]]].params)] = True
    if params is None:
        params = torch.zeros(length, catalog.MAX_PARAMS, dtype=torch.float64)
    return Tokens(**longs, params=params.to(torch.float64) * mask, param_mask=mask,
                  gain=torch.ones(length, dtype=torch.float64))


def build_graph(tokens: Tokens, sample_rate: int = 44100, params: bool = True) -> AudioGraph:
    """Builds the graph a token sequence describes, tolerating malformed sequences.

    A well-formed sequence gives exactly :func:`graphfx.tokens.tokens_to_graph`'s
    graph. Odd tokens (an unknown type, an edge naming a node not decoded yet, a
    port index out of range) are skipped, and the problems are listed in the
    graph's ``decode_issues`` attribute (empty when none). The graph is *not*
    validated: ports that the node type lacks, cycles, repeated ``out`` nodes ...
    are kept, so that ``graph.is_valid()`` measures the invalid rate of
    unconstrained decoding.
    """
    nodes: List[Node] = []
    edges: List[Edge] = []
    issues: List[str] = []
    counts: Dict[str, int] = {}
    ended = False
    for t in range(len(tokens)):
        kind = int(tokens.kind[t])
        if kind == END:
            ended = True
            break
        if kind == PAD:  # batch padding of a sequence cut at max_tokens
            break
        if kind == NODE:
            type_index = int(tokens.proc_type[t])
            if not 0 <= type_index < len(catalog.NODE_TYPES):
                issues.append(f"token {t}: node type index {type_index} out of range")
                continue
            spec = catalog.SPECS[catalog.NODE_TYPES[type_index]]
            counts[spec.name] = counts.get(spec.name, 0) + 1
            node_id = spec.name if spec.terminal else f"{spec.name}_{counts[spec.name]}"
            values = {}
            if params:
                values = {p.name: round_param(float(p.denormalize(min(max(float(tokens.params[t, j]), 0.0), 1.0))))
                          for j, p in enumerate(spec.params)}
            track = int(tokens.track[t])
            nodes.append(Node(node_id, spec.name, values,
                              catalog.TRACKS[track] if 0 <= track < len(catalog.TRACKS) else None))
        elif kind == EDGE:
            src, dst = int(tokens.src[t]), int(tokens.dst[t])
            outlet, inlet = int(tokens.outlet[t]), int(tokens.inlet[t])
            if not (0 <= src < len(nodes) and 0 <= dst < len(nodes)):
                issues.append(f"token {t}: edge {src} -> {dst} names a node not decoded yet")
                continue
            if not (0 <= outlet < len(catalog.OUTLETS) and 0 <= inlet < len(catalog.INLETS)):
                issues.append(f"token {t}: port index out of range")
                continue
            edges.append(Edge(nodes[src].id, nodes[dst].id, catalog.OUTLETS[outlet], catalog.INLETS[inlet],
                              float(tokens.gain[t])))
        elif t > 0:
            issues.append(f"token {t}: unexpected token kind {kind}")
    if not ended:
        issues.append("no end token")
    graph = AudioGraph(nodes, edges, sample_rate)
    graph.decode_issues = issues
    return graph
