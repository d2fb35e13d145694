"""Dry sources: the singing voices and multitrack drums that graphs process.

* :class:`SyntheticSinger`, :class:`SyntheticDrums`: built-in procedural
  sources, the default (nothing to download);
* :class:`FolderSource`: the user's own recordings (including the OpenSinger
  layout);

all with the :class:`DrySource` interface: ``names(split)`` and
``clip(split, seed, num_samples) -> {track: float32 [channels, num_samples]}``
for the splits ``"train"``, ``"seen"`` and ``"unseen"`` of Section 4.1 of Lee
et al. (2023). :func:`make_source` picks one; :func:`open_source`,
:func:`describe_source` and :func:`make_source_from_meta` are how datasets
open, record and reopen theirs.
"""
from typing import Optional

from graphfx.errors import GraphFXError
from graphfx.sources.base import SPLITS, TASKS, DrySource, split_rng
from graphfx.sources.drums import SyntheticDrums
from graphfx.sources.folder import FolderSource
from graphfx.sources.singer import SyntheticSinger

__all__ = ["DrySource", "SyntheticSinger", "SyntheticDrums", "FolderSource", "make_source", "open_source",
           "describe_source", "make_source_from_meta", "split_rng", "SPLITS", "TASKS"]


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


def open_source(task: str, root: Optional[str], sample_rate: int) -> DrySource:
    """:func:`make_source` with its errors as one-line :class:`GraphFXError`."""
    try:
        return make_source(task, root, sample_rate=sample_rate)
    except GraphFXError:
        raise
    except (OSError, ValueError) as err:
        raise GraphFXError(f"cannot use dry sources {root}: {str(err).splitlines()[0]}") from None


def describe_source(source: DrySource, root: Optional[str]) -> dict:
    """What the dry audio comes from, for ``dataset.json`` (names per split identify it)."""
    return {"kind": "folder" if root else "synthetic", "class": type(source).__name__, "root": root,
            "names": {split: source.names(split) for split in SPLITS},
            "description": source.describe()}


def make_source_from_meta(meta: dict, root: Optional[str] = None) -> DrySource:
    """The dry source a dataset was made from, given its ``dataset.json`` (``root`` overrides a moved folder)."""
    root = root if root is not None else meta["source"].get("root")
    return open_source(meta["task"], root, meta["sample_rate"])
