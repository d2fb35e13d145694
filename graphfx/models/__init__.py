"""Neural models of the blind estimation system (Lee et al., ICASSP 2023, Section 3).

- :mod:`graphfx.models.encoder`: the reference encoder, audio -> latents ``[B, num_queries, d_model]``.
"""
from graphfx.models.encoder import EncoderConfig, ReferenceEncoder, mel_filterbank

__all__ = ["EncoderConfig", "ReferenceEncoder", "mel_filterbank"]
