"""The rules a valid audio processing graph obeys.

Each rule has a short name carried by :class:`~graphfx.errors.GraphError`:

=================  ==========================================================
``duplicate-id``   two nodes share an id
``unknown-type``   a node type missing from the catalog
``unknown-param``  a parameter the node type does not have
``param-range``    a parameter outside its catalog range (or not finite)
``bad-track``      a ``track`` that is neither a drum source nor ``bus``
``terminal``       not exactly one ``out``, no input terminal, a repeated input
``unknown-node``   an edge naming a node that does not exist
``unknown-port``   an outlet or inlet the node type does not have
``port-kind``      a control outlet wired to an audio inlet, or the reverse
``duplicate-edge`` the same outlet-inlet connection twice (the graph is no multigraph)
``cycle``          the graph is not acyclic
``missing-input``  a required inlet with nothing connected
``unreachable``    a node with no path to ``out``
=================  ==========================================================
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

from graphfx import catalog
from graphfx.errors import GraphError

if TYPE_CHECKING:
    from graphfx.graph import AudioGraph


def check(graph: "AudioGraph") -> None:
    """Raises :class:`GraphError` for the first broken rule, in the order of the table above."""
    _check_nodes(graph)
    _check_edges(graph)
    graph.topological_order()  # raises the ``cycle`` error
    _check_inputs(graph)
    _check_reaches_out(graph)


def _check_nodes(graph):
    seen = set()
    for n in graph.nodes:
        if n.id in seen:
            raise GraphError("duplicate-id", "the id is used by more than one node", n.id)
        seen.add(n.id)
        spec = catalog.SPECS.get(n.type)
        if spec is None:
            raise GraphError("unknown-type", f"unknown processor type {n.type!r}", n.id)
        for name, value in n.params.items():
            if not spec.has_param(name):
                raise GraphError("unknown-param",
                                 f"[{n.type}] has no parameter {name!r} (it has {list(spec.param_names)})", n.id)
            p = spec.param(name)
            if not math.isfinite(value) or not p.contains(value):
                raise GraphError("param-range",
                                 f"{name}={value:g} {p.unit} is outside [{p.min:g}, {p.max:g}]".rstrip(), n.id)
        if n.track is not None and n.track not in catalog.TRACKS:
            raise GraphError("bad-track", f"track {n.track!r} is not one of {list(catalog.TRACKS)}", n.id)
    types = [n.type for n in graph.nodes]
    if types.count("out") != 1:
        raise GraphError("terminal", f"a graph needs exactly one [out] node, found {types.count('out')}")
    inputs = [t for t in types if t in catalog.INPUT_TYPES]
    if not inputs:
        raise GraphError("terminal", "a graph needs an [in] node or drum-source nodes")
    for t in set(inputs):
        if inputs.count(t) > 1:
            raise GraphError("terminal", f"more than one [{t}] node")
    if "in" in inputs and len(inputs) > 1:
        raise GraphError("terminal", "[in] cannot be combined with drum-source inputs")


def _check_edges(graph):
    types = {n.id: n.type for n in graph.nodes}
    seen = set()
    for e in graph.edges:
        for end in (e.src, e.dst):
            if end not in types:
                raise GraphError("unknown-node", f"edge {e.src} -> {e.dst} names a node that does not exist", end)
        src, dst = catalog.get(types[e.src]), catalog.get(types[e.dst])
        if e.outlet not in src.outlets:
            raise GraphError("unknown-port", f"[{src.name}] has no outlet {e.outlet!r} (outlets: {list(src.outlets)})",
                             e.src)
        if e.inlet not in dst.inlets:
            raise GraphError("unknown-port", f"[{dst.name}] has no inlet {e.inlet!r} (inlets: {list(dst.inlets)})",
                             e.dst)
        if (e.outlet in catalog.CONTROL_OUTLETS) != (e.inlet in catalog.CONTROL_INLETS):
            kind = "control" if e.outlet in catalog.CONTROL_OUTLETS else "audio"
            raise GraphError("port-kind", f"{kind} outlet {e.src}.{e.outlet} cannot drive inlet {e.dst}.{e.inlet}",
                             e.dst)
        key = (e.src, e.dst, e.outlet, e.inlet)
        if key in seen:
            raise GraphError("duplicate-edge", f"edge {e.src}.{e.outlet} -> {e.dst}.{e.inlet} appears twice", e.dst)
        seen.add(key)


def _check_inputs(graph):
    connected = {(e.dst, e.inlet) for e in graph.edges}
    for n in graph.nodes:
        for inlet in n.spec.required:
            if (n.id, inlet) not in connected:
                raise GraphError("missing-input", f"required inlet {inlet!r} of [{n.type}] is not connected", n.id)


def _check_reaches_out(graph):
    out_id = next(n.id for n in graph.nodes if n.type == "out")
    parents = {n.id: [] for n in graph.nodes}
    for e in graph.edges:
        parents[e.dst].append(e.src)
    reached, stack = {out_id}, [out_id]
    while stack:
        for p in parents[stack.pop()]:
            if p not in reached:
                reached.add(p)
                stack.append(p)
    for n in graph.nodes:
        if n.id not in reached:
            raise GraphError("unreachable", f"[{n.type}] has no path to [out]", n.id)
