"""Evaluation metrics of blind graph estimation (Section 4.2 of Lee et al., 2023).

* :func:`token_error_rates`: per-step node and edge error rates in teacher
  forcing: a step is wrong if its token type, node id(s) or node/edge type is;
* :func:`invalid_rate`: share of decoded graphs that break a rule (cyclic,
  not connected, a required connection missing, ...);
* :func:`node_type_iou`: multiset intersection over union of processor types;
  for drum graphs the mean over the mixing-bus subgraph and each track's;
* :func:`parameter_loss`: L1 distance of normalized parameters on the oracle
  prototype; :func:`gain_loss` that of its edge gains;
* :func:`mss_between_graphs`: multi-scale spectral loss between two graphs
  rendered on the same dry audio (MSS-default renders both prototypes with
  default parameters, MSS-oracle the oracle prototype with estimated
  parameters, MSS-full the fully decoded graph);
* :func:`score`: all of them for a batch and a system's :class:`Guess`;
* :func:`mean_ci`: mean with a 95% normal confidence interval over examples.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, replace
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from graphfx import catalog
from graphfx.graph import AudioGraph, Node
from graphfx.losses import mss_loss
from graphfx.renderer import render
from graphfx.tokens import EDGE, NODE, Tokens, tokens_to_graph


def token_error_rates(predicted: Tokens, target: Tokens) -> Dict[str, float]:
    """Node and edge error rates of teacher-forced predictions.

    ``predicted`` holds, at each position, the prediction made for that
    position's token (batched ``[B, L]`` like ``target``). A node step is an
    error if the kind, the node id or the node type differs; an edge step if
    the kind, either endpoint or the outlet/inlet pair differs. Positions are
    counted by the kind of the *target* token.
    """
    kind_ok = predicted.kind == target.kind
    node_ok = kind_ok & (predicted.src == target.src) & (predicted.proc_type == target.proc_type)
    edge_ok = (kind_ok & (predicted.src == target.src) & (predicted.dst == target.dst)
               & (predicted.outlet == target.outlet) & (predicted.inlet == target.inlet))
    nodes, edges = target.kind == NODE, target.kind == EDGE
    return {"node_error_rate": _rate(~node_ok & nodes, nodes), "edge_error_rate": _rate(~edge_ok & edges, edges)}


def _rate(errors: Tensor, total: Tensor) -> float:
    count = int(total.sum())
    return float(errors.sum()) / count if count else 0.0


def invalid_rate(graphs: Sequence[AudioGraph]) -> float:
    """Share of graphs that fail :meth:`AudioGraph.validate`."""
    return sum(not g.is_valid() for g in graphs) / max(1, len(graphs))


def node_type_iou(truth: AudioGraph, estimate: AudioGraph) -> float:
    """Multiset IOU of node types (terminals included, as in the paper: inputs must be found too).

    Drum graphs: the IOU of each subgraph (the bus, and each track present in
    either graph) averaged; a node's subgraph is its ``track`` (the drum
    source terminals belong to their own track, ``out`` to the bus).
    """
    if not (truth.is_drum_graph() or estimate.is_drum_graph()):
        return _iou(Counter(n.type for n in truth.nodes), Counter(n.type for n in estimate.nodes))
    a, b = _by_track(truth), _by_track(estimate)
    groups = sorted(set(a) | set(b))
    return sum(_iou(a.get(g, Counter()), b.get(g, Counter())) for g in groups) / len(groups)


def consensus(graphs: Sequence[AudioGraph], votes: Optional[Sequence[int]] = None) -> List[float]:
    """Each graph's mean :func:`node_type_iou` with all of ``graphs`` (itself included), each counted
    ``votes`` times (default once): the expected IOU of choosing it if the truth were one of them.

    Over samples of a decoder this is minimum Bayes risk decoding: the graph with the highest consensus
    is the one the model's distribution agrees on (``graphfx.estimate`` and the ``@consensus`` rows of
    ``graphfx.bench`` choose it).
    """
    votes = [1] * len(graphs) if votes is None else list(votes)
    total = sum(votes)
    return [sum(v * node_type_iou(other, graph) for other, v in zip(graphs, votes)) / total for graph in graphs]


def _by_track(graph: AudioGraph) -> Dict[str, Counter]:
    groups: Dict[str, Counter] = {}
    for n in graph.nodes:
        track = n.type if n.type in catalog.DRUM_SOURCES else (n.track or "bus")
        groups.setdefault(track, Counter())[n.type] += 1
    return groups


def _iou(a: Counter, b: Counter) -> float:
    union = sum((a | b).values())
    return sum((a & b).values()) / union if union else 1.0


def gain_loss(predicted: Tensor, target: Tensor, kind: Tensor) -> float:
    """Mean absolute error of edge gains ``[L]`` over the edge tokens of one sequence (``kind``), in gain units."""
    edges = kind == EDGE
    return float((predicted - target).abs()[edges].mean()) if edges.any() else 0.0


def parameter_loss(predicted: Tensor, target: Tensor, mask: Tensor) -> float:
    """Mean L1 distance of normalized parameters over the valid slots (``mask``)."""
    count = int(mask.sum())
    return float((predicted - target).abs()[mask].sum()) / count if count else 0.0


def with_default_params(graph: AudioGraph) -> AudioGraph:
    """The prototype of a graph: same nodes and edges, every parameter at its default and every edge gain 1
    (the gains are estimated in the second stage, like the parameters, so MSS-default ignores both)."""
    return AudioGraph([Node(n.id, n.type, n.spec.defaults(), n.track) for n in graph.nodes],
                      [replace(e, gain=1.0) for e in graph.edges], graph.sample_rate)


def mss_between_graphs(a: Sequence[AudioGraph], b: Sequence[AudioGraph], dry: Dict[str, Tensor],
                       sample_rate: int) -> Tensor:
    """MSS loss per example between graphs ``a[i]`` and ``b[i]`` rendered on the same dry tracks.

    ``dry`` maps input names (``in`` or drum sources) to ``[B, C, T]``; a
    graph gets the tracks it has input nodes for. Invalid graphs in ``b``
    count as silence (their loss is that of rendering nothing).
    """
    ref = render(list(a), _tracks_for(a, dry), sample_rate=sample_rate)
    valid = [i for i, g in enumerate(b) if g.is_valid()]
    est = torch.zeros_like(ref)
    if valid:
        subset = {k: v[valid] for k, v in dry.items()}
        est[valid] = render([b[i] for i in valid], _tracks_for([b[i] for i in valid], subset),
                            sample_rate=sample_rate)
    return mss_loss(ref, est)


def _tracks_for(graphs: Sequence[AudioGraph], dry: Dict[str, Tensor]) -> Dict[str, Tensor]:
    wanted = {n.type for g in graphs for n in g.nodes if n.type in catalog.INPUT_TYPES}
    some = next(iter(dry.values()))
    return {name: dry.get(name, torch.zeros_like(some)) for name in wanted}


@dataclass
class Guess:
    """What a system answers for a batch of examples, in the form the metrics read.

    Args:
        graphs: the decoded graphs (constrained decoding).
        free: the graphs decoded without constraints (``None``: the system has no such mode).
        predicted: teacher-forced predictions of tokens ``1 .. L-1`` (``None``: the system does not predict
            one token field at a time; the error rates are then left out).
        completed: the true prototypes with the system's parameters and edge gains (the second stage).
    """

    graphs: List[AudioGraph]
    free: Optional[List[AudioGraph]]
    predicted: Optional[Tokens]
    completed: Tokens


def score(truth: Sequence[AudioGraph], tokens: Tokens, guess: Guess, dry: Dict[str, Tensor],
          sample_rate: int) -> List[Dict[str, float]]:
    """Every metric of Section 4.2 for each example of a batch.

    Args:
        truth: the true graphs; ``tokens`` their padded token batch ``[B, L]``.
        guess: the system's answer.
        dry: the dry tracks ``{input name: [B, C, T]}`` the graphs render.

    The true graphs score 0 on every loss (and 1 on IOU, 0 on error rates) when the guess is the truth.
    """
    oracle = [tokens_to_graph(_example(guess.completed, i), sample_rate) for i in range(len(truth))]
    mss_default = mss_between_graphs([with_default_params(g) for g in truth],
                                     [with_default_params(g) for g in guess.graphs], dry, sample_rate)
    mss_oracle = mss_between_graphs(truth, oracle, dry, sample_rate)
    mss_full = mss_between_graphs(truth, guess.graphs, dry, sample_rate)
    mask = tokens.param_mask & (tokens.kind == NODE)[..., None]
    params = guess.completed.params.to(tokens.params.dtype)
    rows = []
    for i, g in enumerate(truth):
        row = {"invalid_rate": invalid_rate([guess.graphs[i]]), "iou": node_type_iou(g, guess.graphs[i]),
               "parameter_loss": parameter_loss(params[i], tokens.params[i], mask[i]),
               "gain_loss": gain_loss(guess.completed.gain[i].to(tokens.gain.dtype), tokens.gain[i], tokens.kind[i]),
               "mss_default": float(mss_default[i]), "mss_oracle": float(mss_oracle[i]),
               "mss_full": float(mss_full[i])}
        if guess.free is not None:
            row["invalid_rate_unconstrained"] = invalid_rate([guess.free[i]])
        if guess.predicted is not None:  # predictions for positions 1 .. L-1
            row.update(token_error_rates(_example(guess.predicted, i), _example(tokens, i, start=1)))
        rows.append(row)
    return rows


def _example(tokens: Tokens, i: int, start: int = 0) -> Tokens:
    """Example ``i`` of a token batch, from position ``start``."""
    return Tokens(**{k: v[i, start:] for k, v in tokens.as_dict().items()})


def mean_ci(values: Iterable[float], z: float = 1.96) -> Tuple[float, float]:
    """Mean and the half-width of its normal-approximation confidence interval (95% by default)."""
    values = list(values)
    if not values:
        return math.nan, math.nan
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, math.nan
    variance = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return mean, z * math.sqrt(variance / len(values))


def summarize(rows: List[Dict[str, float]]) -> Dict[str, Tuple[float, float]]:
    """Per-metric mean and confidence half-width over a list of per-example metric dicts."""
    keys = sorted({k for r in rows for k in r})
    return {k: mean_ci(r[k] for r in rows if k in r) for k in keys}
