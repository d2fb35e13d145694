"""Training curves of a ``graphfx bench`` folder, side by side.

Reads the TensorBoard runs under ``BENCH/runs`` (one per system), averages
each training scalar over windows of ``--window`` logged steps (single
batches are noisy), and writes them to a JSON file and, with matplotlib
installed (``pip install -e '.[plot]'``), a PNG. This is how to see whether a
system learns from the audio: with an informative latent, tokengt's
``proc_type`` loss falls below ``no_latent``'s.

    python benchmarks/curves.py bench-cpu --out benchmarks/results/curves_cpu_singing
"""
import argparse
import json
import os
import sys

import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

TAGS = ("loss", "proc_type", "src", "params")


def read_curves(run_dir: str, window: int):
    """``{tag: [(last step of window, mean value), ...]}`` of one TensorBoard run."""
    events = EventAccumulator(run_dir, size_guidance={"scalars": 0})
    events.Reload()
    curves = {}
    for tag in TAGS:
        if f"train/{tag}" not in events.Tags()["scalars"]:
            continue
        by_step = {e.step: e.value for e in events.Scalars(f"train/{tag}")}  # a resumed run logs a step once
        steps = sorted(by_step)
        curves[tag] = [(chunk[-1], float(np.mean([by_step[s] for s in chunk])))
                       for chunk in (steps[i:i + window] for i in range(0, len(steps), window))]
    return curves


def plot(curves, path: str) -> bool:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, axes = plt.subplots(1, len(TAGS), figsize=(4 * len(TAGS), 3.2))
    colors = {system: f"C{i}" for i, system in enumerate(curves)}  # the same colour in every panel
    for ax, tag in zip(axes, TAGS):
        for system, runs in curves.items():
            if tag in runs:
                steps, values = zip(*runs[tag])
                ax.plot(steps, values, label=system, color=colors[system])
        ax.set_title(f"train/{tag}")
        ax.set_xlabel("step")
    handles = [plt.Line2D([], [], color=c, label=s) for s, c in colors.items()]
    axes[0].legend(handles=handles, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bench", help="a graphfx bench --out folder")
    parser.add_argument("--out", required=True, help="output path without extension (.json and .png are written)")
    parser.add_argument("--window", type=int, default=8, help="logged steps averaged per point")
    args = parser.parse_args()
    runs = os.path.join(args.bench, "runs")
    if not os.path.isdir(runs):
        print(f"error: no runs folder in {args.bench}", file=sys.stderr)
        sys.exit(2)
    curves = {name: read_curves(os.path.join(runs, name), args.window) for name in sorted(os.listdir(runs))}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out + ".json", "w") as f:
        json.dump(curves, f, indent=1)
    print(f"wrote {args.out}.json" + (f" and {args.out}.png" if plot(curves, args.out + ".png") else ""))
    for name, runs in curves.items():
        if "proc_type" in runs:
            print(f"{name:16s} proc_type " + " ".join(f"{s}:{v:.2f}" for s, v in runs["proc_type"][::3]))


if __name__ == "__main__":
    main()
