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
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Dict, List

import torch
from torch import Tensor

from graphfx import catalog
from graphfx.canonical import bfs_order
from graphfx.graph import AudioGraph, Edge, Node, round_param

#: Token kinds; 0 is padding so that batches can be padded with zeros.
KINDS = ("pad", "start", "node", "edge", "end")
PAD, START, NODE, EDGE, END = range(len(KINDS))


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


def graph_to_tokens(graph: AudioGraph) -> Tokens:
    """Tokenizes a valid graph."""
    graph.validate()
    order = decoding_order(graph)
    position = {node_id: i for i, node_id in enumerate(order)}
    rows = [_row(START)]
    for i, node_id in enumerate(order):
        node = graph.node(node_id)
        params = [p.normalize(node.params[p.name]) for p in node.spec.params]
        track = catalog.TRACKS.index(node.track) if node.track else -1
        rows.append(_row(NODE, i, i, catalog.TYPE_INDEX[node.type], track=track, params=params))
        joined = [e for e in graph.edges if {e.src, e.dst} <= set(order[:i + 1]) and node_id in (e.src, e.dst)]
        joined.sort(key=lambda e: (position[e.src] if e.dst == node_id else position[e.dst],
                                   catalog.OUTLET_INDEX[e.outlet], catalog.INLET_INDEX[e.inlet]))
        for e in joined:
            rows.append(_row(EDGE, position[e.src], position[e.dst], outlet=catalog.OUTLET_INDEX[e.outlet],
                             inlet=catalog.INLET_INDEX[e.inlet], gain=e.gain))
    rows.append(_row(END))
    return _stack(rows)


def tokens_to_graph(tokens: Tokens, sample_rate: int = 44100, params: bool = True) -> AudioGraph:
    """Builds the graph a token sequence describes (padding and anything after ``end`` ignored).

    Node ids are derived from types: terminals keep their type (``in``,
    ``out``, ``kick`` ...), processors become ``{type}_{k}``. With
    ``params=False`` the parameters are left at their defaults (a prototype).
    """
    nodes: List[Node] = []
    edges: List[Edge] = []
    counts: Dict[str, int] = {}
    for t in range(len(tokens)):
        kind = int(tokens.kind[t])
        if kind == END:
            break
        if kind == NODE:
            spec = catalog.SPECS[catalog.NODE_TYPES[int(tokens.proc_type[t])]]
            counts[spec.name] = counts.get(spec.name, 0) + 1
            node_id = spec.name if spec.terminal else f"{spec.name}_{counts[spec.name]}"
            values = {p.name: round_param(float(p.denormalize(float(tokens.params[t, j]))))
                      for j, p in enumerate(spec.params)} if params else {}
            track = int(tokens.track[t])
            nodes.append(Node(node_id, spec.name, values, catalog.TRACKS[track] if track >= 0 else None))
        elif kind == EDGE:
            edges.append(Edge(nodes[int(tokens.src[t])].id, nodes[int(tokens.dst[t])].id,
                              catalog.OUTLETS[int(tokens.outlet[t])], catalog.INLETS[int(tokens.inlet[t])],
                              float(tokens.gain[t])))
    return AudioGraph(nodes, edges, sample_rate)


def _row(kind, src=-1, dst=-1, proc_type=-1, outlet=-1, inlet=-1, track=-1, params=(), gain=1.0) -> dict:
    values = torch.zeros(catalog.MAX_PARAMS, dtype=torch.float64)
    mask = torch.zeros(catalog.MAX_PARAMS, dtype=torch.bool)
    values[:len(params)] = torch.tensor(params, dtype=torch.float64)
    mask[:len(params)] = True
    return dict(kind=kind, src=src, dst=dst, proc_type=proc_type, outlet=outlet, inlet=inlet, track=track,
                params=values, param_mask=mask, gain=gain)


def _stack(rows: List[dict]) -> Tokens:
    longs = {k: torch.tensor([r[k] for r in rows], dtype=torch.long)
             for k in ("kind", "src", "dst", "proc_type", "outlet", "inlet", "track")}
    return Tokens(**longs, params=torch.stack([r["params"] for r in rows]),
                  param_mask=torch.stack([r["param_mask"] for r in rows]),
                  gain=torch.tensor([r["gain"] for r in rows], dtype=torch.float64))


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
