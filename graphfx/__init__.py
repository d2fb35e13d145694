"""graphfx: audio processing graphs, their rendering, synthesis and blind estimation.

Implements "Blind Estimation of Audio Processing Graph" (Lee et al., ICASSP 2023)
<https://arxiv.org/abs/2303.08257> as a toolkit::

    import graphfx

    graph = graphfx.load("examples/graphs/gated_reverb.json")
    wet = graphfx.render(graph, dry, sample_rate=graph.sample_rate)  # dry: [1, C, T]
"""
import importlib

from graphfx import catalog
from graphfx.errors import AudioError, GraphError, GraphFXError
from graphfx.graph import AudioGraph, Edge, Node

__version__ = "0.1.0"

# Loaded on first use (PEP 562): they pull in torch, PyG and the numba kernels, and
# ``import graphfx`` stays light for what needs only the catalog and graph files.
_LAZY = {"render": "graphfx.renderer", "GraphFXDataset": "graphfx.datasets", "estimate": "graphfx.estimate"}

__all__ = ["AudioGraph", "Node", "Edge", "GraphError", "AudioError", "GraphFXError", "catalog", "load",
           *_LAZY, "__version__"]


def load(path: str, *, validate: bool = True) -> AudioGraph:
    """Reads a graph file (``graphfx.graph`` JSON) into an :class:`AudioGraph`.

    Args:
        path: the JSON file.
        validate: check every rule of a graph (:meth:`AudioGraph.validate`), as the
            command line does; :class:`GraphError` names the first one broken.
    """
    graph = AudioGraph.load(path)
    return graph.validate() if validate else graph


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'graphfx' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value  # later lookups skip this hook
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
