"""Low-order linear filters: biquads, shelves, bell, crossover and phaser.

References: R. Bristow-Johnson, "Cookbook formulae for audio EQ biquad filter
coefficients" (RBJ Audio EQ Cookbook); U. Zölzer, "DAFX", 2nd ed., 2011,
ch. 2 (first-order allpass, phaser); S. Linkwitz, "Active crossover networks
for noncoincident drivers", JAES 1976 (Linkwitz-Riley crossover).

Every processor follows the contract of :mod:`graphfx.dsp`. ``frequency`` (and
``gain`` for shelves and bell) may be ``[B, 2, T]``: the kernels then take
per-sample coefficients. With ``grad=True`` the biquad-based processors run
the same per-sample recursion exactly (see :mod:`graphfx.dsp.biquad`); the
modulated phaser uses its coefficient averaged over blocks of
:data:`graphfx.dsp.biquad.STATE_SPACE_BLOCK` samples (exact when unmodulated).
"""
from __future__ import annotations

import math

import numba
import numpy as np
import torch

from graphfx.dsp.biquad import (MAX_FREQUENCY_RATIO, biquad_filter, block_means, rbj_coefficients,
                                state_space_blocks)
from graphfx.dsp.lanes import from_lanes, lane_major, to_lanes, use_kernel

#: First-order allpass stages of the phaser (three notches).
PHASER_STAGES = 6
#: Q of a Butterworth section; two in cascade make a Linkwitz-Riley (LR4) band.
BUTTERWORTH_Q = 1 / math.sqrt(2)


def _prepare(params, names, fast):
    """Parameters as broadcastable tensors: ``[B]`` -> ``[B, 1, 1]``, ``[B, 2, T]`` kept.

    Constant coefficients are computed in float64 (exact low-frequency filters
    at no cost). Per-sample ones are float32 in both paths, so that the fast and
    the differentiable path filter with the same coefficients, at half the
    memory and time (relative deviation from float64 ~1e-4 at 30 Hz, 4th order);
    in fast mode they are stored time-major, so the kernel needs no transposing copy.
    """
    values = [params[n] for n in names]
    dtype = torch.float32 if any(v.dim() == 3 for v in values) else torch.float64
    out = []
    for v in values:
        v = v.to(dtype)
        if v.dim() == 3:
            out.append(lane_major(v) if fast else v)
        else:
            out.append(v.view(-1, 1, 1))
    return out


def _rbj(kind, x, frequency, q, gain, sample_rate, grad, repeat=1):
    coeffs = rbj_coefficients(kind, frequency, q, gain, sample_rate)
    return biquad_filter(x, coeffs, grad=grad, repeat=repeat)


def _make_filter(name, kind, repeat, with_gain):
    names = ("frequency", "q", "gain") if with_gain else ("frequency", "q")

    def process(inputs, params, *, sample_rate, grad=False):
        x = inputs["in"]
        args = _prepare(params, names, use_kernel(x, grad))
        gain = args[2] if with_gain else 0.0
        return {"out": _rbj(kind, x, args[0], args[1], gain, sample_rate, grad, repeat)}

    order = "4th-order" if repeat == 2 else "2nd-order"
    process.__name__ = process.__qualname__ = name
    process.__doc__ = (f"RBJ cookbook {kind} ({order}: {repeat} identical section(s)); "
                       f"params {', '.join(names)}.")
    return process


#: The RBJ filter processors: (cookbook kind, identical sections in cascade).
RBJ_FILTERS = {
    "lowpass": ("lowpass", 1), "bandpass": ("bandpass", 1), "highpass": ("highpass", 1),
    "bandreject": ("bandreject", 1), "lowpass4": ("lowpass", 2), "bandpass4": ("bandpass", 2),
    "highpass4": ("highpass", 2), "lowshelf": ("lowshelf", 1), "highshelf": ("highshelf", 1), "bell": ("bell", 1),
}
#: Cookbook kinds with a gain parameter.
GAIN_KINDS = ("lowshelf", "highshelf", "bell")

lowpass, bandpass, highpass, bandreject, lowpass4, bandpass4, highpass4, lowshelf, highshelf, bell = (
    _make_filter(name, kind, repeat, kind in GAIN_KINDS) for name, (kind, repeat) in RBJ_FILTERS.items())


def crossover(inputs, params, *, sample_rate, grad=False):
    """4th-order Linkwitz-Riley band split at ``frequency``.

    Each band is two cascaded Butterworth (Q = 1/sqrt(2)) sections, so
    ``low + high`` is an allpass (flat magnitude).
    """
    x = inputs["in"]
    (frequency,) = _prepare(params, ("frequency",), use_kernel(x, grad))
    q = torch.tensor(BUTTERWORTH_Q, dtype=frequency.dtype)
    return {"low": _rbj("lowpass", x, frequency, q, 0.0, sample_rate, grad, 2),
            "high": _rbj("highpass", x, frequency, q, 0.0, sample_rate, grad, 2)}


# --- phaser -----------------------------------------------------------------------
def allpass_coefficient(frequency, sample_rate):
    """``c`` of the allpass ``(c + z^-1) / (1 + c z^-1)``, -90° at ``frequency`` (DAFX 2.2)."""
    t = torch.tan((math.pi / sample_rate) * frequency.clamp(max=MAX_FREQUENCY_RATIO * sample_rate))
    return (t - 1) / (t + 1)


@numba.njit(cache=True, fastmath=False, nogil=True)
def _phaser_kernel(x, c, feedback, mix, stages, out):
    # x, out: [T, P]; c: [1|T, P]; feedback, mix: [P]. Float64 state.
    T, P = x.shape
    varying = c.shape[0] > 1
    s = np.zeros((stages, P))
    wet = np.zeros(P)
    u = np.empty(P)
    for t in range(T):
        ct = t if varying else 0
        for lane in range(P):
            u[lane] = x[t, lane] + feedback[lane] * wet[lane]
        for k in range(stages):
            for lane in range(P):
                # Direct Form II transposed first-order allpass.
                y = c[ct, lane] * u[lane] + s[k, lane]
                s[k, lane] = u[lane] - c[ct, lane] * y
                u[lane] = y
        for lane in range(P):
            wet[lane] = u[lane]
            out[t, lane] = (1 - mix[lane]) * x[t, lane] + mix[lane] * u[lane]


def _phaser_step(state, x, c, feedback):
    # One sample of the phaser loop; linear in (state, x). state: [..., N] =
    # (allpass states, previous wet sample). Returns (next state, wet sample).
    u = x + feedback * state[..., -1]
    nxt = []
    for k in range(state.shape[-1] - 1):
        y = c * u + state[..., k]
        nxt.append(u - c * y)
        u = y
    nxt.append(u)
    return torch.stack(nxt, -1), u


def _phaser_state_space(c, feedback):
    # (A, B, C, D) of the phaser loop by linearity: step the basis states and a unit input.
    n = PHASER_STAGES + 1
    basis = torch.cat([torch.eye(n), torch.zeros(1, n)]).to(c)  # [N + 1, N]
    unit = torch.cat([torch.zeros(n), torch.ones(1)]).to(c)  # [N + 1]
    state, out = _phaser_step(basis, unit, c.unsqueeze(-1), feedback.unsqueeze(-1))
    # state: [..., N + 1, N], out: [..., N + 1]; row j is the image of basis vector j.
    return state[..., :n, :].transpose(-1, -2), state[..., n, :], out[..., :n], out[..., n]


def phaser(inputs, params, *, sample_rate, grad=False):
    """Phaser: :data:`PHASER_STAGES` first-order allpasses in a feedback loop (DAFX ch. 2).

    ``wet = AP^6(x + feedback * wet[n-1])``, all allpasses with -90° at
    ``frequency``; ``out = (1 - mix) x + mix wet``. With ``mix = 0.5`` and no
    feedback the notches sit where the chain's phase is an odd multiple of
    -180°: exactly at ``frequency`` and one either side of it. Feedback (one
    sample delayed, loop gain ``feedback < 1``, so always stable) sharpens the
    notches and raises resonant peaks between them. ``frequency`` may be
    ``[B, 2, T]`` (the ``mod`` inlet, already applied).
    """
    x = inputs["in"]
    fast = use_kernel(x, grad)
    frequency, feedback, mix = _prepare(params, ("frequency", "feedback", "mix"), fast)
    c = allpass_coefficient(frequency, sample_rate)
    if fast:
        B, C, T = x.shape
        steps = T if c.shape[-1] > 1 else 1
        out = np.empty((T, B * C), dtype=np.float32)
        _phaser_kernel(to_lanes(x.float(), (B, C, T)), to_lanes(c, (B, C, steps)),
                       to_lanes(feedback.double(), (B, C, 1))[0], to_lanes(mix.double(), (B, C, 1))[0],
                       PHASER_STAGES, out)
        return {"out": from_lanes(out, B, C).to(x.dtype)}
    A, Bm, Cm, D = _phaser_state_space(block_means(c, x.shape[-1]).double(), feedback.double())
    wet = state_space_blocks(x, A, Bm, Cm, D)
    mix = mix.to(x.dtype)
    return {"out": (1 - mix) * x + mix * wet}


PROCESSORS = {
    "lowpass": lowpass, "bandpass": bandpass, "highpass": highpass, "bandreject": bandreject,
    "lowpass4": lowpass4, "bandpass4": bandpass4, "highpass4": highpass4,
    "lowshelf": lowshelf, "highshelf": highshelf, "bell": bell,
    "crossover": crossover, "phaser": phaser,
}
