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

Fast mode runs Freeverb exactly, in numba kernels. Gradient mode on CPU runs
the same kernels (so its output equals fast mode's bit for bit) inside a
:class:`torch.autograd.Function`, :class:`_FreeverbTanks`, that returns the
two tank outputs (the dry/wet mix stays in torch); its backward is the
adjoint, each delay-line recursion run backward in time (:func:`_tanks_adjoint`).

Gradient mode on CUDA, where sample-by-sample recursions are slow, is an
approximation: FFT convolution with a synthetic impulse response
(:func:`_synthetic_ir`), noise decaying per frequency at Freeverb's comb loop
gain ``roomsize |H_damp(w)|`` per mean comb length, with Freeverb's expected
energy. It matches the decay times, the damping's darkening, the onset and
the level, not the waveform (no discrete early echoes, no comb/allpass coloration).
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
#: Gradient mode on CUDA: STFT size and hop of the synthetic impulse response, and its noise seed.
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


# --- Freeverb kernels: fast mode, and grad mode's forward and adjoint on CPU --------
@numba.njit(cache=True, nogil=True)
def _four_combs(u, total, l0, l1, l2, l3, feed, damp, keep, record):
    """Adds the outputs of four damped feedback combs (ring buffers ``l0``..``l3``) fed by ``u`` to ``total``.

    Per comb ``out = line[t - L]``, ``store = keep out + damp store``, ``line[t] = u + feed store``:
    Freeverb's comb with ``keep = 1 - damp``, ``feed = roomsize``. With the gains swapped
    (``keep = roomsize``, ``feed = 1 - damp``) and run backward in time it is the comb's adjoint
    (see :func:`_tanks_adjoint`). ``record`` is None or ``[4, 2, T]``: each comb's ``out`` and
    ``store`` per sample. Gains and state are in the signal's dtype, as in float Freeverb.

    A comb's one-pole damping state is a recursion with a few cycles of latency; four combs
    interleaved in one loop keep the core busy (measured 2x faster than one comb at a time).
    """
    cast = total.dtype.type
    s0 = s1 = s2 = s3 = cast(0)
    p0 = p1 = p2 = p3 = 0
    for t in range(u.shape[0]):
        x = u[t]
        o0, o1, o2, o3 = l0[p0], l1[p1], l2[p2], l3[p3]
        s0 = cast(o0 * keep + s0 * damp)
        s1 = cast(o1 * keep + s1 * damp)
        s2 = cast(o2 * keep + s2 * damp)
        s3 = cast(o3 * keep + s3 * damp)
        l0[p0], l1[p1], l2[p2], l3[p3] = x + s0 * feed, x + s1 * feed, x + s2 * feed, x + s3 * feed
        total[t] = total[t] + o0 + o1 + o2 + o3
        if record is not None:  # pruned at compile time when None
            record[0, 0, t], record[1, 0, t], record[2, 0, t], record[3, 0, t] = o0, o1, o2, o3
            record[0, 1, t], record[1, 1, t], record[2, 1, t], record[3, 1, t] = s0, s1, s2, s3
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
    """Freeverb's allpass (feedback 0.5, a ``length``-sample ring) over ``x``, in place.

    Its adjoint is the same filter run backward in time (the ring then holds
    ``dL/dy[t] + 0.5 dL/dline[t]``, read ``length`` steps later as ``dL/dline``).
    """
    line = np.zeros(length, x.dtype)
    pos = 0
    for t in range(x.shape[0]):
        o = line[pos]
        line[pos] = x[t] + o * ALLPASS_FEEDBACK
        x[t] = o - x[t]
        pos += 1
        if pos == length:
            pos = 0


@numba.njit(cache=True, nogil=True)
def _tank_input(x, b, tank, mono, in_gain, u):
    """The input ``u [T]`` of ``tank`` (0 left, 1 right) for item ``b`` of ``x [B, 2, T]``."""
    for t in range(x.shape[2]):
        u[t] = in_gain * (x[b, 0, t] + x[b, 1, t]) if mono else in_gain * x[b, tank, t]


@numba.njit(cache=True, nogil=True)
def _tank(u, comb_len, allpass_len, feedback, damp, total):
    """One tank (combs ``comb_len [8]``, allpasses ``allpass_len [4]``) over ``u`` into ``total [T]``.

    The parallel combs run four at a time, then the allpasses one after the other,
    over the whole clip (the same sums in the same order as every filter per sample).
    """
    total[:] = 0
    for c in range(0, comb_len.shape[0], 4):
        lengths = comb_len[c:c + 4]
        _four_combs(u, total, np.zeros(lengths[0], u.dtype), np.zeros(lengths[1], u.dtype),
                    np.zeros(lengths[2], u.dtype), np.zeros(lengths[3], u.dtype),
                    feedback, damp, u.dtype.type(1 - damp), None)
    for a in range(allpass_len.shape[0]):
        _allpass(total, allpass_len[a])


@numba.njit(cache=True, nogil=True)
def _freeverb_kernel(x, mono, comb_len, allpass_len, feedback, damp, in_gain, dry_gain, wet1, wet2):
    """Freeverb on ``x [B, 2, T]``; returns ``[B, 2, T]``.

    ``comb_len [2, 8]`` / ``allpass_len [2, 4]``: lengths per tank (left,
    right); per-item ``[B]`` ``feedback``, ``damp``, ``dry_gain``, ``wet1``,
    ``wet2``. With ``mono`` both tanks get ``in_gain (L + R)``, otherwise
    the left tank ``in_gain L`` and the right ``in_gain R``.
    """
    batch, _, n_samples = x.shape
    y = np.empty_like(x)
    u = np.empty(n_samples, x.dtype)
    wet = np.empty((2, n_samples), x.dtype)
    for b in range(batch):
        for tank in range(2):
            _tank_input(x, b, tank, mono, in_gain, u)
            _tank(u, comb_len[tank], allpass_len[tank], feedback[b], damp[b], wet[tank])
        for t in range(n_samples):
            left, right = wet[0, t], wet[1, t]
            y[b, 0, t] = dry_gain[b] * x[b, 0, t] + wet1[b] * left + wet2[b] * right
            y[b, 1, t] = dry_gain[b] * x[b, 1, t] + wet1[b] * right + wet2[b] * left
    return y


@numba.njit(cache=True, nogil=True)
def _tanks_kernel(x, mono, comb_len, allpass_len, feedback, damp, in_gain):
    """The two tanks' outputs ``[B, 2, T]`` (left, right) of :func:`_freeverb_kernel`, unmixed."""
    batch, _, n_samples = x.shape
    wet = np.empty_like(x)
    u = np.empty(n_samples, x.dtype)
    for b in range(batch):
        for tank in range(2):
            _tank_input(x, b, tank, mono, in_gain, u)
            _tank(u, comb_len[tank], allpass_len[tank], feedback[b], damp[b], wet[b, tank])
    return wet


@numba.njit(cache=True, nogil=True, fastmath={"reassoc"})
def _comb_gradients(fwd, adj):
    """The parameter-gradient sums of :func:`_tanks_adjoint` over four combs, in float64.

    ``fwd``/``adj``: ``[4, 2, T]``, ``(out, store)`` / ``(w, v)`` per comb. Reassociating the
    sums lets them vectorize (in sequence they took 40% of the backward).
    """
    grad_feedback = grad_damp = 0.0
    for i in range(4):
        out, store, w, v = fwd[i, 0], fwd[i, 1], adj[i, 0], adj[i, 1]
        grad_feedback += np.float64(w[0]) * store[0]
        grad_damp -= np.float64(v[0]) * out[0]
        for t in range(1, out.shape[0]):
            grad_feedback += np.float64(w[t]) * store[t]
            grad_damp += np.float64(v[t]) * (np.float64(store[t - 1]) - out[t])
    return grad_feedback, grad_damp


@numba.njit(cache=True, nogil=True)
def _tanks_adjoint(x, mono, comb_len, allpass_len, feedback, damp, in_gain, grad, grad_x):
    """Backward of :func:`_tanks_kernel`: ``grad [B, 2, T]`` is dL/d(tank outputs).

    Writes dL/dx into ``grad_x [B, 2, T]``; returns float64 ``[B]`` dL/dfeedback, dL/ddamp.
    The tank is linear in its input: the adjoint of each delay-line recursion is the same
    recursion run backward in time, its ring buffer holding adjoint values, so the forward
    filters run on reversed views. An allpass is its own adjoint. For a comb (``out[t] =
    line[t - L]``, ``store[t] = (1 - damp) out[t] + damp store[t-1]``, ``line[t] = u[t] +
    feedback store[t]``), with ``g`` = dL/d(comb sum), ``w`` = dL/dline, ``v`` = dL/dstore:

        w[t] = dL/dout[t + L],   v[t] = feedback w[t] + damp v[t+1],
        dL/dout[t] = g[t] + (1 - damp) v[t],   dL/du[t] = w[t],

    i.e. :func:`_four_combs` with ``keep = feedback``, ``feed = 1 - damp`` (``out`` -> ``w``,
    ``store`` -> ``v``, ``total`` -> dL/du), and

        dL/dfeedback = sum_t w[t] store[t],   dL/ddamp = sum_t v[t] (store[t-1] - out[t]).

    The forward ``out``/``store`` are recomputed here, four combs at a time, rather than kept
    from the forward pass (that would be 32 clip-long signals per clip).
    """
    batch, _, n_samples = x.shape
    grad_feedback, grad_damp = np.zeros(batch), np.zeros(batch)
    u, g, scratch = np.empty(n_samples, x.dtype), np.empty(n_samples, x.dtype), np.empty(n_samples, x.dtype)
    grad_u = np.empty((2, n_samples), x.dtype)
    fwd, adj = np.empty((4, 2, n_samples), x.dtype), np.empty((4, 2, n_samples), x.dtype)
    for b in range(batch):
        f, d = feedback[b], damp[b]
        keep = u.dtype.type(1 - d)
        for tank in range(2):
            _tank_input(x, b, tank, mono, in_gain, u)
            g[:] = grad[b, tank]
            for a in range(allpass_len.shape[1] - 1, -1, -1):      # last allpass first
                _allpass(g[::-1], allpass_len[tank, a])             # -> g = dL/d(comb sum)
            grad_u[tank] = 0
            for c in range(0, comb_len.shape[1], 4):
                lengths = comb_len[tank, c:c + 4]
                _four_combs(u, scratch, np.zeros(lengths[0], u.dtype), np.zeros(lengths[1], u.dtype),
                            np.zeros(lengths[2], u.dtype), np.zeros(lengths[3], u.dtype), f, d, keep, fwd)
                # The adjoint, backward in time; it adds dL/du of these combs to grad_u.
                _four_combs(g[::-1], grad_u[tank, ::-1], np.zeros(lengths[0], u.dtype),
                            np.zeros(lengths[1], u.dtype), np.zeros(lengths[2], u.dtype),
                            np.zeros(lengths[3], u.dtype), keep, d, f, adj[:, :, ::-1])
                gf, gd = _comb_gradients(fwd, adj)
                grad_feedback[b] += gf
                grad_damp[b] += gd
        for t in range(n_samples):
            if mono:
                grad_x[b, 0, t] = grad_x[b, 1, t] = in_gain * (grad_u[0, t] + grad_u[1, t])
            else:
                grad_x[b, 0, t], grad_x[b, 1, t] = in_gain * grad_u[0, t], in_gain * grad_u[1, t]
    return grad_feedback, grad_damp


def _item_values(p: Tensor, dtype=torch.float32) -> np.ndarray:
    """A per-item parameter ``[B]`` -> numpy array."""
    return p.detach().to("cpu", dtype).contiguous().numpy()


def _in_gain(mono: bool, dtype):
    """The tank input gain (see the module docstring) as a numpy scalar of ``dtype``."""
    return dtype.type(FIXED_GAIN if mono else 2 * FIXED_GAIN)


def _reverb_fast(x: Tensor, params: Dict[str, Tensor], sample_rate: int, mono: bool) -> Tensor:
    feedback, damp = _room(params)
    gains = [_item_values(g) for g in _output_gains(params)]
    y = _freeverb_kernel(audio_array(x), mono, _lengths(COMB_TUNING, sample_rate),
                         _lengths(ALLPASS_TUNING, sample_rate), _item_values(feedback), _item_values(damp),
                         _in_gain(mono, np.dtype(np.float32)), *gains)
    return torch.from_numpy(y).to(x.device)


# --- grad mode on CPU: the same kernels, with their adjoint --------------------
def _kernel_args(x, feedback, damp, comb_len, allpass_len, mono):
    """The arguments of :func:`_tanks_kernel` (and the first ones of its adjoint), in ``x``'s dtype."""
    xa = x.detach().contiguous().numpy()
    return (xa, mono, comb_len, allpass_len, _item_values(feedback, x.dtype), _item_values(damp, x.dtype),
            _in_gain(mono, xa.dtype))


class _FreeverbTanks(torch.autograd.Function):
    """The two tank outputs ``[B, 2, T]`` of Freeverb on CPU, differentiable in ``x``, ``feedback``, ``damp``.

    ``forward(x, feedback, damp, comb_len, allpass_len, mono)``: ``x [B, 2, T]`` float32 or
    float64 (the computation's dtype; float32 is the fast mode's arithmetic), ``feedback``,
    ``damp`` ``[B]``, lengths numpy ``[2, 8]`` / ``[2, 4]`` (see :func:`_lengths`). It saves only
    its inputs: the backward recomputes the comb signals it needs (:func:`_tanks_adjoint`).
    """

    @staticmethod
    def forward(ctx, x, feedback, damp, comb_len, allpass_len, mono):
        ctx.save_for_backward(x, feedback, damp)
        ctx.setup = comb_len, allpass_len, mono
        return torch.from_numpy(_tanks_kernel(*_kernel_args(x, feedback, damp, comb_len, allpass_len, mono)))

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        x, feedback, damp = ctx.saved_tensors
        comb_len, allpass_len, mono = ctx.setup
        grad_x = torch.empty_like(x, memory_format=torch.contiguous_format)
        args = _kernel_args(x, feedback, damp, comb_len, allpass_len, mono)
        grad_feedback, grad_damp = _tanks_adjoint(*args, grad.to(x.dtype).contiguous().numpy(), grad_x.numpy())
        need_x, need_feedback, need_damp = ctx.needs_input_grad[:3]
        return (grad_x if need_x else None,
                torch.from_numpy(grad_feedback).to(feedback.dtype) if need_feedback else None,
                torch.from_numpy(grad_damp).to(damp.dtype) if need_damp else None,
                None, None, None)


def _mix(x: Tensor, tanks: Tensor, params: Dict[str, Tensor]) -> Tensor:
    """Dry and wet mix of the tank outputs ``[B, 2, T]`` (the fast kernel's sums, in torch)."""
    dry, wet1, wet2 = (g.view(-1, 1, 1) for g in _output_gains(params))
    return dry * x + wet1 * tanks + wet2 * tanks.flip(1)


def _reverb_grad(x: Tensor, params: Dict[str, Tensor], sample_rate: int, mono: bool) -> Tensor:
    if x.device.type != "cpu":
        return _reverb_fft(x, params, sample_rate, mono)
    x = x if x.dtype == torch.float64 else x.float()                    # the kernels' dtypes
    feedback, damp = _room(params)
    tanks = _FreeverbTanks.apply(x, feedback, damp, _lengths(COMB_TUNING, sample_rate),
                                 _lengths(ALLPASS_TUNING, sample_rate), mono)
    return _mix(x, tanks, params)


# --- grad mode on CUDA: FFT convolution with a synthetic impulse response ---------
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


def _reverb_fft(x: Tensor, params: Dict[str, Tensor], sample_rate: int, mono: bool) -> Tensor:
    """Gradient mode on CUDA (runs on CPU tensors too): the tanks as FFT convolutions with :func:`_synthetic_ir`."""
    n = x.shape[-1]
    feedback, damp = _room(params)
    ir = _synthetic_ir(feedback, damp, n, sample_rate)                   # [B, 2, T]
    tank_in = FIXED_GAIN * x.sum(dim=1, keepdim=True) if mono else 2 * FIXED_GAIN * x
    n_fft = next_pow2(2 * n)
    tanks = torch.fft.irfft(torch.fft.rfft(ir, n=n_fft) * torch.fft.rfft(tank_in, n=n_fft), n=n_fft)[..., :n]
    return _mix(x, tanks, params)


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
