"""The on-disk format of graph-reference datasets, shared by their writer and reader.

The datasets of Section 4.1 of "Blind Estimation of Audio Processing Graph"
(Lee et al., ICASSP 2023) <https://arxiv.org/abs/2303.08257>, as written by
:func:`graphfx.synth.generate.generate` (``graphfx generate``) and read by
:class:`graphfx.datasets.GraphFXDataset`. Layout::

    DIR/dataset.json                        what the dataset is (see below)
    DIR/<split>/shard-00000/graphs.jsonl    one line per example:
                                            {"index", "seed", "tracks", "graph"}
    DIR/<split>/shard-00000/reference.npy   float32 [n, 2, T]   (mode "stored" only)
    DIR/<split>/shard-00000/dry.npy         float32 [n, K, T]   (mode "stored" only)
    DIR/<split>/shard-00001/...

with ``split`` one of ``train seen unseen``; shard ``j`` holds examples
``j * shard_size`` to ``(j + 1) * shard_size - 1``; ``K`` = 1 for singing
(track ``in``) or 6 for drums (``kick snare hat tom ride crash``, zeros for
the tracks absent from a clip), each track mixed down to mono
(:func:`dry_matrix`). A shard directory is renamed into place only once
complete, so a shard that exists is whole. ``dataset.json`` holds ``format``
(``"graphfx.dataset"``), ``version``, ``synthesis`` (the version of the
synthesis rules that made it; resuming with other rules is refused), ``mode``
(``"stored"`` or ``"lazy"``: graphs and seeds only, the audio is synthesized
again on access), ``task``, ``sample_rate``, ``num_samples`` (``T``),
``seed``, ``shard_size``, ``sizes`` (examples per split), ``tracks`` (the
``K`` rows of ``dry``), ``prototype`` (the
:class:`~graphfx.synth.prototype.PrototypeConfig`) and ``source`` (what the
dry audio came from, :func:`graphfx.sources.describe_source`).

Reading parses JSON only: a dataset never executes code.
"""
from __future__ import annotations

import json
import math
import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from graphfx.catalog import DRUM_SOURCES
from graphfx.errors import GraphFXError

FORMAT = "graphfx.dataset"
VERSION = 1
SPLITS: Tuple[str, ...] = ("train", "seen", "unseen")
MODES: Tuple[str, ...] = ("stored", "lazy")
META_FILE = "dataset.json"
GRAPHS_FILE = "graphs.jsonl"
REFERENCE_FILE = "reference.npy"
DRY_FILE = "dry.npy"


class DatasetError(GraphFXError):
    """A missing, incomplete or corrupt dataset directory, or a clash with an existing one."""


# --------------------------------------------------------------------------- shards
def shard_name(index: int) -> str:
    """The directory name of shard ``index`` of a split."""
    return f"shard-{index:05d}"


def num_shards(size: int, shard_size: int) -> int:
    """Shards of a split of ``size`` examples."""
    return math.ceil(size / shard_size) if size > 0 else 0


def shard_range(index: int, size: int, shard_size: int) -> Tuple[int, int]:
    """``(start, count)`` of shard ``index`` in a split of ``size`` examples."""
    start = index * shard_size
    return start, min(shard_size, size - start)


# --------------------------------------------------------------------------- dry audio rows
def tracks_of(task: str) -> Tuple[str, ...]:
    """The rows of ``dry.npy``: ``("in",)`` for singing, the six drum sources for drums."""
    return ("in",) if task == "singing" else tuple(DRUM_SOURCES)


def dry_matrix(dry: Dict[str, np.ndarray], tracks: Sequence[str], num_samples: int) -> np.ndarray:
    """``{track: [C, T]}`` as float32 ``[K, T]``: each track mixed to mono, zeros for absent tracks."""
    out = np.zeros((len(tracks), num_samples), dtype=np.float32)
    for k, track in enumerate(tracks):
        if track in dry:
            out[k] = np.asarray(dry[track], dtype=np.float32).mean(axis=0)
    return out


# --------------------------------------------------------------------------- reading
def read_meta(root: str) -> dict:
    """Parses and checks ``root/dataset.json``; raises :class:`DatasetError` (one line) if unusable."""
    path = os.path.join(root, META_FILE)
    if not os.path.isdir(root):
        raise DatasetError(f"dataset directory {root} does not exist")
    try:
        with open(path, encoding="utf-8") as f:
            meta = json.load(f)
    except FileNotFoundError:
        raise DatasetError(f"{root} is not a graphfx dataset (no {META_FILE}); make one with `graphfx generate`") \
            from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DatasetError(f"cannot read {path}: {str(err).splitlines()[0]}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise DatasetError(f"{path} is not a {FORMAT} file")
    if meta.get("version") != VERSION:
        raise DatasetError(f"{path}: unsupported version {meta.get('version')!r} (this graphfx reads {VERSION})")
    checks = {
        "mode": lambda v: v in MODES,
        "task": lambda v: v in ("singing", "drums"),
        "sample_rate": _positive_int, "num_samples": _positive_int, "shard_size": _positive_int,
        "seed": lambda v: isinstance(v, int) and v >= 0,
        "sizes": lambda v: isinstance(v, dict) and set(v) == set(SPLITS)
        and all(isinstance(n, int) and n >= 0 for n in v.values()),
        "tracks": lambda v: isinstance(v, list) and v and all(isinstance(t, str) for t in v),
        "prototype": lambda v: isinstance(v, dict),
        "source": lambda v: isinstance(v, dict),
    }
    for key, ok in checks.items():
        if key not in meta or not ok(meta[key]):
            raise DatasetError(f"{path}: missing or invalid field {key!r}")
    return meta


def _positive_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def splits(root: str) -> Dict[str, int]:
    """Examples per split of the dataset at ``root``."""
    return dict(read_meta(root)["sizes"])


def graph_line(index: int, seed: int, tracks: Sequence[str], graph: dict) -> str:
    """One line of ``graphs.jsonl`` (without the newline): example ``index``, its seed, tracks and graph."""
    return json.dumps({"index": index, "seed": seed, "tracks": list(tracks), "graph": graph}, separators=(",", ":"))


def read_graph_lines(path: str, expected: Optional[int] = None) -> List[dict]:
    """The records of one ``graphs.jsonl``: ``{"index", "seed", "tracks", "graph"}`` per example."""
    try:
        with open(path, encoding="utf-8") as f:
            records = [json.loads(line) for line in f if line.strip()]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DatasetError(f"cannot read {path}: {str(err).splitlines()[0]}") from None
    if expected is not None and len(records) != expected:
        raise DatasetError(f"{path} holds {len(records)} examples, expected {expected}; the shard is corrupt")
    for r in records:
        if not isinstance(r, dict) or not isinstance(r.get("seed"), int) or not isinstance(r.get("graph"), dict):
            raise DatasetError(f"{path}: malformed record (needs 'seed' and 'graph')")
    return records
