"""Ghost nodes: processors whose removal does not change the output audibly.

Adaptive parameter randomization exists to avoid them. :func:`ghost_report`
bypasses each processor in turn, renders, and compares with the full render
by :func:`graphfx.losses.band_difference_db` (the largest loudness-weighted
level change in any audible third-octave band); a node whose bypass changes
the output by at most ``threshold_db`` is a ghost.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List

import torch

from graphfx import catalog
from graphfx.graph import AudioGraph, Edge, Node
from graphfx.losses import band_difference_db
from graphfx.renderer import render

#: Nodes whose bypass is not a meaningful question (pure routing).
NOT_BYPASSABLE = {"mix", "ms_split", "ms_merge", "crossover"}


def bypass(graph: AudioGraph, node_id: str) -> AudioGraph:
    """The graph with one node replaced by a wire (a control source: removed).

    Each edge into the node's ``in`` inlet is joined to each edge out of its
    ``out`` outlet, gains multiplied; parallel edges that result are merged
    by adding their gains. Control sources left driving nothing are removed.
    """
    node = graph.node(node_id)
    kept = [e for e in graph.edges if node_id not in (e.src, e.dst)]
    if "out" in node.spec.outlets:
        for e_in in graph.in_edges(node_id):
            if e_in.inlet != "in":
                continue
            for e_out in graph.out_edges(node_id):
                kept.append(Edge(e_in.src, e_out.dst, e_in.outlet, e_out.inlet, e_in.gain * e_out.gain))
    merged: Dict[tuple, Edge] = {}
    for e in kept:
        key = (e.src, e.dst, e.outlet, e.inlet)
        prev = merged.get(key)
        merged[key] = e if prev is None else Edge(*key, gain=prev.gain + e.gain)
    edges = list(merged.values())
    nodes = [n for n in graph.nodes if n.id != node_id]
    while True:  # drop control sources (and their inputs' branches) that drive nothing
        drivers = {e.src for e in edges}
        idle = {n.id for n in nodes if n.spec.outlets and all(o in catalog.CONTROL_OUTLETS for o in n.spec.outlets)
                and n.id not in drivers}
        if not idle:
            break
        nodes = [n for n in nodes if n.id not in idle]
        edges = [e for e in edges if e.dst not in idle]
    return AudioGraph([Node(n.id, n.type, dict(n.params), n.track) for n in nodes], edges, graph.sample_rate)


@dataclass
class GhostReport:
    """Per-node audibility of a set of graphs."""

    differences_db: List[float]
    types: List[str]
    threshold_db: float
    places: List[str]  # "track" (a drum track's subgraph), "bus" (the mixing bus) or "graph"
    nodes: List[tuple] = None  # (graph index, node id) of each measured processor

    def ghosts(self) -> List[tuple]:
        """``(graph index, node id, type, difference in dB)`` of every ghost."""
        return [(g, node, t, d) for (g, node), t, d in zip(self.nodes or [], self.types, self.differences_db)
                if d <= self.threshold_db]

    @property
    def ghost_rate(self) -> float:
        ghosts = sum(d <= self.threshold_db for d in self.differences_db)
        return ghosts / max(1, len(self.differences_db))

    def by_type(self) -> Dict[str, float]:
        return self._rates(self.types)

    def by_place(self) -> Dict[str, float]:
        return self._rates(self.places)

    def _rates(self, keys: List[str]) -> Dict[str, float]:
        rates: Dict[str, List[bool]] = {}
        for d, key in zip(self.differences_db, keys):
            rates.setdefault(key, []).append(d <= self.threshold_db)
        return {key: sum(v) / len(v) for key, v in sorted(rates.items())}


def ghost_report(graphs: List[AudioGraph], sources: List[Dict[str, torch.Tensor]], sample_rate: int,
                 threshold_db: float = 1.0) -> GhostReport:
    """Bypasses every processor of every graph and measures the audible change.

    Args:
        graphs: graphs with their parameters set.
        sources: for each graph, its dry tracks (``{"in": [C, T]}`` or drum tracks).
        sample_rate: rendering rate.
        threshold_db: a change of at most this many dB makes a node a ghost.
    """
    differences, types, places, nodes = [], [], [], []
    for index, (graph, tracks) in enumerate(zip(graphs, sources)):
        audio = {k: v[None] for k, v in tracks.items()}
        candidates = [n for n in graph.nodes if not n.spec.terminal and n.type not in NOT_BYPASSABLE]
        pairs = [(n, bypass(graph, n.id)) for n in candidates]
        pairs = [(n, g) for n, g in pairs if g.is_valid()]  # e.g. a node that only fed an envelope
        if not pairs:
            continue
        variants, bypassed = zip(*pairs)
        full = render(graph, audio, sample_rate=sample_rate)
        batch_audio = {k: v.expand(len(bypassed), -1, -1) for k, v in audio.items()}
        rendered = render(bypassed, batch_audio, sample_rate=sample_rate)
        diff = band_difference_db(full.expand_as(rendered), rendered, sample_rate)
        differences += diff.tolist()
        types += [n.type for n in variants]
        places += [_place(n.track) for n in variants]
        nodes += [(index, n.id) for n in variants]
    return GhostReport(differences, types, threshold_db, places, nodes)


def _place(track) -> str:
    return "graph" if track is None else "bus" if track == "bus" else "track"
