"""Trains tokengt with one variant of the ``cpu`` recipe (issue 12: what the parameter stage needs).

Variants, each measured on the same data and budget (results in benchmarks/README.md, "The cpu recipe"):

* ``plain``: the preset without the parameter-summary loss (``summary_weight=0``);
* ``summary``: the preset as it is (the parameter-summary loss on);
* ``queries8``: ``plain`` with 8 learned pooling queries instead of 1.

Evaluate the run with ``graphfx bench --preset cpu --decoder tokengt --checkpoint RUN/best.pt --data DATA``.

    python benchmarks/cpu_recipe_experiment.py summary runs/summary --data bench/data-singing-cpu
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace

from graphfx.dataformat import read_meta
from graphfx.errors import GraphFXError
from graphfx.estimator import estimator_config
from graphfx.presets import PRESETS
from graphfx.train import train

VARIANTS = ("plain", "summary", "queries8")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variant", choices=VARIANTS)
    parser.add_argument("out", help="run directory (resumed if it has a checkpoint)")
    parser.add_argument("--data", required=True, help="a dataset at the cpu format (graphfx generate)")
    parser.add_argument("--steps", type=int, default=PRESETS["cpu"].train.steps)
    args = parser.parse_args()

    try:
        meta = read_meta(args.data)
    except GraphFXError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    preset = PRESETS["cpu"] if args.variant == "summary" else replace(PRESETS["cpu"], summary_weight=0.0)
    config = estimator_config(preset, meta["task"], "tokengt", sample_rate=meta["sample_rate"],
                              tracks=meta["tracks"])
    if args.variant == "queries8":
        config.encoder["num_queries"] = 8
    steps = replace(preset.train, steps=args.steps)

    def report(step, losses):
        if step % 250 == 0 or step == steps.steps:
            print(step, {k: round(v, 4) for k, v in losses.items()}, flush=True)

    try:
        print(train(args.data, args.out, config, steps, on_step=report))
    except (GraphFXError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
