"""Modulated delay lines: chorus, flanger and vibrato.

One structure serves the three (Zölzer, "DAFX", 2nd ed., 2011, ch. 2.6.2-2.6.3;
J. Dattorro, "Effect Design, Part 2: Delay-Line Modulation and Chorus",
J. AES 45(10), 1997): a delay line whose length ``d[n]`` (the ``delay``
parameter, in ms, per sample when an LFO drives the ``mod`` inlet) is read
with linear interpolation, and whose output is fed back into it::

    wet[n] = v(n - d[n])          v[n] = x[n] + feedback * wet[n]
    out    = (1 - mix) * x + mix * wet

``v(t)`` at a fractional time is ``(1 - f) v[m] + f v[m - 1]`` with
``m = n - floor(d)``, ``f = d - floor(d)``. The three processors differ only
in their catalog ranges and defaults (chorus 5-40 ms, flanger 0.5-10 ms with
feedback, vibrato 1-10 ms fully wet). Delays are clamped to at least one
sample so the line never reads a sample not yet written.

Fast mode runs a numba kernel over lanes (item x channel). Gradient mode:

* static delay (``[B]``): the same system (linear interpolation included)
  is LTI; it is evaluated exactly by frequency sampling with the echo series
  truncated after the clip (:mod:`.echoes`), as in :mod:`.delay`. It matches
  fast mode to float precision.
* modulated delay (``[B, 2, T]``): a torch ``gather`` reads the line with
  the same interpolation, and the feedback is unrolled
  :data:`FEEDBACK_ITERATIONS` times (``v <- x + g S v`` starting from
  ``v = x``): the direct tap and the first ``FEEDBACK_ITERATIONS`` recirculations
  are exact; later ones are dropped, an error of order
  ``feedback ** (FEEDBACK_ITERATIONS + 1)`` relative to the first tap (about
  3e-4 at the chorus default 0.2, 0.03 at the flanger default 0.5, 0.6 at 0.9).
  With ``feedback = 0`` it equals fast mode to float precision.
"""
from __future__ import annotations

from typing import Dict

import numba
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .echoes import echo_series, phasor, series_fft_size
from .lanes import RING_PAD, TILE, audio_array, lane_values, load_tile, store_tile, use_kernel

#: Recirculations of the feedback loop kept by the gradient mode when the delay is modulated.
FEEDBACK_ITERATIONS = 4


def _lag_samples(params: Dict[str, Tensor], sample_rate: int) -> Tensor:
    """The delay in samples, ``[B]`` or ``[B, 2, T]``, at least one sample."""
    return (params["delay"] * (sample_rate / 1000.0)).clamp(min=1.0)


# --- fast mode ---------------------------------------------------------------
@numba.njit(cache=True, nogil=True)
def _to_lags(tile, length, samples_per_ms):  # pragma: no cover - compiled
    """:func:`_lag_samples` on the first ``length`` rows of a tile of delays in ms, in place (float32)."""
    one = np.float32(1)
    for i in range(length):
        for lane in range(tile.shape[1]):
            tile[i, lane] = max(tile[i, lane] * samples_per_ms, one)


@numba.njit(cache=True, nogil=True)
def _modulated_delay_kernel(x, delay, samples_per_ms, gain, dry_gain, wet_gain):
    """Interpolated feedback delay lines over lanes; returns ``[B, 2, T]``.

    ``x``: ``[B, 2, T]``; ``delay``: in ms, ``[B, 2, T]`` or ``[B, 2, 1]``
    (constant), turned into lags in samples (>= 1) tile by tile, as
    :func:`_lag_samples` does (a pass over a modulated delay fewer);
    ``samples_per_ms``: float32; ``gain``, ``dry_gain``, ``wet_gain``: ``[2B]``.
    """
    batch, _, n_samples = x.shape
    n_lanes = 2 * batch
    modulated = delay.shape[2] > 1
    longest = max(delay.max() * samples_per_ms, np.float32(1))  # once: a modulated delay is large
    size = 2
    while size <= longest + 1:
        size *= 2
    mask = size - 1
    line = np.zeros((n_lanes, size + RING_PAD), np.float32)     # lane-major ring buffers
    dry = np.zeros((TILE, n_lanes), np.float32)
    lags = np.zeros((TILE, n_lanes), np.float32)
    out = np.zeros((TILE, n_lanes), np.float32)
    if not modulated:
        for i in range(TILE):
            load_tile(delay, 0, 1, lags[i:i + 1])
        _to_lags(lags, TILE, samples_per_ms)
    y_all = np.empty_like(x)
    for start in range(0, n_samples, TILE):
        length = min(TILE, n_samples - start)
        load_tile(x, start, length, dry)
        if modulated:
            load_tile(delay, start, length, lags)
            _to_lags(lags, length, samples_per_ms)
        for i in range(length):
            n = start + i
            for lane in range(n_lanes):
                whole = np.int64(lags[i, lane])               # floor, lags >= 1
                frac = lags[i, lane] - np.float32(whole)      # float32 throughout: vectorizes
                ring = line[lane]
                wet = (np.float32(1) - frac) * ring[(n - whole) & mask] + frac * ring[(n - whole - 1) & mask]
                ring[n & mask] = dry[i, lane] + gain[lane] * wet
                out[i, lane] = dry_gain[lane] * dry[i, lane] + wet_gain[lane] * wet
        store_tile(out, start, length, y_all)
    return y_all


def _modulated_fast(x: Tensor, params: Dict[str, Tensor], sample_rate: int) -> Tensor:
    delay = params["delay"]
    delay = delay.view(-1, 1, 1).expand(-1, 2, 1) if delay.dim() == 1 else delay.expand_as(x)
    mix = lane_values(params["mix"])
    y = _modulated_delay_kernel(audio_array(x), audio_array(delay), np.float32(sample_rate / 1000.0),
                                lane_values(params["feedback"]), 1.0 - mix, mix)
    return torch.from_numpy(y).to(x.device)


# --- gradient mode -----------------------------------------------------------
def _static_grad(x: Tensor, lag: Tensor, gain: Tensor) -> Tensor:
    """Wet signal for a constant delay, exact, by frequency sampling.

    The interpolated read is the FIR ``S = z^-m ((1 - f) + f z^-1)``
    (``m = floor(d)``, ``f = d - m``), so ``Wet = X S sum_k (g S)^k``, the
    recirculations truncated after the ``K`` that reach the clip
    (:func:`.echoes.echo_series`).
    """
    n = x.shape[-1]
    lag = lag.view(-1, 1)                                                 # [B, 1]
    whole = torch.floor(lag.detach())
    frac = (lag - whole)[..., None]
    echoes = (torch.floor((n - 1) / whole) + 1)[..., None]                # K, one spare
    n_fft = series_fft_size(n, whole + 1, echoes[..., 0])
    z1 = phasor(torch.ones(1, device=x.device), n_fft)                    # e^{-jw}, [1, F]
    interp = (1 - frac) + frac * z1                                       # [B, 1, F]
    gain = gain.view(-1, 1, 1)
    step, series = echo_series(gain * interp, whole, echoes, gain, n_fft)
    return torch.fft.irfft(torch.fft.rfft(x, n=n_fft) * step * interp * series, n=n_fft)[..., :n]


def _modulated_grad(x: Tensor, lag: Tensor, gain: Tensor) -> Tensor:
    """Wet signal for a time-varying delay: gathered reads, feedback unrolled."""
    batch, channels, n = x.shape
    lag = lag.expand(batch, channels, n)
    whole = torch.floor(lag.detach())
    frac = lag - whole                                                    # carries d(out)/d(delay)
    pad = int(whole.max().item()) + 1
    newer = (torch.arange(n, device=x.device) + pad - whole).long()      # index of v[n - m] in padded v
    older = newer - 1

    def read(v: Tensor) -> Tensor:
        padded = F.pad(v, (pad, 0))
        return (1 - frac) * padded.gather(-1, newer) + frac * padded.gather(-1, older)

    gain = gain.view(-1, 1, 1)
    wet = read(x)
    for _ in range(FEEDBACK_ITERATIONS):
        wet = read(x + gain * wet)
    return wet


# --- processor ---------------------------------------------------------------
def modulated_delay(inputs: Dict[str, Tensor], params: Dict[str, Tensor], *, sample_rate: int,
                    grad: bool = False) -> Dict[str, Tensor]:
    """Chorus / flanger / vibrato: an interpolated delay line with feedback.

    Parameters: ``delay`` (ms, ``[B]`` or ``[B, 2, T]`` when modulated),
    ``feedback`` and ``mix`` (``[B]``). See the module docstring for the
    structure and for what the gradient mode computes.
    """
    x = inputs["in"]
    if use_kernel(x, grad):
        return {"out": _modulated_fast(x, params, sample_rate)}
    lag = _lag_samples(params, sample_rate)
    gain = params["feedback"]
    wet = _static_grad(x, lag, gain) if lag.dim() == 1 else _modulated_grad(x, lag, gain)
    mix = params["mix"].view(-1, 1, 1)
    return {"out": (1 - mix) * x + mix * wet}


PROCESSORS = {"chorus": modulated_delay, "flanger": modulated_delay, "vibrato": modulated_delay}
