"""Dry sources: the singing voices and multitrack drums that graphs process.

* :class:`SyntheticSinger`, :class:`SyntheticDrums`: built-in procedural
  sources, the default (nothing to download);
* :class:`FolderSource`: the user's own recordings (including the OpenSinger
  layout);

all with the :class:`DrySource` interface: ``names(split)`` and
``clip(split, seed, num_samples) -> {track: float32 [channels, num_samples]}``
for the splits ``"train"``, ``"seen"`` and ``"unseen"`` of Section 4.1 of Lee
et al. (2023).
"""
from typing import Optional

from graphfx.sources.base import SPLITS, TASKS, DrySource, split_rng
from graphfx.sources.folder import FolderSource
from graphfx.sources.procedural import SyntheticDrums, SyntheticSinger

__all__ = ["DrySource", "SyntheticSinger", "SyntheticDrums", "FolderSource", "make_source", "split_rng",
           "SPLITS", "TASKS"]


def make_source(task: str, root: Optional[str] = None, *, sample_rate: int = 44100, **kwargs) -> DrySource:
    """The built-in synthetic source of ``task``, or a :class:`FolderSource` when ``root`` is given.

    Extra keyword arguments go to the class (e.g. ``unseen=`` for a folder,
    ``num_voices=`` for the synthetic singer).
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if root is not None:
        return FolderSource(root, task, sample_rate=sample_rate, **kwargs)
    cls = SyntheticSinger if task == "singing" else SyntheticDrums
    return cls(sample_rate=sample_rate, **kwargs)
