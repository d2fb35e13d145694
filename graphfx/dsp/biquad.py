"""Biquad filters: RBJ cookbook coefficients, a fast lane kernel, differentiable paths.

References: R. Bristow-Johnson, "Cookbook formulae for audio EQ biquad filter
coefficients" (the RBJ Audio EQ Cookbook); U. Zölzer, "DAFX", 2nd ed., 2011,
ch. 2 (biquads, Direct Form II transposed); J. O. Smith, "Introduction to
Digital Filters", 2007 (state-space realizations).

Ways to run a biquad, picked by :func:`biquad_filter`:

* fast path (``grad=False`` on CPU): a numba kernel, Direct Form II
  transposed with float64 state, over a ``[T, lanes]`` layout (:mod:`.lanes`; lanes =
  batch x channel, innermost so the loop vectorizes); coefficients constant per lane
  or given per sample. Exact.
* constant coefficients with gradients on CPU: the same recursion over ``[B*C, T]``
  rows as a :class:`torch.autograd.Function` (:class:`_BiquadRows`) whose backward
  is the adjoint recursion, run backward in time by a second numba kernel. Exact;
  the output equals the fast path's.
* constant coefficients with gradients on GPU: FFT frequency sampling, the clip
  zero-padded to a power of two ``n >= 2T`` (``n`` always passed to ``irfft``).
  Used when the impulse response decays below 1e-9 within ``T`` samples, so the
  circular wrap is negligible (relative error ~1e-7 in float32). Filters that
  ring longer than the clip (low frequency, high Q, short clip) run through
  :func:`state_space_blocks` instead, which is exact without any padding.
* time-varying coefficients with gradients on CPU: the fast path's lane kernel as a
  :class:`torch.autograd.Function` (:class:`_BiquadVarying`) whose backward is the
  reverse-mode recursion, backward in time, of another numba kernel. Exact; the
  output equals the fast path's.
* time-varying coefficients with gradients on GPU: the per-sample recursion in
  torch ops, blocked (:func:`_biquad_varying`): exact, equal to the fast path up
  to round-off.

:func:`state_space_blocks` runs any linear state-space system whose matrices
are constant per block (exact for such systems; an approximation by
block-averaged coefficients for smoothly varying ones); the phaser uses it.
"""
from __future__ import annotations

import math

import numba
import numpy as np
import torch
import torch.nn.functional as F

from graphfx.dsp.lanes import from_lanes, next_pow2, to_lanes, use_kernel

KINDS = ("lowpass", "highpass", "bandpass", "bandreject", "lowshelf", "highshelf", "bell")
#: Frequencies are clamped below this fraction of the sample rate, so that a
#: catalog frequency above Nyquist (e.g. 20 kHz at 16 kHz) still gives a valid filter.
MAX_FREQUENCY_RATIO = 0.49


def rbj_coefficients(kind, frequency, q, gain_db, sample_rate):
    """Biquad coefficients of the RBJ Audio EQ Cookbook, normalized by ``a0``.

    Works elementwise on broadcastable tensors (``[B, 1, 1]``, ``[B, 2, T]``, ...)
    and is differentiable; the dtype is that of ``frequency`` (pass float64 for
    exact low-frequency filters).

    Args:
        kind: one of :data:`KINDS`; ``bandpass`` has a constant 0 dB peak gain,
            ``bell`` is the cookbook's peaking EQ.
        frequency: cutoff / centre frequency in Hz.
        q: quality factor (also used as the shelves' Q).
        gain_db: gain in dB (only shelves and bell use it; may be ``0``).
        sample_rate: sample rate in Hz.

    Returns:
        ``(b0, b1, b2, a1, a2)``, tensors of the broadcast shape.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown biquad kind {kind!r}; expected one of {KINDS}")
    frequency = torch.as_tensor(frequency)
    dtype = frequency.dtype if frequency.is_floating_point() else torch.get_default_dtype()
    frequency = frequency.to(dtype)
    q = torch.as_tensor(q, dtype=dtype, device=frequency.device)
    f = frequency.clamp(max=MAX_FREQUENCY_RATIO * sample_rate)
    # Half-angle forms: two trig calls, and 1 - cos(w0) without cancellation at low frequencies.
    half = (math.pi / sample_rate) * f  # w0 / 2
    sh, ch = torch.sin(half), torch.cos(half)
    sh2, ch2 = sh * sh, ch * ch
    one_minus_cos, one_plus_cos = 2 * sh2, 2 * ch2
    cos = ch2 - sh2
    alpha = sh * ch / q  # sin(w0) / (2 Q)

    if kind == "lowpass":
        b = (one_minus_cos / 2, one_minus_cos, one_minus_cos / 2)
        a = (1 + alpha, -2 * cos, 1 - alpha)
    elif kind == "highpass":
        b = (one_plus_cos / 2, -one_plus_cos, one_plus_cos / 2)
        a = (1 + alpha, -2 * cos, 1 - alpha)
    elif kind == "bandpass":
        b = (alpha, torch.zeros_like(alpha), -alpha)
        a = (1 + alpha, -2 * cos, 1 - alpha)
    elif kind == "bandreject":
        b = (torch.ones_like(alpha), -2 * cos, torch.ones_like(alpha))
        a = (1 + alpha, -2 * cos, 1 - alpha)
    else:
        gain_db = torch.as_tensor(gain_db, dtype=dtype, device=frequency.device)
        amp = 10 ** (gain_db / 40)  # A = sqrt of the linear gain
        if kind == "bell":
            b = (1 + alpha * amp, -2 * cos, 1 - alpha * amp)
            a = (1 + alpha / amp, -2 * cos, 1 - alpha / amp)
        else:
            # Shelves: A(A+1 -/+ (A-1)cos ...), sign s = +1 for low, -1 for high.
            s = 1.0 if kind == "lowshelf" else -1.0
            root = 2 * amp.sqrt() * alpha
            p, m = amp + 1, amp - 1
            b = (amp * (p - s * m * cos + root), 2 * s * amp * (m - s * p * cos),
                 amp * (p - s * m * cos - root))
            a = (p + s * m * cos + root, -2 * s * (m + s * p * cos), p + s * m * cos - root)
    inv_a0 = 1 / a[0]
    return b[0] * inv_a0, b[1] * inv_a0, b[2] * inv_a0, a[1] * inv_a0, a[2] * inv_a0


# --- fast path: numba lane kernel -------------------------------------------
@numba.njit(cache=True, fastmath=False, nogil=True)
def _biquad_kernel(x, b0, b1, b2, a1, a2, repeat, out):
    # x, out: [T, P]; coefficients: [1, P] (constant) or [T, P] (per sample).
    T, P = x.shape
    varying = b0.shape[0] > 1
    z1 = np.zeros((repeat, P))
    z2 = np.zeros((repeat, P))
    w = np.empty(P)
    for t in range(T):
        ct = t if varying else 0
        for lane in range(P):
            w[lane] = x[t, lane]
        for r in range(repeat):
            for lane in range(P):
                v = w[lane]
                y = b0[ct, lane] * v + z1[r, lane]
                z1[r, lane] = b1[ct, lane] * v - a1[ct, lane] * y + z2[r, lane]
                z2[r, lane] = b2[ct, lane] * v - a2[ct, lane] * y
                w[lane] = y
        for lane in range(P):
            out[t, lane] = w[lane]


@numba.njit(cache=True, fastmath=False, nogil=True)
def _biquad_rows_kernel(x, b0, b1, b2, a1, a2, out):
    # x, out: [P, T] (may be one array); constant coefficients: [P]. One row's recursion waits on
    # its previous sample; four rows interleaved keep the pipeline full (measured 4x per row).
    P, T = x.shape
    L = 4
    for start in range(0, P, L):
        n = min(L, P - start)
        z1, z2 = np.zeros(L), np.zeros(L)
        c0, c1, c2, d1, d2 = np.zeros(L), np.zeros(L), np.zeros(L), np.zeros(L), np.zeros(L)
        for k in range(n):
            row = start + k
            c0[k], c1[k], c2[k], d1[k], d2[k] = b0[row], b1[row], b2[row], a1[row], a2[row]
        for t in range(T):
            for k in range(n):
                v = x[start + k, t]
                y = c0[k] * v + z1[k]
                z1[k] = c1[k] * v - d1[k] * y + z2[k]
                z2[k] = c2[k] * v - d2[k] * y
                out[start + k, t] = y


@numba.njit(cache=True, fastmath=False, nogil=True)
def _biquad_rows_adjoint(x, y, gy, b0, b1, b2, a1, a2, want_x, want_coeffs, gx, gc):
    # Backward of _biquad_rows_kernel. x, y, gy: [P, T]; coefficients: [P]; gx: [P, T] (written
    # if want_x); gc: [P, 5] float64 (dL/d(b0, b1, b2, a1, a2), written if want_coeffs).
    # y = (B(z) / A(z)) x from a zero state is y = A^-1 B x with lower-triangular Toeplitz A, B;
    # its transpose B^T A^-T is the same kind of recursion run backward in time. v = A^-T gy:
    #   v[n] = gy[n] - a1 v[n+1] - a2 v[n+2],   gx[n] = b0 v[n] + b1 v[n+1] + b2 v[n+2];
    # and as dy/db_k = A^-1 (S^k x), dy/da_k = -A^-1 (S^k y) (S^k: delay by k samples),
    #   dL/db_k = sum_n v[n] x[n-k],   dL/da_k = -sum_n v[n] y[n-k].
    # Indexing the sums by n - k, every term at step n uses v[n], v[n+1], v[n+2] (zero past
    # the end): one pass, no bounds tests. Rows interleaved as in the forward kernel.
    P, T = x.shape
    L = 4
    for start in range(0, P, L):
        n = min(L, P - start)
        v1, v2 = np.zeros(L), np.zeros(L)  # v[t+1], v[t+2]
        s = np.zeros((5, L))  # float64 sums of the coefficient gradients
        c0, c1, c2, d1, d2 = np.zeros(L), np.zeros(L), np.zeros(L), np.zeros(L), np.zeros(L)
        for k in range(n):
            row = start + k
            c0[k], c1[k], c2[k], d1[k], d2[k] = b0[row], b1[row], b2[row], a1[row], a2[row]
        for t in range(T - 1, -1, -1):
            for k in range(n):
                row = start + k
                v = gy[row, t] - d1[k] * v1[k] - d2[k] * v2[k]
                if want_x:
                    gx[row, t] = c0[k] * v + c1[k] * v1[k] + c2[k] * v2[k]
                if want_coeffs:
                    xt, yt = x[row, t], y[row, t]
                    s[0, k] += v * xt
                    s[1, k] += v1[k] * xt
                    s[2, k] += v2[k] * xt
                    s[3, k] -= v1[k] * yt
                    s[4, k] -= v2[k] * yt
                v2[k] = v1[k]
                v1[k] = v
        if want_coeffs:
            for k in range(n):
                for j in range(5):
                    gc[start + k, j] = s[j, k]


def biquad_lanes(x, coeffs, repeat=1):
    """Runs ``repeat`` identical biquad sections over ``x`` (numpy ``[T, P]``).

    ``coeffs`` are five arrays ``[1, P]`` or ``[T, P]`` (see :func:`rbj_coefficients`).
    Returns a new float32 array ``[T, P]``.
    """
    out = np.empty(x.shape, dtype=np.float32)
    _biquad_kernel(x, *coeffs, repeat, out)
    return out


def cascade_lanes(x, sections):
    """Runs distinct biquad sections one after the other over ``x`` (numpy ``[T, P]``)."""
    for coeffs in sections:
        x = biquad_lanes(x, coeffs)
    return x


def _coefficient_row(c, B, C):
    # A constant coefficient broadcastable to [B, C, 1] -> float64 numpy [B*C], one per row.
    return c.detach().double().expand(B, C, 1).reshape(B * C).contiguous().numpy()


def _fast(x, coeffs, repeat):
    B, C, T = x.shape
    if all(c.shape[-1] == 1 for c in coeffs):
        # Constant coefficients: rows in their own layout, no transposing copies.
        rows = [_coefficient_row(c, B, C) for c in coeffs]
        y = x.detach().float().reshape(B * C, T).contiguous().numpy()
        out = np.empty(y.shape, dtype=np.float32)
        for _ in range(repeat):
            _biquad_rows_kernel(y, *rows, out)
            y = out
        return torch.from_numpy(out).reshape(B, C, T).to(x.dtype)
    y = biquad_lanes(to_lanes(x.float(), (B, C, T)), _coefficient_lanes(coeffs, (B, C, T)), repeat)
    return from_lanes(y, B, C).to(x.dtype)


def _full_shape(shape):
    # A coefficient's shape as [B|1, C|1, T|1].
    return (1,) * (3 - len(shape)) + tuple(shape)


def _coefficient_lanes(coeffs, shape):
    # Five coefficients broadcast to shape [B, C, T] -> numpy [T, B*C] each. Transposed in their
    # own shape, then broadcast: 3x faster than to_lanes for [B, 1, T], and as cheap for
    # lane-major ones. Per-sample float32 coefficients stay float32 (memory; the kernels widen
    # them exactly); anything else is float64.
    B, C, T = shape
    lanes = []
    for c in coeffs:
        b, k, n = _full_shape(c.shape)
        c = c.detach().reshape(b * k, n).t().contiguous().view(n, b, k)
        lanes.append(c.expand(T, B, C).reshape(T, B * C).numpy())
    if any(c.dtype != np.float32 for c in lanes):
        lanes = [c.astype(np.float64, copy=False) for c in lanes]
    return lanes


# --- grad path, constant coefficients on CPU: the recursion and its adjoint --------
def _sum_to(g, shape):
    # Gradient [B, C, 1] of a coefficient broadcast from ``shape``: sum over the broadcast dims.
    g = g.sum(tuple(range(g.dim() - len(shape)))) if g.dim() > len(shape) else g
    dims = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return (g.sum(dims, keepdim=True) if dims else g).reshape(shape)


class _BiquadRows(torch.autograd.Function):
    """One biquad section, constant coefficients, CPU: compiled forward and backward.

    ``forward(x, b0, b1, b2, a1, a2)``: ``x`` is ``[B, C, T]`` (float32 or float64),
    the coefficients broadcast to ``[B, C, 1]``. The output is in ``x``'s dtype
    (state and coefficients in float64); the backward is the adjoint recursion of
    :func:`_biquad_rows_adjoint`.
    """

    @staticmethod
    def forward(ctx, x, *coeffs):
        B, C, T = x.shape
        rows = [_coefficient_row(c, B, C) for c in coeffs]
        xr = x.detach().reshape(B * C, T).contiguous()
        y = torch.empty(B, C, T, dtype=x.dtype)
        _biquad_rows_kernel(xr.numpy(), *rows, y.view(B * C, T).numpy())
        ctx.save_for_backward(xr, y, *coeffs)
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_y):
        xr, y, *coeffs = ctx.saved_tensors
        want_x, want_coeffs = ctx.needs_input_grad[0], any(ctx.needs_input_grad[1:])
        B, C, T = y.shape
        gy = grad_y.detach().to(y.dtype).reshape(B * C, T).contiguous()
        gx = torch.empty_like(xr) if want_x else xr.new_empty(0, 0)  # not touched unless wanted
        gc = torch.zeros(B * C, 5, dtype=torch.float64)
        rows = [_coefficient_row(c, B, C) for c in coeffs]
        _biquad_rows_adjoint(xr.numpy(), y.view(B * C, T).numpy(), gy.numpy(), *rows,
                             want_x, want_coeffs, gx.numpy(), gc.numpy())
        grads = [gx.view(B, C, T) if want_x else None]
        for j, c in enumerate(coeffs):
            needed = ctx.needs_input_grad[1 + j]
            grads.append(_sum_to(gc[:, j].view(B, C, 1), c.shape).to(c.dtype) if needed else None)
        return tuple(grads)


# --- grad path, time-varying coefficients on CPU: the lane kernel and its adjoint ----
@numba.njit(cache=True, fastmath=False, nogil=True)
def _biquad_varying_adjoint(x, y, gy, b0, b1, b2, a1, a2, want, gx, gc, cols, per_sample):
    # Backward of one section of _biquad_kernel with per-sample coefficients. x, y, gy and the
    # coefficients: [T, P]; want: needs_input_grad of (x, b0, b1, b2, a1, a2); gx: [T, P] in x's
    # dtype. Reverse mode through the step at t,
    #   y[t] = b0 x[t] + s1[t-1],  s1[t] = b1 x[t] - a1 y[t] + s2[t-1],  s2[t] = b2 x[t] - a2 y[t],
    # carrying the adjoints u1, u2 of s1[t], s2[t] (zero after the last sample, float64):
    #   ybar = gy[t] - a1 u1 - a2 u2     (y[t] reaches the loss directly and through both states)
    #   dL/dx[t] = b0 ybar + b1 u1 + b2 u2;  dL/db0 = ybar x, dL/db1 = u1 x, dL/db2 = u2 x,
    #   dL/da1 = -u1 y, dL/da2 = -u2 y;  then u1 <- ybar (s1[t-1] enters y[t] alone) and
    #   u2 <- u1 (s2[t-1] enters s1[t] alone).
    # Coefficient j's gradient is added to the entry it was broadcast from, in float64: gc[j] is
    # [T or 1, K_j] (per_sample[j]: row t, else row 0), lane p adds to column cols[j, p]. Summing
    # here rather than afterwards saves a [5, T, P] buffer and torch reductions over tiny dims,
    # which took several times as long as this kernel.
    T, P = x.shape
    u1, u2 = np.zeros(P), np.zeros(P)
    d = np.zeros(5)
    for t in range(T - 1, -1, -1):
        for lane in range(P):
            g1, g2 = u1[lane], u2[lane]
            v = gy[t, lane] - a1[t, lane] * g1 - a2[t, lane] * g2
            if want[0]:
                gx[t, lane] = b0[t, lane] * v + b1[t, lane] * g1 + b2[t, lane] * g2
            xt, yt = x[t, lane], y[t, lane]
            d[0], d[1], d[2], d[3], d[4] = v * xt, g1 * xt, g2 * xt, -g1 * yt, -g2 * yt
            for j in range(5):
                if want[1 + j]:
                    gc[j][t if per_sample[j] else 0, cols[j, lane]] += d[j]
            u1[lane] = v
            u2[lane] = g1


class _BiquadVarying(torch.autograd.Function):
    """One biquad section, per-sample coefficients, CPU: compiled forward and backward.

    ``forward(x, b0, b1, b2, a1, a2)``: ``x`` is ``[B, C, T]`` (float32 or float64),
    each coefficient broadcasts to it (at most 3 dims, last one 1 or ``T``). The
    forward is the fast path's :func:`_biquad_kernel` (float64 state), so the output
    is the same, in ``x``'s dtype; the backward is :func:`_biquad_varying_adjoint`,
    which sums each coefficient's gradient to the coefficient's own shape.
    """

    @staticmethod
    def forward(ctx, x, *coeffs):
        B, C, T = x.shape
        xl = to_lanes(x, (B, C, T))
        lanes = _coefficient_lanes(coeffs, (B, C, T))
        yl = np.empty_like(xl)
        _biquad_kernel(xl, *lanes, 1, yl)
        # Numpy arrays on ctx, not saved tensors: the backward works in the lane layout too.
        ctx.lanes = xl, yl, lanes
        ctx.shapes = [c.shape for c in coeffs]
        ctx.dtypes = [x.dtype] + [c.dtype for c in coeffs]
        return from_lanes(yl, B, C)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_y):
        xl, yl, lanes = ctx.lanes
        B, C, T = grad_y.shape
        want = tuple(ctx.needs_input_grad)
        gy = to_lanes(grad_y.to(ctx.dtypes[0]), (B, C, T))
        gx = np.empty_like(xl) if want[0] else np.empty((0, 0), xl.dtype)
        full = [_full_shape(s) for s in ctx.shapes]
        # Lane b * C + c of coefficient j -> its entry in the coefficient's own [B|1, C|1].
        cols = np.stack([np.broadcast_to(np.arange(b * c).reshape(b, c), (B, C)).reshape(-1)
                         for b, c, _ in full])
        per_sample = np.array([n > 1 for *_, n in full])
        gc = tuple(np.zeros((n, b * c) if w else (0, 0)) for (b, c, n), w in zip(full, want[1:]))
        _biquad_varying_adjoint(xl, yl, gy, *lanes, want, gx, gc, cols, per_sample)
        grads = [from_lanes(gx, B, C) if want[0] else None]
        for g, shape, dtype, w in zip(gc, ctx.shapes, ctx.dtypes[1:], want[1:]):
            grads.append(torch.from_numpy(g).t().reshape(shape).to(dtype) if w else None)
        return tuple(grads)


def _varying_cpu(x, coeffs, repeat):
    # The fast kernel keeps float64 between cascaded sections; so does this, to equal it exactly.
    y = x.double() if repeat > 1 else x
    for _ in range(repeat):
        y = _BiquadVarying.apply(y, *coeffs)
    return y.to(x.dtype)


# --- grad path, constant coefficients on GPU: FFT frequency sampling ---------------
def _pole_radius(a1, a2):
    # Largest |root| of z^2 + a1 z + a2.
    disc = a1 * a1 - 4 * a2
    root = disc.abs().sqrt()
    real = torch.maximum((-a1 + root).abs(), (-a1 - root).abs()) / 2
    return torch.where(disc < 0, a2.clamp(min=0).sqrt(), real)


def _tail_length(a1, a2, repeat):
    # Samples until the impulse response has decayed below 1e-9 (per section, with the
    # largest pole radius in the batch; repeated poles decay a little slower).
    with torch.no_grad():
        radius = min(float(_pole_radius(a1.double(), a2.double()).max()), 1 - 1e-12)
    return repeat * math.log(1e-9) / math.log(radius) if radius > 0 else 0.0


def frequency_response(coeffs, n):
    """Complex response ``H(e^{jw})`` (complex128) at the ``n // 2 + 1`` bins of an ``n``-point rFFT."""
    b0, b1, b2, a1, a2 = (c.double() for c in coeffs)
    w = torch.arange(n // 2 + 1, dtype=torch.float64, device=b0.device) * (2 * math.pi / n)
    z1 = torch.polar(torch.ones_like(w), -w)  # e^{-jw}
    z2 = z1 * z1
    return (b0 + b1 * z1 + b2 * z2) / (1 + a1 * z1 + a2 * z2)


def _fft(x, coeffs, repeat):
    # The tail fits in the padding: n >= 2T >= T + tail, so the circular wrap is negligible.
    T = x.shape[-1]
    n = next_pow2(2 * T)
    H = frequency_response(coeffs, n).to(torch.complex64 if x.dtype == torch.float32
                                          else torch.complex128)  # [B, C|1, F]
    X = torch.fft.rfft(x, n=n)
    for _ in range(repeat):
        X = X * H
    return torch.fft.irfft(X, n=n)[..., :T]


# --- grad path, time-varying on GPU: blocks -------------------------------------
#: Block length of the exact time-varying biquad path (sequential steps per call).
BLOCK = 128
#: Block length of :func:`state_space_blocks` (realization constant per block).
STATE_SPACE_BLOCK = 64


def _to_blocks(x, block, replicate=False):
    # [..., T] -> [..., K, L], padded at the end with zeros (or the last value).
    K = -(-x.shape[-1] // block)
    pad = K * block - x.shape[-1]
    if pad:
        tail = x[..., -1:].expand(*x.shape[:-1], pad) if replicate else x.new_zeros(*x.shape[:-1], pad)
        x = torch.cat([x, tail], -1)
    return x.unflatten(-1, (K, block))


def block_means(t, T, block=STATE_SPACE_BLOCK):
    """Mean of ``t`` (last dim 1 or ``T``) over blocks of ``block`` samples -> ``[..., K]``.

    Runs in float64, so a block-constant run averages to exactly its value; a
    last dim of 1 stays 1 (broadcasts over the blocks).
    """
    if t.shape[-1] == 1:
        return t.double()
    return _to_blocks(t.double(), block, replicate=True).mean(-1)


def _carry_states(M, e):
    """States at the block starts of ``s_{k+1} = M_k s_k + e_k``, ``s_0 = 0``.

    ``M``: ``[..., K|1, N, N]``, ``e``: ``[..., K, N]`` -> ``[..., K, N]``. A
    Hillis-Steele scan of the affine maps: log2(K) batched steps instead of K
    sequential ones. With one ``M`` for all blocks the composed maps are powers
    of it, so each step is one ``[K, N] x [N, N]`` product per lane.
    """
    K = e.shape[-2]
    d = 1
    if M.shape[-3] == 1:  # one transition for every block: the composed maps are M^d
        power = M[..., 0, :, :]
        while d < K:
            shifted = e[..., :-d, :] @ power.transpose(-1, -2)
            e = torch.cat([e[..., :d, :], shifted + e[..., d:, :]], -2)
            power = power @ power
            d *= 2
    while d < K:
        # Compose each map with the one d blocks earlier: (M, e) o (M', e') = (M M', M e' + e).
        e = torch.cat([e[..., :d, :], (M[..., d:, :, :] @ e[..., :-d, :, None]).squeeze(-1)
                       + e[..., d:, :]], -2)
        M = torch.cat([M[..., :d, :, :], M[..., d:, :, :] @ M[..., :-d, :, :]], -3)
        d *= 2
    return F.pad(e[..., :-1, :], (0, 0, 1, 0))  # e_k is now s_{k+1}


def _biquad_varying(x, coeffs, repeat, block=BLOCK):
    """Direct Form II transposed with per-sample coefficients, exactly, in torch (the CUDA path).

    The recursion runs ``block`` steps inside every block at once (from a zero
    state with the input, and from the two unit states without it), which gives
    each block's zero-state output, its response to a start state and its state
    transition; the states at the block starts then come from a log-depth scan.
    Equal to the fast path up to float64 round-off; float64 throughout, since
    Direct Form II transposed is ill-conditioned for low-frequency poles.
    """
    T = x.shape[-1]
    shape = torch.broadcast_shapes(x.shape, *(c.shape for c in coeffs))

    def steps(t, replicate=False):
        # [..., T] -> L contiguous float64 tensors [..., K], sample n of every block.
        # Transpose first, convert after: a converting transpose is 4x slower. unbind,
        # not indexing: the backward of each index op would allocate the whole input.
        t = _to_blocks(t.expand(shape), block, replicate)  # [..., K, L]
        return t.reshape(-1, block).t().contiguous().double().view(block, *t.shape[:-1]).unbind(0)

    b0, b1, b2, a1, a2 = (steps(c, replicate=True) for c in coeffs)
    xs = steps(x)
    for _ in range(repeat):
        z1 = z2 = torch.zeros_like(xs[0])  # zero-state run, driven by x
        u1 = torch.stack([torch.ones_like(z1), torch.zeros_like(z1)])  # unit-state runs, no input
        u2 = torch.flip(u1, (0,))
        forced, free = [], []
        for n in range(block):
            y = b0[n] * xs[n] + z1
            z1, z2 = b1[n] * xs[n] - a1[n] * y + z2, b2[n] * xs[n] - a2[n] * y
            forced.append(y)
            free.append(u1)
            u1, u2 = u2 - a1[n] * u1, -a2[n] * u1
        # Transition of the block: column j = end state from unit state j.
        M = torch.stack([u1.movedim(0, -1), u2.movedim(0, -1)], -2)  # [..., K, 2, 2]
        s1, s2 = _carry_states(M, torch.stack([z1, z2], -1)).unbind(-1)  # [..., K]
        free1, free2 = torch.stack(free, 0).unbind(1)  # [L, ..., K]
        xs = (torch.stack(forced, 0) + s1 * free1 + s2 * free2).unbind(0)
    y = torch.stack(xs, 0).to(x.dtype)  # [L, ..., K]
    return y.reshape(block, -1).t().reshape(*shape[:-1], -1)[..., :T]


def _power_sequences(A, B, C, length, sub=16):
    # U[n] = A^n B and W[n] = C A^n for n < length, and A^length, as A^(iJ) (A^j B) with
    # J = sub: short product runs keep the float64 round-off small (doubling all the way,
    # A^(2m) = A^m A^m over 8 levels, amplified it to 1e-8 for low-frequency poles).
    sub = min(sub, length)
    UB, WC = [B], [C]
    for _ in range(sub - 1):
        UB.append((A @ UB[-1].unsqueeze(-1)).squeeze(-1))
        WC.append((WC[-1].unsqueeze(-2) @ A).squeeze(-2))
    AJ = torch.linalg.matrix_power(A, sub)
    jumps = [torch.eye(A.shape[-1], dtype=A.dtype, device=A.device).expand_as(A)]
    for _ in range(length // sub):
        jumps.append(jumps[-1] @ AJ)
    tail = torch.stack(jumps[:-1], -3)  # A^(iJ): [..., I, N, N]
    # einsum, not broadcast matmul: that would materialize tail once per j.
    U = torch.einsum("...inm,...jm->...ijn", tail, torch.stack(UB, -2)).flatten(-3, -2)
    W = torch.einsum("...jm,...imn->...ijn", torch.stack(WC, -2), tail).flatten(-3, -2)
    return U, W, jumps[-1]  # [..., L, N], [..., L, N], A^L


def df2t_state_space(coeffs):
    """``(A, B, C, D)`` of a Direct Form II transposed biquad (state ``z1, z2``).

    ``y = b0 x + z1``, ``z1' = b1 x - a1 y + z2``, ``z2' = b2 x - a2 y``.
    """
    b0, b1, b2, a1, a2 = torch.broadcast_tensors(*coeffs)
    one, zero = torch.ones_like(a1), torch.zeros_like(a1)
    A = torch.stack([torch.stack([-a1, one], -1), torch.stack([-a2, zero], -1)], -2)
    B = torch.stack([b1 - a1 * b0, b2 - a2 * b0], -1)
    C = torch.stack([one, zero], -1)
    return A, B, C, b0


def state_space_blocks(x, A, B, C, D, block=STATE_SPACE_BLOCK):
    """Linear system with a state-space realization constant per block, in torch.

    ``s[n+1] = A s[n] + B x[n]``, ``y[n] = C s[n] + D x[n]``, zero initial
    state. Per block: the input convolved with the block's impulse response
    (FFT) plus the response ``C A^n s`` to the state carried in, which comes
    from a log-depth scan over the blocks. Exact (up to round-off) for matrices
    constant per block; the state part runs in float64. Memory is ``O(N T)``
    float64 per lane when the matrices vary per block, ``O(N L)`` when they
    are constant (block dim 1).

    Args:
        x: input ``[..., T]``.
        A: ``[..., K, N, N]``; B, C: ``[..., K, N]``; D: ``[..., K]``, with
            ``K = ceil(T / block)`` or 1 (constant); leading dims broadcast with ``x``'s.
        block: block length, a power of two.

    Returns:
        ``y``, ``[..., T]`` in ``x``'s dtype.
    """
    T = x.shape[-1]
    A, B, C, D = (m.double() for m in (A, B, C, D))
    xb = _to_blocks(x, block)  # [..., K, L]
    constant = A.shape[-3] == 1
    if constant:  # one realization: drop the block dim, the blocks become matrix rows
        A, B, C, D = A[..., 0, :, :], B[..., 0, :], C[..., 0, :], D[..., 0]
    U, W, AL = _power_sequences(A, B, C, block)  # [..., (K,) L, N] (x2), [..., (K,) N, N]
    # Impulse response within a block: h[0] = D, h[n] = C A^(n-1) B; causal FFT convolution.
    h = torch.cat([D.unsqueeze(-1), (W[..., :-1, :] @ B.unsqueeze(-1)).squeeze(-1)], -1)
    if constant:
        h = h.unsqueeze(-2)
    n = 2 * block
    forced = torch.fft.irfft(torch.fft.rfft(xb, n=n) * torch.fft.rfft(h.to(x.dtype), n=n),
                             n=n)[..., :block]
    # State reached at each block end from that block's own input, then the carried states;
    # the zero-input response C A^n s_k to the state carried in.
    xr = xb.flip(-1).double()
    if constant:
        S = _carry_states(AL.unsqueeze(-3), xr @ U)  # [..., K, N]
        free = S @ W.transpose(-1, -2)
    else:
        S = _carry_states(AL, (xr.unsqueeze(-2) @ U).squeeze(-2))
        free = (W @ S.unsqueeze(-1)).squeeze(-1)
    return (forced + free.to(x.dtype)).flatten(-2)[..., :T]


# --- entry point ----------------------------------------------------------------
def _constant_torch(x, coeffs, repeat):
    # Constant coefficients in torch ops alone (GPU tensors): FFT, or blocks for long tails.
    if _tail_length(coeffs[3], coeffs[4], repeat) <= x.shape[-1]:
        return _fft(x, coeffs, repeat)
    # Rings longer than the clip: FFT padding would have to cover the tail; blocks need none.
    A, B, C, D = df2t_state_space(coeffs)
    for _ in range(repeat):
        x = state_space_blocks(x, A, B, C, D)
    return x


def biquad_filter(x, coeffs, *, grad=False, repeat=1):
    """Filters ``x`` with ``repeat`` identical cascaded biquad sections.

    Args:
        x: audio ``[B, 2, T]``.
        coeffs: ``(b0, b1, b2, a1, a2)``, each broadcastable to ``[B, 2, T]``
            with last dim 1 (constant over the clip) or ``T`` (per sample).
        grad: use the differentiable paths (CUDA tensors always take them).
        repeat: number of identical sections in cascade.

    Returns:
        ``[B, 2, T]``.
    """
    if use_kernel(x, grad):
        return _fast(x, coeffs, repeat)
    compiled = x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)
    if any(c.shape[-1] > 1 for c in coeffs):
        return _varying_cpu(x, coeffs, repeat) if compiled else _biquad_varying(x, coeffs, repeat)
    if compiled:
        # Exact, and on CPU several times faster than the FFT (a sequential recursion is slow on GPU).
        for _ in range(repeat):
            x = _BiquadRows.apply(x, *coeffs)
        return x
    return _constant_torch(x, coeffs, repeat)
