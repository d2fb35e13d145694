"""graphfx: audio processing graphs, their rendering, synthesis and blind estimation.

Implements "Blind Estimation of Audio Processing Graph" (Lee et al., ICASSP 2023)
<https://arxiv.org/abs/2303.08257> as a toolkit.
"""
from graphfx import catalog
from graphfx.errors import AudioError, GraphError, GraphFXError
from graphfx.graph import AudioGraph, Edge, Node

__version__ = "0.1.0"
__all__ = ["AudioGraph", "Node", "Edge", "GraphError", "AudioError", "GraphFXError", "catalog", "__version__"]
