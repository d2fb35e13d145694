"""Pictures of audio processing graphs (matplotlib, an optional extra).

Nodes are drawn as ``[type]`` boxes in columns by depth from the inputs, the
style of the paper's figures; edges carry ``outlet→inlet`` labels when the
ports are not the default ``out→in``, and their gain when it is not 1.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

from graphfx import catalog
from graphfx.graph import AudioGraph

FAMILY_COLORS = {
    "terminal": "#e0e0e0", "source": "#e0e0e0", "filter": "#cfe2ff", "eq": "#cfe2ff",
    "modulation": "#d1f0d1", "delay": "#fde2c8", "reverb": "#fde2c8", "nonlinear": "#f8d0d0",
    "dynamics": "#eadcf8", "pitch": "#fff3b0", "utility": "#f0f0f0", "control": "#d9f2f2",
}


def layout(graph: AudioGraph) -> Dict[str, Tuple[float, float]]:
    """Left-to-right positions: column = longest path from a source, rows spread evenly."""
    depth: Dict[str, int] = {}
    for node_id in graph.topological_order():
        parents = [depth[e.src] for e in graph.in_edges(node_id)]
        depth[node_id] = max(parents) + 1 if parents else 0
    columns: Dict[int, list] = {}
    for node_id in graph.node_ids:
        columns.setdefault(depth[node_id], []).append(node_id)
    pos = {}
    for col, ids in columns.items():
        for row, node_id in enumerate(ids):
            pos[node_id] = (float(col), (len(ids) - 1) / 2.0 - row)
    return pos


def draw(graph: AudioGraph, path: Optional[str] = None, ax=None, title: Optional[str] = None):
    """Draws the graph on ``ax`` (a new figure when ``None``) and saves it to ``path`` if given.

    Returns the matplotlib figure.
    """
    try:
        import matplotlib

        if ax is None and path is not None:
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("drawing needs matplotlib: pip install 'graphfx[plot]'") from None

    pos = layout(graph)
    if ax is None:
        width = 2.2 * (max(x for x, _ in pos.values()) + 1)
        height = 1.1 * max(1, max(sum(1 for p in pos.values() if p[0] == col) for col, _ in pos.values()))
        fig, ax = plt.subplots(figsize=(max(6.0, width), max(3.0, height + 1)))
    else:
        fig = ax.figure
    for e in graph.edges:
        (x0, y0), (x1, y1) = pos[e.src], pos[e.dst]
        control = e.outlet in catalog.CONTROL_OUTLETS or e.inlet == "sidechain"
        ax.annotate("", xy=(x1 - 0.28, y1), xytext=(x0 + 0.28, y0),
                    arrowprops=dict(arrowstyle="-|>", color="#b03030" if control else "#404040",
                                    linestyle="--" if control else "-", shrinkA=0, shrinkB=0,
                                    connectionstyle="arc3,rad=0.08"))
        label = "" if (e.outlet, e.inlet) == ("out", "in") else f"{e.outlet}→{e.inlet}"
        if e.gain != 1.0:
            label = f"{label} ×{e.gain:.2g}".strip()
        if label:
            ax.text((x0 + x1) / 2, (y0 + y1) / 2 + 0.12, label, fontsize=7, ha="center", color="#303030")
    for n in graph.nodes:
        x, y = pos[n.id]
        text = f"[{n.type}]" if n.track is None or n.spec.terminal else f"[{n.type}]\n{n.track}"
        ax.text(x, y, text, ha="center", va="center", fontsize=8, family="monospace",
                bbox=dict(boxstyle="round,pad=0.3", fc=FAMILY_COLORS.get(n.spec.family, "white"), ec="#606060"))
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    ax.set_xlim(min(xs) - 0.6, max(xs) + 0.6)
    ax.set_ylim(min(ys) - 0.7, max(ys) + 0.7)
    ax.axis("off")
    if title:
        ax.set_title(title)
    if path is not None:
        fig.savefig(path, dpi=130, bbox_inches="tight")
    return fig
