"""Control-signal generators: low-frequency oscillators and an envelope follower.

Their outlets (``lfo``, ``env``) are ``[B, 2, T]`` signals that drive the
control inlets of other processors (Zölzer, "DAFX", 2nd ed., 2011: LFOs of
the modulation effects, envelope detectors of the demodulators):

* :func:`lfo`, :func:`stereo_lfo`: ``sin(2 pi (f n / fs + phase))`` in [-1, 1];
  the stereo one shifts the right channel by ``stereo_offset`` cycles. The
  phase is computed in float64 and wrapped to one cycle before the float32
  sine, so the signal stays exact (to ~1e-6) over long clips. Being sources,
  they take the clip length from the extra keyword ``num_samples`` (and
  ``batch_size``, which otherwise follows the parameters).
* :func:`envelope`: the rectified input ``|x|`` of each channel (per channel,
  not stereo-linked) smoothed by the attack/release one-pole smoother of
  :mod:`graphfx.dsp.dynamics` (Giannoulis et al., JAES 2012, eq. 17; attack
  while the amplitude rises), scaled by ``gain`` dB and clipped to [0, 1].
  Its state starts at 0, as after silence.

The oscillators are elementwise torch; in fast mode on CPU a compiled kernel
computes the same float64 phase (same operations, same bits) straight into the
float32 output, and the mono LFO's two channels share memory. The envelope uses
the shared smoother's fast or differentiable path (both compiled on CPU; torch
on CUDA).
"""
from __future__ import annotations

import math
from typing import Dict, Optional

import numba
import numpy as np
import torch
from torch import Tensor

from graphfx.dsp.dynamics import smooth_attack_release
from graphfx.dsp.lanes import use_kernel


def _oscillator(params: Dict[str, Tensor], offset: Optional[Tensor], num_samples: int,
                batch_size: Optional[int], sample_rate: int, grad: bool) -> Dict[str, Tensor]:
    """Sine LFO ``[B, 2, T]``; the right channel is shifted by ``offset`` cycles when given."""
    freq = params["frequency"]
    batch = freq.shape[0] if batch_size is None else batch_size

    def per_clip(p: Tensor) -> Tensor:                                   # [B] -> [B, 1] float64
        return p.reshape(-1, 1).expand(batch, 1).double()

    if use_kernel(freq, grad):
        freq, phase = (per_clip(p.detach())[:, 0] for p in (freq, params["phase"]))
        offset = None if offset is None else per_clip(offset.detach())[:, 0]
        return {"lfo": _oscillator_fast(freq, phase, offset, num_samples, sample_rate)}
    with torch.set_grad_enabled(grad and torch.is_grad_enabled()):
        n = torch.arange(num_samples, dtype=torch.float64, device=freq.device)
        cycles = per_clip(freq) * (n / sample_rate) + per_clip(params["phase"])   # [B, T]
        left = _sine(cycles)
        right = left if offset is None else _sine(cycles + per_clip(offset))
        return {"lfo": torch.stack([left, right], dim=1)}                  # [B, 2, T]


def _sine(cycles: Tensor) -> Tensor:
    """float32 ``sin(2 pi cycles)``; the float64 ``cycles`` are wrapped to [0, 1) first."""
    return torch.sin((2 * math.pi) * (cycles - torch.floor(cycles)).float())


def _oscillator_fast(freq: Tensor, phase: Tensor, offset: Optional[Tensor], num_samples: int,
                     sample_rate: int) -> Tensor:
    """Fast mode of :func:`_oscillator` from float64 ``[B]`` parameters: the same bits.

    The kernel writes each channel's wrapped phase times ``2 pi`` (float32); ``sin`` then runs in
    place on each channel's ``[B, T]`` block, as the torch path runs it on each channel's ``[B, T]``
    tensor (torch's vectorized sine and its scalar remainder can differ in the last bit, so the
    blocks must match). Channel-major memory, returned as a ``[B, 2, T]`` view; a mono LFO's second
    channel is its first, broadcast.
    """
    channels = 1 if offset is None else 2
    out = torch.empty(channels, freq.shape[0], num_samples)              # [C, B, T]
    _phase_kernel(freq.numpy(), phase.numpy(), np.zeros(0) if offset is None else offset.numpy(),
                  float(sample_rate), out.numpy())
    for block in out:
        block.sin_()
    return out.permute(1, 0, 2).expand(-1, 2, -1)                        # [B, 2, T]


@numba.njit(cache=True, nogil=True)
def _phase_kernel(freq, phase, offset, sample_rate, out):  # pragma: no cover - compiled
    """``out[0, b, n] = 2 pi frac(cycles)`` with ``cycles = freq[b] * (n / sample_rate) + phase[b]``
    (float64, as the torch path computes it; then float32), and ``out[1]`` likewise for
    ``cycles + offset[b]`` when ``out`` has a second channel."""
    channels, batch, length = out.shape
    two_pi = np.float32(2 * math.pi)
    for b in range(batch):
        f, p, left = freq[b], phase[b], out[0, b]
        for n in range(length):
            cycles = f * (n / sample_rate) + p
            left[n] = np.float32(cycles - np.floor(cycles)) * two_pi
        if channels == 2:
            o, right = offset[b], out[1, b]
            for n in range(length):
                shifted = (f * (n / sample_rate) + p) + o
                right[n] = np.float32(shifted - np.floor(shifted)) * two_pi


def lfo(inputs: Dict[str, Tensor], params: Dict[str, Tensor], *, sample_rate: int,
        grad: bool = False, num_samples: int,
        batch_size: Optional[int] = None) -> Dict[str, Tensor]:
    """Mono sine LFO: both channels ``sin(2 pi (frequency t + phase))``.

    Params (``[B]``): ``frequency`` Hz, ``phase`` cycles; ``stereo_offset`` is
    ignored. ``inputs`` is empty; ``num_samples`` (required) and ``batch_size``
    (default: the parameters' batch) set the output shape ``[B, 2, T]``.
    """
    return _oscillator(params, None, num_samples, batch_size, sample_rate, grad)


def stereo_lfo(inputs: Dict[str, Tensor], params: Dict[str, Tensor], *, sample_rate: int,
               grad: bool = False, num_samples: int,
               batch_size: Optional[int] = None) -> Dict[str, Tensor]:
    """Stereo sine LFO: as :func:`lfo`, the right channel ``stereo_offset`` cycles ahead."""
    return _oscillator(params, params["stereo_offset"], num_samples, batch_size, sample_rate, grad)


def envelope(inputs: Dict[str, Tensor], params: Dict[str, Tensor], *, sample_rate: int,
             grad: bool = False) -> Dict[str, Tensor]:
    """Envelope follower of each channel of ``in``, in [0, 1].

    ``env = clip(smooth(|x|) * 10^(gain / 20), 0, 1)`` with params (``[B]``)
    ``attack`` ms, ``release`` ms (one-pole time constants) and ``gain`` dB.
    """
    x = inputs["in"]                                                     # [B, 2, T]
    batch, channels, num_samples = x.shape

    def per_lane(p: Tensor) -> Tensor:                                   # [B] -> [B * 2]
        return p.repeat_interleave(channels)

    with torch.set_grad_enabled(grad and torch.is_grad_enabled()):
        smoothed = smooth_attack_release(x.abs().reshape(-1, num_samples),
                                         per_lane(params["attack"]), per_lane(params["release"]),
                                         sample_rate=sample_rate, grad=grad)   # [B * 2, T]
        scale = torch.pow(10.0, params["gain"] / 20.0)[:, None, None]       # [B, 1, 1]
        env = torch.clamp(smoothed.reshape(batch, channels, num_samples) * scale, 0.0, 1.0)
        return {"env": env}


PROCESSORS = {"lfo": lfo, "stereo_lfo": stereo_lfo, "envelope": envelope}
