"""Utility processors: mix, constant-power pan, stereo imager, mid/side split and merge.

All are elementwise torch operations, so one code path serves the fast and
the gradient mode, CPU and GPU; only the imager has a compiled fast mode (one
pass instead of five temporaries, the same float32 operations: same bits).
Conventions (Zölzer, "DAFX", 2nd ed., 2011, ch. 5 "Spatial effects"):

* mid/side: ``M = (L + R) / 2``, ``S = (L - R) / 2``, inverted by
  ``L = M + S``, ``R = M - S``.
* pan: the sine/cosine constant-power law, scaled by ``sqrt(2)`` so that the
  centre position is the identity.
"""
from __future__ import annotations

import math
from typing import Dict

import numba
import numpy as np
import torch
from torch import Tensor

from .lanes import use_kernel


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
    # One product with both channels' gains: no per-channel temporaries to concatenate.
    return {"out": x * torch.cat([gain_left, gain_right], dim=1)}


def imager(inputs: Dict[str, Tensor], params: Dict[str, Tensor], *, sample_rate: int,
           grad: bool = False) -> Dict[str, Tensor]:
    """Stereo width: scales the side signal by ``width`` (0 = mono, 1 = identity, 2 = wide)."""
    x, width = inputs["in"], params["width"]
    if use_kernel(x, grad) and x.shape[1] == 2:
        out = torch.empty(x.shape[0], 2, x.shape[-1])
        _imager_kernel(x.detach().numpy(), width.detach().to(torch.float32).expand(x.shape[0]).numpy(),
                       out.numpy())
        return {"out": out}
    mid, side = _mid_side(x)
    return {"out": _left_right(mid, side * width.view(-1, 1, 1))}


@numba.njit(cache=True, nogil=True)
def _imager_kernel(x, width, out):  # pragma: no cover - compiled
    """:func:`imager` in one pass: ``_left_right(*_mid_side(x))`` with the side scaled, float32."""
    half = np.float32(0.5)
    for b in range(x.shape[0]):
        left, right, out_left, out_right, w = x[b, 0], x[b, 1], out[b, 0], out[b, 1], width[b]
        for n in range(left.size):
            mid = (left[n] + right[n]) * half
            side = (left[n] - right[n]) * half * w
            out_left[n] = mid + side
            out_right[n] = mid - side


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
