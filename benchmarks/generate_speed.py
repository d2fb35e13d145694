"""Generation speed: graph-reference pairs per second per core, at the paper's clip format.

Lee et al. (2023) train on 300k singing and 450k drum pairs of stereo
44.1 kHz audio, 160 000 samples ("3.63 s") each. Issue 4 asks for at least 20
pairs/s per core, so that 300k pairs take under 5 hours on a 2-core machine.

For each task this script runs, in this process with every thread pool fixed
to one thread (set before numpy, torch or numba are imported):

1. a warm-up (numba compiles or loads its cache, the source builds its kits
   or voices), not timed;
2. **end to end**: :func:`graphfx.synth.generate.generate` writing ``--num``
   stored pairs (graphs.jsonl, reference.npy, dry.npy shards) to a temporary
   directory, as ``graphfx generate --workers 1`` does;
3. **breakdown** over the same seeds: drawing the dry clips
   (``source.clip``), drawing prototype graphs (``sample_prototype``), and
   the whole of :func:`graphfx.synth.pairs.make_pairs` (clips + prototypes +
   adaptive-parameter rendering + LTI reordering); "render" is the
   difference.

Usage (from the repository root)::

    .venv/bin/python benchmarks/generate_speed.py                  # both tasks, 64 pairs each
    .venv/bin/python benchmarks/generate_speed.py --task drums --num 128
    .venv/bin/python benchmarks/generate_speed.py --quick          # smoke check, writes nothing

Results go to ``benchmarks/results/generate_speed.json`` (hardware, versions,
git revision, date, load average).
"""
import os

for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS",
                  "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from graphfx import catalog  # noqa: E402
from graphfx.provenance import git_revision, hardware  # noqa: E402
from graphfx.sources import make_source  # noqa: E402
from graphfx.synth.generate import DatasetSpec, example_seed, generate  # noqa: E402
from graphfx.synth.pairs import graph_seed, make_pairs  # noqa: E402
from graphfx.synth.prototype import PrototypeConfig, sample_prototype  # noqa: E402

DEFAULT_OUT = HERE / "results" / "generate_speed.json"
SAMPLE_RATE, SAMPLES = 44100, 160000
TARGET = 20.0  # pairs/s per core (issue 4)


def measure(task: str, num: int, batch_size: int, samples: int, rate: int) -> dict:
    spec = DatasetSpec(task, num, 0, seed=12345, sample_rate=rate, num_samples=samples, shard_size=num)
    source, config = make_source(task, sample_rate=rate), PrototypeConfig()
    with tempfile.TemporaryDirectory(prefix="graphfx-bench-") as tmp:
        start = time.perf_counter()
        warm_up(source, config, samples, rate, batch_size)
        generate(os.path.join(tmp, "warm"), DatasetSpec(task, batch_size, 0, seed=999, sample_rate=rate,
                                                        num_samples=samples, shard_size=batch_size),
                 batch_size=batch_size, source=source)
        warmup = time.perf_counter() - start
        report = generate(os.path.join(tmp, "timed"), spec, batch_size=batch_size, source=source)
        size = sum(f.stat().st_size for f in Path(tmp, "timed").rglob("*") if f.is_file())

    seeds = [example_seed(spec.seed, "train", i) for i in range(num)]
    start = time.perf_counter()
    clips = [source.clip("train", s, samples) for s in seeds]
    clip_s = time.perf_counter() - start
    start = time.perf_counter()
    graphs = [sample_prototype(random.Random(graph_seed(s, "train")), config, tuple(c), rate)
              for s, c in zip(seeds, clips)]
    proto_s = time.perf_counter() - start
    start = time.perf_counter()
    for first in range(0, num, batch_size):
        make_pairs(source, seeds[first:first + batch_size], "train", samples, config)
    pairs_s = time.perf_counter() - start
    nodes = [len(g.nodes) for g in graphs]
    return {
        "task": task, "pairs": num, "batch_size": batch_size, "warmup_s": round(warmup, 2),
        "end_to_end": {"seconds": round(report.seconds, 3), "pairs_per_s": round(num / report.seconds, 2),
                       "ms_per_pair": round(1000 * report.seconds / num, 1), "bytes_written": size},
        "make_pairs": {"seconds": round(pairs_s, 3), "pairs_per_s": round(num / pairs_s, 2)},
        "breakdown_ms_per_pair": {"dry_clips": round(1000 * clip_s / num, 1),
                                  "prototypes": round(1000 * proto_s / num, 1),
                                  "render_adaptive_reorder": round(1000 * (pairs_s - clip_s - proto_s) / num, 1),
                                  "writing_shards": round(1000 * (report.seconds - pairs_s) / num, 1)},
        "nodes_per_graph": round(float(np.mean(nodes)), 1),
        "meets_target": num / report.seconds >= TARGET,
    }


def warm_up(source, config, samples: int, rate: int, batch_size: int) -> None:
    """Builds every voice/kit of the source and renders every processor type once (numba compiles or
    loads its cache on a kernel's first call), with seeds far from the timed ones."""
    for name in source.names("train"):
        source.clip("train", 0, samples, name=name)
    wanted, seen, chosen = set(catalog.PROCESSORS), set(), []
    for seed in range(10**9, 10**9 + 2000):
        clip = source.clip("train", seed, samples)
        graph = sample_prototype(random.Random(graph_seed(seed, "train")), config, tuple(clip), rate)
        types = {n.type for n in graph.nodes} & wanted
        if types - seen:
            seen |= types
            chosen.append(seed)
        if seen == wanted:
            break
    for first in range(0, len(chosen), batch_size):
        make_pairs(source, chosen[first:first + batch_size], "train", samples, config)



def versions() -> dict:
    import numba
    import torch_geometric

    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
            "numba": numba.__version__, "torch_geometric": torch_geometric.__version__}



def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", choices=("singing", "drums", "both"), default="both")
    parser.add_argument("--num", type=int, default=64, help="pairs timed per task")
    parser.add_argument("--batch-size", type=int, default=8, help="pairs synthesized together (graphfx generate's)")
    parser.add_argument("--quick", action="store_true", help="tiny smoke run (8 pairs, 0.25 s clips); writes nothing")
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args(argv)
    tasks = ("singing", "drums") if args.task == "both" else (args.task,)
    samples, num = (11025, 8) if args.quick else (SAMPLES, args.num)
    torch.set_num_threads(1)
    load = os.getloadavg()
    results = []
    for task in tasks:
        print(f"{task}: {num} pairs of {samples} samples, stereo, {SAMPLE_RATE} Hz, 1 thread ...", flush=True)
        r = measure(task, num, args.batch_size, samples, SAMPLE_RATE)
        results.append(r)
        b = r["breakdown_ms_per_pair"]
        print(f"  end to end {r['end_to_end']['pairs_per_s']:.2f} pairs/s ({r['end_to_end']['ms_per_pair']} ms/pair; "
              f"target {TARGET:g}: {'met' if r['meets_target'] else 'NOT met'}); make_pairs "
              f"{r['make_pairs']['pairs_per_s']:.2f} pairs/s; ms/pair: clips {b['dry_clips']}, prototypes "
              f"{b['prototypes']}, render {b['render_adaptive_reorder']}, writing {b['writing_shards']}; "
              f"{r['nodes_per_graph']} nodes/graph", flush=True)
    if args.quick:
        return
    report = {"benchmark": "generate_speed",
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "git_revision": git_revision(),
              "command": " ".join(["python", "benchmarks/generate_speed.py", *sys.argv[1:]]),
              "hardware": hardware(), "versions": versions(), "threads": 1,
              "load_average_at_start": [round(x, 2) for x in load],
              "clip": {"samples": samples, "sample_rate": SAMPLE_RATE, "channels": 2},
              "target_pairs_per_s_per_core": TARGET, "results": results}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
