"""Multi-scale spectral comparisons of audio, batched.

The multi-scale spectral (MSS) loss of DDSP (Engel et al., ICLR 2020), used
by Lee et al. (2023) for MSS-default, MSS-oracle and MSS-full: for each FFT
size, the L1 distance of linear magnitudes plus the L1 distance of log
magnitudes. Power is computed as ``S.real**2 + S.imag**2``, which on CPU is
much faster than a reduction over a trailing size-2 dimension.
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

FFT_SIZES = (512, 1024, 2048)
#: Floor of the power before the square root and the log.
EPS = 1e-7

#: Per FFT size, the magnitudes and log magnitudes ``[B, C, F, frames]`` of a signal (:func:`spectra`).
Spectra = List[Tuple[Tensor, Tensor]]


def _power(x: Tensor, n_fft: int) -> Tensor:
    """|STFT|^2 of ``[B, C, T]`` with hop n_fft/4: ``[B, C, F, frames]``.

    The same numbers as ``torch.stft(center=True, pad_mode="reflect")`` with a Hann window, computed as
    framed real FFTs: with gradients, this backward (an inverse FFT and an overlap-add) is measured 1.6x
    faster than that of ``torch.stft`` on CPU.
    """
    flat = x.reshape(-1, 1, x.shape[-1])
    padded = F.pad(flat, (n_fft // 2, n_fft // 2), mode="reflect")[:, 0]
    window = torch.hann_window(n_fft, device=x.device, dtype=x.dtype)
    spec = torch.fft.rfft(padded.unfold(-1, n_fft, n_fft // 4) * window)  # [B * C, frames, F]
    power = (spec.real ** 2 + spec.imag ** 2).transpose(1, 2)
    return power.reshape(*x.shape[:-1], *power.shape[-2:])


def spectra(x: Tensor, fft_sizes: Sequence[int] = FFT_SIZES, eps: float = EPS) -> Spectra:
    """The magnitudes the MSS loss compares, per FFT size (computed once for a fixed reference)."""
    out = []
    for n in fft_sizes:
        magnitude = _power(x, n).clamp_min(eps).sqrt()
        out.append((magnitude, magnitude.log()))
    return out


def mss_between(a: Spectra, b: Spectra) -> Tensor:
    """MSS loss per example, ``[B]``, between two :func:`spectra` (broadcast over the batch)."""
    total = 0.0
    for (ma, la), (mb, lb) in zip(a, b):
        total = total + (ma - mb).abs().mean(dim=(1, 2, 3)) + (la - lb).abs().mean(dim=(1, 2, 3))
    return total / len(a)


def mss_loss(x: Tensor, y: Tensor, fft_sizes: Sequence[int] = FFT_SIZES, eps: float = EPS) -> Tensor:
    """MSS loss per example, ``[B]``, between audio ``x`` and ``y`` ``[B, C, T]``.

    Each scale contributes the mean |mag_x - mag_y| plus the mean
    |log mag_x - log mag_y|; scales are averaged.
    """
    return mss_between(spectra(x, fft_sizes, eps), spectra(y, fft_sizes, eps))


def band_difference_db(x: Tensor, y: Tensor, sample_rate: int, n_fft: int = 2048, bands_per_octave: int = 3,
                       range_db: float = 40.0) -> Tensor:
    """Largest change in any audible frequency band, in dB, ``[B]``.

    The spectrograms are pooled into fractional-octave bands (one third of an
    octave by default, from 40 Hz); in each band the per-frame level
    difference is averaged with loudness weights (cube root of power), and the
    largest band average is returned. Bands more than ``range_db`` below the
    loudest band are ignored. This is how one judges an equalizer or a
    processor on one track of a mix: audible if any band moves.
    """
    px, py = _power(x, n_fft), _power(y, n_fft)  # [B, C, F, frames]
    freqs = torch.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    edges = 40.0 * 2.0 ** (torch.arange(0, 40 * bands_per_octave) / bands_per_octave)
    edges = edges[edges < sample_rate / 2]
    band = torch.bucketize(freqs, edges).to(x.device)  # bins below 40 Hz join band 0
    count = int(band.max()) + 1
    pool = torch.zeros(count, freqs.numel(), device=x.device, dtype=px.dtype)
    pool[band, torch.arange(freqs.numel(), device=x.device)] = 1.0
    bx = torch.einsum("kf,bcft->bckt", pool, px)
    by = torch.einsum("kf,bcft->bckt", pool, py)
    weight = ((bx + by) / 2) ** (1 / 3)
    diff = 10 * (torch.log10(bx + 1e-20) - torch.log10(by + 1e-20)).abs()
    per_band = (weight * diff).sum(dim=(1, 3)) / weight.sum(dim=(1, 3)).clamp_min(1e-20)  # [B, K]
    level = 10 * torch.log10((bx + by).sum(dim=(1, 3)) + 1e-20)
    audible = level > level.amax(dim=1, keepdim=True) - range_db
    return torch.where(audible, per_band, torch.zeros_like(per_band)).amax(dim=1)
