"""Graph decoders: latents ``[B, Q, D]`` -> audio processing graphs (Lee et al., ICASSP 2023, Section 3).

- :mod:`graphfx.decoders.base`: the :class:`GraphDecoder` interface (``loss``, ``generate``, ``estimate_params``,
  ``predict_next`` for ``token_by_token`` decoders) and helpers shared by decoders.
- :mod:`graphfx.decoders.registry`: ``register`` / ``create`` / ``get`` / ``list_decoders`` and the
  ``graphfx.decoders`` entry-point group for third-party decoders.
- :mod:`graphfx.decoders.constraints`: :class:`DecodingConstraints`, logit masks that make every decoded
  graph valid.
- :mod:`graphfx.decoders.tokengt`: the proposed token-by-token TokenGT decoder (``"tokengt"``, ➂).
- :mod:`graphfx.decoders.node_by_node`: the DeepGMG-style node-by-node baseline (``"node_by_node"``, ➄).
- :mod:`graphfx.decoders.single_stage`: types and parameters in one autoregressive pass (``"single_stage"``, ➅).

Decoder modules are imported on the first registry lookup, so ``import graphfx.decoders`` stays light.
Decoders read the transformer of :mod:`graphfx.models.backbone` and the token rows and sequences of
:mod:`graphfx.tokens`.
"""
from graphfx.decoders.base import GraphDecoder
from graphfx.decoders.constraints import DecodingConstraints
from graphfx.decoders.registry import ENTRY_POINT_GROUP, create, discover_plugins, get, list_decoders, register

__all__ = ["GraphDecoder", "DecodingConstraints", "ENTRY_POINT_GROUP", "create", "discover_plugins", "get",
           "list_decoders", "register"]
