"""Adaptive parameter randomization (Section 2.1 of Lee et al., 2023).

Parameters are drawn *relative to the signal reaching each node*, so that no
processor is a "ghost" that leaves its input unchanged: a filter's frequency
comes from where the incoming signal's cumulative spectral energy lies between
0.2 and 0.8; a dynamics processor's threshold from the incoming energy
envelope; a distortion's drive from the incoming level; an envelope
follower's gain from the incoming envelope. Everything else is drawn from an
audible sub-range of the catalog range.

Filters, equalizers and dynamics processors are then *auditioned*
(:mod:`graphfx.synth.audition`): a draw predicted inaudible is drawn again.
The statistics rules draw from are computed once per node
(:class:`graphfx.synth.incoming.Incoming`).

:class:`AdaptiveParams` is a hook for :func:`graphfx.renderer.render`, which
calls it just before each group of nodes runs, with their audio inputs. Each
node draws from its own generator seeded by ``(graph seed, node position)``,
so a graph gets the same parameters whatever else shares its batch.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from graphfx import catalog
from graphfx.synth.audition import AUDITIONS, most_audible
from graphfx.synth.incoming import Incoming, Share, quantile_frequency, shares_of

Rule = Callable[[np.random.Generator, Optional[Incoming], int, Share], Dict[str, float]]


def _log_uniform(rng, lo, hi):
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _frequency(rng, x, sr, share=None):
    if x is None:
        return _log_uniform(rng, 100, 8000)
    f = quantile_frequency(*x.placement_spectrum, rng.uniform(0.2, 0.8), share)
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


def _in_range(spec: catalog.ProcessorSpec, values: Dict[str, float]) -> Dict[str, float]:
    return {p.name: float(np.clip(values[p.name], p.min, p.max)) for p in spec.params}


class AdaptiveParams:
    """Render hook that draws every node's parameters from the signal reaching it.

    Args:
        seeds: one seed per graph of the batch.
        ptr: the batch's node offsets (``batch["proc"].ptr``), to find each node's graph.
        sample_rate: the rendering rate.
        tracks: each node's track (``batch["proc"].track``, indices into :data:`catalog.TRACKS`).
        spectra: for each graph, :func:`~graphfx.synth.incoming.dry_spectra` of its dry tracks: a node on a drum track takes
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
        self.shares = [shares_of(s) for s in spectra] if spectra is not None else None
        self.totals = [sum(p for _, p in s.values()) for s in spectra] if spectra is not None else None
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
        return self.totals[graph] - own, float(own.sum())

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
                values = most_audible(values, lambda: _in_range(spec, rule(rng, x, self.sample_rate, share)),
                                      lambda v: audition(node_type, v, x), least)
            chosen[i, :len(spec.params)] = torch.tensor([p.normalize(values[p.name]) for p in spec.params])
        return chosen
