"""Graph <-> token sequence, in the decoding order of TokenGT generation.

Section 3 of Lee et al. (2023): a graph is decoded token by token, nodes and
edges alike (TokenGT, Kim et al. 2022). The sequence starts with a start
token; then come the nodes in breadth-first order from ``out`` (drum graphs:
the mixing-bus subgraph first, then each track's subgraph, in
``kick snare hat tom ride crash`` order, each in BFS order); right after each
node come the edges joining it to nodes already emitted; an end token closes
the sequence. A node token carries its id twice ``(v, v)``, an edge token its
endpoints ``(src, dst)``; ids are positions in the node order.

Fields of a :class:`Tokens` (one entry per token, all ``long`` except the
parameter fields): ``kind`` (:data:`KINDS`), ``src``/``dst`` (node ids, -1 on
start/end), ``proc_type`` (catalog type of a node token, -1 otherwise),
``outlet``/``inlet`` (port indices of an edge token, -1 otherwise),
``track`` (index into ``catalog.TRACKS`` of a node token's drum track, -1 for none),
``params``/``param_mask`` (normalized node parameters, zero-padded) and
``gain`` (edge gain, 1 elsewhere).

A token has two forms: a :class:`Token` row of its categorical fields (plain
ints: what decoding loops and constraints handle) and a position of a
:class:`Tokens` sequence or batch (tensors: what models read).
:func:`tokens_from_rows`, :func:`batch_from_rows` and :func:`tokens_to_rows`
convert between them. Dataset items are tokenized once, by the PyG transform
:class:`graphfx.datasets.Tokenize`.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Dict, List, NamedTuple, Optional, Sequence

import torch
from torch import Tensor

from graphfx import catalog
from graphfx.canonical import bfs_order
from graphfx.graph import AudioGraph, Edge, Node, round_param

#: Edge gains are estimated on [0, GAIN_MAX] (normalized by it): the synthetic gains lie in [0.15, 1],
#: and a sigmoid head starts at the middle, the plain edge's 1.
GAIN_MAX = 2.0
#: Token kinds; 0 is padding so that batches can be padded with zeros.
KINDS = ("pad", "start", "node", "edge", "end")
PAD, START, NODE, EDGE, END = range(len(KINDS))


class Token(NamedTuple):
    """The categorical fields of one token (``-1`` where a field does not apply).

    ``Token._fields`` names them, in the order of a row.
    """

    kind: int
    src: int = -1
    dst: int = -1
    proc_type: int = -1
    outlet: int = -1
    inlet: int = -1
    track: int = -1


@dataclass
class Tokens:
    """A tokenized graph; every field has the sequence length as first dimension."""

    kind: Tensor
    src: Tensor
    dst: Tensor
    proc_type: Tensor
    outlet: Tensor
    inlet: Tensor
    track: Tensor
    params: Tensor
    param_mask: Tensor
    gain: Tensor

    def __len__(self) -> int:
        return self.kind.numel()

    def __eq__(self, other) -> bool:
        return isinstance(other, Tokens) and all(
            torch.equal(getattr(self, f.name), getattr(other, f.name)) for f in fields(self))

    def as_dict(self) -> Dict[str, Tensor]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def to(self, device) -> "Tokens":
        """The same tokens with every field on ``device``."""
        return Tokens(**{name: value.to(device) for name, value in self.as_dict().items()})


def decoding_order(graph: AudioGraph) -> List[str]:
    """Node ids in decoding order: BFS from ``out``; drum graphs grouped bus first, then by track."""
    order = bfs_order(graph)
    if not graph.is_drum_graph():
        return order

    def group(node_id: str) -> int:
        node = graph.node(node_id)
        track = node.type if node.type in catalog.DRUM_SOURCES else node.track
        return 1 + catalog.DRUM_SOURCES.index(track) if track in catalog.DRUM_SOURCES else 0

    return sorted(order, key=group)  # stable: BFS order inside each group


def graph_to_tokens(graph: AudioGraph, *, validate: bool = True) -> Tokens:
    """Tokenizes a valid graph.

    Args:
        graph: the graph.
        validate: check the graph first; ``False`` for a graph already checked.
    """
    if validate:
        graph.validate()
    order = decoding_order(graph)
    position = {node_id: i for i, node_id in enumerate(order)}
    length = len(order) + len(graph.edges) + 2  # every edge follows its later endpoint, once
    params = torch.zeros(length, catalog.MAX_PARAMS, dtype=torch.float64)
    gains = torch.ones(length, dtype=torch.float64)
    rows = [Token(START)]
    for i, node_id in enumerate(order):
        node = graph.node(node_id)
        values = [p.normalize(node.params[p.name]) for p in node.spec.params]
        params[len(rows), :len(values)] = torch.tensor(values, dtype=torch.float64)
        track = catalog.TRACKS.index(node.track) if node.track else -1
        rows.append(Token(NODE, i, i, catalog.TYPE_INDEX[node.type], track=track))
        joined = [e for e in graph.edges if {e.src, e.dst} <= set(order[:i + 1]) and node_id in (e.src, e.dst)]
        joined.sort(key=lambda e: (position[e.src] if e.dst == node_id else position[e.dst],
                                   catalog.OUTLET_INDEX[e.outlet], catalog.INLET_INDEX[e.inlet]))
        for e in joined:
            gains[len(rows)] = e.gain
            rows.append(Token(EDGE, position[e.src], position[e.dst], outlet=catalog.OUTLET_INDEX[e.outlet],
                              inlet=catalog.INLET_INDEX[e.inlet]))
    rows.append(Token(END))
    return tokens_from_rows(rows, params, gains)


def tokens_to_graph(tokens: Tokens, sample_rate: int = 44100, params: bool = True) -> AudioGraph:
    """Builds the graph a token sequence describes, up to ``end`` (padding ends it too).

    Node ids are derived from types: terminals keep their type (``in``,
    ``out``, ``kick`` ...), processors become ``{type}_{k}``. With
    ``params=False`` the parameters are left at their defaults (a prototype).

    A decoded sequence may be malformed. Odd tokens (an unknown type, an edge
    naming a node not decoded yet, a port index out of range) are skipped,
    parameters are clipped to [0, 1], and the problems are listed in the
    graph's ``decode_issues`` attribute (empty for a well-formed sequence).
    The graph is *not* validated: ports that the node type lacks, cycles,
    repeated ``out`` nodes ... are kept, so that ``graph.is_valid()`` measures
    the invalid rate of unconstrained decoding.
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


# --- rows <-> tensors -------------------------------------------------------------------------------------------------

def tokens_from_rows(rows: Sequence[Sequence[int]], params: Optional[Tensor] = None,
                     gains: Optional[Tensor] = None) -> Tokens:
    """One :class:`Tokens` sequence from :class:`Token` rows (or tuples of the same fields).

    Args:
        rows: the ``L`` tokens.
        params: normalized parameters ``[L, MAX_PARAMS]`` (default zeros); slots the node type lacks are zeroed.
        gains: edge gains ``[L]`` (default ones).

    ``param_mask`` is derived from the node types.
    """
    length = len(rows)
    cols = list(zip(*rows)) if rows else [()] * len(Token._fields)
    longs = {name: torch.tensor(col, dtype=torch.long) for name, col in zip(Token._fields, cols)}
    mask = torch.zeros(length, catalog.MAX_PARAMS, dtype=torch.bool)
    for t, row in enumerate(rows):
        if row[0] == NODE and 0 <= row[3] < len(catalog.NODE_TYPES):
            mask[t, :len(catalog.SPECS[catalog.NODE_TYPES[row[3]]].params)] = True
    if params is None:
        params = torch.zeros(length, catalog.MAX_PARAMS, dtype=torch.float64)
    if gains is None:
        gains = torch.ones(length, dtype=torch.float64)
    return Tokens(**longs, params=params.to(torch.float64) * mask, param_mask=mask, gain=gains)


def batch_from_rows(rows: Sequence[Sequence[Token]], device=None) -> Tokens:
    """Equal-length sequences of :class:`Token` rows -> a batch ``[A, t]`` of their categorical fields.

    Parameters are zero and gains one: what a decoder reads while it generates, built as one tensor.
    """
    x = torch.tensor(rows, dtype=torch.long, device=device)                     # (A, t, 7)
    A, t = x.shape[:2]
    return Tokens(**{name: x[..., k] for k, name in enumerate(Token._fields)},
                  params=torch.zeros(A, t, catalog.MAX_PARAMS, device=device),
                  param_mask=torch.zeros(A, t, catalog.MAX_PARAMS, dtype=torch.bool, device=device),
                  gain=torch.ones(A, t, device=device))


def tokens_to_rows(tokens: Tokens) -> List[Token]:
    """The :class:`Token` rows of one sequence, up to and including ``end`` (padding dropped)."""
    out = []
    for row in zip(*(getattr(tokens, f).tolist() for f in Token._fields)):
        tok = Token(*row)
        if tok.kind == PAD:
            break
        out.append(tok)
        if tok.kind == END:
            break
    return out


def pad_tokens(sequences: List[Tokens]) -> Tokens:
    """Stacks sequences into a batch ``[B, L]`` (``[B, L, P]`` for parameters), padding with ``pad`` tokens."""
    length = max(len(s) for s in sequences)
    out = {}
    for name in Tokens.__dataclass_fields__:
        rows = []
        for s in sequences:
            value = getattr(s, name)
            fill = 0 if name in ("kind", "params", "param_mask") else (1 if name == "gain" else -1)
            pad = value.new_full((length - len(s),) + tuple(value.shape[1:]), fill)
            rows.append(torch.cat([value, pad]))
        out[name] = torch.stack(rows)
    return Tokens(**out)
