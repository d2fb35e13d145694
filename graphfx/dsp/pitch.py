"""Pitch shifting with a peak-locked phase vocoder.

The shifter moves whole spectral peaks, following J. Laroche and M. Dolson,
"New phase-vocoder techniques for pitch-shifting, harmonizing and other
exotic effects", IEEE WASPAA 1999 (see also Zölzer, "DAFX", 2nd ed., 2011,
ch. 7 "Time-frequency processing"):

1. STFT with a Hann window of about 46 ms and a hop of a quarter window.
2. Peaks are the bins not smaller than their two neighbours on each side; every
   bin belongs to the region of its nearest peak.
3. The instantaneous frequency ``w`` of each peak comes from its phase advance
   between frames. Its whole region moves by the integer number of bins
   nearest to ``(r - 1) w``, where ``r = 2^(semitone / 12)``, keeping the
   window's spectral shape and the phase relations inside the region
   ("identity phase locking").
4. The region is rotated by an accumulated phase whose advance per hop is
   that of the frequency offset ``(r - 1) w``, so the shifted peak's phase
   advances exactly as a sinusoid at ``r w``: the pitch is exact even though
   the bin shift is rounded. The accumulation runs per source bin and is read
   at each region's peak, which follows a peak gliding across bins.
5. Inverse STFT (weighted overlap-add) back to the input length.

Content shifted above the Nyquist frequency is dropped (no aliasing); a
semitone of 0 gives back the input up to STFT round-off.

Everything is batched torch, so it runs on GPU and is differentiable with
respect to the input. Fast mode (``grad=False`` on CPU) runs steps 2-4 in a
numba kernel instead, which finds phase advances and phasors once per peak
rather than per bin (about 4x faster; equal to the torch path up to float32
round-off of the accumulated phases). The shift and the phase rotation are computed from
detached analysis data, so ``semitone`` receives no gradient (its exact
derivative, through a frequency, grows with time and is of little use).
"""
from __future__ import annotations

import math
from typing import Dict

import numba
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

#: Analysis window length in seconds (rounded to a power of two in samples).
WINDOW_SECONDS = 0.046
#: Bins compared on each side of a candidate peak.
PEAK_NEIGHBOURS = 2
#: Lanes (clip channels) processed together on CPU.
CPU_CHUNK_LANES = 8


def _fft_size(sample_rate: int) -> int:
    """Power of two nearest ``WINDOW_SECONDS`` of audio (2048 at 44.1 and 48 kHz)."""
    return 2 ** max(6, round(math.log2(WINDOW_SECONDS * sample_rate)))


def _nearest_peak(power: Tensor) -> Tensor:
    """Index of the nearest spectral peak for every bin: ``[L, M, K]`` -> ``[L, M, K]`` int64.

    A peak is a bin not smaller than ``PEAK_NEIGHBOURS`` bins on each side;
    every frame has one (its largest bin). Ties in distance go to the lower
    peak. Float arithmetic instead of ``torch.where`` is faster on CPU.
    """
    num_bins = power.shape[-1]
    width = 2 * PEAK_NEIGHBOURS + 1
    local_max = F.max_pool1d(power.view(-1, 1, num_bins), width, 1, PEAK_NEIGHBOURS)
    is_peak = (power >= local_max.view_as(power)).float()
    bins = torch.arange(num_bins, device=power.device, dtype=torch.float32)
    far = 2.0 * num_bins   # stands for "no peak on this side"
    below = (is_peak * (bins + far) - far).cummax(dim=2).values
    mirrored = is_peak * (far + num_bins - 1 - bins) - far        # bins counted from the top
    above = (num_bins - 1) - mirrored.flip(2).cummax(dim=2).values.flip(2)
    take_below = (below + above >= 2 * bins).float()
    return (above + (below - above) * take_below).long()


def _cumsum_frames(x: Tensor) -> Tensor:
    """Cumulative sum over frames (dim 1) of ``[L, M, K]``; a frame loop beats ``cumsum`` on CPU."""
    out = torch.empty_like(x)
    out[:, 0] = x[:, 0]
    for m in range(1, x.shape[1]):
        torch.add(out[:, m - 1], x[:, m], out=out[:, m])
    return out


def _shift_plan(spec: Tensor, ratio: Tensor, hop: int, n_fft: int):
    """Where each bin goes and how it turns.

    ``spec``: ``[L, M, K]`` complex (frames, then bins); ``ratio``: ``[L, 1, 1]``.
    Returns ``target`` ``[L, M, K]`` int64 (destination bin, clamped) and
    ``turn`` ``[L, M, K]`` complex (unit phasor, 0 where the bin leaves the band).
    """
    num_bins = spec.shape[-1]
    bins = torch.arange(num_bins, device=spec.device, dtype=torch.float32)
    peak = _nearest_peak(spec.real.square() + spec.imag.square())
    # Deviation of the phase advance from the bin centre's, wrapped by atan2.
    centre = torch.polar(torch.ones_like(bins), bins * (-2 * math.pi * hop / n_fft))
    cross = spec[:, 1:] * spec[:, :-1].conj() * centre                     # [L, M - 1, K]
    # (atan2 is many times slower on the strided real and imaginary views.)
    deviation = torch.atan2(cross.imag.contiguous(), cross.real.contiguous())
    deviation = deviation * (n_fft / (2 * math.pi * hop))                 # bins
    freq = bins + F.pad(deviation, (0, 0, 1, 0))                        # first frame: bin centres
    offset = (ratio - 1.0) * torch.gather(freq, 2, peak)                   # bins, [L, M, K]
    shift = torch.round(offset)
    # Phase advance per hop of the frequency offset, in cycles (mod 1 keeps the sum small).
    cycles = offset * (hop / n_fft)
    turns = _cumsum_frames(cycles - torch.floor(cycles))
    # Locked to the peak; -pi * shift keeps the phase at the frame centre (moving a
    # spectrum by s bins turns the centre of a frame by pi * s).
    rotation = 2 * math.pi * torch.gather(turns, 2, peak) - math.pi * shift
    target = bins + shift
    inside = ((target >= 0) & (target < num_bins)).float()
    # torch.polar is several times slower than cos and sin on CPU.
    turn = torch.complex(torch.cos(rotation) * inside, torch.sin(rotation) * inside)
    return target.clamp_(0, num_bins - 1).long(), turn


@numba.njit(cache=True, nogil=True)
def _shift_kernel(spec, ratio, hop, n_fft, out):
    """Steps 2-4 of the module docstring over ``spec`` ``[L, M, K]`` (complex64) into ``out`` (zeroed)."""
    lanes, frames, num_bins = spec.shape
    advance = hop / n_fft                   # a bin's phase advance per hop, in cycles per bin
    centre = np.exp(-2j * np.pi * advance * np.arange(num_bins))
    power = np.full(num_bins + 2 * PEAK_NEIGHBOURS, -1.0)  # padded: edge bins compare with what exists
    nearest = np.empty(num_bins, np.int64)  # each bin's nearest peak (first pass: the last one below)
    peak_freq = np.empty(num_bins)          # instantaneous frequency in bins, set at peaks
    turns = np.empty(num_bins)              # each source bin's accumulated phase advance, cycles
    for lane in range(lanes):
        turns[:] = 0.0
        for m in range(frames):
            row = spec[lane, m]
            for k in range(num_bins):
                power[k + PEAK_NEIGHBOURS] = row[k].real * row[k].real + row[k].imag * row[k].imag
            last = -1
            for k in range(num_bins):
                around = 0.0
                for j in range(k, k + 2 * PEAK_NEIGHBOURS + 1):
                    around = max(around, power[j])
                if power[k + PEAK_NEIGHBOURS] >= around:
                    last = k
                    peak_freq[k] = k  # first frame: bin centres
                    if m > 0:
                        cross = row[k] * np.conj(spec[lane, m - 1, k]) * centre[k]
                        peak_freq[k] += np.arctan2(cross.imag, cross.real) / (2 * np.pi * advance)
                nearest[k] = last
            above = -1
            for k in range(num_bins - 1, -1, -1):
                if nearest[k] == k:
                    above = k
                if nearest[k] < 0 or (above >= 0 and above - k < k - nearest[k]):
                    nearest[k] = above
            current, shift, step, phasor = -1, 0, 0.0, 0j
            for k in range(num_bins):
                if nearest[k] != current:  # regions are contiguous: one shift and phasor each
                    current = nearest[k]
                    offset = (ratio[lane] - 1.0) * peak_freq[current]
                    shift = int(np.rint(offset))
                    step = offset * advance - np.floor(offset * advance)
                    # The peak's accumulated turns including this frame (it is not yet updated).
                    rotation = 2 * np.pi * (turns[current] + step) - np.pi * shift
                    phasor = np.cos(rotation) + 1j * np.sin(rotation)
                turns[k] += step
                if 0 <= k + shift < num_bins:
                    out[lane, m, k + shift] += row[k] * phasor


def _shift_lanes(lanes: Tensor, ratio: Tensor, n_fft: int, hop: int, fast: bool = False) -> Tensor:
    """Pitch-shifts ``lanes`` ``[L, T]`` by ``ratio`` ``[L]``; returns ``[L, T]``."""
    window = torch.hann_window(n_fft, device=lanes.device, dtype=lanes.dtype)
    spec = torch.stft(lanes, n_fft, hop, window=window, center=True, pad_mode="constant",
                      return_complex=True).transpose(1, 2)                # [L, M, K]
    if fast:
        spec = spec.contiguous()
        shifted = torch.zeros_like(spec)
        _shift_kernel(spec.numpy(), ratio.double().numpy(), hop, n_fft, shifted.numpy())
    else:
        with torch.no_grad():
            target, turn = _shift_plan(spec.detach(), ratio.view(-1, 1, 1), hop, n_fft)
        shifted = torch.zeros_like(spec).scatter_add_(2, target, spec * turn)
    return torch.istft(shifted.transpose(1, 2), n_fft, hop, window=window, center=True,
                       length=lanes.shape[-1])


def pitchshift(inputs: Dict[str, Tensor], params: Dict[str, Tensor], *, sample_rate: int,
               grad: bool = False) -> Dict[str, Tensor]:
    """Shifts the pitch by ``semitone`` (any real number; one per clip, ``[B]``).

    The output has the input's length.
    """
    x = inputs["in"]                                                      # [B, 2, T]
    semitone = params["semitone"]
    if semitone.dim() != 1:
        raise ValueError("pitchshift takes one semitone value per clip, shape [B]")
    batch, channels, length = x.shape
    n_fft = _fft_size(sample_rate)
    lanes = x.reshape(batch * channels, length)                           # [L, T]
    ratio = torch.pow(2.0, semitone.to(x.dtype) / 12.0).repeat_interleave(channels)
    # On CPU, a few lanes at a time keep the spectra small enough to stay in cache. (Clips whose channels
    # are equal reach here as one channel: the renderer runs channel-wise processors once on them.)
    size = lanes.shape[0] if x.is_cuda else CPU_CHUNK_LANES
    fast = not grad and not x.is_cuda
    y = torch.cat([_shift_lanes(lanes[i:i + size], ratio[i:i + size], n_fft, n_fft // 4, fast)
                   for i in range(0, lanes.shape[0], size)])
    return {"out": y.view(batch, channels, length)}


PROCESSORS = {"pitchshift": pitchshift}
