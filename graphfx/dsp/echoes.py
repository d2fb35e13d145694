"""The echo series of a feedback delay line, in the frequency domain.

The gradient modes of :mod:`.delay` and :mod:`.modulation` evaluate a
delay line with feedback exactly as an LTI system on the bins of one FFT:
the input times ``sum_k r^k``, ``r`` the loop response, the recirculations
truncated after the last that reaches the clip (:func:`echo_series`), with
an FFT long enough that the truncated response does not wrap
(:func:`series_fft_size`). Delays may be fractional; :func:`phasor` keeps
long ones precise.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from .lanes import next_pow2


def phasor(delay: Tensor, n_fft: int) -> Tensor:
    """``exp(-j w d)`` on the ``n_fft // 2 + 1`` rfft bins for delays ``d [...]`` (samples).

    Bin ``k = k_hi + k_lo`` is the product of two short tables (coarse and
    fine steps), each with its phase reduced modulo a full turn in float64:
    long delays keep their precision and the full-size work is one complex
    product instead of a full-size ``sin`` / ``cos``. Returns ``[..., F]`` complex64.
    """
    bins = n_fft // 2 + 1
    fine = 1 << (bins.bit_length() + 1) // 2
    coarse = -(-bins // fine)
    delay = delay.double().unsqueeze(-1)

    def table(k: Tensor) -> Tensor:
        phase = (-2 * math.pi / n_fft) * torch.remainder(delay * k, n_fft)
        return torch.polar(torch.ones_like(phase), phase).to(torch.complex64)

    k = torch.arange(fine, dtype=torch.float64, device=delay.device)
    grid = table(k * fine)[..., :coarse, None] * table(k)[..., None, :]
    return grid.flatten(-2)[..., :bins]


def complex_power(z: Tensor, k: Tensor) -> Tensor:
    """``z ** k`` for complex ``z`` and real ``k >= 1``, in polar form with finite gradients at ``z = 0``."""
    mag2 = z.real ** 2 + z.imag ** 2
    nonzero = mag2 > 1e-30
    # Double-where: the masked-out branch sees a harmless value, so no NaN reaches the gradient.
    safe = torch.where(nonzero, z, torch.ones_like(z))
    log_mag = 0.5 * torch.log(torch.where(nonzero, mag2, torch.ones_like(mag2)))
    mag = torch.exp(k * log_mag)
    # Flush tiny results too: polar's backward divides by the magnitude.
    mag = torch.where(nonzero & (mag > 1e-30), mag, torch.zeros_like(mag))
    return torch.polar(mag, k * torch.atan2(safe.imag, safe.real))


def series_fft_size(n: int, lag: Tensor, count: Tensor, ring: Tensor = None) -> int:
    """An FFT length that holds a clip of ``n`` samples and a truncated echo series without wrapping.

    The ``K = count`` kept passes of a loop of ``lag`` samples end near
    ``K lag``; if the loop holds a filter whose impulse response decays with
    time constant ``ring`` (samples), ``K`` passes through it spread the last
    echo over about ``K ring +- sqrt(K) ring`` (a gamma-shaped envelope), so
    five spreads are added. ``lag``, ``count``, ``ring`` broadcast together.
    """
    lag, count = lag.detach().double(), count.detach().double()
    extent = count * lag + lag
    if ring is not None:
        ring = ring.detach().double()
        extent = extent + (count + 5 * count.sqrt()) * ring
    return next_pow2(n + math.ceil(extent.max().item()))


def echo_series(loop: Tensor, lag: Tensor, count: Tensor, bound: Tensor, n_fft: int):
    """The recirculations of a feedback delay line, truncated after ``count`` of them.

    With ``P = exp(-j w lag)`` and ``r = loop P`` returns ``(P, S)``,
    ``S = sum_{k < K} r^k = (1 - r^K) / (1 - r)``. Truncating keeps the impulse
    response finite, so an FFT of :func:`series_fft_size` holds it without
    wrapping; ``1 / (1 - r)`` alone would alias its endless tail. When
    ``bound^K`` (``bound >= |loop|``) is below 1e-6 for every lane, ``r^K`` is
    skipped: it and the tail it would cut (at most ``bound^K / (1 - bound)``
    relative to the input) are negligible.

    Args:
        loop: loop response without the delay, ``[B, 1, F]``, ``|loop| <= bound < 1``.
        lag: loop delay in samples, ``[B, C]``.
        count: ``K``, ``[B, C, 1]`` (integer valued, no gradient).
        bound: bound on ``|loop|``, broadcastable to ``count``.
    """
    step = phasor(lag, n_fft)
    series = 1 / (1 - loop * step)
    if (bound ** count).max() > 1e-6:
        series = series * (1 - complex_power(loop, count)
                           * phasor(lag.double() * count[..., 0].double(), n_fft))
    return step, series
