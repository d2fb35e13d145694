"""Graph statistics of a dataset, as in Fig. 2a of Lee et al. (2023).

"Blind Estimation of Audio Processing Graph" <https://arxiv.org/abs/2303.08257>
compares the sizes of its singing and drum graphs with the PCQM4Mv2
molecular graphs of OGB-LSC: comparable sizes, but audio graphs are sparser
(lower degree and density).

Conventions, so that the rows compare with molecules (whose bonds are
undirected): every node counts (terminals ``in``/``out`` and drum sources
included), every edge counts once (audio, sidechain and control edges alike,
parallel edges separately); per graph, the mean degree is ``2E / N`` and the
density ``2E / (N (N - 1))`` (0 for a single node); the tables give their
means over graphs.
"""
from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional

import numpy as np

from graphfx import catalog
from graphfx.files import atomic_path
from graphfx.graph import AudioGraph


@dataclass
class GraphStats:
    """Statistics of a set of graphs.

    Args:
        name: what the set is (a split name, or ``"PCQM4Mv2"``).
        num_graphs: graphs counted.
        nodes_mean, nodes_std, edges_mean, edges_std: per-graph node and edge counts.
        degree: mean over graphs of ``2E / N``.
        density: mean over graphs of ``2E / (N (N - 1))``.
        node_types: processor type -> number of nodes of that type in all graphs.
        edge_kinds: ``"audio"``, ``"sidechain"`` or ``"control"`` -> number of edges.
        nodes, edges: the per-graph counts (for histograms).
        quoted: ``True`` for numbers copied from a publication rather than measured here.
    """

    name: str
    num_graphs: int
    nodes_mean: float
    nodes_std: float
    edges_mean: float
    edges_std: float
    degree: float
    density: float
    node_types: Dict[str, int] = field(default_factory=dict)
    edge_kinds: Dict[str, int] = field(default_factory=dict)
    nodes: List[int] = field(default_factory=list, repr=False)
    edges: List[int] = field(default_factory=list, repr=False)
    quoted: bool = False

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("nodes", "edges")}


#: PCQM4Mv2 (OGB-LSC, Hu et al. 2021), quoted, not measured: about 3.7 million
#: molecular graphs with 14.1 atoms and 14.6 bonds on average. Degree and
#: density are derived from those two means (``2E/N``, ``2E/(N(N-1))``), so
#: they approximate the per-graph means; the standard deviations are unknown here.
PCQM4MV2 = GraphStats("PCQM4Mv2 (quoted)", 3_700_000, 14.1, math.nan, 14.6, math.nan,
                      degree=2 * 14.6 / 14.1, density=2 * 14.6 / (14.1 * 13.1), quoted=True)


def edge_kind(inlet: str, outlet: str) -> str:
    if outlet in catalog.CONTROL_OUTLETS:
        return "control"
    return "sidechain" if inlet == "sidechain" else "audio"


def graph_stats(graphs: Iterable[AudioGraph], name: str = "") -> GraphStats:
    """The statistics of ``graphs`` (an empty set gives zeros)."""
    nodes, edges, degrees, densities = [], [], [], []
    types: Counter = Counter()
    kinds: Counter = Counter()
    for g in graphs:
        n, e = len(g.nodes), len(g.edges)
        nodes.append(n)
        edges.append(e)
        degrees.append(2 * e / n if n else 0.0)
        densities.append(2 * e / (n * (n - 1)) if n > 1 else 0.0)
        types.update(node.type for node in g.nodes)
        kinds.update(edge_kind(x.inlet, x.outlet) for x in g.edges)
    mean = lambda xs: float(np.mean(xs)) if xs else 0.0  # noqa: E731
    std = lambda xs: float(np.std(xs)) if xs else 0.0  # noqa: E731
    order = {t: i for i, t in enumerate(catalog.NODE_TYPES)}
    return GraphStats(name, len(nodes), mean(nodes), std(nodes), mean(edges), std(edges), mean(degrees),
                      mean(densities), dict(sorted(types.items(), key=lambda kv: order.get(kv[0], len(order)))),
                      {k: kinds[k] for k in ("audio", "sidechain", "control")}, nodes, edges)


def dataset_stats(root: str, splits: Optional[Iterable[str]] = None) -> Dict[str, GraphStats]:
    """:func:`graph_stats` of every split of the dataset at ``root`` (graphs only: no audio is read)."""
    from graphfx.dataformat import SPLITS
    from graphfx.datasets import GraphFXDataset

    out = {}
    for split in splits or SPLITS:
        dataset = GraphFXDataset(root, split, audio=False)
        out[split] = graph_stats(dataset.graphs(), split)
    return out


def plot(stats: Dict[str, GraphStats], path: str, *, title: str = "") -> None:
    """Histograms of nodes and edges per graph for each split, with the PCQM4Mv2 means marked.

    Raises ``ImportError`` without matplotlib.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    rows = [s for s in stats.values() if s.num_graphs]
    for ax, key, ref in ((axes[0], "nodes", PCQM4MV2.nodes_mean), (axes[1], "edges", PCQM4MV2.edges_mean)):
        top = max([max(getattr(s, key)) for s in rows] + [int(ref) + 2])
        bins = np.arange(0, top + 2) - 0.5
        for s in rows:
            ax.hist(getattr(s, key), bins=bins, histtype="step", density=True, label=s.name)
        ax.axvline(ref, color="k", linestyle="--", label="PCQM4Mv2 mean (quoted)")
        ax.set_xlabel(f"{key} per graph")
        ax.set_ylabel("fraction of graphs")
    axes[0].legend(fontsize=8)
    names = [s.name for s in rows] + ["PCQM4Mv2\n(quoted)"]
    axes[2].bar(names, [s.degree for s in rows] + [PCQM4MV2.degree], color="C0", label="mean degree")
    twin = axes[2].twinx()
    twin.plot(names, [s.density for s in rows] + [PCQM4MV2.density], "o", color="C3", label="density")
    axes[2].set_ylabel("mean degree (bars)")
    twin.set_ylabel("density (dots)")
    twin.set_ylim(bottom=0)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    try:
        with atomic_path(path, suffix=os.path.splitext(path)[1]) as tmp:  # the format follows the extension
            fig.savefig(tmp, dpi=120)
    finally:
        plt.close(fig)
