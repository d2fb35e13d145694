"""Trained models shipped inside the package, so that estimation works on a fresh install without training
or downloading anything.

Each is the ``tokengt`` checkpoint of ``graphfx bench --preset cpu`` for its task (singing, drums) with the
optimizer state removed (:func:`graphfx.train.slim_checkpoint`), loaded like any other with
``weights_only=True`` (:func:`graphfx.estimator.load_estimator`). Their measured quality is in ``benchmarks/README.md``.
"""
from __future__ import annotations

import os
from typing import Dict

from graphfx.errors import GraphFXError

#: Task -> file name in this folder.
MODELS: Dict[str, str] = {"singing": "tokengt_singing_cpu.pt", "drums": "tokengt_drums_cpu.pt"}


def checkpoint_path(task: str = "singing") -> str:
    """The path of the shipped checkpoint for ``task`` (inside the installed package)."""
    if task not in MODELS:
        raise GraphFXError(f"no trained model ships for task {task!r}; shipped: {sorted(MODELS)}")
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), MODELS[task])
    if not os.path.isfile(path):
        raise GraphFXError(f"the shipped {task} model is missing from this installation ({path})")
    return path
