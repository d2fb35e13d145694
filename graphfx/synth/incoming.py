"""The signal reaching a node, and the statistics that parameter rules draw from.

Long-term power spectra (Hann frames without overlap), spectral quantiles,
frame levels, each drum track's share of the mix's power, and third-octave
bands as in :func:`graphfx.losses.band_difference_db`. :class:`Incoming`
holds one node's input and computes each statistic once, however often the
node's parameters are drawn (see :mod:`graphfx.synth.adaptive` and
:mod:`graphfx.synth.audition`).
"""
from __future__ import annotations

import functools
from typing import Dict, Optional, Tuple

import numpy as np
import torch

Share = Optional[Tuple[np.ndarray, np.ndarray]]  # (frequencies, the node's track's share of the mix's power)

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
    return quantile_frequency(*power_spectrum(x, sample_rate), q, share)


def quantile_frequency(freqs: np.ndarray, power: np.ndarray, q: float, share: Share = None) -> float:
    """:func:`spectral_quantile_frequency` of a power spectrum already computed."""
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
    return shares_of(dry_spectra(tracks, sample_rate))


def shares_of(spectra: Dict[str, Tuple[np.ndarray, np.ndarray]]) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """Each track's share of the summed power, from :func:`dry_spectra`."""
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
            return freqs, power * audible_bands(freqs, power + self.others)[band_index(freqs)]
        if not self.bus_tracks:
            return freqs, power
        heard = [np.interp(freqs, *share) * power for share in self.bus_tracks.values()]
        balanced = [h / h.sum() for h in heard if h.sum() > 0]
        return freqs, sum(balanced) if balanced else power

    @functools.cached_property
    def levels_db(self) -> np.ndarray:
        return frame_levels_db(self.audio)


def band_index(freqs: np.ndarray) -> np.ndarray:
    """Third-octave band of each frequency, from 40 Hz (bins below join band 0), as in the ghost measure."""
    edges = 40.0 * 2.0 ** (np.arange(0, 120) / 3)
    return np.searchsorted(edges[edges < freqs[-1]], freqs)


def audible_bands(freqs: np.ndarray, power: np.ndarray, range_db: float = 40.0) -> np.ndarray:
    """Which bands of :func:`band_index` hold power within ``range_db`` of the loudest band."""
    bands = np.bincount(band_index(freqs), power)
    level = 10 * np.log10(bands + 1e-30)
    return (bands > 0) & (level > level.max() - range_db)
