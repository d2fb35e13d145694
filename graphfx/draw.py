"""Pictures of audio processing graphs (matplotlib, an optional extra).

A layered drawing, left to right, in the style of graphviz's ``dot`` (Sugiyama et al., "Methods for
visual understanding of hierarchical system structures", 1981):

1. **layers**: a node's column is its longest path from an input; a control source (an LFO) sits
   just left of the first node it drives;
2. **routing**: an edge longer than one column passes each column in between through a slot of
   its own, so no edge runs through a box;
3. **ordering**: the nodes of each column are reordered by the mean position of their neighbours
   (barycentres, sweeping right and left), keeping the order with the fewest crossings;
4. **placement**: each node is pulled towards its neighbours, boxes kept apart.

Boxes show ``[type]``, the drum track of a processor and up to :data:`KEY_PARAMS` parameters with
units; an edge is labelled with its outlet and inlet where they are not the default ``out`` and
``in``, and with its gain where it is not 1. Control edges are dashed. The layout is computed in
inches, so that text fits its box at any size of graph.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from graphfx import catalog
from graphfx.files import atomic_path
from graphfx.graph import AudioGraph, Edge
from graphfx.outputs import OutputError

FAMILY_COLORS = {
    "terminal": "#e0e0e0", "source": "#e0e0e0", "filter": "#cfe2ff", "eq": "#cfe2ff",
    "modulation": "#d1f0d1", "delay": "#fde2c8", "reverb": "#fde2c8", "nonlinear": "#f8d0d0",
    "dynamics": "#eadcf8", "pitch": "#fff3b0", "utility": "#f0f0f0", "control": "#d9f2f2",
}
#: Parameters shown on a node (the catalog lists the most telling first).
KEY_PARAMS = 3
#: Short names of parameters on boxes.
SHORT = {"frequency": "freq", "threshold": "thresh", "feedback": "fb", "stereo_offset": "offset",
         "semitone": "pitch", "asymmetry": "asym", "hardness": "hard", "damping": "damp"}

FONT = 8.0                 # points, node text at scale 1
CHAR = 0.6 * FONT / 72     # inches per character of a monospaced font
LINE = 1.3 * FONT / 72     # inches per line
PAD = 0.08                 # inches around the text of a box
NODE_GAP = 0.22            # inches between boxes of a column
SLOT = 0.16                # inches taken in a column by an edge passing through it
PORT = 0.14                # inches between the ends of edges on one side of a box
CURVE = 0.4                # inches for an edge to curve across a gap between columns
LABEL_FONT = 6.5


@dataclass
class Route:
    """An edge drawn as a polyline: ``points`` in inches, from the source's side to the target's."""

    edge: Edge
    points: List[Tuple[float, float]]
    control: bool
    start_label_at: Tuple[float, float] = (0.0, 0.0)  # left end of the outlet label, on the line
    end_label_at: Tuple[float, float] = (0.0, 0.0)    # right end of the inlet label, on the line


@dataclass
class Layout:
    """Where everything goes, in inches: node centres and box sizes, edge routes, the extent."""

    centers: Dict[str, Tuple[float, float]]
    sizes: Dict[str, Tuple[float, float]]
    lines: Dict[str, List[str]]
    routes: List[Route] = field(default_factory=list)
    width: float = 0.0
    height: float = 0.0


def node_lines(graph: AudioGraph, node_id: str) -> List[str]:
    """The text of a node's box: ``[type]``, its track (drum graphs), its key parameters with units."""
    node = graph.node(node_id)
    lines = [f"[{node.type}]"]
    if node.track is not None and not node.spec.terminal:
        lines.append(node.track)
    for p in node.spec.params[:KEY_PARAMS]:
        lines.append(f"{SHORT.get(p.name, p.name)} {_value(node.params.get(p.name, p.default), p.unit)}")
    return lines


def _value(value: float, unit: str) -> str:
    if unit == "Hz" and abs(value) >= 1000:
        return f"{value / 1000:.3g} kHz"
    if unit in ("dB", "st"):
        return f"{value:+.3g} {unit}"
    return f"{value:.3g} {unit}".rstrip()


def columns(graph: AudioGraph) -> Dict[str, int]:
    """Each node's column: its longest path from a node without inputs; control sources that drive
    nodes further right move next to the first of them."""
    order = graph.topological_order()
    column: Dict[str, int] = {}
    for node_id in order:
        parents = [column[e.src] for e in graph.in_edges(node_id)]
        column[node_id] = max(parents) + 1 if parents else 0
    for node_id in reversed(order):
        node = graph.node(node_id)
        children = [column[e.dst] for e in graph.out_edges(node_id)]
        if not graph.in_edges(node_id) and children and node.type not in catalog.INPUT_TYPES:
            column[node_id] = min(children) - 1
    return column


def layout(graph: AudioGraph) -> Layout:
    """The layered layout of ``graph`` (raises :class:`~graphfx.errors.GraphError` on a cycle)."""
    column = columns(graph)
    lines = {n.id: node_lines(graph, n.id) for n in graph.nodes}
    ports = {n.id: max(len(graph.in_edges(n.id)), len(graph.out_edges(n.id))) for n in graph.nodes}
    sizes = {k: (max(map(len, v)) * CHAR + 2 * PAD, max(len(v) * LINE, ports[k] * PORT) + 2 * PAD)
             for k, v in lines.items()}
    # Every edge becomes a chain of slots, one per column it crosses.
    slots: Dict[str, Tuple[float, float]] = dict(sizes)
    chains: List[Tuple[Edge, List[str]]] = []
    ranks: Dict[int, List[str]] = {}
    for node_id in graph.topological_order():
        ranks.setdefault(column[node_id], []).append(node_id)
    for k, e in enumerate(graph.edges):
        chain = [e.src]
        for c in range(column[e.src] + 1, column[e.dst]):
            dummy = f"\0{k}:{c}"
            slots[dummy] = (0.0, SLOT)
            ranks.setdefault(c, []).append(dummy)
            chain.append(dummy)
        chains.append((e, chain + [e.dst]))
    links = [(a, b) for _, chain in chains for a, b in zip(chain, chain[1:])]
    order = [ranks[c] for c in sorted(ranks)]
    order = _reduce_crossings(order, links)
    ys = _place(order, links, slots)
    # Columns as wide as their widest box, gaps wide enough for the labels of the edges crossing them.
    widths = [max(slots[v][0] for v in rank) for rank in order]
    gaps = [CURVE + 0.15] * max(0, len(order) - 1)
    for e, chain in chains:
        start, end = (_run(text) for text in _labels(graph, e))
        first, last = column[e.src], column[e.dst] - 1
        if first == last:
            gaps[first] = max(gaps[first], start + end + CURVE)
        else:  # outlet label in the first gap, inlet label in the last
            gaps[first] = max(gaps[first], start + CURVE)
            gaps[last] = max(gaps[last], end + CURVE)
    xs, x = [], 0.0
    for c, w in enumerate(widths):
        xs.append(x + w / 2)
        x += w + (gaps[c] if c < len(gaps) else 0.0)
    rank_of = {v: c for c, rank in enumerate(order) for v in rank}
    centers = {v: (xs[rank_of[v]], ys[v]) for v in ys}
    result = Layout({n.id: centers[n.id] for n in graph.nodes}, sizes, lines, width=x)
    low = min(ys[v] - slots[v][1] / 2 for v in ys)
    high = max(ys[v] + slots[v][1] / 2 for v in ys)
    result.centers = {k: (cx, cy - low) for k, (cx, cy) in result.centers.items()}
    result.height = high - low
    ports_out, ports_in = _ports(graph, chains, ys, sizes)
    for e, chain in chains:
        # Straight runs where the labels sit, curves only across the gaps between columns.
        start_run, end_run = (_run(text) for text in _labels(graph, e))
        points = []
        for i, v in enumerate(chain):
            cx, cy = xs[rank_of[v]], ys[v] - low
            half_column = widths[rank_of[v]] / 2
            if i == 0:
                y = cy + ports_out[id(e)]
                points += [(cx + slots[v][0] / 2, y), (cx + half_column + start_run, y)]
                start_at = (cx + half_column + 0.04, y)
            elif i == len(chain) - 1:
                y = cy + ports_in[id(e)]
                points += [(cx - half_column - end_run, y), (cx - slots[v][0] / 2, y)]
                end_at = (cx - slots[v][0] / 2 - 0.1, y)
            else:
                points += [(cx - half_column, cy), (cx + half_column, cy)]
        points = [p for k, p in enumerate(points) if k == 0 or p != points[k - 1]]
        result.routes.append(Route(e, points, e.outlet in catalog.CONTROL_OUTLETS, start_at, end_at))
    return result


def _run(label: str) -> float:
    """The straight stretch (inches) an edge needs to carry ``label`` beside a box."""
    return len(label) * LABEL_FONT / FONT * CHAR + 0.16 if label else 0.0


def _labels(graph: AudioGraph, e: Edge) -> Tuple[str, str]:
    """The text at an edge's start (its outlet, when the source has several) and end (its inlet when
    not ``in``, and its gain when not 1)."""
    start = e.outlet if len(graph.node(e.src).spec.outlets) > 1 else ""
    end = "" if e.inlet == "in" else e.inlet
    if e.gain != 1.0:
        end = f"{end} ×{e.gain:.2g}".strip()
    return start, end


def _reduce_crossings(order: List[List[str]], links: List[Tuple[str, str]], sweeps: int = 8) -> List[List[str]]:
    """Barycentre sweeps right and left; the order with the fewest crossings wins."""
    parents: Dict[str, List[str]] = {}
    children: Dict[str, List[str]] = {}
    for a, b in links:
        children.setdefault(a, []).append(b)
        parents.setdefault(b, []).append(a)
    best, best_crossings = [list(r) for r in order], _crossings(order, links)
    current = [list(r) for r in order]
    for sweep in range(sweeps):
        forward = sweep % 2 == 0
        indices = range(1, len(current)) if forward else range(len(current) - 2, -1, -1)
        for c in indices:
            fixed = current[c - 1] if forward else current[c + 1]
            position = {v: i for i, v in enumerate(fixed)}
            neighbours = parents if forward else children

            def key(v, i, position=position, neighbours=neighbours):
                near = [position[u] for u in neighbours.get(v, ()) if u in position]
                return (sum(near) / len(near) if near else i, i)

            current[c] = [v for i, v in sorted(enumerate(current[c]), key=lambda item: key(item[1], item[0]))]
        crossings = _crossings(current, links)
        if crossings < best_crossings:
            best, best_crossings = [list(r) for r in current], crossings
    return best


def _crossings(order: List[List[str]], links: List[Tuple[str, str]]) -> int:
    position = {v: i for rank in order for i, v in enumerate(rank)}
    rank_of = {v: c for c, rank in enumerate(order) for v in rank}
    by_gap: Dict[int, List[Tuple[int, int]]] = {}
    for a, b in links:
        by_gap.setdefault(rank_of[a], []).append((position[a], position[b]))
    count = 0
    for pairs in by_gap.values():
        for i, (a1, b1) in enumerate(pairs):
            for a2, b2 in pairs[i + 1:]:
                count += (a1 - a2) * (b1 - b2) < 0
    return count


def _place(order: List[List[str]], links: List[Tuple[str, str]], sizes: Dict[str, Tuple[float, float]],
           passes: int = 12) -> Dict[str, float]:
    """Vertical centres: stacked in order, then each column pulled towards its neighbours' mean."""
    neighbours: Dict[str, List[str]] = {}
    for a, b in links:
        neighbours.setdefault(a, []).append(b)
        neighbours.setdefault(b, []).append(a)
    y: Dict[str, float] = {}
    for rank in order:
        _stack(rank, {v: 0.0 for v in rank}, sizes, y)
    for p in range(passes):
        ranks = order if p % 2 == 0 else order[::-1]
        for rank in ranks:
            wanted = {v: (sum(y[u] for u in neighbours[v]) / len(neighbours[v]) if neighbours.get(v) else y[v])
                      for v in rank}
            _stack(rank, wanted, sizes, y)
    return y


def _stack(rank: List[str], wanted: Dict[str, float], sizes: Dict[str, Tuple[float, float]],
           y: Dict[str, float]) -> None:
    """Puts the nodes of a column as near ``wanted`` as their order and the gaps between boxes allow."""
    placed: List[float] = []
    for i, v in enumerate(rank):
        if i == 0:
            placed.append(wanted[v])
            continue
        u = rank[i - 1]
        least = placed[-1] + (sizes[u][1] + sizes[v][1]) / 2 + _gap(u, v)
        placed.append(max(wanted[v], least))
    # The whole column moves so that its mean is the mean wanted: gaps pushed down are shared out up.
    shift = sum(wanted[v] for v in rank) / len(rank) - sum(placed) / len(placed)
    for v, p in zip(rank, placed):
        y[v] = p + shift


def _gap(u: str, v: str) -> float:
    dummies = u.startswith("\0") + v.startswith("\0")
    return NODE_GAP if dummies == 0 else (0.12 if dummies == 1 else 0.04)


def _ports(graph: AudioGraph, chains, ys, sizes) -> Tuple[Dict[int, float], Dict[int, float]]:
    """Vertical offsets of each edge's ends on its boxes: spread along a side, in the order of the
    other ends (so that edges arriving at one box do not cross)."""
    out_offsets: Dict[int, float] = {}
    in_offsets: Dict[int, float] = {}
    for node in graph.nodes:
        for edges, offsets, other in (
                ([(e, c) for e, c in chains if e.src == node.id], out_offsets, lambda c: ys[c[1]]),
                ([(e, c) for e, c in chains if e.dst == node.id], in_offsets, lambda c: ys[c[-2]])):
            edges.sort(key=lambda item: other(item[1]))
            step = min(PORT, (sizes[node.id][1] - 2 * PAD) / max(1, len(edges)))
            for k, (e, _) in enumerate(edges):
                offsets[id(e)] = (k - (len(edges) - 1) / 2) * step
    return out_offsets, in_offsets


def check_format(path: str, option: str = "-o") -> None:
    """Raises :class:`~graphfx.outputs.OutputError` unless matplotlib can write the format that ``path``'s
    extension names: checked before the work whose result is drawn. (Given no extension, matplotlib would
    write PNG to the name plus ``.png``, not to ``path``.)"""
    try:
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:
        raise OutputError("drawing needs matplotlib: pip install 'graphfx[plot]'") from None
    formats = FigureCanvasBase.get_supported_filetypes()
    extension = os.path.splitext(path)[1][1:].lower()
    if extension not in formats:
        problem = f"cannot draw .{extension} files" if extension else "no file extension to choose the format"
        raise OutputError(f"{option} {path}: {problem}; use one of {', '.join(sorted(formats))}")


def draw(graph: AudioGraph, path: Optional[str] = None, ax=None, title: Optional[str] = None):
    """Draws the graph on ``ax`` (a new figure when ``None``) and saves it to ``path`` if given.

    Returns the matplotlib figure.
    """
    try:
        import matplotlib

        if ax is None and path is not None:
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
        from matplotlib.path import Path
    except ImportError:
        raise ImportError("drawing needs matplotlib: pip install 'graphfx[plot]'") from None

    plan = layout(graph)
    margin = 0.3
    if ax is None:
        fig = plt.figure(figsize=(plan.width + 2 * margin, plan.height + 2 * margin + (0.35 if title else 0)))
        ax = fig.add_axes((0, 0, 1, 1))
        scale = 1.0
    else:
        fig = ax.figure
        box = ax.get_window_extent().transformed(fig.dpi_scale_trans.inverted())
        scale = min(1.0, box.width / (plan.width + 2 * margin), box.height / (plan.height + 2 * margin))
    for route in plan.routes:
        vertices, codes = [route.points[0]], [Path.MOVETO]
        for (x0, y0), (x1, y1) in zip(route.points, route.points[1:]):
            if abs(y1 - y0) < 1e-9:
                vertices.append((x1, y1))
                codes.append(Path.LINETO)
            else:  # across a gap between columns: a curve leaving and arriving horizontally
                middle = (x0 + x1) / 2
                vertices += [(middle, y0), (middle, y1), (x1, y1)]
                codes += [Path.CURVE4] * 3
        color = "#b03030" if route.control else ("#6040a0" if route.edge.inlet == "sidechain" else "#404040")
        ax.add_patch(FancyArrowPatch(path=Path(vertices, codes), arrowstyle="-|>", mutation_scale=9 * scale,
                                     color=color, linewidth=1.0 * scale,
                                     linestyle="--" if route.control else "-", shrinkA=0, shrinkB=0))
        start, end = _labels(graph, route.edge)
        if start:
            x, y = route.start_label_at
            ax.text(x, y - 0.02, start, fontsize=LABEL_FONT * scale, color=color, ha="left", va="bottom")
        if end:
            x, y = route.end_label_at
            ax.text(x, y - 0.02, end, fontsize=LABEL_FONT * scale, color=color, ha="right", va="bottom")
    for node in graph.nodes:
        (x, y), (w, h) = plan.centers[node.id], plan.sizes[node.id]
        ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0,rounding_size=0.05",
                                    fc=FAMILY_COLORS.get(node.spec.family, "white"), ec="#606060",
                                    linewidth=scale))
        lines = plan.lines[node.id]
        top = y - len(lines) * LINE / 2  # the text block is centred in the box; y grows downwards
        ax.text(x, top, lines[0], ha="center", va="top", fontsize=FONT * scale, family="monospace", weight="bold")
        if len(lines) > 1:
            ax.text(x, top + LINE, "\n".join(lines[1:]), ha="center", va="top", fontsize=FONT * scale,
                    family="monospace", linespacing=1.3)
    ax.set_xlim(-margin, plan.width + margin)
    ax.set_ylim(plan.height + margin, -margin)  # first row at the top
    ax.set_aspect("equal", adjustable="box")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10 * max(scale, 0.8))
    if path is not None:  # the format follows the extension, which the temporary file keeps
        with atomic_path(path, suffix=os.path.splitext(path)[1]) as tmp:
            fig.savefig(tmp, dpi=130, bbox_inches="tight")
    return fig
