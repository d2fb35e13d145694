"""Training and validation curves of a ``graphfx bench`` folder, side by side.

Reads the TensorBoard runs under ``BENCH/runs`` (one per system), averages
each training scalar over windows of ``--window`` logged steps (single
batches are noisy), takes the validation losses (seen split, logged at each
checkpoint) as they are, and writes them to a JSON file and, with matplotlib
installed (``pip install -e '.[plot]'``), a PNG: training solid, validation
dashed, so over-fitting shows as the dashed line rising while the solid one
falls. This is how to see whether a system learns from the audio: with an
informative latent, tokengt's ``proc_type`` loss falls below ``no_latent``'s.

    python benchmarks/curves.py bench-cpu --out benchmarks/results/curves_cpu_singing
"""
import argparse
import json
import os
import sys

import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

TAGS = ("loss", "proc_type", "src", "params", "gains", "presence")


def read_curves(run_dir: str, window: int):
    """``{"train/tag" or "val/tag": [(step, value), ...]}`` of one TensorBoard run (training values averaged
    over windows of ``window`` logged steps)."""
    events = EventAccumulator(run_dir, size_guidance={"scalars": 0})
    events.Reload()
    curves = {}
    for split, size in (("train", window), ("val", 1)):
        for tag in TAGS:
            if f"{split}/{tag}" not in events.Tags()["scalars"]:
                continue
            by_step = {e.step: e.value for e in events.Scalars(f"{split}/{tag}")}  # a resumed run logs a step once
            steps = sorted(by_step)
            curves[f"{split}/{tag}"] = [(chunk[-1], float(np.mean([by_step[s] for s in chunk])))
                                        for chunk in (steps[i:i + size] for i in range(0, len(steps), size))]
    return curves


def plot(curves, path: str) -> bool:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    tags = [t for t in TAGS if any(f"train/{t}" in runs for runs in curves.values())]
    fig, axes = plt.subplots(1, len(tags), figsize=(4 * len(tags), 3.2), squeeze=False)
    colors = {system: f"C{i}" for i, system in enumerate(curves)}  # the same colour in every panel
    for ax, tag in zip(axes[0], tags):
        for system, runs in curves.items():
            for split, style in (("train", "-"), ("val", "--")):
                if f"{split}/{tag}" in runs:
                    steps, values = zip(*runs[f"{split}/{tag}"])
                    ax.plot(steps, values, style, color=colors[system], marker="." if split == "val" else None)
        ax.set_title(tag)
        ax.set_xlabel("step")
    handles = [plt.Line2D([], [], color=c, label=s) for s, c in colors.items()]
    handles += [plt.Line2D([], [], color="k", linestyle="--", label="validation (seen)")]
    axes[0][0].legend(handles=handles, fontsize=7)
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
        for key in ("train/proc_type", "val/proc_type"):
            if key in runs:
                print(f"{name:16s} {key:15s} " + " ".join(f"{s}:{v:.2f}" for s, v in runs[key][::3]))


if __name__ == "__main__":
    main()
