"""Shared test helpers: small example graphs and a random valid-graph generator."""
import random

import numpy as np
import pytest
import torch

from graphfx import catalog
from graphfx.graph import AudioGraph, Edge, Node

EXAMPLE_JSON = """
{"format": "graphfx.graph", "version": 1, "sample_rate": 44100,
 "nodes": [{"id": "in", "type": "in"},
           {"id": "x", "type": "crossover", "params": {"frequency": 800}},
           {"id": "d1", "type": "distortion", "params": {"gain": 12, "hardness": 0.5, "asymmetry": 0.1}},
           {"id": "d2", "type": "distortion"},
           {"id": "m", "type": "mix"},
           {"id": "out", "type": "out"}],
 "edges": [{"src": "in", "dst": "x"},
           {"src": "x", "dst": "d1", "outlet": "low"},
           {"src": "x", "dst": "d2", "outlet": "high"},
           {"src": "d1", "dst": "m"}, {"src": "d2", "dst": "m", "gain": 0.5},
           {"src": "m", "dst": "out"}]}
"""

# Processors whose only required inlet is ``in`` and whose main outlet is ``out``.
SIMPLE = [p for p in catalog.PROCESSORS
          if catalog.SPECS[p].required == ("in",) and "out" in catalog.SPECS[p].outlets]


def chain(types, ids=None, sample_rate=44100):
    """in -> types... -> out."""
    ids = ids or [f"n{i}" for i in range(len(types))]
    nodes = [Node("in", "in")] + [Node(i, t) for i, t in zip(ids, types)] + [Node("out", "out")]
    seq = ["in"] + list(ids) + ["out"]
    return AudioGraph(nodes, [Edge(a, b) for a, b in zip(seq, seq[1:])], sample_rate)


def random_params(rng, spec):
    # 6 significant digits: what any graph file holds in practice.
    return {p.name: float(f"{p.denormalize(rng.random()):.6g}") for p in spec.params}


def random_graph(seed: int, max_nodes: int = 12, drums: bool = False) -> AudioGraph:
    """A random valid graph using every kind of port: splits, mixes, modulation, sidechains."""
    rng = random.Random(seed)
    nodes, edges, audio = [], [], []  # audio: (node id, outlet) available as sources
    inputs = rng.sample(catalog.DRUM_SOURCES, rng.randint(1, 3)) if drums else ["in"]
    for src in inputs:
        nodes.append(Node(src, src))
        audio.append((src, "out"))
    for i in range(rng.randint(1, max_nodes)):
        kind = rng.random()
        node_id = f"p{i}"
        if kind < 0.1:
            t = rng.choice(["lfo", "stereo_lfo", "envelope"])
        elif kind < 0.2:
            t = rng.choice(["crossover", "ms_split"])
        elif kind < 0.25:
            t = "ms_merge"
        else:
            t = rng.choice(SIMPLE)
        spec = catalog.SPECS[t]
        track = rng.choice(catalog.TRACKS) if drums else None
        nodes.append(Node(node_id, t, random_params(rng, spec), track))
        gain = lambda: float(f"{rng.uniform(0.1, 2.0):.4g}")  # noqa: E731
        for inlet in spec.required:
            src, outlet = rng.choice(audio)
            edges.append(Edge(src, node_id, outlet, inlet, gain()))
        if "sidechain" in spec.inlets and rng.random() < 0.3:
            src, outlet = rng.choice(audio)
            edges.append(Edge(src, node_id, outlet, "sidechain", gain()))
        controls = [n for n in nodes[:-1] if n.type in ("lfo", "stereo_lfo", "envelope")]
        free = [i for i in spec.inlets if i in catalog.CONTROL_INLETS]
        if controls and free and rng.random() < 0.7:
            c = rng.choice(controls)
            edges.append(Edge(c.id, node_id, c.spec.outlets[0], rng.choice(free), gain()))
        audio += [(node_id, o) for o in spec.outlets if o not in catalog.CONTROL_OUTLETS]
    # Controls that drive nothing are dropped (they could not reach ``out``) ...
    drivers = {e.src for e in edges}
    dropped = {n.id for n in nodes if n.spec.outlets[0] in catalog.CONTROL_OUTLETS and n.id not in drivers}
    nodes = [n for n in nodes if n.id not in dropped] + [Node("out", "out")]
    edges = [e for e in edges if e.dst not in dropped]
    # ... and every audio outlet that feeds nothing goes to ``out``.
    used = {(e.src, e.outlet) for e in edges}
    for node in nodes[:-1]:
        for outlet in node.spec.outlets:
            if outlet not in catalog.CONTROL_OUTLETS and (node.id, outlet) not in used:
                edges.append(Edge(node.id, "out", outlet, "in"))
    return AudioGraph(nodes, edges)


@pytest.fixture
def example_graph():
    return AudioGraph.from_json(EXAMPLE_JSON)


def check_audio(audio, channels=1, n=160000):
    """A dry clip's audio: float32 ``[channels, n]``, finite, not silent, peak <= 1."""
    assert audio.dtype == np.float32
    assert audio.shape == (channels, n)
    assert np.isfinite(audio).all()
    assert 0 < np.max(np.abs(audio)) <= 1.0


@pytest.fixture
def one_thread():
    """Runs a test on one thread (``pytestmark = pytest.mark.usefixtures("one_thread")``): tiny models gain
    nothing from threads, and on a shared machine each parallel op waits for a core."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
