"""Prototype graphs: serially stacked motifs, multiband branches, drum buses.

The sampler of Section 2.1 of Lee et al. (2023). Which motifs appear, how
often, and how large a graph may grow is configuration
(:class:`PrototypeConfig`, loadable from JSON), not code.
"""
from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from typing import Dict, Sequence

from graphfx.errors import GraphFXError
from graphfx.graph import AudioGraph
from graphfx.synth.motifs import MOTIFS, GraphBuilder, Port


def _default_weights() -> Dict[str, float]:
    return {"parametric_eq": 2.0, "filtering": 1.5, "dynamics": 1.5, "saturation": 1.0, "modulation": 1.0,
            "echo": 1.0, "reverberation": 1.0, "gated_reverb": 0.5, "pitch_bank": 0.5, "stereo": 1.0}


@dataclass
class PrototypeConfig:
    """How prototype graphs are sampled.

    Args:
        motifs: relative weight of each motif (see :data:`graphfx.synth.motifs.MOTIFS`); 0 disables one.
        min_motifs: fewest motifs stacked in a chain (singing graph, drum track or drum bus).
        max_motifs: most motifs stacked in a singing graph.
        max_track_motifs: most motifs on one drum track.
        max_bus_motifs: most motifs on the drum mixing bus.
        multiband: probability that a motif slot becomes a ``crossover`` whose two
            bands each get their own motif stack before a ``mix``.
        max_nodes: graphs larger than this are drawn again.
    """

    motifs: Dict[str, float] = field(default_factory=_default_weights)
    min_motifs: int = 1
    max_motifs: int = 4
    max_track_motifs: int = 2
    max_bus_motifs: int = 3
    multiband: float = 0.12
    max_nodes: int = 40

    def __post_init__(self):
        unknown = set(self.motifs) - set(MOTIFS)
        if unknown:
            raise GraphFXError(f"unknown motif(s) {sorted(unknown)}; known: {sorted(MOTIFS)}")
        if not any(w > 0 for w in self.motifs.values()) or any(w < 0 for w in self.motifs.values()):
            raise GraphFXError("motif weights must be >= 0 with at least one positive")
        if not 0 <= self.min_motifs <= self.max_motifs:
            raise GraphFXError("need 0 <= min_motifs <= max_motifs")

    @classmethod
    def load(cls, path: str) -> "PrototypeConfig":
        try:
            with open(path, encoding="utf-8") as f:
                return cls(**json.load(f))
        except (OSError, json.JSONDecodeError, TypeError) as err:
            raise GraphFXError(f"cannot read prototype config {path}: {err}") from None

    def to_dict(self) -> dict:
        return asdict(self)


def sample_prototype(rng: random.Random, config: PrototypeConfig, inputs: Sequence[str] = ("in",),
                     sample_rate: int = 44100) -> AudioGraph:
    """Draws one prototype graph (types and routing; default parameters).

    Args:
        rng: the random source (``random.Random(seed)``).
        config: what to draw.
        inputs: ``("in",)`` for a singing graph, or the drum tracks present in
            the clip (``("kick", "hat")`` ...) for a drum-mixing graph: one
            subgraph per track, summed on a mixing bus with its own subgraph.
    """
    for _ in range(100):
        graph = _draw(rng, config, list(inputs), sample_rate)
        if len(graph.nodes) <= config.max_nodes:
            return graph.validate()
    raise GraphFXError(f"could not draw a graph of at most {config.max_nodes} nodes; raise max_nodes")


def _draw(rng: random.Random, config: PrototypeConfig, inputs, sample_rate) -> AudioGraph:
    builder = GraphBuilder(rng)
    if inputs == ["in"]:
        x = _stack(builder, (builder.add("in"), "out"), config, config.max_motifs)
    else:
        bus_inputs = []
        for track in inputs:
            builder.track = track
            bus_inputs.append(_stack(builder, (builder.add(track), "out"), config, config.max_track_motifs, 0))
        builder.track = "bus"
        bus = builder.add("mix")
        for port in bus_inputs:
            builder.connect(port, bus, gain=round(rng.uniform(0.5, 1.0), 3))
        x = _stack(builder, (bus, "out"), config, config.max_bus_motifs)
    builder.track = None
    builder.connect(x, builder.add("out"))
    return builder.graph(sample_rate)


def _stack(b: GraphBuilder, x: Port, config: PrototypeConfig, most: int, fewest: int = None) -> Port:
    """A serial stack of motifs; a slot may become a multiband split."""
    count = b.rng.randint(config.min_motifs if fewest is None else fewest, most)
    for _ in range(count):
        b.taps.append(x)
        if b.rng.random() < config.multiband:
            x = _multiband(b, x, config)
        else:
            x = _motif(b, config)(b, x)
    return x


def _motif(b: GraphBuilder, config: PrototypeConfig):
    names = [n for n, w in config.motifs.items() if w > 0]
    return MOTIFS[b.rng.choices(names, weights=[config.motifs[n] for n in names])[0]]


def _multiband(b: GraphBuilder, x: Port, config: PrototypeConfig) -> Port:
    split = b.add("crossover")
    b.connect(x, split)
    mix = b.add("mix")
    for band in ("low", "high"):
        y = (split, band)
        for _ in range(b.rng.randint(1, 2)):
            y = _motif(b, config)(b, y)
        b.connect(y, mix)
    return mix, "out"
