"""Utility processors: mix, constant-power pan, stereo imager, mid/side split and merge.

All are elementwise torch operations, so one code path serves the fast and
the gradient mode, CPU and GPU. Conventions (Zölzer, "DAFX", 2nd ed., 2011,
ch. 5 "Spatial effects"):

* mid/side: ``M = (L + R) / 2``, ``S = (L - R) / 2``, inverted by
  ``L = M + S``, ``R = M - S``.
* pan: the sine/cosine constant-power law, scaled by ``sqrt(2)`` so that the
  centre position is the identity.
"""
from __future__ import annotations

import math
from typing import Dict

import torch
from torch import Tensor


def _per_sample(p: Tensor) -> Tensor:
    """A parameter ``[B]`` or ``[B, 2, T]`` made broadcastable against ``[B, 2, T]``."""
    return p.view(-1, 1, 1) if p.dim() == 1 else p


def _mid_side(x: Tensor):
    """``[B, 2, T]`` -> mid ``[B, 1, T]``, side ``[B, 1, T]``."""
    left, right = x[:, :1], x[:, 1:]
    return (left + right) * 0.5, (left - right) * 0.5


def _left_right(mid: Tensor, side: Tensor) -> Tensor:
    """Mid ``[B, 1, T]`` and side ``[B, 1, T]`` -> ``[B, 2, T]``."""
    return torch.cat([mid + side, mid - side], dim=1)


def mix(inputs: Dict[str, Tensor], params: Dict[str, Tensor], *, sample_rate: int,
        grad: bool = False) -> Dict[str, Tensor]:
    """Mixer: the identity, since the renderer already sums every edge arriving at an inlet."""
    return {"out": inputs["in"]}


def pan(inputs: Dict[str, Tensor], params: Dict[str, Tensor], *, sample_rate: int,
        grad: bool = False) -> Dict[str, Tensor]:
    """Constant-power panner.

    ``theta = (pan + 1) * pi / 4``; the left channel is scaled by
    ``sqrt(2) cos(theta)``, the right by ``sqrt(2) sin(theta)``. ``pan = -1``
    is hard left, ``0`` the identity, ``1`` hard right; for a mono input the
    power ``L^2 + R^2`` does not depend on ``pan``. The parameter may be
    modulated (``[B, 2, T]``): then channel ``c`` uses ``pan[:, c]``.
    """
    x = inputs["in"]                                           # [B, 2, T]
    theta = (_per_sample(params["pan"]) + 1.0) * (math.pi / 4)  # [B, 1|2, 1|T]
    if theta.shape[1] == 1:
        theta = theta.expand(-1, 2, -1)
    gain_left = math.sqrt(2.0) * torch.cos(theta[:, :1])
    gain_right = math.sqrt(2.0) * torch.sin(theta[:, 1:])
    return {"out": torch.cat([x[:, :1] * gain_left, x[:, 1:] * gain_right], dim=1)}


def imager(inputs: Dict[str, Tensor], params: Dict[str, Tensor], *, sample_rate: int,
           grad: bool = False) -> Dict[str, Tensor]:
    """Stereo width: scales the side signal by ``width`` (0 = mono, 1 = identity, 2 = wide)."""
    mid, side = _mid_side(inputs["in"])
    return {"out": _left_right(mid, side * params["width"].view(-1, 1, 1))}


def ms_split(inputs: Dict[str, Tensor], params: Dict[str, Tensor], *, sample_rate: int,
             grad: bool = False) -> Dict[str, Tensor]:
    """Mid/side splitter: outlet ``mid`` carries M on both channels, ``side`` carries S."""
    mid, side = _mid_side(inputs["in"])
    return {"mid": mid.expand(-1, 2, -1).contiguous(), "side": side.expand(-1, 2, -1).contiguous()}


def ms_merge(inputs: Dict[str, Tensor], params: Dict[str, Tensor], *, sample_rate: int,
             grad: bool = False) -> Dict[str, Tensor]:
    """Mid/side merger: M and S are the channel means of the ``mid`` and ``side`` inlets."""
    mid = inputs["mid"].mean(dim=1, keepdim=True)   # [B, 1, T]
    side = inputs["side"].mean(dim=1, keepdim=True)
    return {"out": _left_right(mid, side)}


PROCESSORS = {"mix": mix, "pan": pan, "imager": imager, "ms_split": ms_split, "ms_merge": ms_merge}
