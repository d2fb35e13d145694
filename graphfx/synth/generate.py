"""Writing graph-reference datasets: sharded, deterministic, resumable.

The generation step of Section 4.1 of "Blind Estimation of Audio Processing
Graph" (Lee et al., ICASSP 2023) <https://arxiv.org/abs/2303.08257>: many
:func:`~graphfx.synth.pairs.make_pairs` examples written as the directory
layout of :mod:`graphfx.dataformat`.

* **Deterministic.** Example ``i`` of split ``s`` is synthesized from
  :func:`example_seed` ``(seed, s, i)`` alone, and every shard is written by
  one process in a fixed order, so a shard's files are the same bytes whoever
  writes it (for the same graphfx, numpy and torch builds on the same CPU
  family; floating-point kernels may differ across instruction sets).
* **Sharded.** The shards of all splits are numbered in one sequence
  (train, then seen, then unseen); ``shard=(I, N)`` writes only those whose
  number is ``I`` modulo ``N``, so ``N`` machines can split one dataset and
  their directories merge by copying.
* **Resumable.** A shard is written into a hidden temporary directory and
  renamed into place when complete; a rerun skips the shards that exist and
  deletes leftover temporary directories of the shards it owns.
* **Lazy mode** stores only ``graphs.jsonl`` (graphs, seeds, tracks); the
  dataset synthesizes the audio again on access.
"""
from __future__ import annotations

import contextlib
import json
import math
import multiprocessing
import os
import queue as queue_lib
import shutil
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from graphfx.dataformat import (DRY_FILE, FORMAT, GRAPHS_FILE, META_FILE, REFERENCE_FILE, SPLITS, VERSION, DatasetError,
                                dry_matrix, graph_line, num_shards, read_meta, shard_name, shard_range, tracks_of)
from graphfx.errors import GraphFXError
from graphfx.files import write_text_atomic
from graphfx.sources import describe_source, make_source_from_meta, open_source
from graphfx.synth.prototype import PrototypeConfig

#: The paper's clips: 160 000 samples at 44.1 kHz ("3.63 s").
PAPER_SAMPLES = 160000
PAPER_RATE = 44100
DEFAULT_SECONDS = PAPER_SAMPLES / PAPER_RATE
#: Environment fixing every thread pool to one thread; set before torch/numba/numpy start in a worker.
THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
              "NUMBA_NUM_THREADS": "1", "VECLIB_MAXIMUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1"}
_SPLIT_CODE = {"train": 0, "seen": 1, "unseen": 2}
#: Version of the synthesis rules, recorded in dataset.json: raised whenever a seed would synthesize another
#: example (parameter rules, motifs, sources, kernels), so that resuming a dataset made by older rules is refused
#: instead of mixing two kinds of examples. 2: auditioned adaptive parameters (drum ghost rate 4.8%).
#: 3: energy normalization sums the same bits whatever the batch (drum data no longer depend on --batch-size).
SYNTHESIS = 3
#: Validation examples per split below which metrics have wide or no confidence intervals (a warning says so).
MIN_VALIDATION = 8
#: dataset.json fields that may differ between two runs writing the same dataset.
_INFORMATIVE = {("source", "root"), ("source", "description")}


def example_seed(seed: int, split: str, index: int) -> int:
    """The synthesis seed of example ``index`` of ``split`` in a dataset made with ``seed`` (63 bits)."""
    state = np.random.SeedSequence([int(seed), _SPLIT_CODE[split], int(index)]).generate_state(1, np.uint64)[0]
    return int(state >> np.uint64(1))


def parse_shard(text: str) -> Tuple[int, int]:
    """``"I/N"`` -> ``(I, N)`` with ``0 <= I < N``; :class:`GraphFXError` otherwise."""
    try:
        i, n = (int(part) for part in str(text).split("/"))
    except ValueError:
        raise GraphFXError(f"--shard must look like I/N (e.g. 0/4), got {text!r}") from None
    if n < 1 or not 0 <= i < n:
        raise GraphFXError(f"--shard {text}: need 0 <= I < N")
    return i, n


@dataclass
class DatasetSpec:
    """What to generate; becomes ``dataset.json``.

    Args:
        task: ``"singing"`` or ``"drums"``.
        num_train: examples in ``"train"``.
        num_val: examples in each of ``"seen"`` and ``"unseen"`` (default ``num_train // 10``, at least
            :data:`MIN_VALIDATION` but at most ``num_train``).
        seed: dataset seed; example seeds derive from it (:func:`example_seed`).
        sample_rate: Hz.
        num_samples: clip length (default: the paper's 160 000 samples at 44.1 kHz, scaled to ``sample_rate``).
        shard_size: examples per shard.
        lazy: store graphs and seeds only; audio is synthesized on access.
        sources: folder of dry recordings (:class:`~graphfx.sources.FolderSource`); built-in synthetic sources
            when ``None``.
        prototype: the prototype-graph configuration.
    """

    task: str
    num_train: int
    num_val: Optional[int] = None
    seed: int = 0
    sample_rate: int = PAPER_RATE
    num_samples: Optional[int] = None
    shard_size: int = 256
    lazy: bool = False
    sources: Optional[str] = None
    prototype: PrototypeConfig = field(default_factory=PrototypeConfig)

    def __post_init__(self):
        if self.task not in ("singing", "drums"):
            raise GraphFXError(f"--task must be singing or drums, got {self.task!r}")
        if self.num_val is None:
            self.num_val = min(self.num_train, max(MIN_VALIDATION, self.num_train // 10))
        if self.num_samples is None:
            self.num_samples = round(self.sample_rate * DEFAULT_SECONDS)
        for name, value, least in (("--num", self.num_train, 1), ("--num-val", self.num_val, 0),
                                   ("--seed", self.seed, 0), ("--sample-rate", self.sample_rate, 1),
                                   ("clip length (samples)", self.num_samples, 1),
                                   ("--shard-size", self.shard_size, 1)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < least:
                raise GraphFXError(f"{name} must be an integer >= {least}, got {value!r}")
        if self.sources is not None:
            self.sources = os.path.abspath(os.path.expanduser(str(self.sources)))

    @property
    def sizes(self) -> Dict[str, int]:
        return {"train": int(self.num_train), "seen": int(self.num_val), "unseen": int(self.num_val)}

    def meta(self, source) -> dict:
        """The ``dataset.json`` object, given the dry source in use."""
        return {
            "format": FORMAT, "version": VERSION, "synthesis": SYNTHESIS, "mode": "lazy" if self.lazy else "stored",
            "task": self.task, "sample_rate": int(self.sample_rate), "num_samples": int(self.num_samples),
            "seed": int(self.seed), "shard_size": int(self.shard_size), "sizes": self.sizes,
            "tracks": list(tracks_of(self.task)), "prototype": self.prototype.to_dict(),
            "source": describe_source(source, self.sources),
        }


def validation_warning(spec: "DatasetSpec") -> Optional[str]:
    """A sentence when the validation splits are too small to measure much, else ``None``."""
    if 0 < spec.num_val < MIN_VALIDATION:
        return (f"validation splits of {spec.num_val} example(s) each: their metrics will have wide confidence "
                f"intervals, or none for 1 example (--num-val {MIN_VALIDATION} or more for a measurement)")
    return None


# --------------------------------------------------------------------------- planning
@dataclass(frozen=True)
class ShardJob:
    """One shard to write: its global number (across splits), split, index in the split and examples."""

    number: int
    split: str
    index: int
    start: int
    count: int


def plan(sizes: Dict[str, int], shard_size: int) -> List[ShardJob]:
    """Every shard of the dataset, numbered train first, then seen, then unseen."""
    jobs = []
    for split in SPLITS:
        for j in range(num_shards(sizes[split], shard_size)):
            start, count = shard_range(j, sizes[split], shard_size)
            jobs.append(ShardJob(len(jobs), split, j, start, count))
    return jobs


def _differences(old, new, path=()) -> List[str]:
    if path in _INFORMATIVE:
        return []
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in [*new, *(k for k in old if k not in new)]:  # dataset.json order: the most telling first
            out += _differences(old.get(key), new.get(key), path + (key,))
        return out
    return [] if old == new else [f"{'.'.join(map(str, path))} is {old!r} there, {new!r} now"]


def prepare(out: str, meta: dict) -> None:
    """Creates ``out`` with ``dataset.json``, or checks that an existing one describes the same dataset."""
    path = os.path.join(out, META_FILE)
    if os.path.exists(out) and not os.path.isdir(out):
        raise DatasetError(f"--out {out} exists and is not a directory")
    if os.path.isfile(path):
        try:
            old = read_meta(out)
        except DatasetError as err:
            raise DatasetError(f"{err}; choose another --out") from None
        diff = _differences(old, json.loads(json.dumps(meta)))
        if diff:
            raise DatasetError(f"{out} holds a different dataset ({diff[0]}); choose another --out or the same "
                               "arguments")
        return
    if os.path.isdir(out) and any(not e.name.startswith(".") for e in os.scandir(out)):
        raise DatasetError(f"--out {out} exists, is not empty and holds no {META_FILE}; choose another --out")
    try:
        os.makedirs(out, exist_ok=True)
        write_text_atomic(path, json.dumps(meta, indent=1) + "\n")
    except OSError as err:
        raise DatasetError(f"cannot write to {out}: {err.strerror or err}") from None


# --------------------------------------------------------------------------- writing a shard
_WORKER: dict = {}


def _key_for(meta: dict) -> str:
    return json.dumps({k: meta[k] for k in ("task", "sample_rate", "prototype")}) + str(meta["source"].get("root"))


def _worker_state(meta: dict):
    """The source and config of this process, built once per dataset."""
    key = _key_for(meta)
    if _WORKER.get("key") != key:
        _WORKER.update(key=key, source=make_source_from_meta(meta), config=PrototypeConfig(**meta["prototype"]))
    return _WORKER["source"], _WORKER["config"]


def write_shard(out: str, meta: dict, job: ShardJob, *, batch_size: int = 8,
                on_examples: Optional[Callable[[int], None]] = None) -> bool:
    """Synthesizes one shard and renames it into place; ``False`` if it already existed."""
    from graphfx.synth.pairs import make_pairs

    final = os.path.join(out, job.split, shard_name(job.index))
    if os.path.isdir(final):
        return False
    source, config = _worker_state(meta)
    tracks, num_samples, lazy = meta["tracks"], meta["num_samples"], meta["mode"] == "lazy"
    tmp = os.path.join(out, job.split, f".tmp-{shard_name(job.index)}-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    os.makedirs(tmp)
    writers = []
    try:
        if not lazy:
            reference = _NpyWriter(os.path.join(tmp, REFERENCE_FILE), (job.count, 2, num_samples))
            dry = _NpyWriter(os.path.join(tmp, DRY_FILE), (job.count, len(tracks), num_samples))
            writers = [reference, dry]
        lines = []
        for first in range(0, job.count, batch_size):
            indices = range(job.start + first, job.start + min(first + batch_size, job.count))
            seeds = [example_seed(meta["seed"], job.split, i) for i in indices]
            pairs = make_pairs(source, seeds, job.split, num_samples, config)
            for k, (i, pair) in enumerate(zip(indices, pairs)):
                lines.append(graph_line(i, pair.seed, list(pair.dry), pair.graph.to_dict()))
                if not lazy:
                    reference.append(pair.reference)
                    dry.append(dry_matrix(pair.dry, tracks, num_samples))
            if on_examples is not None:
                on_examples(len(pairs))
        if not lazy:
            reference.close()
            dry.close()
        with open(os.path.join(tmp, GRAPHS_FILE), "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.rename(tmp, final)
        except OSError:  # written meanwhile by another process: keep theirs
            if not os.path.isdir(final):
                raise
            shutil.rmtree(tmp, ignore_errors=True)
            return False
    except BaseException:
        for writer in writers:
            writer.file.close()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return True


class _NpyWriter:
    """Writes a float32 ``.npy`` array of a known shape one item after the other.

    Sequential writes cost 60% of filling a memory map (measured: 6.7 vs 11.1 ms per drum pair,
    page faults included); the file is synced on :meth:`close` and checked to be complete.
    """

    def __init__(self, path: str, shape: Tuple[int, ...]):
        from numpy.lib.format import write_array_header_1_0

        self.file, self.shape, self.written = open(path, "wb"), shape, 0
        write_array_header_1_0(self.file, {"descr": "<f4", "fortran_order": False, "shape": shape})

    def append(self, item: np.ndarray) -> None:
        item = np.ascontiguousarray(item, dtype="<f4")
        if item.shape != self.shape[1:] or self.written >= self.shape[0]:
            raise ValueError(f"item {self.written} of shape {item.shape} does not fit an array {self.shape}")
        item.tofile(self.file)
        self.written += 1

    def close(self) -> None:
        if self.written != self.shape[0]:
            raise ValueError(f"wrote {self.written} of {self.shape[0]} items")
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()


# --------------------------------------------------------------------------- workers
@contextlib.contextmanager
def _environment(values: Dict[str, str]):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


_PROGRESS = None


def _init_worker(progress_queue, env: Dict[str, str]) -> None:
    global _PROGRESS
    os.environ.update(env)
    import torch

    torch.set_num_threads(1)
    _PROGRESS = progress_queue


def _run_job(out: str, meta: dict, job: ShardJob, batch_size: int) -> Tuple[ShardJob, bool]:
    try:
        written = write_shard(out, meta, job, batch_size=batch_size, on_examples=_PROGRESS.put)
    except GraphFXError as err:  # its subclasses may not pickle; the message is what matters
        raise GraphFXError(str(err)) from None
    return job, written


# --------------------------------------------------------------------------- the whole dataset
@dataclass
class GenerateReport:
    """What a :func:`generate` call did."""

    out: str
    shards: int = 0        # shards of this process (after --shard I/N)
    written: int = 0       # shards written now
    skipped: int = 0       # shards already complete
    examples: int = 0      # examples written now
    seconds: float = 0.0

    @property
    def pairs_per_second(self) -> float:
        return self.examples / self.seconds if self.seconds > 0 else 0.0


def generate(out: str, spec: DatasetSpec, *, shard: Tuple[int, int] = (0, 1), workers: int = 1,
             batch_size: int = 8, progress: Optional[Callable[[int, int], None]] = None,
             source=None) -> GenerateReport:
    """Writes (or finishes) the dataset ``spec`` in directory ``out``.

    Args:
        out: the dataset directory; created if missing, resumed if it holds the same dataset.
        spec: what to generate.
        shard: ``(I, N)``: write only the shards whose number is ``I`` modulo ``N``.
        workers: processes; each writes whole shards, with one thread each.
        batch_size: examples synthesized together (does not change the output).
        progress: called with ``(examples done, examples to do)`` as work advances.
        source: the dry source, if already built (it must be what ``spec`` describes; worker
            processes build their own from ``spec``).

    With ``workers > 1`` the worker processes are started with ``spawn``: call
    this from under ``if __name__ == "__main__":`` in a script.
    """
    index, count = shard
    if count < 1 or not 0 <= index < count:
        raise GraphFXError(f"--shard {index}/{count}: need 0 <= I < N")
    if int(workers) < 1:
        raise GraphFXError(f"--workers must be >= 1, got {workers}")
    if int(batch_size) < 1:
        raise GraphFXError(f"batch size must be >= 1, got {batch_size}")
    out = os.path.abspath(os.path.expanduser(str(out)))
    if source is None:
        source = open_source(spec.task, spec.sources, spec.sample_rate)
    meta = spec.meta(source)
    prepare(out, meta)
    mine = [job for job in plan(spec.sizes, spec.shard_size) if job.number % count == index]
    for split in SPLITS:
        os.makedirs(os.path.join(out, split), exist_ok=True)
    _remove_stale(out, mine)
    todo = [job for job in mine if not os.path.isdir(os.path.join(out, job.split, shard_name(job.index)))]
    report = GenerateReport(out, shards=len(mine), skipped=len(mine) - len(todo))
    total = sum(job.count for job in todo)
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, total)

    advance(0)
    start = time.perf_counter()
    if int(workers) == 1 or len(todo) <= 1:
        _WORKER.update(key=_key_for(meta), source=source, config=spec.prototype)
        for job in todo:
            report.written += write_shard(out, meta, job, batch_size=batch_size, on_examples=advance)
    else:
        report.written += _generate_parallel(out, meta, todo, min(int(workers), len(todo)), batch_size, advance)
    report.examples = done
    report.seconds = time.perf_counter() - start
    return report


def _generate_parallel(out, meta, todo, workers, batch_size, advance) -> int:
    ctx = multiprocessing.get_context("spawn")
    progress_queue = ctx.Queue()
    written = 0

    def drain(timeout: float) -> None:
        try:
            advance(progress_queue.get(timeout=timeout))
            while True:
                advance(progress_queue.get_nowait())
        except queue_lib.Empty:
            pass

    # Children inherit the environment at spawn: thread pools are fixed before they import torch.
    with _environment(THREAD_ENV), ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                                                        initargs=(progress_queue, THREAD_ENV)) as pool:
        pending = {pool.submit(_run_job, out, meta, job, batch_size) for job in todo}
        try:
            while pending:
                finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                drain(0.0 if finished else 0.05)
                for future in finished:
                    written += future.result()[1]
        except BaseException:
            for future in pending:
                future.cancel()
            raise
        drain(0.5)
    return written


def _remove_stale(out: str, jobs: Sequence[ShardJob]) -> None:
    """Deletes temporary directories left by a killed run, for the shards this process owns."""
    prefixes = {(job.split, f".tmp-{shard_name(job.index)}-") for job in jobs}
    for split in SPLITS:
        directory = os.path.join(out, split)
        for entry in os.scandir(directory):
            if entry.name.startswith(".tmp-") and any(s == split and entry.name.startswith(p) for s, p in prefixes):
                shutil.rmtree(entry.path, ignore_errors=True)


def seconds_to_samples(seconds: Optional[float], sample_rate: int) -> Optional[int]:
    """Clip length in samples (``None``: the paper's 160 000 samples at 44.1 kHz, scaled)."""
    if seconds is None:
        return None
    if not math.isfinite(seconds) or seconds <= 0:
        raise GraphFXError(f"--seconds must be positive, got {seconds}")
    return max(1, round(seconds * sample_rate))
