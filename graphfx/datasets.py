"""Graph-reference datasets on disk, loaded as a PyG ``Dataset``.

The datasets of Section 4.1 of "Blind Estimation of Audio Processing Graph"
(Lee et al., ICASSP 2023) <https://arxiv.org/abs/2303.08257>, as written by
:func:`graphfx.synth.generate.generate` (``graphfx generate``). Layout::

    DIR/dataset.json                        what the dataset is (see below)
    DIR/<split>/shard-00000/graphs.jsonl    one line per example:
                                            {"index", "seed", "tracks", "graph"}
    DIR/<split>/shard-00000/reference.npy   float32 [n, 2, T]   (mode "stored" only)
    DIR/<split>/shard-00000/dry.npy         float32 [n, K, T]   (mode "stored" only)
    DIR/<split>/shard-00001/...

with ``split`` one of ``train seen unseen``; shard ``j`` holds examples
``j * shard_size`` to ``(j + 1) * shard_size - 1``; ``K`` = 1 for singing
(track ``in``) or 6 for drums (``kick snare hat tom ride crash``, zeros for
the tracks absent from a clip), each track mixed down to mono. A shard
directory is renamed into place only once complete, so a shard that exists
is whole. ``dataset.json`` holds ``format`` (``"graphfx.dataset"``),
``version``, ``synthesis`` (the version of the synthesis rules that made it;
resuming with other rules is refused), ``mode`` (``"stored"`` or ``"lazy"``: graphs and seeds only, the
audio is synthesized again on access), ``task``, ``sample_rate``,
``num_samples`` (``T``), ``seed``, ``shard_size``, ``sizes`` (examples per
split), ``tracks`` (the ``K`` rows of ``dry``), ``prototype`` (the
:class:`~graphfx.synth.prototype.PrototypeConfig`) and ``source`` (what the
dry audio came from).

Loading reads JSON and ``.npy`` files only (``allow_pickle=False``): a
dataset never executes code.
"""
from __future__ import annotations

import json
import math
import os
from collections import OrderedDict
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np
import torch
from torch_geometric.data import Dataset, HeteroData

from graphfx.errors import GraphFXError
from graphfx.graph import AudioGraph

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


def shard_name(index: int) -> str:
    return f"shard-{index:05d}"


def num_shards(size: int, shard_size: int) -> int:
    return math.ceil(size / shard_size) if size > 0 else 0


def shard_range(index: int, size: int, shard_size: int) -> Tuple[int, int]:
    """``(start, count)`` of shard ``index`` in a split of ``size`` examples."""
    start = index * shard_size
    return start, min(shard_size, size - start)


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


class GraphFXDataset(Dataset):
    r"""A split of a graph-reference dataset made by ``graphfx generate``, from
    "Blind Estimation of Audio Processing Graph" <https://arxiv.org/abs/2303.08257>.

    Each item is the :class:`~torch_geometric.data.HeteroData` of the
    example's graph (layout in :mod:`graphfx.hetero`) with graph-level
    attributes ``reference`` (float32 ``[1, 2, T]``), ``dry`` (float32
    ``[1, K, T]``, rows in the order of :attr:`tracks`) and ``seed`` (long
    ``[1]``), so that :class:`torch_geometric.loader.DataLoader` batches them
    to ``[B, 2, T]``, ``[B, K, T]`` and ``[B]``. Audio is read from
    memory-mapped ``.npy`` shards; in a ``"lazy"`` dataset it is synthesized
    again from the stored seed (the same graph and audio as a stored dataset
    made with the same arguments).

    Args:
        root: the dataset directory (holding ``dataset.json``).
        split: ``"train"``, ``"seen"`` or ``"unseen"``.
        audio: attach ``reference`` and ``dry``; ``False`` gives graphs only
            (fast, and a lazy dataset then renders nothing).
        sources: dry-source folder for a lazy dataset made from ``--sources``,
            if it has moved since generation.
        transform: applied to every item, as in PyG.
        cache_shards: parsed shards kept in memory (least recently used dropped).
    """

    def __init__(self, root: str, split: str = "train", *, audio: bool = True, sources: Optional[str] = None,
                 transform: Optional[Callable] = None, cache_shards: int = 64):
        root = os.path.abspath(os.path.expanduser(str(root)))
        if split not in SPLITS:
            raise DatasetError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
        self.meta = read_meta(root)
        self.split = split
        self.audio = audio
        self.lazy = self.meta["mode"] == "lazy"
        self.shard_size: int = self.meta["shard_size"]
        self.size: int = self.meta["sizes"][split]
        self.tracks: Tuple[str, ...] = tuple(self.meta["tracks"])
        self._sources = sources
        self._source = None
        self._config = None
        self._cache: "OrderedDict[int, dict]" = OrderedDict()
        self._cache_shards = max(1, int(cache_shards))
        super().__init__(root, transform=transform, log=False)
        missing = [j for j in range(num_shards(self.size, self.shard_size))
                   if not os.path.isdir(os.path.join(self.processed_dir, shard_name(j)))]
        if missing:
            raise DatasetError(f"{root} is incomplete: split {split!r} lacks {len(missing)} of "
                               f"{num_shards(self.size, self.shard_size)} shards (first {shard_name(missing[0])}); "
                               f"run the same `graphfx generate` again to finish it")

    # --- PyG plumbing: no download or processing step ---------------------
    @property
    def raw_dir(self) -> str:
        return self.root

    @property
    def processed_dir(self) -> str:
        return os.path.join(self.root, self.split)

    @property
    def raw_file_names(self) -> List[str]:
        return [META_FILE]

    @property
    def processed_file_names(self) -> List[str]:
        return [shard_name(j) for j in range(num_shards(self.size, self.shard_size))]

    # --- properties ---------------------------------------------------------
    @property
    def task(self) -> str:
        return self.meta["task"]

    @property
    def sample_rate(self) -> int:
        return self.meta["sample_rate"]

    @property
    def num_samples(self) -> int:
        return self.meta["num_samples"]

    def len(self) -> int:
        return self.size

    # --- access -------------------------------------------------------------
    def _shard(self, j: int) -> dict:
        shard = self._cache.get(j)
        if shard is not None:
            self._cache.move_to_end(j)
            return shard
        directory = os.path.join(self.processed_dir, shard_name(j))
        _, count = shard_range(j, self.size, self.shard_size)
        records = read_graph_lines(os.path.join(directory, GRAPHS_FILE), count)
        try:
            graphs = [AudioGraph.from_dict(r["graph"]) for r in records]
        except GraphFXError as err:
            raise DatasetError(f"{directory}/{GRAPHS_FILE}: {err}") from None
        shard = {"graphs": graphs, "seeds": [r["seed"] for r in records]}
        if not self.lazy and self.audio:
            shard["reference"] = self._array(directory, REFERENCE_FILE, (count, 2, self.num_samples))
            shard["dry"] = self._array(directory, DRY_FILE, (count, len(self.tracks), self.num_samples))
        self._cache[j] = shard
        if len(self._cache) > self._cache_shards:
            self._cache.popitem(last=False)
        return shard

    @staticmethod
    def _array(directory: str, name: str, shape: Tuple[int, ...]) -> np.ndarray:
        path = os.path.join(directory, name)
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as err:
            raise DatasetError(f"cannot read {path}: {str(err).splitlines()[0]}") from None
        if array.dtype != np.float32 or array.shape != shape:
            raise DatasetError(f"{path} is {array.dtype} {list(array.shape)}, expected float32 {list(shape)}")
        return array

    def _locate(self, idx: int) -> Tuple[int, int]:
        if not 0 <= idx < self.size:
            raise IndexError(f"index {idx} out of range for a split of {self.size} examples")
        return divmod(idx, self.shard_size)

    def graph(self, idx: int) -> AudioGraph:
        """The :class:`AudioGraph` of example ``idx`` (no audio is read or rendered)."""
        j, k = self._locate(int(idx))
        return self._shard(j)["graphs"][k]

    def seed(self, idx: int) -> int:
        j, k = self._locate(int(idx))
        return self._shard(j)["seeds"][k]

    def graphs(self) -> Iterator[AudioGraph]:
        """Every graph of the split, in order."""
        for idx in range(self.size):
            yield self.graph(idx)

    def example(self, idx: int) -> Tuple[AudioGraph, np.ndarray, np.ndarray]:
        """``(graph, reference [2, T], dry [K, T])`` of example ``idx`` as numpy arrays."""
        j, k = self._locate(int(idx))
        shard = self._shard(j)
        graph = shard["graphs"][k]
        if self.lazy:
            return (graph, *self._render(idx, graph, shard["seeds"][k]))
        return graph, np.array(shard["reference"][k]), np.array(shard["dry"][k])

    def get(self, idx: int) -> HeteroData:
        if self.audio:
            graph, reference, dry = self.example(idx)
        else:
            graph = self.graph(idx)
        data = graph.to_hetero()
        if self.audio:
            data.reference = torch.from_numpy(reference)[None]   # (1, 2, T)
            data.dry = torch.from_numpy(dry)[None]               # (1, K, T)
        data.seed = torch.tensor([self.seed(idx)], dtype=torch.long)
        return data

    # --- lazy mode ------------------------------------------------------------
    def _render(self, idx: int, graph: AudioGraph, seed: int) -> Tuple[np.ndarray, np.ndarray]:
        from graphfx.synth.generate import dry_matrix, make_source_from_meta
        from graphfx.synth.pairs import make_pairs
        from graphfx.synth.prototype import PrototypeConfig

        if self._source is None:
            self._source = make_source_from_meta(self.meta, self._sources)
            self._config = PrototypeConfig(**self.meta["prototype"])
        pair = make_pairs(self._source, [seed], self.split, self.num_samples, self._config)[0]
        if pair.graph != graph:
            raise DatasetError(f"example {idx} of {self.split!r}: synthesizing seed {seed} again gives another "
                               "graph than the stored one (different graphfx version or dry sources?)")
        return pair.reference, dry_matrix(pair.dry, self.tracks, self.num_samples)

    def __getstate__(self) -> dict:
        # DataLoader workers started with spawn get a copy without open memory maps or a built source.
        state = dict(self.__dict__)
        state.update(_cache=OrderedDict(), _source=None, _config=None)
        return state

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.root!r}, split={self.split!r}, task={self.task}, "
                f"mode={self.meta['mode']}, len={self.size})")


def splits(root: str) -> Dict[str, int]:
    """Examples per split of the dataset at ``root``."""
    return dict(read_meta(root)["sizes"])
