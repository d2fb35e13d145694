"""The best constant guess: one graph for every clip, chosen on the training graphs.

A blind estimator is only worth its audio encoder if it beats what needs no
audio at all. :class:`ConstantPrior` answers every clip with the same graph:
among candidate graphs (training graphs, and for singing a chain of processor
types grown greedily), the one with the best mean node-type IOU against a
sample of training graphs; its parameters are each type's median normalized
value and its edge gains the median gain of each outlet/inlet pair, over the
training graphs. The ``prior`` row of ``graphfx bench`` is this guess; the
``no_latent`` rows are the learned prior (the decoder with zero latents).
"""
from __future__ import annotations

from collections import Counter, defaultdict
from typing import Dict, List, Sequence, Tuple

import torch

from graphfx import catalog
from graphfx.graph import AudioGraph, Edge, Node, round_param
from graphfx.metrics import Guess, node_type_iou
from graphfx.tokens import EDGE, END, NODE, Token, Tokens, graph_to_tokens, tokens_from_rows, tokens_to_rows


class ConstantPrior:
    """One graph, with each type's median parameters and each port pair's median gain, for every clip.

    Args:
        graph: the constant prototype.
        type_params: per node type, median normalized parameters (one per parameter of the type).
        port_gains: per (outlet, inlet) pair, the median edge gain.
    """

    def __init__(self, graph: AudioGraph, type_params: Dict[str, List[float]],
                 port_gains: Dict[Tuple[str, str], float]):
        self.type_params = type_params
        self.port_gains = port_gains
        self.graph = self._completed(graph)
        self.tokens = graph_to_tokens(self.graph)

    @classmethod
    def fit(cls, graphs: Sequence[AudioGraph], *, num_candidates: int = 300, num_scored: int = 500) -> "ConstantPrior":
        """Chooses the constant graph on training ``graphs`` (candidates from the first ones, scored on the next)."""
        graphs = list(graphs)
        if not graphs:
            raise ValueError("the prior needs at least one training graph")
        scored = graphs[num_candidates:num_candidates + num_scored] or graphs
        candidates = graphs[:num_candidates]
        if not graphs[0].is_drum_graph():
            candidates.append(greedy_chain(scored, graphs[0].sample_rate))
        best = max(candidates, key=lambda g: mean_iou(g, scored))  # first of equals: deterministic
        return cls(best, median_params(graphs), median_gains(graphs))

    def _completed(self, graph: AudioGraph) -> AudioGraph:
        nodes = []
        for n in graph.nodes:
            values = self.type_params.get(n.type)
            params = ({p.name: round_param(float(p.denormalize(v))) for p, v in zip(n.spec.params, values)}
                      if values else n.params)
            nodes.append(Node(n.id, n.type, params, n.track))
        edges = [Edge(e.src, e.dst, e.outlet, e.inlet, self.port_gains.get((e.outlet, e.inlet), e.gain))
                 for e in graph.edges]
        return AudioGraph(nodes, edges, graph.sample_rate)

    def guess(self, tokens: Tokens, sample_rate: int) -> Guess:
        """The constant answer for a batch of true token sequences ``[B, L]``."""
        batch = tokens.kind.shape[0]
        graph = AudioGraph(self.graph.nodes, self.graph.edges, sample_rate)
        return Guess(graphs=[graph] * batch, free=[graph] * batch, predicted=self.predict_next(tokens),
                     completed=self.complete(tokens))

    def predict_next(self, tokens: Tokens) -> Tokens:
        """Teacher-forced "predictions" of tokens ``1 .. L-1``: the constant sequence's, position by position
        (``end`` past its length)."""
        batch, length = tokens.kind.shape
        steps = length - 1
        rows = (tokens_to_rows(self.tokens)[1:] + [Token(END)] * steps)[:steps]
        return Tokens(**{k: v.expand(batch, *v.shape) for k, v in tokens_from_rows(rows).as_dict().items()})

    def complete(self, tokens: Tokens) -> Tokens:
        """The true prototypes with each type's median parameters and each port pair's median gain."""
        params = torch.zeros_like(tokens.params)
        gains = torch.ones_like(tokens.gain)
        for (b, t) in (tokens.kind == NODE).nonzero().tolist():
            values = self.type_params.get(catalog.NODE_TYPES[int(tokens.proc_type[b, t])], [])
            params[b, t, :len(values)] = torch.tensor(values, dtype=params.dtype)
        for (b, t) in (tokens.kind == EDGE).nonzero().tolist():
            port = (catalog.OUTLETS[int(tokens.outlet[b, t])], catalog.INLETS[int(tokens.inlet[b, t])])
            gains[b, t] = self.port_gains.get(port, 1.0)
        return Tokens(**{**tokens.as_dict(), "params": params * tokens.param_mask, "gain": gains})


def mean_iou(graph: AudioGraph, graphs: Sequence[AudioGraph]) -> float:
    """Mean node-type IOU of one constant ``graph`` against ``graphs``."""
    return sum(node_type_iou(g, graph) for g in graphs) / len(graphs)


def median_params(graphs: Sequence[AudioGraph]) -> Dict[str, List[float]]:
    """Per node type, the median normalized value of each of its parameters."""
    values: Dict[str, List[List[float]]] = defaultdict(list)
    for g in graphs:
        for n in g.nodes:
            if n.spec.params:
                values[n.type].append([p.normalize(n.params[p.name]) for p in n.spec.params])
    return {t: torch.tensor(v, dtype=torch.float64).median(dim=0).values.tolist() for t, v in values.items()}


def median_gains(graphs: Sequence[AudioGraph]) -> Dict[Tuple[str, str], float]:
    """Per (outlet, inlet) pair, the median edge gain."""
    values: Dict[Tuple[str, str], List[float]] = defaultdict(list)
    for g in graphs:
        for e in g.edges:
            values[(e.outlet, e.inlet)].append(e.gain)
    return {k: float(torch.tensor(v, dtype=torch.float64).median()) for k, v in values.items()}


def _chainable(name: str) -> bool:
    """A processor that sits in a serial chain: audio ``in`` to audio ``out`` and nothing else required."""
    spec = catalog.SPECS[name]
    return (not spec.terminal and not spec.generator and spec.outlets == ("out",) and "in" in spec.inlets
            and set(spec.required) <= {"in"})


def greedy_chain(graphs: Sequence[AudioGraph], sample_rate: int, most: int = 12) -> AudioGraph:
    """``in -> t1 -> ... -> out``, adding the processor type that raises the mean IOU most, while one does."""
    bags = [Counter(n.type for n in g.nodes) for g in graphs]
    chosen: Counter = Counter({"in": 1, "out": 1})
    types = [t for t in catalog.NODE_TYPES if _chainable(t)]

    def score(bag: Counter) -> float:
        return sum(sum((bag & b).values()) / sum((bag | b).values()) for b in bags) / len(bags)

    best = score(chosen)
    while sum(chosen.values()) - 2 < most:
        gains = [(score(chosen + Counter({t: 1})), t) for t in types]
        value, kind = max(gains, key=lambda x: x[0])
        if value <= best:
            break
        chosen[kind] += 1
        best = value
    chain = [t for t in types for _ in range(chosen[t])]
    nodes = [Node("in", "in")] + [Node(f"{t}_{i}", t) for i, t in enumerate(chain)] + [Node("out", "out")]
    edges = [Edge(a.id, b.id) for a, b in zip(nodes, nodes[1:])]
    return AudioGraph(nodes, edges, sample_rate)
