"""The interface every graph decoder implements.

A graph decoder turns the reference latents ``z`` of "Blind Estimation of
Audio Processing Graph" (Lee et al., ICASSP 2023, Section 3, Fig. 3) into an
:class:`~graphfx.graph.AudioGraph`, in two stages: prototype decoding (types
and connectivity, autoregressive) and parameter estimation (continuous
parameters of the decoded prototype). One small interface covers training
(teacher-forced :meth:`GraphDecoder.loss`) and inference
(:meth:`GraphDecoder.generate`, :meth:`GraphDecoder.estimate_params`), so
every row of the paper's Table 2 can sit on the same encoder and training loop.

A decoder class carries its configuration dataclass as the class attribute
``Config``; ``Config`` may hold a ``PRESETS`` class variable (name -> field
overrides) that :meth:`GraphDecoder.make_config` applies. Register a class
with :func:`graphfx.decoders.registry.register`.
"""
from __future__ import annotations

import abc
import contextlib
import dataclasses
from typing import Any, ClassVar, Dict, Iterator, List, Optional

import torch.nn.functional as F
from torch import Tensor, nn

from graphfx.errors import GraphFXError
from graphfx.graph import AudioGraph
from graphfx.tokens import Tokens

#: Target of a head where a field does not apply (the ``ignore_index`` of :func:`cross_entropy`).
IGNORE = -100


class GraphDecoder(nn.Module, abc.ABC):
    """Base class of the graph decoders (prototype decoding + parameter estimation).

    Args:
        config: an instance of the subclass's ``Config`` dataclass; it must have a
            ``d_model`` field equal to the encoder's latent width.

    Subclasses implement :meth:`loss`, :meth:`generate` and :meth:`estimate_params`; a
    :attr:`token_by_token` decoder also :meth:`predict_next`.
    ``forward`` is :meth:`loss`, so that ``DistributedDataParallel`` syncs gradients.
    """

    #: The configuration dataclass of the decoder (set by each subclass).
    Config: ClassVar[type] = None
    #: The registered name (set by :func:`~graphfx.decoders.registry.register`).
    name: ClassVar[Optional[str]] = None
    #: Whether the decoder predicts every field of the next token, so that :meth:`predict_next`
    #: gives the per-token error rates of Section 4.2.
    token_by_token: ClassVar[bool] = False

    def __init__(self, config):
        super().__init__()
        if self.Config is not None and not isinstance(config, self.Config):
            raise TypeError(f"{type(self).__name__} needs a {self.Config.__name__}, got {type(config).__name__}")
        self.config = config

    # --- configuration ---------------------------------------------------
    @classmethod
    def make_config(cls, preset: Optional[str] = None, **overrides):
        """Builds a ``Config``: the named preset (``Config.PRESETS``), then ``overrides`` on top.

        Raises :class:`GraphFXError` for an unknown preset or field.
        """
        if cls.Config is None:
            raise GraphFXError(f"decoder {cls.__name__} defines no Config dataclass")
        values: Dict[str, Any] = {}
        if preset is not None:
            presets = getattr(cls.Config, "PRESETS", {}) or {}
            if preset not in presets:
                raise GraphFXError(f"decoder {cls.name or cls.__name__!r} has no preset {preset!r}; "
                                   f"known: {sorted(presets)}")
            values.update(presets[preset])
        values.update(overrides)
        known = {f.name for f in dataclasses.fields(cls.Config)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise GraphFXError(f"unknown config field(s) {unknown} for decoder {cls.name or cls.__name__!r}; "
                               f"fields: {sorted(known)}")
        return cls.Config(**values)

    def config_dict(self) -> Dict[str, Any]:
        """The config as plain data (stored in checkpoints beside :attr:`name`)."""
        return dataclasses.asdict(self.config)

    # --- the interface -----------------------------------------------------
    def forward(self, latents: Tensor, tokens: Tokens) -> Dict[str, Tensor]:
        return self.loss(latents, tokens)

    @abc.abstractmethod
    def loss(self, latents: Tensor, tokens: Tokens) -> Dict[str, Tensor]:
        """Teacher-forced losses of both stages.

        Args:
            latents: ``[B, Q, D]`` reference latents.
            tokens: a padded batch (:func:`graphfx.tokens.pad_tokens`), fields ``[B, L]``.

        Returns:
            ``"loss"`` (the total, to backpropagate) and one scalar per head.
        """

    @abc.abstractmethod
    def generate(self, latents: Tensor, *, max_tokens: int = 256, constrained: bool = True,
                 sample_rate: int = 44100) -> List[AudioGraph]:
        """Decodes one graph per latent: the prototype autoregressively, then its parameters.

        With ``constrained=False`` the decoding is not masked and the result may be
        invalid (it is returned as built, see :func:`graphfx.tokens.tokens_to_graph`).
        """

    @abc.abstractmethod
    def estimate_params(self, latents: Tensor, tokens: Tokens) -> Tensor:
        """Normalized parameters ``[B, L, MAX_PARAMS]`` in [0, 1] of the given prototypes."""

    def complete(self, latents: Tensor, tokens: Tokens) -> Tokens:
        """The prototypes ``tokens`` with estimated parameters and edge gains (the second stage).

        This default keeps the given edge gains; decoders that estimate gains override it.
        """
        params = self.estimate_params(latents, tokens)
        tokens = tokens.to(latents.device)
        return dataclasses.replace(tokens, params=params.to(tokens.params.dtype) * tokens.param_mask)

    def predict_next(self, latents: Tensor, tokens: Tokens) -> Tokens:
        """Teacher-forced greedy predictions of tokens ``1 .. L-1``, fields ``[B, L - 1]``.

        Only :attr:`token_by_token` decoders implement it.
        """
        raise NotImplementedError(f"decoder {self.name or type(self).__name__!r} does not predict tokens one "
                                  "field at a time")


# --- helpers shared by decoders -------------------------------------------------------------------------------------

def cross_entropy(logits: Tensor, target: Tensor, label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy of logits ``[..., C]`` against ``target`` ``[...]``, skipping :data:`IGNORE` targets.

    Zero (with a gradient path) when every target is ignored.
    """
    if not (target != IGNORE).any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=IGNORE,
                           label_smoothing=label_smoothing)


@contextlib.contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """Puts ``module`` in eval mode for the block, then restores its mode (generation inside training)."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)
