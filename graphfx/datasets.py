"""Graph-reference datasets on disk, loaded as a PyG ``Dataset``.

The datasets of Section 4.1 of "Blind Estimation of Audio Processing Graph"
(Lee et al., ICASSP 2023) <https://arxiv.org/abs/2303.08257>, as written by
:func:`graphfx.synth.generate.generate` (``graphfx generate``) in the layout
of :mod:`graphfx.dataformat`.

Loading reads JSON and ``.npy`` files only (``allow_pickle=False``): a
dataset never executes code.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from typing import Callable, Iterator, List, Optional, Tuple

import numpy as np
import torch
from torch_geometric.data import Dataset, HeteroData
from torch_geometric.transforms import BaseTransform

from graphfx.dataformat import (DRY_FILE, GRAPHS_FILE, META_FILE, REFERENCE_FILE, SPLITS, DatasetError, dry_matrix,
                                num_shards, read_graph_lines, read_meta, shard_name, shard_range)
from graphfx.errors import GraphFXError
from graphfx.graph import AudioGraph, hetero_to_graph
from graphfx.tokens import graph_to_tokens

__all__ = ["GraphFXDataset", "DatasetError"]


class GraphFXDataset(Dataset):
    r"""A split of a graph-reference dataset made by ``graphfx generate``, from
    "Blind Estimation of Audio Processing Graph" <https://arxiv.org/abs/2303.08257>.

    Each item is the :class:`~torch_geometric.data.HeteroData` of the
    example's graph (layout in :func:`graphfx.graph.graph_to_hetero`) with graph-level
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
        cache_shards: parsed shards kept in memory (least recently used dropped). Training draws examples
            from every shard in turn, so a cache smaller than the split re-parses a shard's 256 graphs
            on most draws (a third of the training time at the ``cpu`` preset with 64 of 96 shards).
    """

    def __init__(self, root: str, split: str = "train", *, audio: bool = True, sources: Optional[str] = None,
                 transform: Optional[Callable] = None, cache_shards: int = 1024):
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
        data.graph = graph  # the parsed graph, so that tokenizing an item needs no round trip
        if self.audio:
            data.reference = torch.from_numpy(reference)[None]   # (1, 2, T)
            data.dry = torch.from_numpy(dry)[None]               # (1, K, T)
        data.seed = torch.tensor([self.seed(idx)], dtype=torch.long)
        return data

    # --- lazy mode ------------------------------------------------------------
    def _render(self, idx: int, graph: AudioGraph, seed: int) -> Tuple[np.ndarray, np.ndarray]:
        from graphfx.sources import make_source_from_meta
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
                f"mode={self.meta['mode']}, len={len(self)})")  # len(self): a slice's own length


class Tokenize(BaseTransform):
    r"""Adds to an item its :class:`~graphfx.graph.AudioGraph` (``data.graph``) and token sequence
    (``data.tokens``, :func:`graphfx.tokens.graph_to_tokens`), so that batches pad tokens made once per item.

    Items are those of :func:`~graphfx.graph.graph_to_hetero` (e.g. of :class:`~graphfx.datasets.GraphFXDataset`), whose
    graph was validated when they were built; it is not validated again.

    Example::

        dataset = GraphFXDataset(root, "train", transform=Tokenize())
    """

    def forward(self, data: HeteroData) -> HeteroData:
        if not isinstance(getattr(data, "graph", None), AudioGraph):  # items of GraphFXDataset carry it
            data.graph = hetero_to_graph(data)
        data.tokens = graph_to_tokens(data.graph, validate=False)
        return data
