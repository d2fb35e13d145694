"""Motifs: the small processor combinations that real audio graphs are made of.

Section 2.1 of Lee et al. (2023) builds synthetic graphs by stacking about ten
motifs, "from a simple parametric equalizer to more complex parallel
[pitchshift] banks", with multiband processing through ``crossover`` and
auxiliary modulation/sidechain edges. Each motif here is a function
``motif(builder, port) -> port``: it receives the audio port it processes
(a ``(node id, outlet)`` pair), adds its nodes and edges to the builder, and
returns the port its result leaves from. Only types are chosen here (the
prototype graph); parameters are set later, adaptively to the audio.
"""
from __future__ import annotations

import random
from typing import Callable, Dict, List, Optional, Tuple

from graphfx import catalog
from graphfx.graph import AudioGraph, Edge, Node

Port = Tuple[str, str]

LINEAR_FILTERS = ["lowpass", "bandpass", "highpass", "bandreject", "lowpass4", "bandpass4", "highpass4"]
#: Filters of a drum mixing bus: no band-pass, which leaves one end of the kit (the kick's body or the
#: cymbals) 30 dB down and every processor on those tracks a ghost (benchmarks/ghost_rate.py).
BUS_FILTERS = ["lowpass", "highpass", "bandreject", "lowpass4", "highpass4"]
EQ = ["lowshelf", "highshelf", "bell"]
MOD_DELAYS = ["chorus", "flanger", "vibrato"]
#: Processors whose output differs between channels even for a mono input.
#: Auto-pan depths: a drum track auto-panned by 0.35 (pan swinging +-0.7) changed by about 3.5 dB solo,
#: under 1 dB in a mix; by 0.5, 5-17 dB solo (benchmarks/ghost_rate.py; deeper swings clamp at the sides).
AUTOPAN_DEPTH = (0.45, 0.7)
WIDENERS = {"reverb", "stereo_reverb", "pingpong_delay", "delay", "pan", "stereo_lfo"}


class GraphBuilder:
    """Accumulates nodes and edges; ids are ``{type}{n}`` unique within the graph."""

    def __init__(self, rng: random.Random, track: Optional[str] = None):
        self.rng, self.track = rng, track
        self.nodes: List[Node] = []
        self.edges: List[Edge] = []
        self.count = 0
        #: Ports that later motifs may tap for sidechains and modulation.
        self.taps: List[Port] = []

    def add(self, node_type: str) -> str:
        """Adds a node; terminals take their type as id and carry no track."""
        if catalog.get(node_type).terminal:
            node_id, track = node_type, None
        else:
            self.count += 1
            node_id = f"{node_type}{self.count}" + (f"_{self.track}" if self.track else "")
            track = self.track
        self.nodes.append(Node(node_id, node_type, track=track))
        return node_id

    def connect(self, src: Port, dst: str, inlet: str = "in", gain: float = 1.0) -> None:
        self.edges.append(Edge(src[0], dst, src[1], inlet, gain))

    def process(self, node_type: str, port: Port, **edge) -> Port:
        """Adds ``port -> [node_type]`` and returns the new node's ``out``."""
        node = self.add(node_type)
        self.connect(port, node, **edge)
        return node, "out"

    def is_wide(self, port: Port) -> bool:
        """Whether the signal at ``port`` can differ between channels (the dry sources are mono)."""
        seen, stack = set(), [port[0]]
        while stack:
            node_id = stack.pop()
            if node_id in seen:
                continue
            seen.add(node_id)
            if next(n.type for n in self.nodes if n.id == node_id) in WIDENERS:
                return True
            stack += [e.src for e in self.edges if e.dst == node_id]
        return False

    def lfo(self, stereo: Optional[bool] = None) -> Port:
        stereo = self.rng.random() < 0.5 if stereo is None else stereo
        return self.add("stereo_lfo" if stereo else "lfo"), "lfo"

    def depth(self, least: float = 0.15, most: float = 0.5) -> float:
        """A modulation depth (edge gain) on the normalized parameter scale."""
        return round(self.rng.uniform(least, most), 3)

    def graph(self, sample_rate: int) -> AudioGraph:
        return AudioGraph(self.nodes, self.edges, sample_rate)


# --- the motifs --------------------------------------------------------------
def parametric_eq(b: GraphBuilder, x: Port) -> Port:
    """One to four equalizer bands in series."""
    for _ in range(b.rng.randint(1, 4)):
        x = b.process(b.rng.choice(EQ), x)
    return x


def filtering(b: GraphBuilder, x: Port) -> Port:
    """A linear filter, sometimes swept by an LFO (auto-wah) or an envelope (envelope filter)."""
    y = b.process(b.rng.choice(BUS_FILTERS if b.track == "bus" else LINEAR_FILTERS), x)
    roll = b.rng.random()
    if roll < 0.25:
        b.connect(b.lfo(), y[0], "frequency", b.depth())
    elif roll < 0.4:
        env = b.add("envelope")
        b.connect(x, env)
        b.connect((env, "env"), y[0], "frequency", b.depth())
    return y


def dynamics(b: GraphBuilder, x: Port) -> Port:
    """A compressor, expander or noise gate, sometimes keyed by an earlier signal."""
    y = b.process(b.rng.choice(["compressor", "compressor", "expander", "noisegate"]), x)
    keys = [t for t in b.taps if t != x]
    if keys and b.rng.random() < 0.3:
        b.connect(b.rng.choice(keys), y[0], "sidechain")
    return y


def saturation(b: GraphBuilder, x: Port) -> Port:
    """Distortion or bit crushing, often followed by a tone filter (a guitar-amp motif)."""
    y = b.process(b.rng.choice(["distortion", "distortion", "bitcrush"]), x)
    if b.rng.random() < 0.5:
        y = b.process(b.rng.choice(["lowpass", "highshelf", "bell"]), y)
    return y


def modulation(b: GraphBuilder, x: Port) -> Port:
    """Chorus, flanger, vibrato or phaser driven by an LFO."""
    y = b.process(b.rng.choice(MOD_DELAYS + ["phaser"]), x)
    b.connect(b.lfo(), y[0], "mod", b.depth())
    return y


def echo(b: GraphBuilder, x: Port) -> Port:
    """A mono or ping-pong delay."""
    return b.process(b.rng.choice(["delay", "pingpong_delay"]), x)


def reverberation(b: GraphBuilder, x: Port) -> Port:
    """A mono or stereo reverb."""
    return b.process(b.rng.choice(["reverb", "stereo_reverb"]), x)


def gated_reverb(b: GraphBuilder, x: Port) -> Port:
    """A reverb cut by a noise gate that listens to the dry signal (the 1980s drum sound)."""
    wet = b.process(b.rng.choice(["reverb", "stereo_reverb"]), x)
    gate = b.process("noisegate", wet)
    b.connect(x, gate[0], "sidechain")
    return gate


def pitch_bank(b: GraphBuilder, x: Port) -> Port:
    """Parallel pitch shifters, each sometimes auto-panned, mixed with the dry signal."""
    mix = b.add("mix")
    b.connect(x, mix, gain=round(b.rng.uniform(0.3, 1.0), 3))
    for _ in range(b.rng.randint(1, 3)):
        y = b.process("pitchshift", x)
        if b.rng.random() < 0.5:
            y = b.process("pan", y)
            b.connect(b.lfo(), y[0], "pan", b.depth(*AUTOPAN_DEPTH))
        b.connect(y, mix, gain=round(b.rng.uniform(0.3, 1.0), 3))
    return mix, "out"


def stereo(b: GraphBuilder, x: Port) -> Port:
    """Stereo placement: imager, (auto-)pan, or separate mid/side processing.

    Width and mid/side processing need a signal that already differs between
    channels (else the side is silent and they would be ghosts): a mono
    signal gets a panner.
    """
    roll = b.rng.random() if b.is_wide(x) else 0.5
    if roll < 0.35:
        return b.process("imager", x)
    if roll < 0.7:
        y = b.process("pan", x)
        if b.rng.random() < 0.5:
            b.connect(b.lfo(), y[0], "pan", b.depth(*AUTOPAN_DEPTH))
        return y
    split = b.add("ms_split")
    b.connect(x, split)
    merge = b.add("ms_merge")
    for outlet in ("mid", "side"):
        y = (split, outlet)
        if b.rng.random() < 0.6:
            y = b.process(b.rng.choice(EQ + ["compressor", "reverb"]), y)
        b.connect(y, merge, outlet)
    return merge, "out"


MOTIFS: Dict[str, Callable[[GraphBuilder, Port], Port]] = {
    "parametric_eq": parametric_eq, "filtering": filtering, "dynamics": dynamics, "saturation": saturation,
    "modulation": modulation, "echo": echo, "reverberation": reverberation, "gated_reverb": gated_reverb,
    "pitch_bank": pitch_bank, "stereo": stereo,
}
