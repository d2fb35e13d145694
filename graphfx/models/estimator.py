"""The blind estimation system: a reference encoder and a graph decoder.

Fig. 3 of Lee et al. (2023): the reference ``y`` is encoded into latents
``z``; a decoder reconstructs the prototype graph from ``z`` token by token,
then estimates its parameters. Options give the paper's Table 2 variants:
``latent="zero"`` is the no-latent lower bound (➁), ``condition_on_source``
feeds the dry source to the encoder next to the reference (➃).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional

import torch
from torch import Tensor, nn

from graphfx.decoders import registry
from graphfx.graph import AudioGraph
from graphfx.models.encoder import EncoderConfig, ReferenceEncoder
from graphfx.tokens import Tokens


@dataclass
class EstimatorConfig:
    """Everything needed to rebuild an estimator (stored in every checkpoint).

    Args:
        decoder: registered decoder name (``graphfx decoders`` lists them).
        decoder_config: overrides of the decoder's ``Config`` fields.
        encoder: the reference encoder's fields (see :class:`EncoderConfig`).
        latent: ``"audio"`` (the reference encoder) or ``"zero"`` (latents set to 0).
        condition_on_source: also give the encoder the dry source tracks.
    """

    decoder: str = "tokengt"
    decoder_config: Dict = field(default_factory=dict)
    encoder: Dict = field(default_factory=dict)
    latent: str = "audio"
    condition_on_source: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


class BlindEstimator(nn.Module):
    """Reference encoder + registered graph decoder."""

    def __init__(self, config: EstimatorConfig):
        super().__init__()
        if config.latent not in ("audio", "zero"):
            raise ValueError(f"latent must be 'audio' or 'zero', got {config.latent!r}")
        self.config = config
        self.encoder = ReferenceEncoder(EncoderConfig(**config.encoder))
        self.decoder = registry.create(config.decoder, **config.decoder_config)

    def encoder_input(self, reference: Tensor, dry: Optional[Tensor] = None) -> Tensor:
        """What the encoder sees: the reference, with the dry tracks stacked on the channel axis for ➃."""
        return torch.cat([reference, dry], dim=1) if self.config.condition_on_source else reference

    def latents(self, reference: Tensor, dry: Optional[Tensor] = None) -> Tensor:
        """``[B, 2, T]`` reference (and ``[B, K, T]`` dry tracks) -> ``[B, Q, D]``."""
        z = self.encoder(self.encoder_input(reference, dry))
        return torch.zeros_like(z) if self.config.latent == "zero" else z

    def forward(self, reference: Tensor, tokens: Tokens, dry: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """Teacher-forced losses of both stages for a batch (``forward`` so that DDP syncs gradients)."""
        return self.decoder.loss(self.latents(reference, dry), tokens)

    loss = forward

    @torch.no_grad()
    def estimate(self, reference: Tensor, dry: Optional[Tensor] = None, *, constrained: bool = True,
                 sample_rate: int = 44100, max_tokens: int = 256) -> List[AudioGraph]:
        """Decodes one graph (with parameters) per reference."""
        return self.decoder.generate(self.latents(reference, dry), constrained=constrained,
                                     sample_rate=sample_rate, max_tokens=max_tokens)
