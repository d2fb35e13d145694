"""AudioGraph: a heterogeneous DAG of processors and the connections between them.

The graph of "Blind Estimation of Audio Processing Graph" (Lee et al., 2023),
Section 2: every node has a categorical type and continuous parameters; every
edge joins an outlet of one node to an inlet of another and carries a gain.
Signals arriving on one inlet are summed.

Three lossless forms are supported:

* the ``graphfx.graph`` JSON file (:meth:`AudioGraph.from_json`, :meth:`AudioGraph.to_json`);
* a PyG :class:`~torch_geometric.data.HeteroData` (:meth:`AudioGraph.to_hetero`),
  the tensor form used for batching and learning;
* a networkx :class:`~networkx.MultiDiGraph` (:meth:`AudioGraph.to_networkx`).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional

from graphfx import catalog
from graphfx.errors import GraphError
from graphfx.files import write_text_atomic

FORMAT = "graphfx.graph"
VERSION = 1
#: Significant digits kept when parameters come back from normalized tensors.
PARAM_DIGITS = 12


@dataclass
class Node:
    """A processor or terminal: its id, type, parameters (plain units) and drum track."""

    id: str
    type: str
    params: Dict[str, float] = field(default_factory=dict)
    track: Optional[str] = None

    def __post_init__(self):
        spec = catalog.SPECS.get(self.type)
        if spec is not None:  # unknown types are kept as given and reported by validate()
            self.params = {**spec.defaults(), **self.params}

    @property
    def spec(self) -> catalog.ProcessorSpec:
        return catalog.get(self.type)


@dataclass(frozen=True)
class Edge:
    """A connection from ``src``'s ``outlet`` to ``dst``'s ``inlet`` with a linear ``gain``."""

    src: str
    dst: str
    outlet: str = "out"
    inlet: str = "in"
    gain: float = 1.0


class AudioGraph:
    """An audio processing graph.

    Args:
        nodes: the nodes; ids must be unique.
        edges: the connections.
        sample_rate: sample rate the parameters were chosen for.
    """

    def __init__(self, nodes: Iterable[Node] = (), edges: Iterable[Edge] = (), sample_rate: int = 44100):
        self.nodes: List[Node] = list(nodes)
        self.edges: List[Edge] = list(edges)
        self.sample_rate = sample_rate

    # --- access ---------------------------------------------------------
    def node(self, node_id: str) -> Node:
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(node_id)

    @property
    def node_ids(self) -> List[str]:
        return [n.id for n in self.nodes]

    def in_edges(self, node_id: str) -> List[Edge]:
        return [e for e in self.edges if e.dst == node_id]

    def out_edges(self, node_id: str) -> List[Edge]:
        return [e for e in self.edges if e.src == node_id]

    def is_drum_graph(self) -> bool:
        return any(n.type in catalog.DRUM_SOURCES for n in self.nodes)

    def copy(self) -> "AudioGraph":
        nodes = [Node(n.id, n.type, dict(n.params), n.track) for n in self.nodes]
        return AudioGraph(nodes, list(self.edges), self.sample_rate)

    def __eq__(self, other) -> bool:
        return (isinstance(other, AudioGraph) and self.sample_rate == other.sample_rate
                and self.nodes == other.nodes and self.edges == other.edges)

    def __repr__(self) -> str:
        return f"AudioGraph(nodes={len(self.nodes)}, edges={len(self.edges)}, sample_rate={self.sample_rate})"

    def topological_order(self) -> List[str]:
        """Node ids in an order where every edge goes forward; stable w.r.t. the node list.

        Raises :class:`GraphError` (rule ``cycle``) if the graph has a cycle.
        """
        indegree = {n.id: 0 for n in self.nodes}
        for e in self.edges:
            indegree[e.dst] += 1
        children: Dict[str, List[str]] = {n.id: [] for n in self.nodes}
        for e in self.edges:
            children[e.src].append(e.dst)
        ready = [n.id for n in self.nodes if indegree[n.id] == 0]
        order = []
        while ready:
            node_id = ready.pop(0)
            order.append(node_id)
            for child in children[node_id]:
                indegree[child] -= 1
                if indegree[child] == 0:
                    ready.append(child)
        if len(order) < len(self.nodes):
            stuck = next(n.id for n in self.nodes if indegree[n.id] > 0)
            raise GraphError("cycle", "is part of a cycle", stuck)
        return order

    # --- validation -----------------------------------------------------
    def validate(self) -> "AudioGraph":
        """Checks every rule; raises :class:`GraphError` naming the rule and the node.

        Returns the graph itself so calls can be chained.
        """
        from graphfx.validation import check

        check(self)
        return self

    def is_valid(self) -> bool:
        try:
            self.validate()
        except GraphError:
            return False
        return True

    # --- JSON -----------------------------------------------------------
    @classmethod
    def from_dict(cls, obj: dict) -> "AudioGraph":
        """Builds a graph from the parsed ``graphfx.graph`` JSON object (structure checked here)."""
        if not isinstance(obj, dict):
            raise GraphError("format", "a graph file must hold a JSON object")
        if obj.get("format", FORMAT) != FORMAT:
            raise GraphError("format", f"format is {obj.get('format')!r}, expected {FORMAT!r}")
        if obj.get("version", VERSION) != VERSION:
            raise GraphError("format", f"unsupported version {obj.get('version')!r} (this graphfx reads {VERSION})")
        sample_rate = obj.get("sample_rate", 44100)
        if not isinstance(sample_rate, int) or isinstance(sample_rate, bool) or sample_rate <= 0:
            raise GraphError("format", f"sample_rate must be a positive integer, got {sample_rate!r}")
        nodes = [_node_from_dict(n, i) for i, n in enumerate(_list_field(obj, "nodes"))]
        edges = [_edge_from_dict(e, i) for i, e in enumerate(_list_field(obj, "edges"))]
        return cls(nodes, edges, sample_rate)

    @classmethod
    def from_json(cls, text: str) -> "AudioGraph":
        """Parses a ``graphfx.graph`` JSON document."""
        try:
            obj = json.loads(text)
        except (json.JSONDecodeError, TypeError) as err:
            raise GraphError("format", f"malformed JSON: {err}") from None
        return cls.from_dict(obj)

    @classmethod
    def load(cls, path: str) -> "AudioGraph":
        """Reads a graph file."""
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError) as err:
            raise GraphError("format", f"cannot read {path}: {err}") from None
        return cls.from_json(text)

    def to_dict(self) -> dict:
        nodes = []
        for n in self.nodes:
            d = {"id": n.id, "type": n.type}
            if n.params:
                d["params"] = dict(n.params)
            if n.track is not None:
                d["track"] = n.track
            nodes.append(d)
        edges = []
        for e in self.edges:
            d = {"src": e.src, "dst": e.dst}
            if e.outlet != "out":
                d["outlet"] = e.outlet
            if e.inlet != "in":
                d["inlet"] = e.inlet
            if e.gain != 1.0:
                d["gain"] = e.gain
            edges.append(d)
        return {"format": FORMAT, "version": VERSION, "sample_rate": self.sample_rate,
                "nodes": nodes, "edges": edges}

    def to_json(self, indent: Optional[int] = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def save(self, path: str) -> None:
        """Writes the JSON file atomically (a crash never leaves half a file)."""
        write_text_atomic(path, self.to_json() + "\n")

    # --- PyG ------------------------------------------------------------
    def to_hetero(self):
        """The graph as a PyG ``HeteroData`` (layout: :func:`graph_to_hetero`)."""
        return graph_to_hetero(self)

    @classmethod
    def from_hetero(cls, data) -> "AudioGraph":
        """Inverse of :meth:`to_hetero` (one graph, not a batch)."""
        return hetero_to_graph(data)

    # --- networkx -------------------------------------------------------
    def to_networkx(self):
        """A ``networkx.MultiDiGraph``: node attributes ``type``, ``params``, ``track``;
        edge attributes ``outlet``, ``inlet``, ``gain``; graph attribute ``sample_rate``.
        Edge keys are positions in :attr:`edges`, so the edge order survives a round trip."""
        import networkx as nx

        g = nx.MultiDiGraph(sample_rate=self.sample_rate)
        for n in self.nodes:
            g.add_node(n.id, type=n.type, params=dict(n.params), track=n.track)
        for i, e in enumerate(self.edges):
            g.add_edge(e.src, e.dst, key=i, outlet=e.outlet, inlet=e.inlet, gain=e.gain)
        return g

    @classmethod
    def from_networkx(cls, g) -> "AudioGraph":
        nodes = [Node(str(i), a["type"], dict(a.get("params") or {}), a.get("track"))
                 for i, a in g.nodes(data=True)]
        ordered = sorted(g.edges(keys=True, data=True), key=lambda e: e[2] if isinstance(e[2], int) else 0)
        edges = [Edge(str(u), str(v), a.get("outlet", "out"), a.get("inlet", "in"), float(a.get("gain", 1.0)))
                 for u, v, _, a in ordered]
        return cls(nodes, edges, g.graph.get("sample_rate", 44100))


def round_param(value: float) -> float:
    """Rounds to :data:`PARAM_DIGITS` significant digits (undoes normalization round-off)."""
    return 0.0 if value == 0 else float(f"{value:.{PARAM_DIGITS}g}")


def _list_field(obj: dict, key: str) -> list:
    value = obj.get(key)
    if not isinstance(value, list):
        raise GraphError("format", f"'{key}' must be a list")
    return value


def _node_from_dict(d, i: int) -> Node:
    if not isinstance(d, dict):
        raise GraphError("format", f"nodes[{i}] must be an object")
    node_id, node_type = d.get("id"), d.get("type")
    if not isinstance(node_id, str) or not node_id:
        raise GraphError("format", f"nodes[{i}] needs a non-empty string 'id'")
    if not isinstance(node_type, str):
        raise GraphError("format", "needs a string 'type'", node_id)
    params = d.get("params", {})
    if not isinstance(params, dict):
        raise GraphError("format", "'params' must be an object", node_id)
    for name, value in params.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise GraphError("format", f"parameter {name!r} must be a number, got {value!r}", node_id)
    track = d.get("track")
    if track is not None and not isinstance(track, str):
        raise GraphError("format", "'track' must be a string", node_id)
    unknown = set(d) - {"id", "type", "params", "track"}
    if unknown:
        raise GraphError("format", f"unknown field(s) {sorted(unknown)}", node_id)
    return Node(node_id, node_type, {k: float(v) for k, v in params.items()}, track)


def _edge_from_dict(d, i: int) -> Edge:
    if not isinstance(d, dict):
        raise GraphError("format", f"edges[{i}] must be an object")
    for key in ("src", "dst"):
        if not isinstance(d.get(key), str):
            raise GraphError("format", f"edges[{i}] needs a string '{key}'")
    for key in ("outlet", "inlet"):
        if key in d and not isinstance(d[key], str):
            raise GraphError("format", f"edges[{i}] '{key}' must be a string")
    gain = d.get("gain", 1.0)
    if not isinstance(gain, (int, float)) or isinstance(gain, bool) or not math.isfinite(gain):
        raise GraphError("format", f"edges[{i}] 'gain' must be a finite number, got {gain!r}")
    unknown = set(d) - {"src", "dst", "outlet", "inlet", "gain"}
    if unknown:
        raise GraphError("format", f"edges[{i}] has unknown field(s) {sorted(unknown)}")
    return Edge(d["src"], d["dst"], d.get("outlet", "out"), d.get("inlet", "in"), float(gain))


# --- the PyG form ---------------------------------------------------------------------------------------------------
#: Node and edge store names of the ``HeteroData`` form.
HETERO_NODE = "proc"
HETERO_EDGE = ("proc", "to", "proc")


def graph_to_hetero(graph: AudioGraph):
    """The graph as a PyG ``HeteroData``, one node store and one edge store, so that graphs with different
    processor sets batch with ``Batch.from_data_list``::

        data["proc"].proc_type    long    [N]      index into catalog.NODE_TYPES
        data["proc"].params       float64 [N, P]   parameters normalized to [0, 1], zero-padded
        data["proc"].param_mask   bool    [N, P]   which slots hold a parameter
        data["proc"].track        long    [N]      index into catalog.TRACKS, -1 for none
        data["proc"].num_nodes    int              set explicitly (PyG cannot infer it)
        data["proc", "to", "proc"].edge_index  long    [2, E]
        data["proc", "to", "proc"].port        long    [E, 2]   (outlet, inlet) indices
        data["proc", "to", "proc"].gain        float64 [E]
        data.node_ids     list[str]   node ids, in node order
        data.sample_rate  int

    Parameters are float64 so a round trip keeps them to 12 significant digits.
    Names avoid ``node_type``/``edge_type``, which ``to_homogeneous()`` overwrites.
    """
    import torch  # PyG and torch load on first use: the JSON side of the graph model stays light
    from torch_geometric.data import HeteroData

    graph.validate()
    index = {n.id: i for i, n in enumerate(graph.nodes)}
    num_nodes = len(graph.nodes)
    # Plain lists first, one tensor each at the end: element-wise tensor writes cost microseconds apiece.
    rows = [[p.normalize(n.params[p.name]) for p in n.spec.params] for n in graph.nodes]
    pad = [catalog.MAX_PARAMS - len(row) for row in rows]
    params = torch.tensor([v for row, k in zip(rows, pad) for v in row + [0.0] * k],
                          dtype=torch.float64).view(num_nodes, catalog.MAX_PARAMS)
    mask = torch.tensor([b for row, k in zip(rows, pad) for b in [True] * len(row) + [False] * k],
                        dtype=torch.bool).view(num_nodes, catalog.MAX_PARAMS)

    data = HeteroData()
    procs, edges = data[HETERO_NODE], data[HETERO_EDGE]
    procs.proc_type = torch.tensor([catalog.TYPE_INDEX[n.type] for n in graph.nodes], dtype=torch.long)
    procs.params = params
    procs.param_mask = mask
    procs.track = torch.tensor([catalog.TRACKS.index(n.track) if n.track else -1 for n in graph.nodes],
                               dtype=torch.long)
    procs.num_nodes = num_nodes
    edges.edge_index = torch.tensor([[index[e.src] for e in graph.edges], [index[e.dst] for e in graph.edges]],
                                    dtype=torch.long).view(2, -1)
    edges.port = torch.tensor([[catalog.OUTLET_INDEX[e.outlet], catalog.INLET_INDEX[e.inlet]] for e in graph.edges],
                              dtype=torch.long).view(-1, 2)
    edges.gain = torch.tensor([e.gain for e in graph.edges], dtype=torch.float64)
    data.node_ids = graph.node_ids
    data.sample_rate = graph.sample_rate
    return data


def hetero_to_graph(data) -> AudioGraph:
    """The :class:`AudioGraph` of one ``HeteroData`` made by :func:`graph_to_hetero`."""
    store, edges = data[HETERO_NODE], data[HETERO_EDGE]
    node_ids = list(data.node_ids)
    nodes = []
    for i, type_index in enumerate(store.proc_type.tolist()):
        spec = catalog.SPECS[catalog.NODE_TYPES[type_index]]
        params = {p.name: round_param(float(p.denormalize(float(store.params[i, j]))))
                  for j, p in enumerate(spec.params)}
        track = int(store.track[i])
        nodes.append(Node(node_ids[i], spec.name, params, catalog.TRACKS[track] if track >= 0 else None))
    src, dst = edges.edge_index.tolist()
    out = [Edge(node_ids[s], node_ids[d], catalog.OUTLETS[o], catalog.INLETS[k], float(g))
           for s, d, (o, k), g in zip(src, dst, edges.port.tolist(), edges.gain.tolist())]
    return AudioGraph(nodes, out, int(data.sample_rate))
