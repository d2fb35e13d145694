"""Auditions: how audible a draw of parameters will be, predicted before rendering.

:class:`~graphfx.synth.adaptive.AdaptiveParams` draws a filter's, an
equalizer's or a dynamics processor's parameters again (up to
:data:`MAX_REDRAWS` times, keeping the most audible) while the prediction
stays below :data:`MIN_AUDIBLE_DB` (filters) or :data:`MIN_SWING_DB`
(dynamics). A filter's effect is predicted from its frequency response on
the incoming long-term spectrum, after the renderer's energy normalization
and, on a drum track, among the other tracks (:func:`filter_change_db`); a
dynamics processor's from the movement of the gain it applies
(:func:`dynamics_swing_db`), since energy normalization undoes any
constant gain. Measured effect on the ghost rate: ``benchmarks/README.md``.
"""
from __future__ import annotations

from typing import Callable, Dict, Tuple

import numpy as np
import torch

from graphfx.dsp import get_processor
from graphfx.dsp.biquad import frequency_response, rbj_coefficients
from graphfx.dsp.filters import RBJ_FILTERS
from graphfx.synth.incoming import Incoming, audible_bands, band_index, frame_levels_db

#: Least predicted change, in dB, that makes a filter or equalizer draw acceptable (a prediction
#: from long-term spectra, which measured changes at the output fall short of: 4 dB kept fewer
#: ghosts than 2 dB in ``benchmarks/ghost_rate.py``).
MIN_AUDIBLE_DB = 4.0
#: Least gain movement, in dB, that makes a dynamics draw acceptable (:func:`dynamics_swing_db`).
MIN_SWING_DB = 3.0
#: Further draws for a node whose first one is predicted inaudible.
MAX_REDRAWS = 8
#: Least part of each drum track's heard energy, relative to the mix, that a bus filter keeps
#: (see :func:`filter_change_db`).
LEAST_KEPT = 0.1
#: Dynamics draws are auditioned on every this many samples (see :func:`dynamics_swing_db`).
AUDITION_DECIMATION = 4
#: Frame level (dBFS) below which an incoming signal counts as silence.
SILENCE_DB = -90.0


def filter_change_db(node_type: str, values: Dict[str, float], x: Incoming) -> float:
    """Largest level change, in dB, that an RBJ filter or equalizer makes in any audible third-octave band.

    Predicted from the incoming long-term spectrum ``P`` and the filter's power response ``|H|^2``:
    the renderer rescales the output to the input's energy, so the track's spectrum becomes
    ``g P`` with ``g = |H|^2 sum(P) / sum(|H|^2 P)``; on a drum track the mix ``P + O`` becomes
    ``g P + O``, ``O`` the other tracks (:attr:`Incoming.others`). Bands more than 40 dB below the
    loudest are ignored, as in :func:`graphfx.losses.band_difference_db`.

    On the mixing bus (:attr:`Incoming.bus_tracks`: each drum track's share of the mix), a filter that keeps less
    than :data:`LEAST_KEPT` of some track's energy relative to the mix scores below
    :data:`MIN_AUDIBLE_DB`: it would make the processors of that track's subgraph ghosts (a drum bus
    lowpassed at 50 Hz keeps only the kick; one bandpassed at 1 kHz loses the kick's body).
    """
    kind, repeat = RBJ_FILTERS[node_type]
    freqs, power = x.spectrum
    coeffs = rbj_coefficients(kind, torch.tensor(values["frequency"], dtype=torch.float64),
                              torch.tensor(values["q"], dtype=torch.float64), values.get("gain", 0.0), x.sample_rate)
    response = frequency_response(coeffs, 2 * (len(freqs) - 1)).abs().square().numpy() ** repeat
    gain = response * power.sum() / max(float((response * power).sum()), 1e-30)
    kept = [float((gain * heard).sum() / heard.sum()) for heard in
            (np.interp(freqs, *share) * power for share in (x.bus_tracks or {}).values()) if heard.sum() > 0]
    if kept and min(kept) < LEAST_KEPT:  # scored below any audible draw, the lower the more it buries
        return MIN_AUDIBLE_DB * min(kept) / LEAST_KEPT
    others = 0.0 if x.others is None else x.others
    return _largest_band_change_db(freqs, power + others, gain * power + others)


def _largest_band_change_db(freqs: np.ndarray, before: np.ndarray, after: np.ndarray) -> float:
    band = band_index(freqs)
    b, a = np.bincount(band, before), np.bincount(band, after)
    audible = audible_bands(freqs, before)
    if not audible.any():  # silence: nothing to hear, nothing to gain by drawing again
        return float("inf")
    return float(np.abs(10 * np.log10((a[audible] + 1e-30) / b[audible])).max())


def dynamics_swing_db(node_type: str, values: Dict[str, float], x: Incoming) -> float:
    """How much the gain of a compressor, expander or gate moves over the clip, in dB.

    Runs the processor on the incoming signal (and its sidechain), both taken at a quarter of the
    rate (:data:`AUDITION_DECIMATION`; envelopes survive, a quarter of the cost), and returns the
    loudness-weighted mean absolute deviation of the per-frame level change from its weighted mean:
    the renderer's energy normalization undoes a constant gain, so only its movement is heard.
    """
    if x.levels_db.max() < SILENCE_DB:
        return float("inf")  # as for filters: no draw can be heard
    step = AUDITION_DECIMATION

    def clip(audio):  # (the renderer already hands over one channel of equal-channel clips)
        return torch.from_numpy(np.ascontiguousarray(audio[:, ::step]))[None]

    inputs = {"in": clip(x.audio)}
    if x.sidechain is not None:
        inputs["sidechain"] = clip(x.sidechain)
    params = {k: torch.tensor([v], dtype=torch.float32) for k, v in values.items()}
    y = get_processor(node_type)(inputs, params, sample_rate=x.sample_rate // step)["out"][0].numpy()
    before = frame_levels_db(inputs["in"][0].numpy(), 1024 // step)
    audible = before > before.max() - 40.0
    change = (frame_levels_db(y, 1024 // step) - before)[audible]
    weight = 10.0 ** (before[audible] / 30.0)  # cube root of power, as in the ghost measure
    centre = np.average(change, weights=weight)
    return float(np.average(np.abs(change - centre), weights=weight))


#: For the processors whose draws are auditioned: the predicted audibility (dB) of a draw, and the least accepted.
AUDITIONS: Dict[str, Tuple[Callable[..., float], float]] = {
    **{t: (filter_change_db, MIN_AUDIBLE_DB) for t in RBJ_FILTERS},
    **{t: (dynamics_swing_db, MIN_SWING_DB) for t in ("compressor", "expander", "noisegate")},
}


def most_audible(values: Dict[str, float], draw: Callable[[], Dict[str, float]],
                 audibility: Callable[[Dict[str, float]], float], least: float) -> Dict[str, float]:
    """The first draw predicted audible (``least`` dB or more), or the most audible of ``1 + MAX_REDRAWS``."""
    best, best_db = values, audibility(values)
    for _ in range(MAX_REDRAWS):
        if best_db >= least:
            break
        values = draw()
        db = audibility(values)
        if db > best_db:
            best, best_db = values, db
    return best
