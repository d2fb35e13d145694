"""Reverbs: Jezar's Freeverb, on the mono sum (``reverb``) or per channel (``stereo_reverb``).

Freeverb (Jezar at Dreampoint, 2000, public domain; described in J. O. Smith,
"Physical Audio Signal Processing", 2010, "Freeverb") runs per channel a
"tank" of 8 parallel lowpass-feedback comb filters followed by 4 series
allpass-like filters (feedback 0.5). The comb lengths 1116 ... 1617 and
allpass lengths 556, 441, 341, 225 samples are for 44.1 kHz and are scaled
to the sample rate; the right tank's lengths are longer by the stereo
spread of 23 samples (also scaled). Parameters map as in Freeverb:

* comb feedback ``roomsize = 0.28 size + 0.7``; comb lowpass ``damp = 0.4 damping``
  (``store = (1 - damp) out + damp store``);
* ``wet1 = mix (1 + width) / 2``, ``wet2 = mix (1 - width) / 2``;
  ``out_L = (1 - mix) x_L + wet1 tank_L + wet2 tank_R`` (and mirrored),
  i.e. Freeverb at its default wet gain ``scalewet * initialwet = 1`` with
  ``mix`` crossfading dry and wet;
* tank input: ``reverb`` feeds both tanks ``0.015 (L + R)`` (Freeverb's
  fixed gain on the mono sum); ``stereo_reverb`` feeds the left tank
  ``0.03 L`` and the right tank ``0.03 R``, so a centred source (L = R)
  drives the tanks equally in both processors.

Fast mode is an exact Freeverb in a numba kernel (lanes = batch items, both
tanks in one pass). Gradient mode is an approximation (see
:func:`_synthetic_ir`): an FFT convolution with a deterministic synthetic
impulse response, exponentially decaying noise whose decay rate per
frequency equals Freeverb's comb loop gain ``roomsize |H_damp(w)|`` per mean
comb length, with Freeverb's expected energy per frequency. It matches the
decay times, the damping's darkening, the onset (shortest comb) and the
level of the fast mode, not its waveform (no discrete early echoes, no
comb/allpass coloration, smooth instead of sparse early density).
"""
from __future__ import annotations

import functools
import math
from typing import Dict

import numba
import numpy as np
import torch
from torch import Tensor

from .lanes import audio_array, next_pow2, use_kernel

COMB_TUNING = (1116, 1188, 1277, 1356, 1422, 1491, 1557, 1617)
ALLPASS_TUNING = (556, 441, 341, 225)
STEREO_SPREAD = 23
TUNING_RATE = 44100
FIXED_GAIN = 0.015
ALLPASS_FEEDBACK = 0.5
#: Expected power gain of one Freeverb allpass, ``|(-1 + 1.5 z^-M) / (1 - 0.5 z^-M)|^2`` averaged over frequency.
ALLPASS_POWER = 7.0 / 3.0
#: Gradient mode: STFT size and hop of the synthetic impulse response, and its noise seed.
IR_FFT, IR_HOP, IR_SEED = 1024, 512, 0


def _lengths(tuning, sample_rate: int) -> np.ndarray:
    """``[2, len(tuning)]`` left / right lengths in samples at ``sample_rate``."""
    t = np.asarray(tuning, dtype=np.float64)
    scale = sample_rate / TUNING_RATE
    return np.maximum(np.rint(np.stack([t, t + STEREO_SPREAD]) * scale), 1).astype(np.int64)


def _room(params: Dict[str, Tensor]):
    """Freeverb's comb feedback and damping coefficient, ``[B]`` each."""
    return params["size"] * 0.28 + 0.7, params["damping"] * 0.4


def _output_gains(params: Dict[str, Tensor]):
    """``(dry, wet1, wet2)``, ``[B]`` each."""
    mix, width = params["mix"], params["width"]
    return 1 - mix, mix * (1 + width) / 2, mix * (1 - width) / 2


# --- fast mode ---------------------------------------------------------------
@numba.njit(cache=True, nogil=True)
def _four_combs(u, total, l0, l1, l2, l3, feedback, damp):
    """Adds the outputs of four damped feedback combs (ring buffers ``l0``..``l3``) fed by ``u`` to ``total``.

    A comb's one-pole damping state is a recursion with a few cycles of latency; four combs
    interleaved in one loop keep the core busy (measured 2x faster than one comb at a time).
    """
    s0 = s1 = s2 = s3 = np.float32(0)
    p0 = p1 = p2 = p3 = 0
    for t in range(u.shape[0]):
        x = u[t]
        o0, o1, o2, o3 = l0[p0], l1[p1], l2[p2], l3[p3]
        s0 = np.float32(o0 * (1 - damp) + s0 * damp)
        s1 = np.float32(o1 * (1 - damp) + s1 * damp)
        s2 = np.float32(o2 * (1 - damp) + s2 * damp)
        s3 = np.float32(o3 * (1 - damp) + s3 * damp)
        l0[p0], l1[p1], l2[p2], l3[p3] = x + s0 * feedback, x + s1 * feedback, x + s2 * feedback, x + s3 * feedback
        total[t] = total[t] + o0 + o1 + o2 + o3
        p0, p1, p2, p3 = p0 + 1, p1 + 1, p2 + 1, p3 + 1
        if p0 == l0.shape[0]:
            p0 = 0
        if p1 == l1.shape[0]:
            p1 = 0
        if p2 == l2.shape[0]:
            p2 = 0
        if p3 == l3.shape[0]:
            p3 = 0


@numba.njit(cache=True, nogil=True)
def _allpass(x, length):
    """Freeverb's allpass (feedback 0.5, a ``length``-sample ring) over ``x``, in place."""
    line = np.zeros(length, np.float32)
    pos = 0
    for t in range(x.shape[0]):
        o = line[pos]
        line[pos] = x[t] + o * ALLPASS_FEEDBACK
        x[t] = o - x[t]
        pos += 1
        if pos == length:
            pos = 0


@numba.njit(cache=True, nogil=True)
def _freeverb_kernel(x, mono, comb_len, allpass_len, feedback, damp, in_gain, dry_gain, wet1, wet2):
    """Freeverb on ``x [B, 2, T]``; returns ``[B, 2, T]``.

    ``comb_len [2, 8]`` / ``allpass_len [2, 4]``: lengths per tank (left,
    right); per-item ``[B]`` ``feedback``, ``damp``, ``dry_gain``, ``wet1``,
    ``wet2``. With ``mono`` both tanks get ``in_gain (L + R)``, otherwise
    the left tank ``in_gain L`` and the right ``in_gain R``. Each tank runs
    its parallel combs, four at a time, then its allpasses one after the
    other, over the whole clip (the same sums in the same order as running
    every filter per sample).
    """
    batch, _, n_samples = x.shape
    y = np.empty_like(x)
    u = np.empty(n_samples, np.float32)
    wet = np.empty((2, n_samples), np.float32)
    for b in range(batch):
        for tank in range(2):
            for t in range(n_samples):
                u[t] = in_gain * (x[b, 0, t] + x[b, 1, t]) if mono else in_gain * x[b, tank, t]
            total = wet[tank]
            total[:] = 0
            for c in range(0, comb_len.shape[1], 4):
                lengths = comb_len[tank, c:c + 4]
                _four_combs(u, total, np.zeros(lengths[0], np.float32), np.zeros(lengths[1], np.float32),
                            np.zeros(lengths[2], np.float32), np.zeros(lengths[3], np.float32), feedback[b], damp[b])
            for a in range(allpass_len.shape[1]):
                _allpass(total, allpass_len[tank, a])
        for t in range(n_samples):
            left, right = wet[0, t], wet[1, t]
            y[b, 0, t] = dry_gain[b] * x[b, 0, t] + wet1[b] * left + wet2[b] * right
            y[b, 1, t] = dry_gain[b] * x[b, 1, t] + wet1[b] * right + wet2[b] * left
    return y


def _item_values(p: Tensor) -> np.ndarray:
    """A per-item parameter ``[B]`` -> float32 numpy array."""
    return p.detach().to("cpu", torch.float32).contiguous().numpy()


def _reverb_fast(x: Tensor, params: Dict[str, Tensor], sample_rate: int, mono: bool) -> Tensor:
    feedback, damp = _room(params)
    gains = [_item_values(g) for g in _output_gains(params)]
    in_gain = FIXED_GAIN if mono else 2 * FIXED_GAIN
    y = _freeverb_kernel(audio_array(x), mono, _lengths(COMB_TUNING, sample_rate),
                         _lengths(ALLPASS_TUNING, sample_rate), _item_values(feedback), _item_values(damp),
                         np.float32(in_gain), *gains)
    return torch.from_numpy(y).to(x.device)


# --- gradient mode -----------------------------------------------------------
@functools.lru_cache(maxsize=4)
def _noise_stft(n: int, device: str) -> Tensor:
    """STFT of fixed-seed unit white noise, one row per tank: ``[2, F, M]`` complex64."""
    gen = torch.Generator().manual_seed(IR_SEED)
    noise = torch.randn(2, n, generator=gen).to(device)
    window = torch.hann_window(IR_FFT, device=device)
    return torch.stft(noise, IR_FFT, IR_HOP, window=window, pad_mode="constant", return_complex=True)


def _synthetic_ir(feedback: Tensor, damp: Tensor, n: int, sample_rate: int) -> Tensor:
    """Impulse responses of the two tanks, ``[B, 2, n]``, from fixed noise.

    Per frequency ``w`` Freeverb's combs lose ``rho(w) = roomsize |H(w)|``
    per pass, ``H(z) = (1 - damp) / (1 - damp z^-1)`` the comb lowpass, so the
    synthetic response decays as ``rho^(t / L)`` after the onset ``t0``
    (``L`` the tank's mean comb length, ``t0`` its shortest). Its energy per
    frequency is Freeverb's expected one per unit tank input:
    ``8 * ALLPASS_POWER^4 / (1 - rho^2)`` (8 combs, power-averaged over their
    resonances, through the 4 allpasses).
    """
    device = feedback.device
    noise = _noise_stft(n, str(device))                                  # [2, F, M]
    bins, frames = noise.shape[-2:]
    comb = torch.as_tensor(_lengths(COMB_TUNING, sample_rate), dtype=torch.float32, device=device)
    mean_len, onset = comb.mean(dim=1), comb.min(dim=1).values           # [2]
    w = torch.linspace(0, math.pi, bins, device=device)
    damp = damp.view(-1, 1, 1)
    rho2 = (feedback.view(-1, 1, 1) * (1 - damp)) ** 2 / (1 - 2 * damp * torch.cos(w) + damp ** 2)
    rate = 0.5 * torch.log(rho2) / mean_len.view(1, 2, 1)                # per sample, [B, 2, F]
    energy = 8 * ALLPASS_POWER ** 4 / (1 - rho2)                        # [B, 1, F]
    # Scale so that sum_{t >= t0} level^2 rho^(2 (t - t0) / L) equals the energy.
    level = torch.sqrt(energy * -torch.expm1(2 * rate))                  # [B, 2, F]
    age = (torch.arange(frames, device=device) * IR_HOP - onset.view(2, 1)).clamp(min=0)  # [2, M]
    envelope = level[..., None] * torch.exp(rate[..., None] * age[:, None, :])           # [B, 2, F, M]
    window = torch.hann_window(IR_FFT, device=device)
    ir = torch.istft((noise * envelope).flatten(0, 1), IR_FFT, IR_HOP, window=window, length=n)
    t = torch.arange(n, device=device)
    return ir.view(-1, 2, n) * (t >= onset.view(2, 1))


def _reverb_grad(x: Tensor, params: Dict[str, Tensor], sample_rate: int, mono: bool) -> Tensor:
    n = x.shape[-1]
    feedback, damp = _room(params)
    ir = _synthetic_ir(feedback, damp, n, sample_rate)                   # [B, 2, T]
    tank_in = FIXED_GAIN * x.sum(dim=1, keepdim=True) if mono else 2 * FIXED_GAIN * x
    n_fft = next_pow2(2 * n)
    tanks = torch.fft.irfft(torch.fft.rfft(ir, n=n_fft) * torch.fft.rfft(tank_in, n=n_fft), n=n_fft)[..., :n]
    dry, wet1, wet2 = (g.view(-1, 1, 1) for g in _output_gains(params))
    return dry * x + wet1 * tanks + wet2 * tanks.flip(1)


# --- processors --------------------------------------------------------------
def reverb(inputs: Dict[str, Tensor], params: Dict[str, Tensor], *, sample_rate: int,
           grad: bool = False) -> Dict[str, Tensor]:
    """Freeverb of the mono sum: both tanks take ``0.015 (L + R)``.

    Parameters (``[B]``, all in [0, 1]): ``size``, ``damping``, ``width``, ``mix``.
    """
    x = inputs["in"]
    if use_kernel(x, grad):
        return {"out": _reverb_fast(x, params, sample_rate, mono=True)}
    return {"out": _reverb_grad(x, params, sample_rate, mono=True)}


def stereo_reverb(inputs: Dict[str, Tensor], params: Dict[str, Tensor], *, sample_rate: int,
                  grad: bool = False) -> Dict[str, Tensor]:
    """Freeverb per channel: the left tank takes ``0.03 L``, the right ``0.03 R``.

    Same parameters as :func:`reverb`.
    """
    x = inputs["in"]
    if use_kernel(x, grad):
        return {"out": _reverb_fast(x, params, sample_rate, mono=False)}
    return {"out": _reverb_grad(x, params, sample_rate, mono=False)}


PROCESSORS = {"reverb": reverb, "stereo_reverb": stereo_reverb}
