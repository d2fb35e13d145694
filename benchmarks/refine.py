"""Greedy estimate vs hypothesis search vs search + refinement, on a dataset's unseen split (issue 15).

For each clip: (a) the greedy estimate, (b) the search's choice among ``--candidates`` (consensus
ranking, graphfx.estimate), (c) (b) refined for ``--refine`` steps against the dry signal; each scored
by MSS-full (the estimate rendering the clip's dry signal, against the reference:
graphfx.losses.mss_loss, levels not matched) and node-type IOU (graphfx.metrics.node_type_iou), with
the time it took. Greedy and search run on ``--clips`` clips, refinement (slow) on the first
``--refine-clips`` of them. Means with 95% intervals, and the paired differences to greedy on the same
clips (IOU gain, MSS-full ratio) with theirs; the refine row's MSS-full against greedy's on its clips
is ``mss_full_greedy``. Node error is not measured: it needs the teacher-forced predictions of
graphfx.bench, which a free-running estimate has not. Singing datasets only.

    python benchmarks/refine.py --data bench/data --checkpoint bench/runs/tokengt/best.pt
"""
from __future__ import annotations

import argparse
import time

import torch

from graphfx.datasets import GraphFXDataset
from graphfx.estimate import CANDIDATES, estimate
from graphfx.estimator import load_estimator
from graphfx.losses import mss_loss
from graphfx.metrics import mean_ci, node_type_iou
from graphfx.provenance import write_result
from graphfx.renderer import render

SYSTEMS = {"greedy": dict(candidates=1, refine=0), "search": dict(refine=0), "refine": dict()}


def run(data: str, checkpoint: str, clips: int, refine_clips: int, candidates: int, steps: int) -> dict:
    model = load_estimator(checkpoint)
    rate = model.config.encoder["sample_rate"]
    dataset = GraphFXDataset(data, split="unseen")
    rows = {name: [] for name in SYSTEMS}
    for i in range(min(clips, len(dataset))):
        item = dataset[i]
        truth, reference, dry = item.graph, item.reference[0], item.dry[0]
        for name, options in SYSTEMS.items():
            if name == "refine" and i >= refine_clips:
                continue  # the slow stage on the first clips only
            options = {"candidates": candidates, "refine": steps, **options}
            start = time.perf_counter()
            graph, _ = estimate(reference, rate, dry, checkpoint=model, clip_seconds=reference.shape[-1] / rate,
                                **options)
            seconds = time.perf_counter() - start
            with torch.no_grad():
                wet = render(graph, dry[None], sample_rate=rate)
            rows[name].append({"mss_full": float(mss_loss(wet, reference[None])[0]),
                               "iou": node_type_iou(truth, graph), "seconds": seconds})
    results = {name: {key: mean_ci(r[key] for r in results) for key in ("mss_full", "iou", "seconds")}
               for name, results in rows.items()}
    for name in ("search", "refine"):  # paired with greedy, clip by clip
        pairs = list(zip(rows[name], rows["greedy"]))  # zip stops at the shorter: refine's clips
        results[name]["iou_gain"] = mean_ci(r["iou"] - g["iou"] for r, g in pairs)
        results[name]["mss_full_ratio"] = mean_ci(r["mss_full"] / g["mss_full"] for r, g in pairs)
        results[name]["mss_full_greedy"] = mean_ci(g["mss_full"] for _, g in pairs)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="a singing dataset made by graphfx generate")
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--clips", type=int, default=200, help="unseen clips of greedy and search [200]")
    parser.add_argument("--refine-clips", type=int, default=50, help="the first clips also refined [50]")
    parser.add_argument("--candidates", type=int, default=CANDIDATES)
    parser.add_argument("--refine", type=int, default=150, help="refinement steps")
    parser.add_argument("--out", default=None, help="also write the results here (JSON)")
    args = parser.parse_args()
    results = run(args.data, args.checkpoint, args.clips, args.refine_clips, args.candidates, args.refine)
    for name, metrics in results.items():
        print(name, "  ".join(f"{k} {m:.3f} ± {ci:.3f}" for k, (m, ci) in metrics.items()))
    if args.out:
        print(f"wrote {write_result(args.out, {'args': vars(args), 'results': results})}")


if __name__ == "__main__":
    main()
