"""AudioGraph <-> PyG ``HeteroData``, the canonical tensor form.

Layout (one node store and one edge store, so that graphs with different
processor sets batch with ``Batch.from_data_list``)::

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
from __future__ import annotations

import torch
from torch_geometric.data import HeteroData

from graphfx import catalog
from graphfx.graph import AudioGraph, Edge, Node, round_param

NODE = "proc"
EDGE = ("proc", "to", "proc")


def graph_to_hetero(graph: AudioGraph) -> HeteroData:
    graph.validate()
    index = {n.id: i for i, n in enumerate(graph.nodes)}
    num_nodes = len(graph.nodes)
    params = torch.zeros(num_nodes, catalog.MAX_PARAMS, dtype=torch.float64)
    mask = torch.zeros(num_nodes, catalog.MAX_PARAMS, dtype=torch.bool)
    for i, n in enumerate(graph.nodes):
        for j, p in enumerate(n.spec.params):
            params[i, j] = p.normalize(n.params[p.name])
            mask[i, j] = True

    data = HeteroData()
    data[NODE].proc_type = torch.tensor([catalog.TYPE_INDEX[n.type] for n in graph.nodes], dtype=torch.long)
    data[NODE].params = params
    data[NODE].param_mask = mask
    data[NODE].track = torch.tensor([catalog.TRACKS.index(n.track) if n.track else -1 for n in graph.nodes],
                                    dtype=torch.long)
    data[NODE].num_nodes = num_nodes
    data[EDGE].edge_index = torch.tensor([[index[e.src] for e in graph.edges], [index[e.dst] for e in graph.edges]],
                                         dtype=torch.long).view(2, -1)
    data[EDGE].port = torch.tensor([[catalog.OUTLET_INDEX[e.outlet], catalog.INLET_INDEX[e.inlet]]
                                    for e in graph.edges], dtype=torch.long).view(-1, 2)
    data[EDGE].gain = torch.tensor([e.gain for e in graph.edges], dtype=torch.float64)
    data.node_ids = graph.node_ids
    data.sample_rate = graph.sample_rate
    return data


def hetero_to_graph(data: HeteroData) -> AudioGraph:
    store, edges = data[NODE], data[EDGE]
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
