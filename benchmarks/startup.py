"""Start-up time of the ``graphfx`` command line: how long a light command takes, imports included.

Each command runs ``--repeats`` times in a fresh process (the way a user runs
it) and the median wall time is kept; a separate run of the same command in
Python reports whether it imported torch (the heavy import: torch, PyG and
numba are meant for the commands that compute). Target: under 1.5 s each.

Usage (from the repository root)::

    .venv/bin/python benchmarks/startup.py              # prints a table, writes results/startup.json
    .venv/bin/python benchmarks/startup.py --repeats 3
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from rich.console import Console
from rich.table import Table

from graphfx.provenance import write_result

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GRAPH = os.path.join(ROOT, "examples", "graphs", "gated_reverb.json")
TARGET_S = 1.5


def commands(work: str):
    """The light commands and their arguments."""
    return {"graphfx --help": ["--help"], "graphfx processors": ["processors"],
            "graphfx validate": ["validate", GRAPH], "graphfx draw": ["draw", GRAPH, "-o", os.path.join(work, "g.png")]}


def executable():
    """The ``graphfx`` script next to this Python (as installed), else ``python -m graphfx.cli``."""
    script = os.path.join(os.path.dirname(sys.executable), "graphfx")
    return [script] if os.path.exists(script) else [sys.executable, "-m", "graphfx.cli"]


def wall_time(args) -> float:
    start = time.perf_counter()
    subprocess.run(executable() + args, check=True, capture_output=True)
    return time.perf_counter() - start


def imports_torch(args) -> bool:
    code = ("import sys\nfrom graphfx.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "print('torch' in sys.modules, file=sys.stderr)\n")
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    return result.stderr.strip().splitlines()[-1] == "True"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="runs per command; the median is kept")
    parser.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "startup.json"))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for name, argv in commands(work).items():
            wall_time(argv)  # warm the file cache once
            times = [wall_time(argv) for _ in range(args.repeats)]
            rows.append({"command": name, "median_s": statistics.median(times), "min_s": min(times),
                         "max_s": max(times), "imports_torch": imports_torch(argv)})
    table = Table(title=f"start-up, median of {args.repeats} runs (target under {TARGET_S} s)")
    for column in ("command", "median s", "min s", "max s", "imports torch", "met"):
        table.add_column(column, justify="left" if column == "command" else "right")
    for r in rows:
        table.add_row(r["command"], f"{r['median_s']:.2f}", f"{r['min_s']:.2f}", f"{r['max_s']:.2f}",
                      "yes" if r["imports_torch"] else "no", "yes" if r["median_s"] < TARGET_S else "no")
    Console(width=120).print(table)
    print(f"wrote {write_result(args.out, {'repeats': args.repeats, 'target_s': TARGET_S, 'rows': rows})}")


if __name__ == "__main__":
    main()
