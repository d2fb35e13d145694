"""Feedback delays: a stereo delay and a ping-pong delay, each with a lowpass in the loop.

Design after Zölzer, "DAFX", 2nd ed., 2011, ch. 2.6 ("Delay-based audio
effects": the IIR comb filter with a filtered feedback path), with the loop
filter from the RBJ Audio EQ Cookbook (:func:`graphfx.dsp.biquad.rbj_coefficients`).

Signal flow of one line (``D`` samples, feedback ``g``, loop lowpass ``H``)::

    wet[n] = v[n - D]          v[n] = feed[n] + g * (H wet)[n]
    out    = (1 - mix) * dry + mix * wet

so the first echo arrives unfiltered after ``D`` samples and every further
repeat passes once more through ``g H`` and gets darker.

* ``delay``: one line per channel fed by that channel; the right line is
  ``stereo_offset`` ms longer.
* ``pingpong_delay``: the mono sum ``(L + R) / 2`` feeds the left line, the
  left line's output feeds the right line's loop and vice versa, so echoes
  alternate L, R, L, ...; the right line is ``stereo_offset`` ms longer.

The loop lowpass is normalized by its peak magnitude (``q / sqrt(1 - 1 / (4 q^2))``
for ``q > 1/sqrt(2)``, else 1; the bilinear transform keeps the analog
prototype's peak), so ``|g H| <= g < 1`` at every frequency and the loop is
stable for every ``q``; a resonant ``q`` emphasises the cutoff relative to
the pass band instead of boosting it above unity.

Fast mode runs one numba kernel (ring buffer and loop biquad per lane, lanes
innermost; tiled lane layout of :mod:`.lanes`) with delays rounded to whole
samples. Gradient mode on CPU runs the same kernel (its output equals fast
mode's, bit for bit) inside a :class:`torch.autograd.Function`,
:class:`_FeedbackDelay`, that returns the wet signal (the dry/wet mix stays in
torch); its backward is the adjoint, the same lines run backward in time
(:func:`_feedback_delay_adjoint`). It gives gradients to the input,
``feedback``, ``frequency`` and ``q`` (the loop biquad's coefficients; their
RBJ formulas stay in torch) and ``mix``; the delay times are whole samples, so
``delay`` and ``stereo_offset`` get none. Gradient mode on CUDA evaluates the
same LTI system exactly in the frequency domain with fractional delays, which
do get gradients (:func:`_delay_grad`, :func:`_pingpong_grad`, the truncated
echo series of :mod:`.echoes`).
"""
from __future__ import annotations

import math
from typing import Dict

import numba
import numpy as np
import torch
from torch import Tensor

from .biquad import rbj_coefficients
from .echoes import echo_series, phasor, series_fft_size
from .lanes import RING_PAD, TILE, audio_array, lane_values, load_tile, store_tile, use_kernel


# --- parameters --------------------------------------------------------------
def _delay_samples(params: Dict[str, Tensor], sample_rate: int) -> Tensor:
    """Left / right delay in (fractional) samples, ``[B, 2]``."""
    delay = params["delay"]
    both = torch.stack([delay, delay + params["stereo_offset"]], dim=1)
    return both * (sample_rate / 1000.0)


def _loop_filter(params: Dict[str, Tensor], sample_rate: int):
    """Peak-normalized RBJ lowpass ``(b0, b1, b2, a1, a2)``, each ``[B]`` float64."""
    q = params["q"].double()
    b0, b1, b2, a1, a2 = rbj_coefficients("lowpass", params["frequency"].double(), q, 0.0, sample_rate)
    resonant = q * q > 0.5
    peak = torch.where(resonant, q / torch.sqrt(torch.where(resonant, 1 - 0.25 / (q * q), 1.0)),
                       torch.ones_like(q))
    return b0 / peak, b1 / peak, b2 / peak, a1, a2


# --- fast mode ---------------------------------------------------------------
@numba.njit(cache=True, nogil=True)
def _ring_size(delay):
    """Length of the lane rings: a power of two (index by mask) above the longest delay."""
    size = 1
    while size <= delay.max():
        size *= 2
    return size


@numba.njit(cache=True, nogil=True)
def _ring_write(line, block, start, length, mask):
    """Writes the first ``length`` rows of a tile ``block`` ``[tile, lanes]`` into the lane rings ``line``
    ``[lanes, size]`` at positions ``start ..`` (modulo the ring size ``mask + 1``)."""
    for lane in range(line.shape[0]):
        ring = line[lane]
        for i in range(length):
            ring[(start + i) & mask] = block[i, lane]


@numba.njit(cache=True, nogil=True)
def _feedback_delay_kernel(x, pingpong, delay, gain, b0, b1, b2, a1, a2, dry_gain, wet_gain, loop_out):
    """Lanes of delay lines whose feedback passes a biquad; returns ``[B, 2, T]``.

    ``x``: ``[B, 2, T]`` (float32, or float64; the arithmetic's dtype); per-lane
    (``[2B]``, lane ``c * B + b``) ``delay`` (int >= 1), loop ``gain`` and biquad
    coefficients, output gains. With ``pingpong`` the mono sum feeds the left
    lines and each loop takes the other channel's line output; otherwise each
    lane feeds and loops on itself. ``loop_out``: None, or ``[T, 2B]`` that
    receives the loop biquad's output (for the adjoint).
    """
    batch, _, n_samples = x.shape
    n_lanes = 2 * batch
    mask = _ring_size(delay) - 1
    line = np.zeros((n_lanes, mask + 1 + RING_PAD), x.dtype)     # lane-major ring buffers
    # A tile no longer than the shortest delay only reads samples written before it.
    tile = min(TILE, delay.min())
    dry = np.zeros((tile, n_lanes), x.dtype)
    feed = np.zeros((tile, n_lanes), x.dtype) if pingpong else dry
    tap = np.zeros((tile, n_lanes), x.dtype)
    loop_in = np.zeros((tile, n_lanes), x.dtype) if pingpong else tap
    new = np.zeros((tile, n_lanes), x.dtype)
    out = np.zeros((tile, n_lanes), x.dtype)
    s1 = np.zeros(n_lanes, x.dtype)
    s2 = np.zeros(n_lanes, x.dtype)
    y_all = np.empty_like(x)
    for start in range(0, n_samples, tile):
        length = min(tile, n_samples - start)
        load_tile(x, start, length, dry)
        for lane in range(n_lanes):
            ring = line[lane]
            read = start - delay[lane]
            for i in range(length):
                tap[i, lane] = ring[(read + i) & mask]
        if pingpong:
            for i in range(length):
                for b in range(batch):
                    feed[i, b] = 0.5 * (dry[i, b] + dry[i, b + batch])
                    loop_in[i, b] = tap[i, b + batch]
                    loop_in[i, b + batch] = tap[i, b]
        for i in range(length):
            for lane in range(n_lanes):
                u = loop_in[i, lane]
                v = b0[lane] * u + s1[lane]               # transposed direct form II
                s1[lane] = b1[lane] * u - a1[lane] * v + s2[lane]
                s2[lane] = b2[lane] * u - a2[lane] * v
                new[i, lane] = feed[i, lane] + gain[lane] * v
                out[i, lane] = dry_gain[lane] * dry[i, lane] + wet_gain[lane] * tap[i, lane]
                if loop_out is not None:                  # pruned at compile time when None
                    loop_out[start + i, lane] = v
        _ring_write(line, new, start, length, mask)
        store_tile(out, start, length, y_all)
    return y_all


def _lags(params: Dict[str, Tensor], sample_rate: int) -> np.ndarray:
    """The delays of the kernels: whole samples (>= 1), int64 ``[2B]`` in lane order."""
    return np.maximum(np.rint(lane_values(_delay_samples(params, sample_rate))), 1).astype(np.int64)


def _delay_fast(x: Tensor, params: Dict[str, Tensor], sample_rate: int, pingpong: bool) -> Tensor:
    coeffs = [lane_values(c) for c in _loop_filter(params, sample_rate)]
    mix = lane_values(params["mix"])
    y = _feedback_delay_kernel(audio_array(x), pingpong, _lags(params, sample_rate),
                               lane_values(params["feedback"]), *coeffs, 1.0 - mix, mix, None)
    return torch.from_numpy(y).to(x.device)


# --- gradient mode on CPU: the kernel and its adjoint --------------------------
@numba.njit(cache=True, nogil=True)
def _feedback_delay_adjoint(grad, wet, loop_out, pingpong, delay, gain, b0, b1, b2, a1, a2, grad_x):
    """Backward of :func:`_feedback_delay_kernel`'s wet output (``dry_gain`` 0, ``wet_gain`` 1).

    ``grad``, ``wet``: ``[B, 2, T]`` dL/dwet and the forward's wet (= tap) signal;
    ``loop_out``: ``[T, 2B]`` the forward's loop biquad output; the rest as in the
    forward. Writes dL/dx into ``grad_x [B, 2, T]``; returns float64 ``[6, 2B]``:
    dL/d(gain, b0, b1, b2, a1, a2) per lane.

    For fixed parameters the lines are linear in ``x``. Per lane, with ``P`` the
    loop's source lane (itself, or the other channel's for ping-pong), ``H`` the
    loop biquad, ``feed`` the input (``x`` or the mono sum)::

        tap[n] = line[n - D],   u = tap of P,   y = H u,   line[n] = feed[n] + g y[n].

    Backward in time, with ``lam`` = dL/dline and ``a`` = dL/dtap, reads and
    writes swap: the ring holds ``a``, written at step ``n`` and read ``D``
    steps later in the backward pass as ``lam[n] = a[n + D]``, and

        a[n] = dL/dwet[n] + (H^T (g lam))[n] of the lane that P maps onto this one,
        dL/dfeed = lam,   dL/dg = sum_n lam[n] y[n].

    ``H^T`` and the coefficient gradients are the biquad's adjoint recursion of
    :func:`.biquad._biquad_rows_adjoint` (``w = A^-T (g lam)``, state ``w[n+1]``,
    ``w[n+2]``), run sample by sample along with the lines: the loop closes
    through them. Tiles as in the forward, last tile first.
    """
    batch, _, n_samples = grad.shape
    n_lanes = 2 * batch
    mask = _ring_size(delay) - 1
    line = np.zeros((n_lanes, mask + 1 + RING_PAD), grad.dtype)  # dL/dtap rings
    tile = min(TILE, delay.min())                                 # reads only later tiles' writes
    grad_wet = np.zeros((tile, n_lanes), grad.dtype)
    tap = np.zeros((tile, n_lanes), grad.dtype)
    loop_in = np.zeros((tile, n_lanes), grad.dtype) if pingpong else tap
    lam = np.zeros((tile, n_lanes), grad.dtype)
    grad_in = np.zeros((tile, n_lanes), grad.dtype)                   # dL/du
    grad_tap = np.zeros((tile, n_lanes), grad.dtype)
    grad_feed = np.zeros((tile, n_lanes), grad.dtype) if pingpong else lam
    w1 = np.zeros(n_lanes, grad.dtype)                                # w[n+1], w[n+2]
    w2 = np.zeros(n_lanes, grad.dtype)
    sums = np.zeros((6, n_lanes))
    for start in range((n_samples - 1) // tile * tile, -1, -tile):
        length = min(tile, n_samples - start)
        load_tile(grad, start, length, grad_wet)
        load_tile(wet, start, length, tap)
        for lane in range(n_lanes):
            ring = line[lane]
            read = start + delay[lane]
            for i in range(length):
                lam[i, lane] = ring[(read + i) & mask]   # zero past the clip's end
        if pingpong:
            for i in range(length):
                for b in range(batch):
                    loop_in[i, b] = tap[i, b + batch]
                    loop_in[i, b + batch] = tap[i, b]
        for i in range(length - 1, -1, -1):
            for lane in range(n_lanes):
                u, y, v1, v2 = loop_in[i, lane], loop_out[start + i, lane], w1[lane], w2[lane]
                w = gain[lane] * lam[i, lane] - a1[lane] * v1 - a2[lane] * v2
                grad_in[i, lane] = b0[lane] * w + b1[lane] * v1 + b2[lane] * v2
                sums[0, lane] += np.float64(lam[i, lane]) * y
                sums[1, lane] += np.float64(w) * u
                sums[2, lane] += np.float64(v1) * u
                sums[3, lane] += np.float64(v2) * u
                sums[4, lane] -= np.float64(v1) * y
                sums[5, lane] -= np.float64(v2) * y
                w2[lane] = v1
                w1[lane] = w
        if pingpong:                                     # each loop's input came from the other lane
            for i in range(length):
                for b in range(batch):
                    grad_tap[i, b] = grad_wet[i, b] + grad_in[i, b + batch]
                    grad_tap[i, b + batch] = grad_wet[i, b + batch] + grad_in[i, b]
                    grad_feed[i, b] = grad_feed[i, b + batch] = 0.5 * lam[i, b]   # the mono sum
        else:
            for i in range(length):
                for lane in range(n_lanes):
                    grad_tap[i, lane] = grad_wet[i, lane] + grad_in[i, lane]
        _ring_write(line, grad_tap, start, length, mask)
        store_tile(grad_feed, start, length, grad_x)
    return sums


class _FeedbackDelay(torch.autograd.Function):
    """The wet signal ``[B, 2, T]`` of the delay kernel on CPU, differentiable in the input and the loop.

    ``forward(x, feedback, b0, b1, b2, a1, a2, lag, pingpong)``: ``x [B, 2, T]`` float32
    or float64 (the arithmetic's dtype; float32 is fast mode's), ``feedback`` and the
    loop biquad's coefficients ``[B]``, ``lag`` from :func:`_lags` (whole samples, so
    no gradient), ``pingpong`` a bool. The forward is :func:`_feedback_delay_kernel`
    (it also records the loop biquad's output), the backward :func:`_feedback_delay_adjoint`.
    """

    @staticmethod
    def forward(ctx, x, feedback, b0, b1, b2, a1, a2, lag, pingpong):
        xa = x.detach().contiguous().numpy()
        values = [lane_values(p, x.dtype) for p in (feedback, b0, b1, b2, a1, a2)]
        loop_out = np.empty((x.shape[-1], lag.shape[0]), xa.dtype)
        ones = np.ones(lag.shape[0], xa.dtype)
        # Output gains 0 and 1: the kernel's 0 * dry + 1 * tap is tap, exactly (the mix stays in torch).
        wet = torch.from_numpy(_feedback_delay_kernel(xa, pingpong, lag, *values, 0 * ones, ones, loop_out))
        ctx.save_for_backward(wet)
        ctx.kernel_args = loop_out, pingpong, lag, values
        ctx.param_dtypes = [p.dtype for p in (feedback, b0, b1, b2, a1, a2)]
        return wet

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        (wet,) = ctx.saved_tensors
        loop_out, pingpong, lag, values = ctx.kernel_args
        grad_x = torch.empty_like(wet)
        sums = _feedback_delay_adjoint(grad.to(wet.dtype).contiguous().numpy(), wet.numpy(), loop_out,
                                       pingpong, lag, *values, grad_x.numpy())
        per_item = torch.from_numpy(sums).view(6, 2, -1).sum(dim=1)          # lanes c * B + b
        grads = [grad_x if ctx.needs_input_grad[0] else None]
        grads += [per_item[j].to(dtype) if ctx.needs_input_grad[1 + j] else None
                  for j, dtype in enumerate(ctx.param_dtypes)]
        return (*grads, None, None)


def _delay_cpu(x: Tensor, params: Dict[str, Tensor], sample_rate: int, pingpong: bool) -> Tensor:
    """Gradient mode on CPU: :class:`_FeedbackDelay`'s wet signal, mixed in torch."""
    x = x if x.dtype == torch.float64 else x.float()                     # the kernel's dtypes
    wet = _FeedbackDelay.apply(x, params["feedback"], *_loop_filter(params, sample_rate),
                               _lags(params, sample_rate), pingpong)
    return _mixed(x, wet, params["mix"])


# --- gradient mode on CUDA: frequency sampling, fractional delays ---------------
def _ring_time(a1: Tensor, a2: Tensor) -> Tensor:
    """A bound on the decay time (samples) of the biquad with denominator ``1 + a1 z^-1 + a2 z^-2``, ``[B]``.

    Twice ``1 / (1 - r)``, ``r`` the largest pole radius: covers two real poles.
    """
    disc = a1 * a1 - 4 * a2
    radius = torch.where(disc < 0, a2.clamp(min=0).sqrt(), (a1.abs() + disc.clamp(min=0).sqrt()) / 2)
    return 2 / (1 - radius)


def _loop_response(coeffs, gain: Tensor, n_fft: int) -> Tensor:
    """``g H(w)`` of the feedback loop on the rfft bins, ``[B, 1, F]`` complex64."""
    b0, b1, b2, a1, a2 = (c.float()[:, None, None] for c in coeffs)
    z1 = phasor(torch.ones(1, device=b0.device), n_fft)           # e^{-jw}, [1, F]
    z2 = z1 * z1
    return gain.float()[:, None, None] * (b0 + b1 * z1 + b2 * z2) / (1 + a1 * z1 + a2 * z2)


def _delay_grad(x: Tensor, params: Dict[str, Tensor], sample_rate: int) -> Tensor:
    """Wet signal of :func:`delay` on CUDA (runs on CPU tensors too), exact, by frequency sampling.

    The delays stay fractional here (band-limited), so ``delay`` and
    ``stereo_offset`` get gradients.

    Per channel ``Wet = X P S`` with ``P = e^{-jwD}`` and ``S`` the loop's
    echo series ``sum_k (g H P)^k`` truncated after the ``K`` echoes that
    reach the clip (:func:`.echoes.echo_series`).
    """
    n = x.shape[-1]
    lag = _delay_samples(params, sample_rate).clamp(min=1.0)                # [B, 2]
    echoes = (torch.floor((n - 1) / lag.detach()) + 1)[..., None]          # K, one spare
    coeffs = _loop_filter(params, sample_rate)
    n_fft = series_fft_size(n, lag, echoes[..., 0], _ring_time(*coeffs[3:])[:, None])
    loop = _loop_response(coeffs, params["feedback"], n_fft)               # [B, 1, F]
    to_line, series = echo_series(loop, lag, echoes, params["feedback"].view(-1, 1, 1), n_fft)
    return torch.fft.irfft(torch.fft.rfft(x, n=n_fft) * to_line * series, n=n_fft)[..., :n]


def _pingpong_grad(x: Tensor, params: Dict[str, Tensor], sample_rate: int) -> Tensor:
    """Wet signal of :func:`pingpong_delay` on CUDA (runs on CPU tensors too), exact, by frequency sampling.

    Fractional delays, as in :func:`_delay_grad`.

    The 2x2 loop (left line -> ``g H`` -> right line -> ``g H`` -> left line)
    with the mono sum ``M`` entering the left line solves to
    ``Wet_L = M P_L S``, ``Wet_R = g H P_R Wet_L``, where ``S`` is the echo
    series of the round trip ``(g H)^2 P_L P_R`` truncated after the ``K``
    trips that reach the clip (:func:`.echoes.echo_series`).
    """
    n = x.shape[-1]
    lag = _delay_samples(params, sample_rate).clamp(min=1.0)              # [B, 2]
    round_trip = lag.sum(dim=1, keepdim=True)                              # [B, 1]
    trips = torch.floor((n - 1 - lag[:, :1].detach()).clamp(min=0) / round_trip.detach()) + 2
    coeffs = _loop_filter(params, sample_rate)
    ring = _ring_time(*coeffs[3:])[:, None]                                # [B, 1]
    # The right output adds one more line and filter pass after the series.
    right_pass = math.ceil((lag[:, 1:] + ring).max().item())
    n_fft = series_fft_size(n + right_pass, round_trip, trips, 2 * ring)
    loop = _loop_response(coeffs, params["feedback"], n_fft)               # [B, 1, F]
    gain = params["feedback"].view(-1, 1, 1)
    _, series = echo_series(loop * loop, round_trip, trips[..., None], gain * gain, n_fft)
    to_line = phasor(lag, n_fft)                                           # [B, 2, F]
    mono = torch.fft.rfft(x.mean(dim=1, keepdim=True), n=n_fft)            # [B, 1, F]
    wet_left = mono * to_line[:, :1] * series
    wet_right = loop * to_line[:, 1:] * wet_left
    return torch.fft.irfft(torch.cat([wet_left, wet_right], dim=1), n=n_fft)[..., :n]


def _mixed(x: Tensor, wet: Tensor, mix: Tensor) -> Tensor:
    mix = mix.view(-1, 1, 1)
    return (1 - mix) * x + mix * wet


# --- processors --------------------------------------------------------------
def delay(inputs: Dict[str, Tensor], params: Dict[str, Tensor], *, sample_rate: int,
          grad: bool = False) -> Dict[str, Tensor]:
    """Stereo feedback delay with a lowpass in the loop (one line per channel).

    Parameters (all ``[B]``): ``delay`` (ms, left line), ``feedback`` (gain of
    the loop), ``mix`` (0 dry .. 1 wet), ``frequency`` / ``q`` (loop lowpass),
    ``stereo_offset`` (ms added to the right line). On CPU both modes round
    the delays to whole samples (gradient mode equals fast mode), so ``delay``
    and ``stereo_offset`` get no gradient there; on CUDA gradient mode keeps
    them fractional and differentiable.
    """
    x = inputs["in"]
    if use_kernel(x, grad):
        return {"out": _delay_fast(x, params, sample_rate, pingpong=False)}
    if x.device.type == "cpu":
        return {"out": _delay_cpu(x, params, sample_rate, pingpong=False)}
    return {"out": _mixed(x, _delay_grad(x, params, sample_rate), params["mix"])}


def pingpong_delay(inputs: Dict[str, Tensor], params: Dict[str, Tensor], *, sample_rate: int,
                   grad: bool = False) -> Dict[str, Tensor]:
    """Ping-pong delay: the mono sum enters the left line and the echoes alternate L, R, L, ...

    Same parameters as :func:`delay`. The first echo is on the left after
    ``delay``, the next on the right ``delay + stereo_offset`` later, and so on,
    each repeat once more through ``feedback`` times the loop lowpass. As in
    :func:`delay`, ``delay`` and ``stereo_offset`` get no gradient on CPU.
    """
    x = inputs["in"]
    if use_kernel(x, grad):
        return {"out": _delay_fast(x, params, sample_rate, pingpong=True)}
    if x.device.type == "cpu":
        return {"out": _delay_cpu(x, params, sample_rate, pingpong=True)}
    return {"out": _mixed(x, _pingpong_grad(x, params, sample_rate), params["mix"])}


PROCESSORS = {"delay": delay, "pingpong_delay": pingpong_delay}
