"""Canonical forms of an audio processing graph: LTI reordering and BFS order.

Many graphs render the same audio, which makes blind estimation one-to-many.
Following Section 2.1 and Fig. 2b of "Blind Estimation of Audio Processing
Graph" (Lee et al., 2023), serially connected single-input single-output LTI
systems, single nodes or whole subgraphs, commute, so they are sorted by size
and processor type (:func:`lti_reorder`). Decoding then visits nodes in
breadth-first order from ``out`` (:func:`bfs_order`), with ties broken by
port and by the structure upstream, never by node ids.

A *block* is either one LTI node (catalog flag ``lti``, no control inlet
connected, one input edge, one output edge) or a single-entry single-exit LTI
subgraph: an LTI node that fans out (e.g. a ``crossover``) together with
everything up to its immediate post-dominator, which must be a ``mix``, with
no edge entering or leaving the region elsewhere. Blocks joined output to
input form a chain; each chain is sorted, innermost chains first.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Dict, FrozenSet, List, Optional

from graphfx import catalog
from graphfx.graph import AudioGraph, Edge, Node


@dataclass(frozen=True)
class _Block:
    entry: str
    exit: str
    nodes: FrozenSet[str]


def lti_reorder(graph: AudioGraph) -> AudioGraph:
    """Returns a copy of the graph whose serial LTI blocks are in canonical order.

    Edge gains stay at their positions in a chain (only their product matters
    for an LTI chain); parameters travel with their nodes.
    """
    graph = graph.copy().validate()
    for _ in range(len(graph.nodes) + 1):  # inner chains settle before the outer ones
        if not _sort_chains(graph):
            return graph
    return graph


def bfs_order(graph: AudioGraph) -> List[str]:
    """Node ids in breadth-first order from ``out`` along reversed edges.

    Predecessors are visited by inlet, then outlet (catalog port order), then
    by a hash of their upstream structure, so the order does not depend on ids.
    Nodes that cannot reach ``out`` are left out.
    """
    signature = _upstream_signatures(graph)
    out_id = next(n.id for n in graph.nodes if n.type == "out")
    order, seen, queue = [], {out_id}, [out_id]
    while queue:
        node_id = queue.pop(0)
        order.append(node_id)
        edges = sorted(graph.in_edges(node_id), key=lambda e: (
            catalog.INLET_INDEX[e.inlet], catalog.OUTLET_INDEX[e.outlet], signature[e.src], e.src))
        for e in edges:
            if e.src not in seen:
                seen.add(e.src)
                queue.append(e.src)
    return order


def canonical_form(graph: AudioGraph) -> AudioGraph:
    """LTI-reordered graph with nodes in BFS order and ids renamed from that order.

    Terminals keep their type as id (``in``, ``out``, ``kick`` ...); processors
    become ``{type}_{k}``. Two graphs that differ only by LTI order, node ids,
    or the order of their node and edge lists get equal canonical forms.
    """
    graph = lti_reorder(graph)
    order = bfs_order(graph)
    rename, counts = {}, {}
    for node_id in order:
        node = graph.node(node_id)
        if node.spec.terminal:
            rename[node_id] = node.type
        else:
            counts[node.type] = counts.get(node.type, 0) + 1
            rename[node_id] = f"{node.type}_{counts[node.type]}"
    position = {node_id: i for i, node_id in enumerate(order)}
    nodes = [Node(rename[i], graph.node(i).type, dict(graph.node(i).params), graph.node(i).track) for i in order]
    edges = sorted(graph.edges, key=lambda e: (position[e.dst], catalog.INLET_INDEX[e.inlet],
                                               position[e.src], catalog.OUTLET_INDEX[e.outlet]))
    edges = [Edge(rename[e.src], rename[e.dst], e.outlet, e.inlet, e.gain) for e in edges]
    return AudioGraph(nodes, edges, graph.sample_rate)


# --- blocks and chains -----------------------------------------------------
def _is_lti(graph: AudioGraph, node_id: str) -> bool:
    node = graph.node(node_id)
    return node.spec.lti or node.type == "mix" and all(e.inlet == "in" for e in graph.in_edges(node_id))


def _reorderable(graph: AudioGraph, node_id: str) -> bool:
    """An LTI node with exactly one input edge, on its ``in`` inlet (no modulation)."""
    ins = graph.in_edges(node_id)
    return graph.node(node_id).spec.lti and len(ins) == 1 and ins[0].inlet == "in"


def _block_at(graph: AudioGraph, node_id: str, ipdom: Dict[str, Optional[str]]) -> Optional[_Block]:
    if not _reorderable(graph, node_id):
        return None
    outs = graph.out_edges(node_id)
    if len(outs) == 1:
        return _Block(node_id, node_id, frozenset([node_id])) if outs[0].outlet == "out" else None
    exit_id = ipdom.get(node_id)
    if exit_id is None or graph.node(exit_id).type != "mix" or len(graph.out_edges(exit_id)) != 1:
        return None
    region = _between(graph, node_id, exit_id)
    for member in region:
        if not _is_lti(graph, member):
            return None
        if member != exit_id and any(e.dst not in region for e in graph.out_edges(member)):
            return None
        if member != node_id and any(e.src not in region or e.inlet != "in" for e in graph.in_edges(member)):
            return None
    return _Block(node_id, exit_id, frozenset(region))


def _between(graph: AudioGraph, entry: str, exit_id: str) -> set:
    down, stack = {entry}, [entry]
    while stack:
        for e in graph.out_edges(stack.pop()):
            if e.dst not in down and e.dst != exit_id:
                down.add(e.dst)
                stack.append(e.dst)
    return down | {exit_id}


def _immediate_post_dominators(graph: AudioGraph) -> Dict[str, Optional[str]]:
    """For each node, the nearest node that every path from it to ``out`` passes through."""
    order = graph.topological_order()
    pdom: Dict[str, FrozenSet[str]] = {}
    for node_id in reversed(order):
        children = {e.dst for e in graph.out_edges(node_id)}
        common = frozenset.intersection(*(pdom[c] for c in children)) if children else frozenset()
        pdom[node_id] = common | {node_id}
    position = {n: i for i, n in enumerate(order)}
    return {n: min(pdom[n] - {n}, key=position.get, default=None) for n in order}


def _block_key(graph: AudioGraph, block: _Block):
    """Sort key: size, then the entry's catalog type, then the block's inner structure."""
    signature: Dict[str, str] = {}
    for node_id in graph.topological_order():
        if node_id in block.nodes:
            parts = sorted(f"{e.inlet}<{e.outlet}:{signature.get(e.src, '')}" for e in graph.in_edges(node_id))
            signature[node_id] = _hash(f"{graph.node(node_id).type}({','.join(parts)})")
    entry_type = catalog.TYPE_INDEX[graph.node(block.entry).type]
    return len(block.nodes), entry_type, signature[block.exit]


def _sort_chains(graph: AudioGraph) -> bool:
    """Sorts every chain of blocks once; returns whether anything moved."""
    ipdom = _immediate_post_dominators(graph)
    blocks = {b.entry: b for b in (_block_at(graph, n.id, ipdom) for n in graph.nodes) if b is not None}
    following: Dict[str, _Block] = {}
    for block in blocks.values():
        (edge,) = graph.out_edges(block.exit)
        nxt = blocks.get(edge.dst)
        if nxt is not None:
            following[block.entry] = nxt
    preceded = {b.entry for b in following.values()}
    changed = False
    for start in [b for entry, b in blocks.items() if entry not in preceded]:
        chain = [start]
        while chain[-1].entry in following:
            chain.append(following[chain[-1].entry])
        if len(chain) > 1:
            ordered = sorted(chain, key=lambda b: _block_key(graph, b))
            if ordered != chain:
                _rewire(graph, chain, ordered)
                changed = True
    return changed


def _rewire(graph: AudioGraph, chain: List[_Block], ordered: List[_Block]) -> None:
    links = [graph.in_edges(chain[0].entry)[0]] + [graph.out_edges(b.exit)[0] for b in chain]
    slots = [graph.edges.index(e) for e in links]
    first, last = links[0], links[-1]
    new = [Edge(first.src, ordered[0].entry, first.outlet, "in", first.gain)]
    new += [Edge(a.exit, b.entry, "out", "in", link.gain) for a, b, link in zip(ordered, ordered[1:], links[1:])]
    new.append(Edge(ordered[-1].exit, last.dst, "out", last.inlet, last.gain))
    for slot, edge in zip(slots, new):
        graph.edges[slot] = edge


def _upstream_signatures(graph: AudioGraph) -> Dict[str, str]:
    """A hash of each node's type and everything upstream of it, with ports."""
    signature: Dict[str, str] = {}
    for node_id in graph.topological_order():
        parts = sorted(f"{e.inlet}<{e.outlet}:{signature[e.src]}" for e in graph.in_edges(node_id))
        signature[node_id] = _hash(f"{graph.node(node_id).type}({','.join(parts)})")
    return signature


def _hash(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:16]
