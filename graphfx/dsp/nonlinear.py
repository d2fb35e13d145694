"""Memoryless nonlinear processors: waveshaping distortion and bit crushing.

Distortion follows the static-nonlinearity (waveshaper) model of F. Eichas,
"System Identification of Nonlinear Audio Circuits", PhD thesis, 2020, and
Zölzer, "DAFX", 2nd ed., 2011, ch. 4 "Nonlinear processing": a drive gain,
a bias that makes the curve asymmetric (even harmonics), and a saturating
curve between a soft ``tanh`` and a hard clip. Bit crushing is a uniform
mid-tread quantizer with a continuous step size.

Both are elementwise torch operations, so one code path serves the fast and
the gradient mode, CPU and GPU (fast-mode distortion runs the same operations
in place on fresh tensors).
"""
from __future__ import annotations

from typing import Dict

import torch
from torch import Tensor


def _per_sample(p: Tensor) -> Tensor:
    """A parameter ``[B]`` or ``[B, 2, T]`` made broadcastable against ``[B, 2, T]``."""
    return p.view(-1, 1, 1) if p.dim() == 1 else p


def _shaper(u: Tensor, hardness: Tensor) -> Tensor:
    """Blend of a soft (``tanh``) and a hard (clip to [-1, 1]) saturating curve."""
    return torch.lerp(torch.tanh(u), u.clamp(-1.0, 1.0), hardness)


def distortion(inputs: Dict[str, Tensor], params: Dict[str, Tensor], *, sample_rate: int,
               grad: bool = False) -> Dict[str, Tensor]:
    """Waveshaping distortion ``y = f(g x + a) - f(a)``.

    ``g = 10^(gain / 20)`` drives the input into ``f``, a blend of ``tanh``
    (``hardness = 0``) and a hard clip at +-1 (``hardness = 1``);
    ``a = asymmetry`` biases the operating point so the two half-waves
    saturate differently. Subtracting ``f(a)`` removes the DC the bias would
    leave, so silence stays silence. The output lies in (-2, 2) and is not
    renormalized (the renderer does that).
    """
    x = inputs["in"]                                                 # [B, 2, T]
    drive = torch.pow(10.0, _per_sample(params["gain"]) / 20.0)
    hardness = _per_sample(params["hardness"])
    bias = _per_sample(params["asymmetry"])
    if grad or any(t.requires_grad for t in (x, drive, hardness, bias)):
        return {"out": _shaper(x * drive + bias, hardness) - _shaper(bias, hardness)}
    # Fast mode: the same operations (same bits), in place on two fresh tensors instead of six temporaries.
    shape = torch.broadcast_shapes(x.shape, drive.shape, bias.shape, hardness.shape)
    u = (x.expand(shape) * drive).add_(bias)
    shaped = torch.tanh(u)
    shaped.lerp_(u.clamp_(-1.0, 1.0), hardness)
    return {"out": shaped.sub_(_shaper(bias, hardness))}


def bitcrush(inputs: Dict[str, Tensor], params: Dict[str, Tensor], *, sample_rate: int,
             grad: bool = False) -> Dict[str, Tensor]:
    """Bit-depth reduction: rounds to a grid of ``2^(bit - 1)`` steps per unit amplitude.

    ``bit`` is continuous, so the step ``1 / 2^(bit - 1)`` varies smoothly
    with it; the signal is not clipped. A full-scale signal in [-1, 1] takes
    at most ``2 * 2^(bit - 1) + 1`` distinct values.

    In gradient mode the rounding uses a straight-through estimator: the
    output is ``x + e / L`` with ``L = 2^(bit - 1)`` and the rounding
    residual ``e = round(x L) - x L`` treated as a constant, so
    ``dy/dx = 1`` and ``bit`` receives the gradient of a fixed noise pattern
    whose size scales with the step.
    """
    x = inputs["in"]                                                 # [B, 2, T]
    levels = torch.pow(2.0, _per_sample(params["bit"]) - 1.0)
    scaled = x * levels
    if not grad:
        return {"out": torch.round(scaled) / levels}
    residual = (torch.round(scaled) - scaled).detach()
    return {"out": x + residual / levels}


PROCESSORS = {"distortion": distortion, "bitcrush": bitcrush}
