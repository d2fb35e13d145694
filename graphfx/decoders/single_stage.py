"""Baseline ➅ of Table 2: token-by-token, single-stage decoding (types and parameters in one pass).

Lee et al., "Blind Estimation of Audio Processing Graph" (ICASSP 2023), Section 4,
"Blind estimation strategy comparison": "we decoded the node/edge parameters along
with the categorical types. Since the transformer only has access to the decoded
intermediate graph, its parameter estimation performance was much worse than the
two-stage approach".

Same as :class:`~graphfx.decoders.tokengt.TokenGTDecoder` (subclassed): the
backbone, the token sequence, the prototype heads and their cross-entropies, the
greedy (optionally constrained) prototype decoding, the parameter head's shape
(``param_head``, sigmoid, masked to the node type's parameters) and the L1 loss.

What differs: there is no second stage (no bidirectional pass, the task token is
never used). The parameter head reads the **causal** outputs: the output at token
``t`` predicts, beside the categorical fields of token ``t + 1``, the normalized
parameters of token ``t + 1`` (so it sees only the graph decoded so far, not the
type of the node it parameterizes; the type only selects which slots are used).
:meth:`estimate` is this single causal pass, teacher-forced on the given
prototype; :meth:`loss` takes both losses from one pass. Parameters are not fed
back as inputs (the token embedding has no parameter field), so the parameters
that :meth:`generate` attaches, read from one causal pass over the decoded
tokens, are exactly those predicted at each decoding step.

Edge gains are read the same way, at edge tokens.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import torch
from torch import Tensor

from graphfx.decoders.base import cross_entropy
from graphfx.decoders.registry import register
from graphfx.decoders.tokengt import TokenGTDecoder
from graphfx.tokens import Tokens


@register("single_stage")
class SingleStageDecoder(TokenGTDecoder):
    """Token-by-token decoder predicting types and parameters in one autoregressive pass (Table 2, ➅).

    Args:
        config: a :class:`SingleStageDecoder.Config` (the fields and presets of
            :class:`TokenGTDecoder.Config`).
    """

    @dataclass
    class Config(TokenGTDecoder.Config):
        """Same fields and presets (``paper``/``small``/``tiny``) as :class:`TokenGTDecoder.Config`."""

    def from_causal(self, h: Tensor, tokens: Tokens) -> Tuple[Tensor, Optional[Tensor]]:
        """Parameters ``[B, L, P]`` and edge gains ``[B, L]`` of each token from the causal output ``h [B, L, D]``
        of the token before it."""
        before = torch.cat([h.new_zeros(h.shape[0], 1, h.shape[2]), h[:, :-1]], dim=1)  # (B, L, D): of token t - 1
        return self.continuous(before, tokens)

    def loss(self, latents: Tensor, tokens: Tokens) -> Dict[str, Tensor]:
        """Teacher-forced prototype cross-entropies, parameter and gain L1, from one causal pass."""
        tokens = tokens.to(latents.device)
        h = self.backbone(latents, tokens, causal=True)                           # (B, L, D)
        logits = self.head_logits(h[:, :-1])                                      # predicts t + 1
        losses = {name: cross_entropy(logits[name], target, self.config.label_smoothing)
                  for name, target in self.targets(tokens).items()}
        return self.add_param_loss(losses, *self.from_causal(h, tokens), tokens)

    def estimate(self, latents: Tensor, tokens: Tokens) -> Tuple[Tensor, Optional[Tensor]]:
        """Single-pass (causal, teacher-forced) normalized parameters ``[B, L, MAX_PARAMS]`` and edge gains."""
        tokens = tokens.to(latents.device)
        return self.from_causal(self.backbone(latents, tokens, causal=True), tokens)
