"""Neural models of the blind estimation system (Lee et al., ICASSP 2023, Section 3).

- :mod:`graphfx.models.encoder`: the reference encoder, audio -> latents ``[B, num_latents, d_model]``.
- :mod:`graphfx.models.backbone`: the TokenGT transformer that the graph decoders (:mod:`graphfx.decoders`,
  the floor above) share.
- :mod:`graphfx.models.graph_encoder`: the graph encoder of the autoencoding check (➀), tokens -> latents.

The estimator joining an encoder and a decoder is :mod:`graphfx.estimator`.
"""
from graphfx.models.encoder import EncoderConfig, ReferenceEncoder, mel_filterbank

__all__ = ["EncoderConfig", "ReferenceEncoder", "mel_filterbank"]
