"""Evaluation metrics of blind graph estimation (Section 4.2 of Lee et al., 2023).

* :func:`token_error_rates`: per-step node and edge error rates in teacher
  forcing: a step is wrong if its token type, node id(s) or node/edge type is;
* :func:`invalid_rate`: share of decoded graphs that break a rule (cyclic,
  not connected, a required connection missing, ...);
* :func:`node_type_iou`: multiset intersection over union of processor types;
  for drum graphs the mean over the mixing-bus subgraph and each track's;
* :func:`parameter_loss`: L1 distance of normalized parameters on the oracle
  prototype;
* :func:`mss_between_graphs`: multi-scale spectral loss between two graphs
  rendered on the same dry audio (MSS-default renders both prototypes with
  default parameters, MSS-oracle the oracle prototype with estimated
  parameters, MSS-full the fully decoded graph);
* :func:`mean_ci`: mean with a 95% normal confidence interval over examples.
"""
from __future__ import annotations

import math
from collections import Counter
from typing import Dict, Iterable, List, Sequence, Tuple

import torch
from torch import Tensor

from graphfx import catalog
from graphfx.graph import AudioGraph, Node
from graphfx.losses import mss_loss
from graphfx.renderer import render
from graphfx.tokens import EDGE, NODE, Tokens


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


def _by_track(graph: AudioGraph) -> Dict[str, Counter]:
    groups: Dict[str, Counter] = {}
    for n in graph.nodes:
        track = n.type if n.type in catalog.DRUM_SOURCES else (n.track or "bus")
        groups.setdefault(track, Counter())[n.type] += 1
    return groups


def _iou(a: Counter, b: Counter) -> float:
    union = sum((a | b).values())
    return sum((a & b).values()) / union if union else 1.0


def parameter_loss(predicted: Tensor, target: Tensor, mask: Tensor) -> float:
    """Mean L1 distance of normalized parameters over the valid slots (``mask``)."""
    count = int(mask.sum())
    return float((predicted - target).abs()[mask].sum()) / count if count else 0.0


def with_default_params(graph: AudioGraph) -> AudioGraph:
    """The prototype of a graph: same nodes and edges, every parameter at its default."""
    return AudioGraph([Node(n.id, n.type, n.spec.defaults(), n.track) for n in graph.nodes], graph.edges,
                      graph.sample_rate)


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
