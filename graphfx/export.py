"""Exporting a graph as a script (``graphfx export``).

* :func:`to_python`: a script that rebuilds the graph with graphfx and renders a dry file through it.
* :func:`to_pedalboard`: a script that runs the serial part of the graph (from ``in`` on, as long as the
  signal flows through one processor at a time) as a chain of Spotify's pedalboard plugins, with graphfx's
  energy normalization between them. Processors without a pedalboard counterpart, branches (crossovers,
  mid/side splits, mixes), sidechains and modulation edges are not exportable: each node left out is listed
  with its reason, in the script and in what the function returns, never dropped silently.

:data:`PEDALBOARD` is the mapping, one entry per exportable processor type (``docs/export.md``).
"""
from __future__ import annotations

from typing import Callable, Dict, List, Tuple

from graphfx import catalog
from graphfx.graph import AudioGraph

def _freeverb(p: dict) -> dict:
    """pedalboard's Reverb arguments of a (stereo) reverb: JUCE's Freeverb scales wet by 3 and dry by 2."""
    return dict(room_size=p["size"], damping=p["damping"], width=p["width"], wet_level=p["mix"] / 3,
                dry_level=(1 - p["mix"]) / 2)


#: Processor type -> (pedalboard plugin, its arguments from the node's parameters, how close it is).
PEDALBOARD: Dict[str, Tuple[str, Callable[[dict], dict], str]] = {
    "bell": ("PeakFilter", lambda p: dict(cutoff_frequency_hz=p["frequency"], gain_db=p["gain"], q=p["q"]),
             "RBJ peaking biquad in both"),
    "lowshelf": ("LowShelfFilter", lambda p: dict(cutoff_frequency_hz=p["frequency"], gain_db=p["gain"], q=p["q"]),
                 "shelf biquads; q may be read differently"),
    "highshelf": ("HighShelfFilter", lambda p: dict(cutoff_frequency_hz=p["frequency"], gain_db=p["gain"], q=p["q"]),
                  "shelf biquads; q may be read differently"),
    "lowpass": ("LowpassFilter", lambda p: dict(cutoff_frequency_hz=p["frequency"]),
                "pedalboard's is first order (6 dB/octave); q is dropped"),
    "highpass": ("HighpassFilter", lambda p: dict(cutoff_frequency_hz=p["frequency"]),
                 "pedalboard's is first order (6 dB/octave); q is dropped"),
    "compressor": ("Compressor", lambda p: dict(threshold_db=p["threshold"], ratio=p["ratio"], attack_ms=p["attack"],
                                                release_ms=p["release"]), "knee is dropped (hard knee)"),
    "noisegate": ("NoiseGate", lambda p: dict(threshold_db=p["threshold"], ratio=p["ratio"], attack_ms=p["attack"],
                                              release_ms=p["release"]), "knee is dropped"),
    "distortion": ("Distortion", lambda p: dict(drive_db=p["gain"]),
                   "tanh of the driven signal; hardness and asymmetry are dropped"),
    "bitcrush": ("Bitcrush", lambda p: dict(bit_depth=p["bit"] - 1), "graphfx keeps 2^(bit-1) levels"),
    "delay": ("Delay", lambda p: dict(delay_seconds=p["delay"] / 1000, feedback=p["feedback"], mix=p["mix"]),
              "the loop lowpass and the stereo offset are dropped"),
    "reverb": ("Reverb", _freeverb, "Freeverb in both; JUCE scales wet by 3 and dry by 2"),
    "stereo_reverb": ("Reverb", _freeverb, "as reverb; graphfx keeps L and R in separate tanks"),
    "pitchshift": ("PitchShift", lambda p: dict(semitones=p["semitone"]), "a different pitch-shifting algorithm"),
}

PYTHON_TEMPLATE = '''"""Rebuilds and renders a graphfx graph{source}.

Usage: python {{script}} [TRACK=]DRY.wav [...] WET.wav   (drum graphs: one TRACK=FILE per source)
"""
import sys

import torch

import graphfx
from graphfx.audio import load_audio, save_audio
from graphfx.graph import AudioGraph, Edge, Node

graph = AudioGraph(
    nodes=[
{nodes}
    ],
    edges=[
{edges}
    ],
    sample_rate={sample_rate},
).validate()


def main(args):
    *inputs, output = args
    tracks = {{}}
    for item in inputs:
        name, path = item.split("=", 1) if "=" in item else ("in", item)
        tracks[name] = load_audio(path, graph.sample_rate)[0]
    length = max(x.shape[-1] for x in tracks.values())
    batch = {{k: torch.nn.functional.pad(x, (0, length - x.shape[-1]))[None] for k, x in tracks.items()}}
    wet = graphfx.render(graph, batch, sample_rate=graph.sample_rate)[0]
    save_audio(output, wet, graph.sample_rate)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1:])
'''

PEDALBOARD_TEMPLATE = '''"""The serial part of a graphfx graph{source} as a pedalboard chain.

Usage: python {{script}} DRY.wav WET.wav   (needs: pip install pedalboard soundfile numpy)

Each plugin's output is rescaled to the energy of its input, as graphfx renders (energy normalization).
Exported, in signal order ({count} of {total} processors):
{exported}
Not exportable (left out):
{left_out}
"""
import sys

import numpy as np
import pedalboard as pb
import soundfile as sf

SAMPLE_RATE = {sample_rate}
#: (gain of the edge into the plugin, the plugin)
CHAIN = [
{chain}
]
OUTPUT_GAIN = {output_gain!r}


def process(x):
    """``x``: float32 ``[2, samples]`` at SAMPLE_RATE."""
    for gain, plugin in CHAIN:
        x = gain * x
        y = plugin(x, SAMPLE_RATE)
        y = y * np.sqrt((np.sum(x ** 2) + 1e-12) / (np.sum(y ** 2) + 1e-12))  # graphfx's energy normalization
        x = y.astype(np.float32)
    return OUTPUT_GAIN * x


def main(dry, wet):
    audio, rate = sf.read(dry, dtype="float32", always_2d=True)
    if rate != SAMPLE_RATE:
        sys.exit(f"{{dry}} is at {{rate}} Hz; this chain was exported for {{SAMPLE_RATE}} Hz")
    x = np.ascontiguousarray(np.repeat(audio.T, 2, axis=0)[:2] if audio.shape[1] == 1 else audio.T)
    sf.write(wet, process(x).T, SAMPLE_RATE, subtype="FLOAT")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(*sys.argv[1:])
'''


def to_python(graph: AudioGraph, source: str = "") -> str:
    """A Python script that rebuilds ``graph`` with graphfx and renders dry files through it.

    Args:
        graph: a valid graph.
        source: where the graph came from, named in the script's docstring.
    """
    graph.validate()
    nodes = []
    for n in graph.nodes:
        args = [repr(n.id), repr(n.type)]
        if n.params:
            args.append(repr({k: float(v) for k, v in n.params.items()}))
        if n.track is not None:
            args.append(f"track={n.track!r}")
        nodes.append(f"        Node({', '.join(args)}),")
    edges = []
    for e in graph.edges:
        args = [repr(e.src), repr(e.dst)]
        args += [f"{k}={v!r}" for k, v, default in (("outlet", e.outlet, "out"), ("inlet", e.inlet, "in"),
                                                    ("gain", float(e.gain), 1.0)) if v != default]
        edges.append(f"        Edge({', '.join(args)}),")
    return PYTHON_TEMPLATE.format(source=f" ({source})" if source else "", nodes="\n".join(nodes),
                                  edges="\n".join(edges), sample_rate=graph.sample_rate)


def serial_chain(graph: AudioGraph) -> Tuple[List[str], List[Tuple[str, str]]]:
    """The serial part of ``graph`` that maps to pedalboard, and every other processor with its reason.

    The chain starts at ``in`` and follows the signal while it runs through one processor at a time: each
    link is the only edge out of its source and the only edge into its destination, on the plain ports, and
    its destination has a pedalboard counterpart. Returns the node ids of the chain (``in`` first, ``out``
    last when the chain reaches it) and ``(node id, reason)`` for each processor left out.
    """
    graph.validate()
    chain = ["in"]
    if [n.id for n in graph.nodes if n.type == "in"] != ["in"]:
        chain = []
    while chain:
        outs = graph.out_edges(chain[-1])
        if len(outs) != 1:
            break
        edge = outs[0]
        node = graph.node(edge.dst)
        if edge.outlet != "out" or edge.inlet != "in" or len(graph.in_edges(node.id)) != 1:
            break
        if node.type != "out" and node.type not in PEDALBOARD:
            break
        chain.append(node.id)
        if node.type == "out":
            break
    ids = set(chain)
    left = []
    for n in graph.nodes:
        if n.id in ids or n.spec.terminal:
            continue
        ins = graph.in_edges(n.id)
        if n.type in ("lfo", "stereo_lfo", "envelope"):
            reason = "modulation source (modulation edges are not exportable)"
        elif any(e.inlet in catalog.CONTROL_INLETS for e in ins):
            reason = "modulated (modulation edges are not exportable)"
        elif any(e.inlet == "sidechain" for e in ins):
            reason = "sidechain input (sidechains are not exportable)"
        elif n.type in ("crossover", "ms_split", "ms_merge", "mix"):
            reason = f"{n.type} branch (branches are not exportable)"
        elif n.type not in PEDALBOARD:
            reason = f"no pedalboard counterpart for {n.type}"
        else:
            reason = "after a branch or a processor that is not exportable"
        left.append((n.id, reason))
    return chain, left


def to_pedalboard(graph: AudioGraph, source: str = "") -> Tuple[str, List[str]]:
    """A Python script running the serial part of ``graph`` as pedalboard plugins (see :func:`serial_chain`).

    Args:
        graph: a valid singing graph (one ``in`` node).
        source: where the graph came from, named in the script's docstring.

    Returns:
        The script and one line per processor left out (``"id (type): reason"``).
    """
    chain, left = serial_chain(graph)
    lines, exported = [], []
    for a, b in zip(chain, chain[1:]):
        node = graph.node(b)
        if node.type == "out":
            continue
        name, arguments, note = PEDALBOARD[node.type]
        args = ", ".join(f"{k}={float(v)!r}" for k, v in arguments(node.params).items())
        gain = graph.out_edges(a)[0].gain
        lines.append(f"    ({float(gain)!r}, pb.{name}({args})),  # {node.id}")
        exported.append(f"  {node.id} ({node.type}) -> pb.{name}: {note}")
    reaches_out = bool(chain) and graph.node(chain[-1]).type == "out"
    output_gain = float(graph.in_edges("out")[0].gain) if reaches_out else 1.0
    if not reaches_out:
        left.append(("out", "the chain does not reach out: the export stops where the graph branches"))
    notes = [f"{i} ({graph.node(i).type}): {why}" for i, why in left]
    total = sum(1 for n in graph.nodes if not n.spec.terminal)
    script = PEDALBOARD_TEMPLATE.format(
        source=f" ({source})" if source else "", count=len(exported), total=total,
        exported="\n".join(exported) or "  nothing", left_out="\n".join(f"  {n}" for n in notes) or "  nothing",
        sample_rate=graph.sample_rate, chain="\n".join(lines), output_gain=output_gain)
    return script, notes
