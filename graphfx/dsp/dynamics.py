"""Dynamic range processors: compressor, noise gate, downward expander.

The design follows D. Giannoulis, M. Massberg and J. D. Reiss, "Digital
dynamic range compressor design - a tutorial and analysis", JAES 60(6),
2012 (the "log domain, smooth branching peak detector after the gain
computer" topology of their section 3.4):

1. level detection in dB of a stereo-linked detector signal,
   ``x_G = 20 log10 max(|left|, |right|)`` (floored at -120 dB), taken from the
   ``sidechain`` inlet when it is connected and from ``in`` otherwise;
2. a static gain computer with a soft knee of width ``W`` (:func:`gain_computer`):
   downward compression above the threshold for the compressor (their eq. 4),
   the mirrored downward expansion below the threshold for the expander (slope
   ``ratio`` below ``T``); the noise gate is the expander with its own defaults;
3. the smooth branching one-pole smoother (their eq. 17) on the gain in dB,
   with ``alpha = exp(-1 / (tau * fs))`` (their eq. 7: ``tau`` in seconds is the
   time a step takes to reach 1 - 1/e of its final value);
4. the smoothed gain applied to ``in``; no make-up gain (energy normalization
   is the renderer's job).

Attack applies while the detector level rises: while the gain reduction grows
for the compressor, while the gate opens for the expander and noise gate
(the usual meaning for gates). The gain never drops below ``MIN_GAIN_DB``.
The smoother state starts where silence would have left it, as if the clip
were preceded by silence.

Three implementations of the smoother (:func:`smooth_attack_release`, shared
with the envelope follower of :mod:`graphfx.dsp.control`):

* fast (``grad=False`` on CPU): a numba lane kernel, exact (float64 state).
* gradient on CPU (``grad=True``): the same recursion, with the same output
  bit for bit, as a :class:`torch.autograd.Function`. Its forward kernel also
  records the branch each sample took. With that pattern fixed the recursion
  is linear; the backward kernel runs its adjoint, a one-pole recursion
  backward in time, for the gradients to the target (so to ``in``,
  ``sidechain`` and the gain computer parameters), to both time constants and
  to the initial state. The branch choices themselves are piecewise constant
  and carry none.
* CUDA (both modes): pure torch, exact up to float32 rounding once
  converged. The attack/release branch pattern is found without gradient by
  a fixed-point (Newton) iteration: guess a pattern (attack where the target
  rises), solve the then linear recursion, re-decide every branch from that
  solution, repeat until no branch flips except at ties ``x[n] ~ y[n-1]``
  (where either choice gives the same ``y[n]``), at most ``SCAN_ITERATIONS``
  times. One last linear solve with the final pattern carries the gradients.
  Each linear solve is a chunked parallel scan: closed form inside chunks of
  at most 256 samples (log-domain cumulative sums), a doubling (Hillis-Steele)
  scan over the chunk carries. On 3.6 s clips (noise, noise bursts, drum hits,
  sines of rising level; random and corner parameters) it took 5-20 passes
  and its gain differed from the fast path by at most 2.5e-4 dB; the tests
  (which run it on CPU) hold it to ``GRAD_PATH_TOLERANCE_DB``.
"""
from __future__ import annotations

import math
from typing import Dict, Optional

import numba
import numpy as np
import torch
from torch import Tensor

from graphfx.dsp.lanes import use_kernel

#: Detector floor: levels below it (silence) are read as this level.
LEVEL_FLOOR_DB = -120.0
#: Largest attenuation the expander and noise gate apply.
MIN_GAIN_DB = -120.0
#: Most fixed-point passes of the CUDA smoother searching the branch pattern.
SCAN_ITERATIONS = 64
#: Documented bound of |CUDA path - fast path| on the gain in dB (see the tests); the CPU
#: gradient path equals the fast path.
GRAD_PATH_TOLERANCE_DB = 1e-3

# CUDA path: relative distance |x[n] - y[n-1]| under which a branch choice does not matter.
_TIE = 1e-4
_MAX_CHUNK = 256
# CUDA path: exp(+-_MAX_CHUNK_DECAY) stays well inside float32 range inside a chunk.
_MAX_CHUNK_DECAY = 40.0


def gain_computer(level_db: Tensor, threshold, ratio, knee, kind: str) -> Tensor:
    """Static soft-knee curve: output level ``y_G`` (dB) for input level ``x_G`` (dB).

    Giannoulis et al. (2012), eq. 4, with ``T`` = ``threshold``, ``R`` =
    ``ratio``, ``W`` = ``knee`` and ``d = x_G - T``:

    * ``kind="compressor"``: ``y_G = x_G`` for ``2d < -W``,
      ``x_G + (1/R - 1)(d + W/2)^2 / (2W)`` for ``|2d| <= W``,
      ``T + d/R`` for ``2d > W``;
    * ``kind="expander"`` or ``"noisegate"``: ``y_G = T + R d`` for ``2d < -W``,
      ``x_G + (1 - R)(d - W/2)^2 / (2W)`` for ``|2d| <= W``, ``x_G`` for ``2d > W``.

    Both are evaluated as ``y_G = x_G + slope * hinge(z)`` with the quadratic
    hinge ``hinge(z) = clamp(z + W/2, 0, W)^2 / (2W) + max(z - W/2, 0)``
    (``z = d``, ``slope = 1/R - 1`` for the compressor; ``z = -d``,
    ``slope = 1 - R`` for the expander): the same three pieces without
    branches, finite with finite gradients also for ``W = 0``. Parameters
    broadcast against ``level_db``.
    """
    return level_db + _static_gain(level_db, threshold, ratio, knee, kind)


def _static_gain(level_db: Tensor, threshold, ratio, knee, kind: str) -> Tensor:
    """``y_G - x_G`` in dB (<= 0): ``slope * hinge(z)`` of :func:`gain_computer`."""
    if kind == "compressor":
        over, slope = level_db - threshold, 1.0 / ratio - 1.0
    elif kind in ("expander", "noisegate"):
        over, slope = threshold - level_db, 1.0 - ratio
    else:
        raise ValueError(f"unknown gain computer kind {kind!r}")
    half = 0.5 * knee
    width = torch.as_tensor(knee, dtype=level_db.dtype, device=level_db.device)
    in_knee = torch.minimum(torch.clamp(over + half, min=0.0), width)
    # The epsilon only matters for W = 0, where in_knee is 0 and the term vanishes.
    hinge = in_knee * in_knee / (2.0 * knee + 1e-12) + torch.clamp(over - half, min=0.0)
    return slope * hinge


def smoothing_coefficient(time_ms: Tensor, sample_rate: int) -> Tensor:
    """``log(alpha) = -1 / (tau fs)`` for a one-pole time constant ``tau`` in ms."""
    return -1000.0 / (time_ms * sample_rate)


def smooth_attack_release(target: Tensor, attack_ms: Tensor, release_ms: Tensor, *,
                          sample_rate: int, init: Optional[Tensor] = None,
                          grad: bool = False) -> Tensor:
    """Smooth branching one-pole smoother (Giannoulis et al. 2012, eq. 17).

    ``y[n] = a y[n-1] + (1 - a) x[n]`` with ``a = alpha_attack`` when
    ``x[n] > y[n-1]`` and ``alpha_release`` otherwise.

    Args:
        target: ``[N, T]`` signal ``x``, one lane per row.
        attack_ms, release_ms: ``[N]`` time constants in ms.
        sample_rate: in Hz.
        init: ``[N]`` state ``y[-1]``; zeros when omitted.
        grad: use the differentiable path (CUDA tensors always take the torch one).

    Returns:
        ``[N, T]`` smoothed signal.
    """
    if init is None:
        init = torch.zeros_like(target[:, 0])
    log_attack = smoothing_coefficient(attack_ms, sample_rate)
    log_release = smoothing_coefficient(release_ms, sample_rate)
    if target.is_cuda:
        return _smooth_torch(target, log_attack, log_release, init)
    if grad:
        return _SmoothAttackRelease.apply(target, log_attack, log_release, init)
    return _smooth_numba(target, log_attack, log_release, init)


# --- fast path --------------------------------------------------------------
_TILE = 128  # time steps per tile: the [_TILE, lanes] float64 tile stays in cache


@numba.njit(cache=True, fastmath=False, nogil=True)
def _smooth_lanes(target, alpha_attack, alpha_release, init, attack=None):  # pragma: no cover - compiled
    """Exact branching smoother on ``target`` ``[lanes, T]`` float32 (or float64).

    Time tiles are transposed into a ``[_TILE, lanes]`` buffer so that the
    recursion runs time outer, lanes inner (vectorized across lanes). ``attack``:
    None, or uint8 ``[lanes, T]`` that receives the branch each sample took,
    ``x[n] > y[n-1]`` (for the gradient path's backward; pruned at compile time
    when None).
    """
    lanes, num_samples = target.shape
    out = np.empty_like(target)
    state = init.copy()
    tile = np.empty((_TILE, lanes), dtype=np.float64)
    rising = np.empty((_TILE, lanes), dtype=np.uint8)
    for start in range(0, num_samples, _TILE):
        length = min(_TILE, num_samples - start)
        for lane in range(lanes):
            for k in range(length):
                tile[k, lane] = target[lane, start + k]
        for k in range(length):
            for lane in range(lanes):
                x = tile[k, lane]
                up = x > state[lane]
                a = alpha_attack[lane] if up else alpha_release[lane]
                state[lane] = x + a * (state[lane] - x)
                tile[k, lane] = state[lane]
                if attack is not None:
                    rising[k, lane] = up
        for lane in range(lanes):
            for k in range(length):
                out[lane, start + k] = tile[k, lane]
        if attack is not None:
            for lane in range(lanes):
                for k in range(length):
                    attack[lane, start + k] = rising[k, lane]
    return out


def _smooth_numba(target: Tensor, log_attack: Tensor, log_release: Tensor, init: Tensor) -> Tensor:
    out = _smooth_lanes(target.detach().contiguous().numpy(), _alpha(log_attack), _alpha(log_release),
                        init.detach().double().numpy())
    return torch.from_numpy(out)                                         # [N, T]


# --- gradient path on CPU --------------------------------------------------------
@numba.njit(cache=True, fastmath=False, nogil=True)
def _smooth_lanes_adjoint(grad_out, target, out, attack, alpha_attack, alpha_release, init,
                          grad_target, need_alphas):  # pragma: no cover - compiled
    """Backward pass of the smoother with its branch pattern ``attack`` held fixed.

    With fixed branches ``y[n] = x[n] + a[n] (y[n-1] - x[n])`` is linear in ``x``
    and ``y[-1]``. The total derivative ``v[n] = dL/dy[n]`` runs backward in time,
    ``v[n] = g[n] + c[n+1]`` with the carry ``c[n] = a[n] v[n]`` (what ``y[n]``
    passes back to ``y[n-1]``), and gives ``dL/dx[n] = (1 - a[n]) v[n]``,
    ``dL/dlog a[n] = c[n] (y[n-1] - x[n])`` and ``dL/dy[-1] = c[0]``.

    Writes ``dL/dx`` into ``grad_target`` unless it is empty; returns the float64
    ``[lanes]`` gradients of ``y[-1]`` and, when ``need_alphas``, of the log
    attack and log release coefficients (summed over the samples of each branch).
    Tiled like :func:`_smooth_lanes` (time outer, lanes inner), in reverse time.
    """
    lanes, num_samples = target.shape
    need_target = grad_target.size > 0
    carry = np.zeros(lanes)
    grad_log_attack = np.zeros(lanes)
    grad_log_release = np.zeros(lanes)
    g = np.empty((_TILE, lanes))             # dL/dy[n] in, dL/dx[n] out
    step = np.empty((_TILE, lanes))          # y[n-1] - x[n]
    rising = np.empty((_TILE, lanes), dtype=np.uint8)
    num_tiles = (num_samples + _TILE - 1) // _TILE
    for tile_index in range(num_tiles - 1, -1, -1):
        start = tile_index * _TILE
        length = min(_TILE, num_samples - start)
        for lane in range(lanes):
            for k in range(length):
                n = start + k
                # y[n-1] as stored (float32 for float32 targets): one float32 rounding
                # off the float64 state, as fine as a float32 gradient gets anyway.
                previous = out[lane, n - 1] if n > 0 else init[lane]
                g[k, lane] = grad_out[lane, n]
                step[k, lane] = previous - target[lane, n]
                rising[k, lane] = attack[lane, n]
        for k in range(length - 1, -1, -1):
            for lane in range(lanes):
                up = rising[k, lane]
                a = alpha_attack[lane] if up else alpha_release[lane]
                v = g[k, lane] + carry[lane]
                carry[lane] = a * v
                g[k, lane] = (1.0 - a) * v
                if need_alphas:
                    if up:
                        grad_log_attack[lane] += carry[lane] * step[k, lane]
                    else:
                        grad_log_release[lane] += carry[lane] * step[k, lane]
        if need_target:
            for lane in range(lanes):
                for k in range(length):
                    grad_target[lane, start + k] = g[k, lane]
    return carry, grad_log_attack, grad_log_release


class _SmoothAttackRelease(torch.autograd.Function):
    """The fast path's exact recursion, differentiable: compiled forward and backward.

    Inputs ``target`` ``[N, T]``, ``log_attack``, ``log_release``, ``init`` ``[N]``
    on CPU. The branch choices are piecewise constant and carry no gradient.
    """

    @staticmethod
    def forward(ctx, target, log_attack, log_release, init):
        x = target.detach().contiguous().numpy()
        attack = np.empty(x.shape, dtype=np.uint8)  # the branch of each sample, for the backward
        out = _smooth_lanes(x, _alpha(log_attack), _alpha(log_release), init.detach().double().numpy(), attack)
        out, attack = torch.from_numpy(out), torch.from_numpy(attack)
        ctx.save_for_backward(target, log_attack, log_release, init, out, attack)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        target, log_attack, log_release, init, out, attack = ctx.saved_tensors
        need_target, need_attack, need_release, need_init = ctx.needs_input_grad
        x = target.detach().contiguous().numpy()
        grad_target = np.empty_like(x) if need_target else np.empty((0, 0), x.dtype)
        grad_init, grad_attack, grad_release = _smooth_lanes_adjoint(
            grad_out.contiguous().numpy(), x, out.numpy(), attack.numpy(),
            _alpha(log_attack), _alpha(log_release), init.detach().double().numpy(),
            grad_target, need_attack or need_release)

        def result(needed: bool, grad: np.ndarray, like: Tensor) -> Optional[Tensor]:
            return torch.from_numpy(grad).to(like.dtype) if needed else None

        return (result(need_target, grad_target, target),
                result(need_attack, grad_attack, log_attack),
                result(need_release, grad_release, log_release),
                result(need_init, grad_init, init))


def _alpha(log_alpha: Tensor) -> np.ndarray:
    """The kernels' float64 coefficients ``exp(log_alpha)``."""
    return np.exp(log_alpha.detach().double().numpy())


# --- gradient path on CUDA: fixed-point search and parallel scans -----------------
def _smooth_torch(target: Tensor, log_attack: Tensor, log_release: Tensor, init: Tensor) -> Tensor:
    def branch_log_alpha(attack: Tensor) -> Tensor:
        # Arithmetic select: torch.where with [N, 1] operands is ~5x slower on CPU.
        return log_release[:, None] + attack * (log_attack - log_release)[:, None]   # [N, T]

    with torch.no_grad():
        x, y0 = target.detach(), init.detach()
        attack = x > _delayed(x, y0)                              # first guess: rising input
        for _ in range(SCAN_ITERATIONS):
            y = _delayed(_one_pole(x, branch_log_alpha(attack), y0), y0)   # y[n-1]
            new_attack = x > y
            # A branch that flips where x[n] ~ y[n-1] changes y[n] by ~0: count it as settled.
            tie = (x - y).abs() <= _TIE * (x.abs() + y.abs())
            settled = not torch.any((new_attack != attack) & ~tie)
            attack = new_attack
            if settled:
                break
    return _one_pole(target, branch_log_alpha(attack), init)


def _delayed(y: Tensor, y0: Tensor) -> Tensor:
    """``y[n-1]`` with ``y[-1] = y0``: ``[N, T]``, ``[N]`` -> ``[N, T]``."""
    return torch.cat([y0[:, None], y[:, :-1]], dim=1)


def _one_pole(x: Tensor, log_a: Tensor, y0: Tensor) -> Tensor:
    """Solves ``y[n] = a[n] y[n-1] + (1 - a[n]) x[n]``, ``y[-1] = y0``, by a chunked scan.

    ``x``, ``log_a``: ``[N, T]`` with ``log_a <= 0``; ``y0``: ``[N]``.
    """
    lanes, num_samples = x.shape
    decay = float(-log_a.detach().min()) if num_samples else 0.0
    chunk = _chunk_length(decay)
    pad = -num_samples % chunk
    b = -torch.expm1(log_a) * x                              # (1 - a) x, exact for a near 1
    log_a = torch.nn.functional.pad(log_a, (0, pad)).view(lanes, -1, chunk)
    b = torch.nn.functional.pad(b, (0, pad)).view(lanes, -1, chunk)
    # Inside a chunk: y[n] = e^{s[n]} (y_start + sum_{k<=n} b[k] e^{-s[k]}), s = cumsum(log a).
    decay_in = torch.exp(log_a.cumsum(-1))                   # [N, C, K], in (e^-40, 1]
    local = decay_in * (b / decay_in).cumsum(-1)             # zero-start solution per chunk
    # Chunk carries: Y[j] = P[j] Y[j-1] + Q[j], Y[-1] = y0.
    ends = _doubling_scan(decay_in[..., -1], local[..., -1], y0)        # [N, C]
    starts = torch.cat([y0[:, None], ends[:, :-1]], dim=1)
    y = local + decay_in * starts[..., None]
    return y.reshape(lanes, -1)[:, :num_samples]


def _chunk_length(decay: float) -> int:
    """Largest power of two <= 256 whose worst-case decay stays within ``_MAX_CHUNK_DECAY``."""
    if decay <= 0.0:
        return _MAX_CHUNK
    length = 2 ** max(0, math.floor(math.log2(_MAX_CHUNK_DECAY / decay)))
    return int(min(_MAX_CHUNK, length))


def _doubling_scan(p: Tensor, q: Tensor, y0: Tensor) -> Tensor:
    """Hillis-Steele scan of ``Y[j] = p[j] Y[j-1] + q[j]``, ``Y[-1] = y0``; ``p``, ``q``: ``[N, C]``."""
    q = torch.cat([q[:, :1] + p[:, :1] * y0[:, None], q[:, 1:]], dim=1)
    step = 1
    while step < q.shape[1]:
        q = torch.cat([q[:, :step], q[:, step:] + p[:, step:] * q[:, :-step]], dim=1)
        p = torch.cat([p[:, :step], p[:, step:] * p[:, :-step]], dim=1)
        step *= 2
    return q


# --- processors -----------------------------------------------------------------
_DB = 20.0 / math.log(10.0)  # dB per neper


def _level_db(x: Tensor) -> Tensor:
    """Channel-linked peak level in dB (floor ``LEVEL_FLOOR_DB``): ``[B, C, T]`` -> ``[B, T]``."""
    peak = x.abs().amax(dim=1)
    return _DB * torch.log(torch.clamp(peak, min=10.0 ** (LEVEL_FLOOR_DB / 20)))


def _dynamics(inputs: Dict[str, Tensor], params: Dict[str, Tensor], kind: str,
              sample_rate: int, grad: bool) -> Dict[str, Tensor]:
    x = inputs["in"]                                                     # [B, 2, T]
    detector = inputs.get("sidechain", x)
    threshold, ratio, knee = (params[k][:, None] for k in ("threshold", "ratio", "knee"))  # [B, 1]

    def static_gain(level_db):
        gain = _static_gain(level_db, threshold, ratio, knee, kind)
        return gain if kind == "compressor" else torch.clamp(gain, min=MIN_GAIN_DB)

    # The smoother runs on a signal that rises with the level, so that its
    # attack branch is the level rising: the gain reduction for the
    # compressor, the gain itself for the expander and gate.
    sign = -1.0 if kind == "compressor" else 1.0
    fast = use_kernel(x, grad)
    with torch.set_grad_enabled(grad and torch.is_grad_enabled()):
        if fast:
            target = _target_fast(detector, threshold, ratio, knee, kind, sign)
        else:
            target = sign * static_gain(_level_db(detector))              # [B, T]
        silence = torch.full_like(threshold, LEVEL_FLOOR_DB)
        init = (sign * static_gain(silence))[:, 0]                        # [B]
        smoothed = smooth_attack_release(target, params["attack"], params["release"],
                                         sample_rate=sample_rate, init=init, grad=grad)
        if fast:  # the smoother's output is fresh: the gain takes its memory
            return {"out": x * smoothed.mul_(sign / _DB).exp_()[:, None, :]}
        gain = torch.exp((sign / _DB) * smoothed)                         # [B, T]
        return {"out": x * gain[:, None, :]}


# --- fast mode of the level detector and gain computer --------------------------------
def _target_fast(detector: Tensor, threshold: Tensor, ratio: Tensor, knee: Tensor, kind: str,
                 sign: float) -> Tensor:
    """``sign * static_gain(_level_db(detector))`` of :func:`_dynamics`, ``[B, T]``, in three passes.

    The same float32 operations in the same order as the torch path (same bits): a kernel takes the
    floored channel-linked peak, torch's ``log`` runs in place (the compiled one is several times
    slower), and a second kernel applies the gain computer in place, with the per-clip constants
    computed by torch as :func:`_static_gain` computes them.
    """
    if kind not in ("compressor", "expander", "noisegate"):
        raise ValueError(f"unknown gain computer kind {kind!r}")
    batch, _, num_samples = detector.shape
    level = torch.empty(batch, num_samples)
    _peak_kernel(detector.detach().numpy(), np.float32(10.0 ** (LEVEL_FLOOR_DB / 20)), level.numpy())
    level.log_()
    expander = kind != "compressor"
    slope = 1.0 - ratio if expander else 1.0 / ratio - 1.0
    half, denominator = 0.5 * knee, 2.0 * knee + 1e-12

    def row(p: Tensor) -> np.ndarray:                                    # [B, 1] -> float32 [B]
        return p.detach().to(torch.float32).reshape(-1).expand(batch).contiguous().numpy()

    _gain_computer_kernel(level.numpy(), expander, np.float32(sign), row(threshold), row(slope), row(half),
                          row(knee), row(denominator))
    return level


@numba.njit(cache=True, nogil=True)
def _peak_kernel(x, floor, out):  # pragma: no cover - compiled
    """``out[b] = max(|x[b, 0]|, ..., |x[b, C-1]|, floor)``: ``x`` ``[B, C, T]``, ``out`` ``[B, T]``."""
    batch, channels, num_samples = x.shape
    for b in range(batch):
        peak, first = out[b], x[b, 0]
        for n in range(num_samples):
            peak[n] = max(abs(first[n]), floor)
        for c in range(1, channels):
            other = x[b, c]
            for n in range(num_samples):
                peak[n] = max(peak[n], abs(other[n]))


@numba.njit(cache=True, nogil=True)
def _gain_computer_kernel(level, expander, sign, threshold, slope, half, width, denominator):  # pragma: no cover
    """In place on ``level`` ``[B, T]`` (the natural log of the peak): ``sign * slope * hinge(z)`` of
    :func:`_static_gain`, floored at ``MIN_GAIN_DB`` for the expander; float32, torch's order.
    (The per-clip constants in locals and one loop per kind: that is what lets the loops vectorize.)"""
    db, zero, floor = np.float32(_DB), np.float32(0.0), np.float32(MIN_GAIN_DB)
    for b in range(level.shape[0]):
        row, t, h, w, d, s = level[b], threshold[b], half[b], width[b], denominator[b], slope[b]
        if expander:
            for n in range(row.size):
                over = t - db * row[n]
                in_knee = min(max(over + h, zero), w)
                row[n] = sign * max(s * (in_knee * in_knee / d + max(over - h, zero)), floor)
        else:
            for n in range(row.size):
                over = db * row[n] - t
                in_knee = min(max(over + h, zero), w)
                row[n] = sign * (s * (in_knee * in_knee / d + max(over - h, zero)))


def compressor(inputs: Dict[str, Tensor], params: Dict[str, Tensor], *, sample_rate: int,
               grad: bool = False) -> Dict[str, Tensor]:
    """Feed-forward soft-knee compressor (Giannoulis et al. 2012).

    Params (``[B]``): ``threshold`` dB, ``ratio``, ``attack`` ms, ``release`` ms,
    ``knee`` dB. The optional ``sidechain`` inlet keys the detector.
    """
    return _dynamics(inputs, params, "compressor", sample_rate, grad)


def expander(inputs: Dict[str, Tensor], params: Dict[str, Tensor], *, sample_rate: int,
             grad: bool = False) -> Dict[str, Tensor]:
    """Soft-knee downward expander: below ``threshold`` the level falls ``ratio`` dB per dB.

    Params (``[B]``) and ``sidechain`` as for :func:`compressor`; attack is the opening time.
    """
    return _dynamics(inputs, params, "expander", sample_rate, grad)


def noisegate(inputs: Dict[str, Tensor], params: Dict[str, Tensor], *, sample_rate: int,
              grad: bool = False) -> Dict[str, Tensor]:
    """Noise gate: the downward expander, with the catalog's gate defaults (ratio 10)."""
    return _dynamics(inputs, params, "noisegate", sample_rate, grad)


PROCESSORS = {"compressor": compressor, "noisegate": noisegate, "expander": expander}
