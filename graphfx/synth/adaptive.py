"""Adaptive parameter randomization (Section 2.1 of Lee et al., 2023).

Parameters are drawn *relative to the signal reaching each node*, so that no
processor is a "ghost" that leaves its input unchanged: a filter's frequency
comes from where the incoming signal's cumulative spectral energy lies between
0.2 and 0.8; a dynamics processor's threshold from the incoming energy
envelope; a distortion's drive from the incoming level; an envelope
follower's gain from the incoming envelope. Everything else is drawn from an
audible sub-range of the catalog range.

Filters, equalizers and dynamics processors are then *auditioned*: a draw
whose predicted effect is below :data:`MIN_AUDIBLE_DB` (filters) or
:data:`MIN_SWING_DB` (dynamics) is drawn again (up to
:data:`MAX_REDRAWS` times, keeping the most audible). A filter's effect is
predicted from its frequency response on the incoming long-term spectrum,
after energy normalization and, on a drum track, diluted by the other
tracks (:func:`filter_change_db`); a dynamics processor's from the movement
of the gain it applies (:func:`dynamics_swing_db`), since the renderer's
energy normalization undoes any constant gain.

:class:`AdaptiveParams` is a hook for :func:`graphfx.render.render`, which
calls it just before each group of nodes runs, with their audio inputs. Each
node draws from its own generator seeded by ``(graph seed, node position)``,
so a graph gets the same parameters whatever else shares its batch.
"""
from __future__ import annotations

import functools
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from graphfx import catalog
from graphfx.dsp import get_processor
from graphfx.dsp.biquad import frequency_response, rbj_coefficients
from graphfx.dsp.filters import RBJ_FILTERS

Share = Optional[Tuple[np.ndarray, np.ndarray]]  # (frequencies, the node's track's share of the mix's power)

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


#: Frame length of the power spectra that parameters are drawn from (10.8 Hz bins at 44.1 kHz).
SPECTRUM_SIZE = 4096


def power_spectrum(x, sample_rate: int, size: int = SPECTRUM_SIZE) -> Tuple[np.ndarray, np.ndarray]:
    """Frequencies and mean power spectrum of ``x`` ``[C, T]`` (numpy or tensor), channels averaged.

    Hann-windowed frames without overlap: a tenth of the cost of a Welch estimate or of one
    clip-long FFT, and resolution enough to place a filter.
    """
    x = torch.as_tensor(x).float()
    mono = x[0] if x.shape[0] == 1 else x.mean(0)
    if mono.numel() < size:
        mono = torch.nn.functional.pad(mono, (0, size - mono.numel()))
    frames = mono[: mono.numel() // size * size].reshape(-1, size) * _hann(size)
    spectrum = torch.fft.rfft(frames)
    power = (spectrum.real ** 2 + spectrum.imag ** 2).mean(0)
    return np.fft.rfftfreq(size, 1.0 / sample_rate), power.double().numpy()


@functools.lru_cache(maxsize=4)
def _hann(size: int) -> torch.Tensor:
    return torch.hann_window(size, periodic=False)


def spectral_quantile_frequency(x, sample_rate: int, q: float, share: Share = None) -> float:
    """Frequency below which a fraction ``q`` of the energy of ``x`` ``[C, T]`` lies.

    With ``share``, each frequency's energy is weighted by the share of the mix that the
    node's track holds there: the energy that is heard rather than covered by other tracks.
    """
    return _quantile(*power_spectrum(x, sample_rate), q, share)


def _quantile(freqs: np.ndarray, power: np.ndarray, q: float, share: Share) -> float:
    if share is not None:
        power = power * np.interp(freqs, *share)
    cumulative = np.cumsum(power[1:])  # skip DC
    if cumulative[-1] <= 0:
        return 1000.0
    return float(np.interp(q * cumulative[-1], cumulative, freqs[1:]))


def dry_spectra(tracks: Dict[str, np.ndarray], sample_rate: int) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """Power spectrum (frequencies, power) of each dry track ``[C, T]`` of a multitrack clip.

    With one track there is nothing to be masked by: no spectra.
    """
    if len(tracks) < 2:
        return {}
    return {name: power_spectrum(x, sample_rate) for name, x in tracks.items()}


def mix_shares(tracks: Dict[str, np.ndarray], sample_rate: int) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """For each dry track ``[C, T]``, its share of the mix's power at each frequency.

    Tracks are taken as uncorrelated, so their power spectra add up. With one
    track there is nothing to be masked by, and no share.
    """
    return _shares(dry_spectra(tracks, sample_rate))


def _shares(spectra: Dict[str, Tuple[np.ndarray, np.ndarray]]) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    total = sum(power for _, power in spectra.values()) + 1e-12
    return {name: (freqs, power / total) for name, (freqs, power) in spectra.items()}


def frame_levels_db(x: np.ndarray, frame: int = 1024) -> np.ndarray:
    """RMS level of each frame of ``x`` ``[C, T]`` in dB full scale."""
    mono = x.mean(axis=0)
    n = max(1, mono.size // frame)
    frames = mono[: n * frame].reshape(n, -1) if mono.size >= frame else mono[None]
    return 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-10)


class Incoming:
    """The signal reaching a node (numpy ``[C, T]``), its sidechain if any, and the statistics
    that rules draw from, each computed once however often a node is drawn."""

    def __init__(self, audio: np.ndarray, sample_rate: int, sidechain: Optional[np.ndarray] = None,
                 bus_tracks: Optional[Dict[str, Share]] = None, modulated: bool = False,
                 others: Optional[Tuple[np.ndarray, float]] = None):
        self.audio, self.sample_rate, self.sidechain, self.bus_tracks = audio, sample_rate, sidechain, bus_tracks
        self.modulated = modulated  # whether a control signal drives one of the node's parameters
        self._others = others       # on a drum track: the other dry tracks' power, and this track's dry energy

    @functools.cached_property
    def others(self) -> Optional[np.ndarray]:
        """The rest of the mix's power spectrum, at this signal's level relative to its dry track."""
        if self._others is None:
            return None
        power, dry_energy = self._others
        return power * (self.spectrum[1].sum() / max(dry_energy, 1e-30))

    @functools.cached_property
    def spectrum(self) -> Tuple[np.ndarray, np.ndarray]:
        return power_spectrum(self.audio, self.sample_rate)

    @functools.cached_property
    def placement_spectrum(self) -> Tuple[np.ndarray, np.ndarray]:
        """The spectrum that frequencies are placed in. On a drum track, the part heard in the mix: bands
        more than 40 dB under the mix's loudest are left out (synthetic hats put most of their energy above
        12 kHz, under the kick). On a mixing bus (``bus_tracks``), the sum of the tracks' heard spectra,
        each scaled to unit energy, so that a bus filter lands among all tracks' content rather than under
        the loudest (a kick-heavy bus has its energy quantiles below 100 Hz)."""
        freqs, power = self.spectrum
        if self.others is not None:  # on a track: only where the mix is within 40 dB of its loudest band
            return freqs, power * _audible_bands(freqs, power + self.others)[_band_index(freqs)]
        if not self.bus_tracks:
            return freqs, power
        heard = [np.interp(freqs, *share) * power for share in self.bus_tracks.values()]
        balanced = [h / h.sum() for h in heard if h.sum() > 0]
        return freqs, sum(balanced) if balanced else power

    @functools.cached_property
    def levels_db(self) -> np.ndarray:
        return frame_levels_db(self.audio)


Rule = Callable[[np.random.Generator, Optional[Incoming], int, Share], Dict[str, float]]


def _log_uniform(rng, lo, hi):
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _frequency(rng, x, sr, share=None):
    if x is None:
        return _log_uniform(rng, 100, 8000)
    f = _quantile(*x.placement_spectrum, rng.uniform(0.2, 0.8), share)
    return float(np.clip(f, 40.0, min(16000.0, 0.45 * sr)))


def _filter(rng, x, sr, share=None):
    return {"frequency": _frequency(rng, x, sr, share), "q": _log_uniform(rng, 0.5, 4.0)}


def _eq(rng, x, sr, share=None):
    # Broad enough and strong enough to be heard on a voice or a drum. Where other tracks cover this
    # one, a cut disappears under them: boost instead.
    frequency, sign, gain = _frequency(rng, x, sr, share), rng.choice([-1, 1]), rng.uniform(6.0, 15.0)
    if share is not None and np.interp(frequency, *share) < 0.5:
        sign = 1
    return {"frequency": frequency, "q": _log_uniform(rng, 0.5, 2.0), "gain": float(sign * gain)}


def _crossover(rng, x, sr, share=None):
    return {"frequency": _frequency(rng, x, sr, share)}


def _phaser(rng, x, sr, share=None):
    # The notches come from dry + wet; at mix 1 a static phaser is a pure allpass.
    return {"frequency": float(np.clip(_frequency(rng, x, sr, share), 100, 8000)), "feedback": rng.uniform(0.2, 0.8),
            "mix": rng.uniform(0.35, 0.65)}


def _mod_delay(lo, hi):
    def rule(rng, x, sr, share=None):
        return {"delay": _log_uniform(rng, lo, hi), "feedback": rng.uniform(0.0, 0.7), "mix": rng.uniform(0.4, 1.0)}
    return rule


def _delay(rng, x, sr, share=None):
    return {"delay": _log_uniform(rng, 60, 700), "feedback": rng.uniform(0.2, 0.75), "mix": rng.uniform(0.3, 0.7),
            "frequency": _log_uniform(rng, 1500, 16000), "q": _log_uniform(rng, 0.5, 2.0),
            "stereo_offset": rng.uniform(0, 30)}


def _reverb(rng, x, sr, share=None):
    return {"size": rng.uniform(0.3, 1.0), "damping": rng.uniform(0.0, 1.0), "width": rng.uniform(0.5, 1.0),
            "mix": rng.uniform(0.3, 0.8)}


def _level_db(x):
    return float(x.levels_db.max()) if x is not None else -20.0


def _distortion(rng, x, sr, share=None):
    # Drive so that the loudest frames go 3-20 dB past full scale (their peaks, 10 dB or more above
    # the frame level on drums, further). Harder drives flattened whole drum mixes: every processor
    # before such a bus distortion was a ghost.
    drive = -_level_db(x) + rng.uniform(3.0, 20.0)
    return {"gain": float(np.clip(drive, 0.0, 40.0)), "hardness": rng.uniform(0, 1), "asymmetry": rng.uniform(0, 1)}


def _bitcrush(rng, x, sr, share=None):
    # Depth from a target signal-to-quantization-noise ratio in the loudest frames: with a step of
    # 2^(1 - bit), SNR = level + 10.8 + 6.02 (bit - 1) dB. A fixed depth is inaudible on quiet input.
    snr = rng.uniform(10.0, 35.0)
    return {"bit": float(1 + (snr - _level_db(x) - 10.8) / 6.02)}


def _dynamics(kind):
    spec = catalog.get(kind)

    def rule(rng, x, sr, share=None):
        levels = x.levels_db if x is not None else np.array([-20.0, -40.0])
        loud = levels[levels > levels.max() - 60]  # ignore digital silence
        if kind == "compressor":
            # Threshold under the loudest frames: a gain reduction that comes and goes
            # is audible, a constant one is undone by energy normalization. (Among the
            # loudest quarter of the frames, 8% of the draws moved the gain of sparse drum
            # tracks by 3 dB; the audible ones sat about 12 dB under the loudest frame.)
            threshold = levels.max() - rng.uniform(6.0, 24.0)
            ratio = _log_uniform(rng, 4.0, 20.0)
        else:  # gate/expander act below the threshold: put it inside the quieter half
            threshold = np.percentile(loud, rng.uniform(40, 75))
            ratio = _log_uniform(rng, 2.0, 20.0) if kind == "expander" else _log_uniform(rng, 8.0, 20.0)
        t = spec.param("threshold")
        return {"threshold": float(np.clip(threshold, t.min, t.max)), "ratio": ratio,
                "attack": _log_uniform(rng, 0.5, 30.0), "release": _log_uniform(rng, 20.0, 500.0),
                "knee": rng.uniform(0.0, 12.0)}
    return rule


def _pitchshift(rng, x, sr, share=None):
    return {"semitone": float(rng.choice([-1, 1]) * rng.uniform(1.0, 12.0))}


def _pan(rng, x, sr, share=None):
    if x is not None and x.modulated:  # auto-pan: swing around the centre, not into a clamped side
        return {"pan": rng.uniform(-0.3, 0.3)}
    # Half-way or further: a track panned less, in a mix, moved its channels by under 1 dB.
    return {"pan": float(rng.choice([-1, 1]) * rng.uniform(0.5, 1.0))}


def _imager(rng, x, sr, share=None):
    return {"width": float(rng.choice([rng.uniform(0.0, 0.6), rng.uniform(1.4, 2.0)]))}


def _lfo(rng, x, sr, share=None):
    return {"frequency": _log_uniform(rng, 0.2, 8.0), "phase": rng.uniform(0, 1), "stereo_offset": rng.uniform(0, 0.5)}


def _envelope(rng, x, sr, share=None):
    # Gain so that the envelope's peak lands near 1, where it moves parameters audibly.
    return {"attack": _log_uniform(rng, 1.0, 30.0), "release": _log_uniform(rng, 30.0, 500.0),
            "gain": float(np.clip(-_level_db(x) - 3.0 + rng.uniform(-3, 3), -24.0, 24.0))}


RULES: Dict[str, Rule] = {
    **{t: _filter for t in ("lowpass", "bandpass", "highpass", "bandreject", "lowpass4", "bandpass4", "highpass4")},
    **{t: _eq for t in ("lowshelf", "highshelf", "bell")},
    "crossover": _crossover, "phaser": _phaser, "chorus": _mod_delay(5, 40), "flanger": _mod_delay(0.5, 10),
    "vibrato": _mod_delay(1, 10), "delay": _delay, "pingpong_delay": _delay, "reverb": _reverb,
    "stereo_reverb": _reverb, "distortion": _distortion, "bitcrush": _bitcrush,
    "compressor": _dynamics("compressor"), "noisegate": _dynamics("noisegate"), "expander": _dynamics("expander"),
    "pitchshift": _pitchshift, "pan": _pan, "imager": _imager, "lfo": _lfo, "stereo_lfo": _lfo,
    "envelope": _envelope,
}


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


def _band_index(freqs: np.ndarray) -> np.ndarray:
    """Third-octave band of each frequency, from 40 Hz (bins below join band 0), as in the ghost measure."""
    edges = 40.0 * 2.0 ** (np.arange(0, 120) / 3)
    return np.searchsorted(edges[edges < freqs[-1]], freqs)


def _audible_bands(freqs: np.ndarray, power: np.ndarray, range_db: float = 40.0) -> np.ndarray:
    """Which bands of :func:`_band_index` hold power within ``range_db`` of the loudest band."""
    bands = np.bincount(_band_index(freqs), power)
    level = 10 * np.log10(bands + 1e-30)
    return (bands > 0) & (level > level.max() - range_db)


def _largest_band_change_db(freqs: np.ndarray, before: np.ndarray, after: np.ndarray) -> float:
    band = _band_index(freqs)
    b, a = np.bincount(band, before), np.bincount(band, after)
    audible = _audible_bands(freqs, before)
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

    def clip(audio):  # equal channels run once: the detector is channel-linked
        audio = audio[:1] if audio.shape[0] > 1 and np.array_equal(audio[0], audio[1]) else audio
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


def _in_range(spec: catalog.ProcessorSpec, values: Dict[str, float]) -> Dict[str, float]:
    return {p.name: float(np.clip(values[p.name], p.min, p.max)) for p in spec.params}


class AdaptiveParams:
    """Render hook that draws every node's parameters from the signal reaching it.

    Args:
        seeds: one seed per graph of the batch.
        ptr: the batch's node offsets (``batch["proc"].ptr``), to find each node's graph.
        sample_rate: the rendering rate.
        tracks: each node's track (``batch["proc"].track``, indices into :data:`catalog.TRACKS`).
        spectra: for each graph, :func:`dry_spectra` of its dry tracks: a node on a drum track takes
            its frequencies where that track is heard in the mix, and its audition counts the other
            tracks; a node on the bus places filters among all tracks.
        modulated: batch indices of the nodes with a connected control inlet (an auto-pan is
            centred so that its swing is heard).
    """

    def __init__(self, seeds: Sequence[int], ptr: torch.Tensor, sample_rate: int,
                 tracks: Optional[torch.Tensor] = None,
                 spectra: Optional[List[Dict[str, Tuple[np.ndarray, np.ndarray]]]] = None,
                 modulated: Sequence[int] = ()):
        self.seeds, self.sample_rate = list(seeds), sample_rate
        self.ptr = ptr.tolist()
        self.tracks = tracks.tolist() if tracks is not None else None
        self.spectra = spectra
        self.shares = [_shares(s) for s in spectra] if spectra is not None else None
        self.modulated = set(modulated)

    def _locate(self, node: int):
        graph = next(g for g in range(len(self.ptr) - 1) if self.ptr[g] <= node < self.ptr[g + 1])
        return graph, node - self.ptr[graph]

    def _track(self, node: int) -> Optional[str]:
        if self.shares is None or self.tracks is None or self.tracks[node] < 0:
            return None
        return catalog.TRACKS[self.tracks[node]]

    def _others(self, graph: int, track: Optional[str]) -> Optional[Tuple[np.ndarray, float]]:
        """The other dry tracks' power spectrum and this track's dry energy."""
        if track not in self.spectra[graph]:
            return None
        own = self.spectra[graph][track][1]
        return sum(p for _, p in self.spectra[graph].values()) - own, float(own.sum())

    def __call__(self, node_type: str, nodes: List[int], audio: Dict[str, torch.Tensor],
                 params: torch.Tensor) -> torch.Tensor:
        rule = RULES.get(node_type)
        if rule is None:  # mix, ms_split, ms_merge have nothing to choose
            return params
        spec = catalog.get(node_type)
        source, sidechain = audio.get("in"), audio.get("sidechain")
        chosen = params.clone()
        for i, node in enumerate(nodes):
            graph, position = self._locate(node)
            rng = np.random.default_rng([self.seeds[graph], position])
            track = self._track(node)
            share = self.shares[graph].get(track) if track else None
            bus_tracks = self.shares[graph] if track == "bus" else None
            x = None
            if source is not None:
                x = Incoming(source[i].detach().cpu().numpy(), self.sample_rate,
                             sidechain[i].detach().cpu().numpy() if sidechain is not None else None, bus_tracks,
                             node in self.modulated, self._others(graph, track) if track else None)
            values = _in_range(spec, rule(rng, x, self.sample_rate, share))
            if node_type in AUDITIONS and x is not None:
                audition, least = AUDITIONS[node_type]
                values = self._most_audible(values, lambda: _in_range(spec, rule(rng, x, self.sample_rate, share)),
                                            lambda v: audition(node_type, v, x), least)
            chosen[i, :len(spec.params)] = torch.tensor([p.normalize(values[p.name]) for p in spec.params])
        return chosen

    @staticmethod
    def _most_audible(values, draw, audibility, least):
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
