"""Render speed: graphfx against Spotify's pedalboard on a 10-node effect chain.

The chain (stereo, 44.1 kHz, 160 000 samples = 3.6 s per clip)::

    in -> highpass -> bell -> compressor -> distortion -> chorus -> delay
       -> reverb -> imager -> pan -> out            (an lfo drives the chorus' mod inlet)

is rendered for ``--batch`` different parameter sets (seeded random, within
musically sensible sub-ranges of the catalog ranges, :data:`KNOB_RANGES`):

* by graphfx, all clips in one :func:`graphfx.renderer.render` call, in fast
  mode (``grad=False``: compiled kernels), differentiable mode (``grad=True``)
  forward, and differentiable forward + backward (the gradient of the output's
  energy to every parameter and edge gain, as refinement takes it);
* by pedalboard, one clip at a time (HighpassFilter, PeakFilter, Compressor,
  Distortion, Chorus, Delay, Reverb; imager and pan in numpy, since
  pedalboard has neither), with the parameters mapped as closely as the two
  libraries allow (benchmarks/README.md lists the mapping and its differences).

Each thread count runs in its own subprocess whose environment fixes the
thread pools (``OMP_NUM_THREADS`` ...) before torch, numba or numpy is
imported, and sets glibc's allocator so that large tensors reuse pages
instead of faulting fresh ones (thresholds, and one arena for all threads).
pedalboard on N threads uses a pool of N worker threads over the clips (it
releases the GIL). Every measurement is warmed up (numba compiles on the
first call), then timed ``--repeats`` times, the engines interleaved, and the
median kept. Where the time goes:
the chain render is clocked processor by processor (the rest is the
renderer's own work), and each processor type is rendered alone
(``in -> type -> out`` at the same batch) in both libraries.

Usage (from the repository root)::

    .venv/bin/python benchmarks/render_speed.py            # full run, writes results/render_speed.json
    .venv/bin/python benchmarks/render_speed.py --quick    # smoke check with tiny sizes, writes nothing

pedalboard is not a graphfx dependency; without it only graphfx is timed.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.util
import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# Imported after the parent fixed this process' thread pools through the environment.
import numba
import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from torch_geometric.data import Batch

import graphfx.renderer as renderer
from graphfx import catalog
from graphfx.graph import HETERO_EDGE, HETERO_NODE, AudioGraph, Edge, Node
from graphfx.provenance import git_revision, hardware

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results" / "render_speed.json"
SAMPLE_RATE = 44100
SEED = 0
#: Processor types of the chain, in signal order.
CHAIN = ("highpass", "bell", "compressor", "distortion", "chorus", "delay", "reverb", "imager", "pan")
#: Environment of a worker: thread pools fixed before import, allocator keeping freed pages.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS")
#: Untimed rounds of every runner before the timed ones (see :func:`_interleaved_medians`).
WARMUP_ROUNDS = 2
# One malloc arena for all threads: with glibc's default of one per thread, the renderer's two threads
# allocate their large signals in per-thread heaps (at most 64 MB each) that are made, faulted in and
# trimmed again, and a 2-thread render took 9-18 ms per clip from run to run instead of a steady 8-9
# (measured 2026-12-04, benchmarks/README.md).
ALLOCATOR = {"MALLOC_MMAP_THRESHOLD_": "4294967296", "MALLOC_TRIM_THRESHOLD_": "8589934592",
             "MALLOC_ARENA_MAX": "1"}

#: Library-neutral knobs of the chain: (low, high, scale). Both libraries' parameters derive from these.
KNOB_RANGES = {
    "highpass": {"cutoff_hz": (30.0, 200.0, "log")},
    "bell": {"frequency_hz": (200.0, 5000.0, "log"), "q": (0.5, 2.0, "log"), "gain_db": (-9.0, 9.0, "linear")},
    "compressor": {"threshold_db": (-30.0, -10.0, "linear"), "ratio": (2.0, 8.0, "log"),
                   "attack_ms": (1.0, 30.0, "log"), "release_ms": (50.0, 300.0, "log")},
    "distortion": {"drive_db": (3.0, 18.0, "linear")},
    # Delay swings between centre - 10 depth and centre + 10 depth ms (pedalboard's law): 5.5 .. 17.5 ms.
    "chorus": {"rate_hz": (0.3, 3.0, "log"), "depth": (0.05, 0.25, "linear"), "centre_ms": (8.0, 15.0, "linear"),
               "feedback": (0.0, 0.3, "linear"), "mix": (0.3, 0.6, "linear")},
    "delay": {"time_ms": (80.0, 400.0, "log"), "feedback": (0.1, 0.5, "linear"), "mix": (0.1, 0.4, "linear")},
    "reverb": {"room_size": (0.3, 0.85, "linear"), "damping": (0.2, 0.8, "linear"), "width": (0.6, 1.0, "linear"),
               "mix": (0.1, 0.35, "linear")},
    "imager": {"width": (0.5, 1.5, "linear")},
    "pan": {"position": (-0.5, 0.5, "linear")},
}
#: pedalboard's chorus: delay = centre + CHORUS_SWING_MS * depth * sin(...) (JUCE dsp::Chorus: 20 ms * 0.5).
CHORUS_SWING_MS = 10.0


# --- parameters ---------------------------------------------------------------
def draw_knobs(batch: int, seed: int) -> list:
    """``batch`` parameter sets: one ``{type: {knob: value}}`` per clip, log-uniform where the scale is log."""
    rng = random.Random(seed)

    def draw(lo, hi, scale):
        if scale == "log":
            return math.exp(rng.uniform(math.log(lo), math.log(hi)))
        return rng.uniform(lo, hi)

    return [{t: {k: draw(*r) for k, r in knobs.items()} for t, knobs in KNOB_RANGES.items()} for _ in range(batch)]


def graphfx_params(knobs: dict) -> tuple:
    """graphfx node parameters ``{type: {param: value}}``, the chorus LFO's parameters and its edge gain.

    The chorus' ``mod`` inlet moves ``delay`` on its normalized (log) scale,
    so the LFO sweeps ``delay`` between the same extremes as pedalboard's,
    centred on their geometric mean.
    """
    ch = knobs["chorus"]
    delay = catalog.get("chorus").param("delay")
    swing = CHORUS_SWING_MS * ch["depth"]
    u_lo, u_hi = delay.normalize(ch["centre_ms"] - swing), delay.normalize(ch["centre_ms"] + swing)
    comp = knobs["compressor"]
    params = {
        "highpass": {"frequency": knobs["highpass"]["cutoff_hz"], "q": 0.7071},
        "bell": {"frequency": knobs["bell"]["frequency_hz"], "q": knobs["bell"]["q"],
                 "gain": knobs["bell"]["gain_db"]},
        "compressor": {"threshold": comp["threshold_db"], "ratio": comp["ratio"], "attack": comp["attack_ms"],
                       "release": comp["release_ms"], "knee": 0.0},
        "distortion": {"gain": knobs["distortion"]["drive_db"], "hardness": 0.0, "asymmetry": 0.0},
        "chorus": {"delay": delay.denormalize((u_lo + u_hi) / 2), "feedback": ch["feedback"], "mix": ch["mix"]},
        # The loop lowpass wide open and no stereo offset: pedalboard's delay has neither.
        "delay": {"delay": knobs["delay"]["time_ms"], "feedback": knobs["delay"]["feedback"],
                  "mix": knobs["delay"]["mix"], "frequency": 20000.0, "q": 0.7071, "stereo_offset": 0.0},
        "reverb": {"size": knobs["reverb"]["room_size"], "damping": knobs["reverb"]["damping"],
                   "width": knobs["reverb"]["width"], "mix": knobs["reverb"]["mix"]},
        "imager": {"width": knobs["imager"]["width"]},
        "pan": {"pan": knobs["pan"]["position"]},
    }
    # Half a cycle: pedalboard's sweep starts at the centre going down, as -sin does.
    lfo = {"frequency": ch["rate_hz"], "phase": 0.5, "stereo_offset": 0.0}
    return params, lfo, (u_hi - u_lo) / 2


def graphfx_graph(knobs: dict, types=CHAIN):
    """``in -> types... -> out`` with the chain's parameters; a chorus gets its LFO on ``mod``."""
    params, lfo, mod_gain = graphfx_params(knobs)
    nodes = [Node("in", "in")] + [Node(t, t, params[t]) for t in types] + [Node("out", "out")]
    seq = ["in", *types, "out"]
    edges = [Edge(a, b) for a, b in zip(seq, seq[1:])]
    if "chorus" in types:
        nodes.append(Node("lfo", "lfo", lfo))
        edges.append(Edge("lfo", "chorus", "lfo", "mod", mod_gain))
    return AudioGraph(nodes, edges, SAMPLE_RATE)


def pedalboard_chain(knobs: dict, types=CHAIN) -> list:
    """The chain as pedalboard plugins, or numpy functions for ``imager`` and ``pan``."""
    import pedalboard as pb

    k = knobs
    make = {
        "highpass": lambda: pb.HighpassFilter(cutoff_frequency_hz=k["highpass"]["cutoff_hz"]),
        "bell": lambda: pb.PeakFilter(cutoff_frequency_hz=k["bell"]["frequency_hz"],
                                      gain_db=k["bell"]["gain_db"], q=k["bell"]["q"]),
        "compressor": lambda: pb.Compressor(threshold_db=k["compressor"]["threshold_db"],
                                            ratio=k["compressor"]["ratio"], attack_ms=k["compressor"]["attack_ms"],
                                            release_ms=k["compressor"]["release_ms"]),
        "distortion": lambda: pb.Distortion(drive_db=k["distortion"]["drive_db"]),
        "chorus": lambda: pb.Chorus(rate_hz=k["chorus"]["rate_hz"], depth=k["chorus"]["depth"],
                                    centre_delay_ms=k["chorus"]["centre_ms"], feedback=k["chorus"]["feedback"],
                                    mix=k["chorus"]["mix"]),
        "delay": lambda: pb.Delay(delay_seconds=k["delay"]["time_ms"] / 1000.0, feedback=k["delay"]["feedback"],
                                  mix=k["delay"]["mix"]),
        # JUCE's Freeverb scales wet by 3 and dry by 2; graphfx's mix crossfades at unit gains.
        "reverb": lambda: pb.Reverb(room_size=k["reverb"]["room_size"], damping=k["reverb"]["damping"],
                                    wet_level=k["reverb"]["mix"] / 3.0, dry_level=(1.0 - k["reverb"]["mix"]) / 2.0,
                                    width=k["reverb"]["width"]),
        "imager": lambda: _numpy_imager(k["imager"]["width"]),
        "pan": lambda: _numpy_pan(k["pan"]["position"]),
    }
    return [make[t]() for t in types]


def _numpy_imager(width: float):
    """Side signal scaled by ``width`` (graphfx's imager), on a ``[2, T]`` array."""
    def imager(x, sample_rate):
        mid, side = (x[0] + x[1]) * 0.5, (x[0] - x[1]) * (0.5 * width)
        return np.stack([mid + side, mid - side])
    return imager


def _numpy_pan(position: float):
    """graphfx's constant-power pan law (identity at the centre), on a ``[2, T]`` array."""
    theta = (position + 1.0) * math.pi / 4
    left, right = math.sqrt(2.0) * math.cos(theta), math.sqrt(2.0) * math.sin(theta)

    def pan(x, sample_rate):
        return np.stack([x[0] * left, x[1] * right])
    return pan


# --- worker: one thread configuration -------------------------------------------
def dry_audio(batch: int, samples: int, seed: int):
    """Seeded dry audio ``[B, 2, T]`` float32: decaying noise hits over a tone, peak 0.5."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / SAMPLE_RATE
    period = rng.uniform(0.2, 0.5, (batch, 1, 1))                     # seconds between hits
    hits = rng.standard_normal((batch, 2, samples)) * np.exp(-(t % period) / 0.06)
    tone = np.sin(2 * np.pi * rng.uniform(80.0, 400.0, (batch, 1, 1)) * t)
    x = hits + 0.5 * tone
    return (0.5 * x / np.abs(x).max(axis=(1, 2), keepdims=True)).astype(np.float32)


def _pedalboard_runner(boards: list, audio, pool):
    """A function that renders every clip through its own board, in ``pool`` (a thread pool) or inline."""
    def one(i):
        y = audio[i]
        for stage in boards[i]:
            y = stage(y, SAMPLE_RATE)
        return y

    if pool is None:
        return lambda: [one(i) for i in range(len(boards))]
    return lambda: list(pool.map(one, range(len(boards))))


def _backward_runner(graphs: list, audio):
    """Differentiable forward and backward: the gradient of the output's energy to every parameter and gain."""
    batch = Batch.from_data_list([g.to_hetero() for g in graphs])
    params, gains = batch[HETERO_NODE].params.float(), batch[HETERO_EDGE].gain.float()

    def run():
        batch[HETERO_NODE].params = params.clone().requires_grad_(True)
        batch[HETERO_EDGE].gain = gains.clone().requires_grad_(True)
        y = renderer.render(batch, audio, sample_rate=SAMPLE_RATE, grad=True)
        if y.requires_grad:  # not for in -> out
            y.square().mean().backward()
        return y.detach()
    return run


def _interleaved_medians(runners: dict, repeats: int) -> tuple:
    """Runs all runners in turn, :data:`WARMUP_ROUNDS` untimed rounds then ``repeats`` timed ones.

    The warm-up rounds are interleaved like the timed ones, so that every runner is timed in the state the
    others leave the process in. Returns the timings in seconds and the first outputs.
    """
    outputs = {name: fn() for name, fn in runners.items()}
    times = {name: [] for name in runners}
    for round_ in range(WARMUP_ROUNDS - 1 + repeats):
        for name, fn in runners.items():
            start = time.perf_counter()
            fn()
            if round_ >= WARMUP_ROUNDS - 1:
                times[name].append(time.perf_counter() - start)
    return {name: {"median_s": statistics.median(ts), "runs_s": ts} for name, ts in times.items()}, outputs


@contextlib.contextmanager
def _processor_clock(totals: dict):
    """While active, every processor call the renderer makes adds its seconds to ``totals[type]``."""
    lookup = renderer.get_processor

    def timed_lookup(name):
        fn = lookup(name)

        def timed(*args, **kwargs):
            start = time.perf_counter()
            out = fn(*args, **kwargs)
            totals[name] = totals.get(name, 0.0) + time.perf_counter() - start
            return out
        return timed

    renderer.get_processor = timed_lookup
    try:
        yield
    finally:
        renderer.get_processor = lookup


def _in_chain_split(render_chain, repeats: int, batch: int) -> dict:
    """ms per clip spent in each processor of a (warm) chain render, and in the renderer around them."""
    runs = []
    for _ in range(repeats):
        totals = {}
        with _processor_clock(totals):
            start = time.perf_counter()
            render_chain()
            total = time.perf_counter() - start
        totals["renderer"] = total - sum(totals.values())
        runs.append(totals)
    return {name: 1000.0 * statistics.median(r[name] for r in runs) / batch for name in runs[0]}


def _rates(timing: dict, batch: int, samples: int) -> dict:
    """Batch seconds -> ms per clip, clips per second and real-time factor."""
    seconds = timing["median_s"]
    return {**timing, "ms_per_clip": 1000.0 * seconds / batch, "clips_per_s": batch / seconds,
            "realtime_factor": batch * samples / SAMPLE_RATE / seconds}


def run_worker(threads: int, batch: int, samples: int, repeats: int, with_pedalboard: bool,
               equivalence: bool) -> dict:
    """All measurements of one thread configuration (this process' thread pools are already fixed).

    ``equivalence``: also compare the audio of both libraries (done once, by the first configuration).
    """
    torch.set_num_threads(threads)
    pool = ThreadPoolExecutor(max_workers=threads) if threads > 1 else None
    knobs = draw_knobs(batch, SEED)
    audio_np = dry_audio(batch, samples, SEED + 1)
    audio = torch.from_numpy(audio_np)
    load = os.getloadavg()

    def runners(types):
        graphs = [graphfx_graph(k, types) for k in knobs]
        out = {"graphfx_fast": lambda: renderer.render(graphs, audio, sample_rate=SAMPLE_RATE, grad=False),
               "graphfx_grad": lambda: renderer.render(graphs, audio, sample_rate=SAMPLE_RATE, grad=True),
               "graphfx_backward": _backward_runner(graphs, audio)}
        if with_pedalboard and types:
            out["pedalboard"] = _pedalboard_runner([pedalboard_chain(k, types) for k in knobs], audio_np, pool)
        return out

    log(f"[{threads} thread(s)] timing the chain")
    chain_runners = runners(CHAIN)
    chain, outputs = _interleaved_medians(chain_runners, repeats)
    chain = {name: _rates(t, batch, samples) for name, t in chain.items()}
    checks = {name: _check(torch.as_tensor(np.stack(y) if isinstance(y, list) else y))
              for name, y in outputs.items()}

    log(f"[{threads} thread(s)] timing the processors inside the chain")
    in_chain = {mode: _in_chain_split(chain_runners[f"graphfx_{mode}"], repeats, batch) for mode in ("fast", "grad")}

    if equivalence and with_pedalboard:
        log(f"[{threads} thread(s)] comparing the audio of both libraries")
        equivalence = _equivalence(knobs, audio_np, min(samples, 2 * SAMPLE_RATE))
    else:
        equivalence = None

    breakdown = {}
    for node_type in ("passthrough",) + CHAIN:
        log(f"[{threads} thread(s)] timing {node_type} alone")
        types = () if node_type == "passthrough" else (node_type,)
        timings, _ = _interleaved_medians(runners(types), repeats)
        breakdown[node_type] = {name: _rates(t, batch, samples) for name, t in timings.items()}

    return {"threads": threads, "load_average": {"before": load, "after": os.getloadavg()},
            "output_checks": checks, "equivalence": equivalence, "chain": chain, "in_chain": in_chain,
            "breakdown": breakdown, "versions": _versions(with_pedalboard),
            "torch_threads": torch.get_num_threads()}


def _equivalence(knobs: list, audio, samples: int, clips: int = 8) -> dict:
    """How far graphfx (fast, no energy normalization) is from pedalboard, per stage and for the chain.

    Median over the first ``clips`` clips of ``||graphfx - pedalboard|| / ||pedalboard||``
    on their first ``samples`` samples: 0 means the same audio.
    """
    knobs, audio = knobs[:clips], np.ascontiguousarray(audio[:clips, :, :samples])
    out = {}
    for name, types in [*((t, (t,)) for t in CHAIN), ("chain", CHAIN)]:
        graphs = [graphfx_graph(k, types) for k in knobs]
        ours = renderer.render(graphs, torch.from_numpy(audio), sample_rate=SAMPLE_RATE, normalize=False).numpy()
        theirs = np.stack(_pedalboard_runner([pedalboard_chain(k, types) for k in knobs], audio, None)())
        error = np.sqrt(((ours - theirs) ** 2).sum(axis=(1, 2)) / (theirs ** 2).sum(axis=(1, 2)))
        out[name] = float(np.median(error))
    return out


def _check(y) -> dict:
    """Sanity of a rendered batch ``[B, 2, T]``: all finite, and its RMS level."""
    return {"finite": bool(y.isfinite().all()), "rms": float(y.square().mean().sqrt())}


def _versions(with_pedalboard: bool) -> dict:
    versions = {"python": platform.python_version(), "torch": torch.__version__, "numba": numba.__version__,
                "numpy": np.__version__}
    if with_pedalboard:
        import pedalboard
        versions["pedalboard"] = pedalboard.__version__
    return versions


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- parent: spawn workers, summarize ----------------------------------------------
def spawn_worker(threads: int, args, with_pedalboard: bool, equivalence: bool) -> dict:
    """Runs one thread configuration in a fresh interpreter with the thread pools fixed."""
    env = dict(os.environ, **{v: str(threads) for v in THREAD_VARIABLES}, **ALLOCATOR)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker-threads", str(threads),
               "--worker-out", str(out), "--batch", str(args.batch), "--samples", str(args.samples),
               "--repeats", str(args.repeats)]
        if not with_pedalboard:
            cmd.append("--no-pedalboard")
        if equivalence:
            cmd.append("--equivalence")
        subprocess.run(cmd, env=env, check=True)
        return json.loads(out.read_text())


def ratios(run: dict) -> dict:
    """grad/fast slowdown and the pedalboard/graphfx speed-up (> 1: graphfx faster per clip)."""
    chain = run["chain"]
    fast = chain["graphfx_fast"]["median_s"]
    out = {"grad_over_fast": chain["graphfx_grad"]["median_s"] / fast,
           "backward_over_fast": chain["graphfx_backward"]["median_s"] / fast}
    if "pedalboard" in chain:
        for mode in ("fast", "grad"):
            ours = chain[f"graphfx_{mode}"]["median_s"]
            out[f"speedup_{mode}_vs_pedalboard"] = chain["pedalboard"]["median_s"] / ours
    return out


def print_report(report: dict) -> None:
    console = Console()
    if not console.is_terminal:  # a log file: room for the widest table
        console.width = 120
    s = report["settings"]
    loads = ", ".join(f"{t} thread(s): {r['load_average']['before'][0]:.1f}" for t, r in report["runs"].items())
    chain = Table(title=f"10-node chain, batch {s['batch']}, {s['samples']} samples stereo at {SAMPLE_RATE} Hz "
                        f"(median of {s['repeats']})", caption=f"1-minute load average at the start: {loads}")
    for col in ("threads", "renderer", "ms / clip", "clips / s", "real-time factor", "speed-up vs pedalboard"):
        chain.add_column(col, justify="right" if col != "renderer" else "left")
    for threads, run in report["runs"].items():
        r = run["ratios"]
        for name, m in run["chain"].items():
            mode = name.split("_")[-1]
            speedup = r.get(f"speedup_{mode}_vs_pedalboard")
            chain.add_row(threads, name.replace("_", " "), f"{m['ms_per_clip']:.2f}", f"{m['clips_per_s']:.1f}",
                          f"{m['realtime_factor']:.0f}x",
                          "-" if name == "pedalboard" or speedup is None else f"{speedup:.2f}x")
        chain.add_row(threads, "grad / fast", f"{r['grad_over_fast']:.2f}x", "", "", "")
        chain.add_row(threads, "grad + backward / fast", f"{r['backward_over_fast']:.2f}x", "", "", "",
                      end_section=True)
    console.print(chain)

    for threads, run in report["runs"].items():
        console.print(_breakdown_table(threads, run))
    equivalence = report["equivalence"]
    if equivalence:
        console.print("Relative difference graphfx vs pedalboard (no energy normalization; 0 = same audio): "
                      + ", ".join(f"{name} {err:.3g}" for name, err in equivalence.items()))


def _breakdown_table(threads: str, run: dict):
    """Where the time goes: each processor inside the chain, and rendered alone in both libraries."""
    table = Table(title=f"Processors, ms per clip, {threads} thread(s)",
                  caption="chain: time inside each processor call of the chain render (renderer: the rest); "
                          "alone: in -> type -> out (passthrough: in -> out), speed-up = pedalboard / alone fast; "
                          "imager and pan: numpy in the pedalboard column")
    for col in ("type", "chain fast", "share", "chain grad", "alone fast", "alone grad", "alone grad+bwd",
                "pedalboard", "speed-up"):
        table.add_column(col, justify="left" if col == "type" else "right")
    fast_in, grad_in = run["in_chain"]["fast"], run["in_chain"]["grad"]
    total = sum(fast_in.values())
    for name in ["passthrough", "lfo", *CHAIN, "renderer"]:
        alone = run["breakdown"].get(name, {})
        fast = alone["graphfx_fast"]["ms_per_clip"] if alone else None
        pb = alone["pedalboard"]["ms_per_clip"] if "pedalboard" in alone else None

        def ms(value):
            return "-" if value is None else f"{value:.2f}"
        table.add_row(name, ms(fast_in.get(name)), f"{100 * fast_in[name] / total:.0f}%" if name in fast_in else "",
                      ms(grad_in.get(name)), ms(fast), ms(alone["graphfx_grad"]["ms_per_clip"] if alone else None),
                      ms(alone["graphfx_backward"]["ms_per_clip"] if alone else None),
                      ms(pb), "-" if pb is None else f"{pb / fast:.2f}x")
    return table


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=32, help="clips (parameter sets) per render (default 32)")
    parser.add_argument("--samples", type=int, default=160000, help="samples per clip (default 160000)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per measurement; the median is kept")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke check: batch 4, 8000 samples, 1 repeat; writes no file unless --out is given")
    parser.add_argument("--out", type=Path, default=None, help=f"JSON result path (default {DEFAULT_OUT})")
    parser.add_argument("--worker-threads", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--no-pedalboard", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--equivalence", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.batch, args.samples, args.repeats = 4, 8000, 1
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.worker_threads:
        result = run_worker(args.worker_threads, args.batch, args.samples, args.repeats, not args.no_pedalboard,
                            args.equivalence)
        args.worker_out.write_text(json.dumps(result))
        return

    with_pedalboard = importlib.util.find_spec("pedalboard") is not None
    if not with_pedalboard:
        print("pedalboard is not installed: timing graphfx only and skipping the comparison "
              "(it is not a graphfx dependency; `pip install pedalboard` to compare).")
    started = time.perf_counter()
    runs = {}
    for i, threads in enumerate(int(t) for t in args.threads.split(",")):
        run = spawn_worker(threads, args, with_pedalboard, equivalence=i == 0)
        run["ratios"] = ratios(run)
        runs[str(threads)] = run
    first = next(iter(runs.values()))
    versions, equivalence = first.pop("versions"), first.pop("equivalence")
    for run in runs.values():
        run.pop("versions", None)
        run.pop("equivalence", None)
    report = {
        "benchmark": "render_speed",
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "git_revision": git_revision(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "hardware": hardware(),
        "versions": versions,
        "settings": {"batch": args.batch, "samples": args.samples, "sample_rate": SAMPLE_RATE,
                     "repeats": args.repeats, "seed": SEED, "chain": list(CHAIN), "knob_ranges": KNOB_RANGES,
                     "environment": {**{v: "<threads>" for v in THREAD_VARIABLES}, **ALLOCATOR}},
        "equivalence": equivalence,
        "runs": runs,
        "total_wall_s": time.perf_counter() - started,
    }
    print_report(report)
    out = args.out or (None if args.quick else DEFAULT_OUT)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=1) + "\n")
        print(f"wrote {out} ({report['total_wall_s']:.0f} s in all)")


if __name__ == "__main__":
    main()
