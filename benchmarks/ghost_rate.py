"""Ghost rate of the synthetic datasets: how many processors do not change the output.

Generates graph-reference pairs exactly as ``graphfx generate`` does, bypasses
every processor in turn and measures the largest level change of the output
in any audible third-octave band, in dB (:mod:`graphfx.synth.ghosts`). Target (issue 4): at most 5%
of nodes change the output by 1 dB or less.

    python benchmarks/ghost_rate.py --task singing --num 64
    python benchmarks/ghost_rate.py --task drums --num 192 --start 1000
"""
import argparse
import os
import sys
import time

import torch
from rich.console import Console
from rich.table import Table

from graphfx.provenance import write_result
from graphfx.sources import make_source
from graphfx.synth.ghosts import ghost_report
from graphfx.synth.pairs import make_pairs


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=["singing", "drums"], default="singing")
    parser.add_argument("--num", type=int, default=64, help="graphs to examine")
    parser.add_argument("--start", type=int, default=0,
                        help="first example seed (seeds start .. start + num - 1; pick unseen ones after changing the rules)")
    parser.add_argument("--samples", type=int, default=160000, help="clip length (paper: 160000 = 3.63 s)")
    parser.add_argument("--sample-rate", type=int, default=44100)
    parser.add_argument("--threshold-db", type=float, default=1.0)
    parser.add_argument("--list", action="store_true",
                        help="also print every ghost: seed, node, track, change in dB, parameters, neighbours")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    args = parser.parse_args()
    if args.num < 1 or args.start < 0 or args.samples < 1 or args.sample_rate < 1:
        print("ghost_rate: error: --num, --samples and --sample-rate must be >= 1 and --start >= 0", file=sys.stderr)
        sys.exit(2)

    start = time.time()
    source = make_source(args.task, sample_rate=args.sample_rate)
    pairs = []
    end = args.start + args.num
    for first in range(args.start, end, 16):
        pairs += make_pairs(source, range(first, min(end, first + 16)), "train", args.samples)
    report = ghost_report([p.graph for p in pairs],
                          [{k: torch.from_numpy(v) for k, v in p.dry.items()} for p in pairs],
                          args.sample_rate, args.threshold_db)
    elapsed = time.time() - start

    console = Console()
    table = Table(title=f"ghost rate, {args.task}: {len(report.types)} processors in {len(pairs)} graphs")
    table.add_column("type")
    table.add_column("nodes", justify="right")
    table.add_column("ghost rate", justify="right")
    counts = {t: report.types.count(t) for t in set(report.types)}
    for node_type, rate in report.by_type().items():
        table.add_row(node_type, str(counts[node_type]), f"{rate:.2f}")
    for place, rate in report.by_place().items():
        table.add_row(f"[italic]on the {place}[/italic]", str(report.places.count(place)), f"{rate:.2f}")
    table.add_row("[bold]all[/bold]", str(len(report.types)), f"[bold]{report.ghost_rate:.3f}[/bold]")
    console.print(table)
    if args.list:
        for index, node_id, _, db in report.ghosts():
            graph = pairs[index].graph
            node = graph.node(node_id)
            params = {k: round(v, 2) for k, v in node.params.items()}
            ins = [f"{e.src}.{e.outlet}->{e.inlet}" for e in graph.in_edges(node_id)]
            outs = [f"{e.inlet}@{e.dst} x{e.gain:g}" for e in graph.out_edges(node_id)]
            console.print(f"seed {pairs[index].seed} {node_id} ({node.track}) {db:.2f} dB {params} "
                          f"in: {', '.join(ins)} out: {', '.join(outs)}", markup=False, highlight=False)

    result = {"task": args.task, "graphs": len(pairs), "first_seed": args.start, "processors": len(report.types),
              "threshold_db": args.threshold_db, "ghost_rate": report.ghost_rate, "by_type": report.by_type(),
              "by_place": report.by_place(),
              "samples": args.samples, "sample_rate": args.sample_rate, "seconds": round(elapsed, 1)}
    path = write_result(os.path.join(args.out, f"ghost_rate_{args.task}.json"), result)
    console.print(f"wrote {path} ({elapsed:.0f} s)")


if __name__ == "__main__":
    main()
