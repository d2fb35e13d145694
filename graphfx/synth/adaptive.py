"""Adaptive parameter randomization (Section 2.1 of Lee et al., 2023).

Parameters are drawn *relative to the signal reaching each node*, so that no
processor is a "ghost" that leaves its input unchanged: a filter's frequency
comes from where the incoming signal's cumulative spectral energy lies between
0.2 and 0.8; a dynamics processor's threshold from the incoming energy
envelope; a distortion's drive from the incoming level; an envelope
follower's gain from the incoming envelope. Everything else is drawn from an
audible sub-range of the catalog range.

:class:`AdaptiveParams` is a hook for :func:`graphfx.render.render`, which
calls it just before each group of nodes runs, with their audio inputs. Each
node draws from its own generator seeded by ``(graph seed, node position)``,
so a graph gets the same parameters whatever else shares its batch.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from graphfx import catalog

Share = Optional[Tuple[np.ndarray, np.ndarray]]  # (frequencies, the node's track's share of the mix's power)
Rule = Callable[[np.random.Generator, Optional[np.ndarray], int, Share], Dict[str, float]]


#: Frame length of the power spectra that parameters are drawn from (10.8 Hz bins at 44.1 kHz).
SPECTRUM_SIZE = 4096


def power_spectrum(x, sample_rate: int, size: int = SPECTRUM_SIZE) -> Tuple[np.ndarray, np.ndarray]:
    """Frequencies and mean power spectrum of ``x`` ``[C, T]`` (numpy or tensor), channels averaged.

    Hann-windowed frames without overlap: a tenth of the cost of a Welch estimate or of one
    clip-long FFT, and resolution enough to place a filter.
    """
    mono = torch.as_tensor(x).float().mean(0)
    if mono.numel() < size:
        mono = torch.nn.functional.pad(mono, (0, size - mono.numel()))
    frames = mono[: mono.numel() // size * size].reshape(-1, size) * torch.hann_window(size, periodic=False)
    spectrum = torch.fft.rfft(frames)
    power = (spectrum.real ** 2 + spectrum.imag ** 2).mean(0)
    return np.fft.rfftfreq(size, 1.0 / sample_rate), power.double().numpy()


def spectral_quantile_frequency(x, sample_rate: int, q: float, share: Share = None) -> float:
    """Frequency below which a fraction ``q`` of the energy of ``x`` ``[C, T]`` lies.

    With ``share``, each frequency's energy is weighted by the share of the mix that the
    node's track holds there: the energy that is heard rather than covered by other tracks.
    """
    freqs, power = power_spectrum(x, sample_rate)
    if share is not None:
        power = power * np.interp(freqs, *share)
    cumulative = np.cumsum(power[1:])  # skip DC
    if cumulative[-1] <= 0:
        return 1000.0
    return float(np.interp(q * cumulative[-1], cumulative, freqs[1:]))


def mix_shares(tracks: Dict[str, np.ndarray], sample_rate: int) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """For each dry track ``[C, T]``, its share of the mix's power at each frequency.

    Tracks are taken as uncorrelated, so their power spectra add up. With one
    track there is nothing to be masked by, and no share.
    """
    if len(tracks) < 2:
        return {}
    spectra = {}
    for name, x in tracks.items():
        freqs, spectra[name] = power_spectrum(x, sample_rate)
    total = sum(spectra.values()) + 1e-12
    return {name: (freqs, power / total) for name, power in spectra.items()}


def frame_levels_db(x: np.ndarray, frame: int = 1024) -> np.ndarray:
    """RMS level of each frame of ``x`` ``[C, T]`` in dB full scale."""
    mono = x.mean(axis=0)
    n = max(1, mono.size // frame)
    frames = mono[: n * frame].reshape(n, -1) if mono.size >= frame else mono[None]
    return 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-10)


def _log_uniform(rng, lo, hi):
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _frequency(rng, x, sr, share=None):
    if x is None:
        return _log_uniform(rng, 100, 8000)
    f = spectral_quantile_frequency(x, sr, rng.uniform(0.2, 0.8), share)
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
    return float(frame_levels_db(x).max()) if x is not None else -20.0


def _distortion(rng, x, sr, share=None):
    # Drive so that the loudest frames go 6-30 dB past full scale.
    drive = -_level_db(x) + rng.uniform(6.0, 30.0)
    return {"gain": float(np.clip(drive, 0.0, 40.0)), "hardness": rng.uniform(0, 1), "asymmetry": rng.uniform(0, 1)}


def _bitcrush(rng, x, sr, share=None):
    return {"bit": rng.uniform(3.0, 9.0)}


def _dynamics(kind):
    spec = catalog.get(kind)

    def rule(rng, x, sr, share=None):
        levels = frame_levels_db(x) if x is not None else np.array([-20.0, -40.0])
        loud = levels[levels > levels.max() - 60]  # ignore digital silence
        if kind == "compressor":
            # Threshold among the loudest frames: a gain reduction that comes and
            # goes is audible, a constant one is undone by energy normalization.
            threshold = np.percentile(loud, rng.uniform(75, 99)) - rng.uniform(0, 6)
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
    return {"pan": float(rng.choice([-1, 1]) * rng.uniform(0.3, 1.0))}


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


class AdaptiveParams:
    """Render hook that draws every node's parameters from the signal reaching it.

    Args:
        seeds: one seed per graph of the batch.
        ptr: the batch's node offsets (``batch["proc"].ptr``), to find each node's graph.
        sample_rate: the rendering rate.
        tracks: each node's track (``batch["proc"].track``, indices into :data:`catalog.TRACKS`).
        shares: for each graph, :func:`mix_shares` of its dry tracks: nodes on a drum track then
            take their frequencies where that track is heard in the mix.
    """

    def __init__(self, seeds: Sequence[int], ptr: torch.Tensor, sample_rate: int,
                 tracks: Optional[torch.Tensor] = None, shares: Optional[List[Dict[str, Share]]] = None):
        self.seeds, self.sample_rate = list(seeds), sample_rate
        self.ptr = ptr.tolist()
        self.tracks = tracks.tolist() if tracks is not None else None
        self.shares = shares

    def _locate(self, node: int):
        graph = next(g for g in range(len(self.ptr) - 1) if self.ptr[g] <= node < self.ptr[g + 1])
        return graph, node - self.ptr[graph]

    def _share(self, graph: int, node: int) -> Share:
        if self.shares is None or self.tracks is None or self.tracks[node] < 0:
            return None
        return self.shares[graph].get(catalog.TRACKS[self.tracks[node]])  # the bus has none

    def __call__(self, node_type: str, nodes: List[int], audio: Dict[str, torch.Tensor],
                 params: torch.Tensor) -> torch.Tensor:
        rule = RULES.get(node_type)
        if rule is None:  # mix, ms_split, ms_merge have nothing to choose
            return params
        spec = catalog.get(node_type)
        source = audio.get("in")
        chosen = params.clone()
        for i, node in enumerate(nodes):
            graph, position = self._locate(node)
            rng = np.random.default_rng([self.seeds[graph], position])
            x = source[i].detach().cpu().numpy() if source is not None else None
            values = rule(rng, x, self.sample_rate, self._share(graph, node))
            for j, p in enumerate(spec.params):
                chosen[i, j] = p.normalize(float(np.clip(values[p.name], p.min, p.max)))
        return chosen
