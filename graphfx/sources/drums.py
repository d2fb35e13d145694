"""The built-in drum source: procedural kits playing generated grooves.

It stands in for the drums of Section 4.1 of "Blind Estimation of Audio
Processing Graph" (Lee et al., ICASSP 2023) <https://arxiv.org/abs/2303.08257>,
rendered from 14 commercial sample libraries with Groove MIDI files, which
cannot be shipped. It needs nothing but numpy and scipy, is deterministic given
``(split, seed)`` and renders a 3.63 s clip at 44.1 kHz in a few milliseconds
once the kit's one-shots are cached.

:class:`SyntheticDrums` plays grooves on synthetic kits, one mono stem per track:

* kick: sine with an exponential pitch sweep, click, soft saturation;
* snare: two drum-head modes plus band-passed wire noise and a stick click;
* hat: six square oscillators at inharmonic ratios (after the TR-808 hat)
  plus noise, high-passed; closed and open, open hats choked by the next hat;
* tom: three pitched heads (high, mid, floor) with pitch drop and a second mode;
* ride and crash: inharmonic partial clusters made by shaping noise in the
  frequency domain (narrow peaks ring like partials), with band-dependent
  decays, a stick "ping" on the ride and a swell on the crash.

A *kit* (:class:`Kit`) is a parameter set drawn from its index: 14 kits,
``kit00`` ... ``kit13``; the last 3 are ``"unseen"``. Each instrument is rendered
once per kit as one-shots (a soft and a hard velocity layer, two round-robin
variants for the short drums) and cached; hits blend the layers by velocity.
Grooves (:mod:`graphfx.sources.grooves`) come from 10 styles (rock, funk,
disco, hip-hop, half-time, shuffle, jazz, latin, metal, ballad) on a 16th grid
at 70-160 BPM with per-bar variation, ghost notes, swing, timing jitter, tom
fills at phrase ends and crashes at phrase starts; in some clips tracks are
left out (as in a real arrangement), so the set of non-silent tracks varies
from clip to clip.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from scipy import signal

from graphfx.sources.base import Clip, DrySource, hold_out_last
from graphfx.sources.grooves import STYLES, Hit, play

#: Relative frequencies of the six square oscillators of the TR-808 hi-hat/cymbal.
_METAL_RATIOS = (1.0, 1.4826, 1.8004, 2.5459, 2.6297, 3.8971)


@dataclass(frozen=True)
class Kit:
    """Timbre parameters of one synthetic drum kit (times in s, frequencies in Hz)."""

    name: str
    seed: int
    # kick
    kick_f_start: float
    kick_f_end: float
    kick_sweep: float
    kick_decay: float
    kick_click: float
    kick_drive: float
    # snare
    snare_f: float
    snare_tone_decay: float
    snare_noise_decay: float
    snare_noise_low: float
    snare_noise_high: float
    snare_snappy: float
    # hat
    hat_f: float
    hat_cutoff: float
    hat_closed_decay: float
    hat_open_decay: float
    hat_noise: float
    # toms (high tom pitch; mid and floor below it)
    tom_f: float
    tom_spread: float
    tom_decay: float
    tom_bend: float
    # ride and crash
    ride_f: float
    ride_decay: float
    ride_ping: float
    crash_f: float
    crash_decay: float
    crash_brightness: float


def make_kit(index: int) -> Kit:
    """The kit of a given index; all its sounds follow from these numbers."""
    rng = np.random.default_rng([0xD2, index])
    u = rng.uniform
    return Kit(name=f"kit{index:02d}", seed=index,
               kick_f_start=u(110, 260), kick_f_end=u(40, 65), kick_sweep=u(0.015, 0.06),
               kick_decay=u(0.06, 0.22), kick_click=u(0.1, 0.8), kick_drive=u(0.3, 2.0),
               snare_f=u(160, 260), snare_tone_decay=u(0.03, 0.1), snare_noise_decay=u(0.05, 0.16),
               snare_noise_low=u(800, 2500), snare_noise_high=u(5000, 12000), snare_snappy=u(0.5, 1.5),
               hat_f=u(250, 480), hat_cutoff=u(6000, 10000), hat_closed_decay=u(0.012, 0.04),
               hat_open_decay=u(0.25, 0.6), hat_noise=u(0.2, 1.0),
               tom_f=u(140, 240), tom_spread=u(0.65, 0.8), tom_decay=u(0.12, 0.35), tom_bend=u(0.05, 0.3),
               ride_f=u(250, 500), ride_decay=u(0.8, 2.0), ride_ping=u(0.3, 1.0),
               crash_f=u(300, 600), crash_decay=u(0.6, 1.5), crash_brightness=u(0.5, 1.5))


def _exp_env(n: int, tau: float, sr: int) -> np.ndarray:
    return np.exp(-np.arange(n) / (tau * sr))


def _fade_out(x: np.ndarray, sr: int, ms: float = 10.0) -> np.ndarray:
    m = min(len(x), int(ms * 1e-3 * sr))
    x[len(x) - m:] *= np.linspace(1.0, 0.0, m)
    return x


def _sos(kind: str, freq, sr: int, order: int = 2) -> np.ndarray:
    if np.ndim(freq):
        freq = [min(f, 0.45 * sr) for f in freq]
    else:
        freq = min(freq, 0.45 * sr)
    return signal.butter(order, freq, btype=kind, fs=sr, output="sos")


def _kick(k: Kit, vel: float, rng: np.random.Generator, sr: int) -> np.ndarray:
    n = int(k.kick_decay * 5 * sr)
    t = np.arange(n) / sr
    f_start = k.kick_f_end + (k.kick_f_start - k.kick_f_end) * (0.6 + 0.4 * vel)
    freq = k.kick_f_end + (f_start - k.kick_f_end) * np.exp(-t / k.kick_sweep)
    body = np.sin(2 * np.pi * np.cumsum(freq) / sr) * _exp_env(n, k.kick_decay, sr)
    click = signal.sosfilt(_sos("highpass", 1500.0, sr), rng.standard_normal(n)) * _exp_env(n, 0.003, sr)
    x = body + k.kick_click * (0.4 + 0.6 * vel) * click
    drive = k.kick_drive * (0.5 + 0.5 * vel)
    return np.tanh(drive * x) / np.tanh(drive)


def _snare(k: Kit, vel: float, rng: np.random.Generator, sr: int) -> np.ndarray:
    n = int(max(k.snare_noise_decay, k.snare_tone_decay) * 5 * sr)
    t = np.arange(n) / sr
    bend = 1 + 0.1 * vel * np.exp(-t / 0.02)
    tone = (np.sin(2 * np.pi * k.snare_f * np.cumsum(bend) / sr)
            + 0.5 * np.sin(2 * np.pi * 1.47 * k.snare_f * t + rng.uniform(0, 6.3)))
    tone *= _exp_env(n, k.snare_tone_decay, sr)
    wires = signal.sosfilt(_sos("bandpass", [k.snare_noise_low, k.snare_noise_high], sr), rng.standard_normal(n))
    wires *= _exp_env(n, k.snare_noise_decay * (0.7 + 0.3 * vel), sr)
    stick = signal.sosfilt(_sos("highpass", 3000.0, sr), rng.standard_normal(n)) * _exp_env(n, 0.002, sr)
    return 0.6 * tone + k.snare_snappy * (0.5 + 0.5 * vel) * 2.0 * wires + 0.5 * vel * stick


def _metal(f0: float, n: int, rng: np.random.Generator, sr: int) -> np.ndarray:
    t = np.arange(n) / sr
    return sum(np.sign(np.sin(2 * np.pi * f0 * r * t + rng.uniform(0, 2 * np.pi))) for r in _METAL_RATIOS)


def _hat(k: Kit, vel: float, rng: np.random.Generator, sr: int, open_: bool) -> np.ndarray:
    tau = k.hat_open_decay if open_ else k.hat_closed_decay
    n = int(tau * 5 * sr)
    x = _metal(k.hat_f, n, rng, sr) / 6 + k.hat_noise * rng.standard_normal(n)
    cutoff = k.hat_cutoff * (0.8 + 0.2 * vel)
    x = signal.sosfilt(_sos("highpass", cutoff, sr, order=4), x)
    env = _exp_env(n, tau, sr) * (1 - _exp_env(n, 0.0005, sr))
    return x * env


def _tom(k: Kit, vel: float, rng: np.random.Generator, sr: int, which: int) -> np.ndarray:
    f = k.tom_f * k.tom_spread**which
    tau = k.tom_decay * (1 + 0.35 * which)
    n = int(tau * 5 * sr)
    t = np.arange(n) / sr
    freq = f * (1 + k.tom_bend * (0.5 + 0.5 * vel) * np.exp(-t / 0.08))
    phase = 2 * np.pi * np.cumsum(freq) / sr
    x = np.sin(phase) * _exp_env(n, tau, sr) + 0.3 * np.sin(1.5 * phase) * _exp_env(n, 0.4 * tau, sr)
    stick = signal.sosfilt(_sos("highpass", 2000.0, sr), rng.standard_normal(n)) * _exp_env(n, 0.003, sr)
    return x + 0.4 * vel * stick


def _shaped_noise(n: int, sr: int, peaks: np.ndarray, widths: np.ndarray, gains: np.ndarray,
                  floor_band: Tuple[float, float], floor_gain: float, rng: np.random.Generator) -> np.ndarray:
    """Noise with a spectrum of narrow peaks (ringing partials) over a band-limited floor."""
    freqs = np.fft.rfftfreq(n, 1 / sr)
    df = freqs[1]
    lo, hi = floor_band
    mag = floor_gain * np.clip((freqs - 0.8 * lo) / (0.4 * lo), 0, 1) * np.clip((1.2 * hi - freqs) / (0.4 * hi), 0, 1)
    for f, w, g in zip(peaks, widths, gains):
        if f >= 0.45 * sr:
            continue
        c, half = int(f / df), max(1, int(3 * w / df))
        a, b = max(c - half, 1), min(c + half + 1, len(freqs))
        mag[a:b] += g * np.exp(-0.5 * ((freqs[a:b] - f) / w) ** 2)
    spec = mag * (rng.standard_normal(len(freqs)) + 1j * rng.standard_normal(len(freqs)))
    x = np.fft.irfft(spec, n)
    return x / (np.sqrt(np.mean(x**2)) + 1e-12)


def _cymbal(k: Kit, vel: float, rng: np.random.Generator, sr: int, crash: bool) -> np.ndarray:
    # The partials are the cymbal's own (kit seed); the noise is per variant.
    part_rng = np.random.default_rng([0xC1, k.seed, int(crash)])
    base = k.crash_f if crash else k.ride_f
    decay = k.crash_decay if crash else k.ride_decay
    n = int(min(decay * 4.0, 3.0) * sr)
    partials = base * np.exp(part_rng.uniform(0, np.log(40), 70))
    widths = part_rng.uniform(2.0, 25.0 if crash else 10.0, 70)
    gains = part_rng.uniform(0.2, 1.0, 70) / np.sqrt(partials / base)
    low = partials < 2500
    bright = k.crash_brightness if crash else 0.5
    body = _shaped_noise(n, sr, partials[low], widths[low], gains[low], (300, 2500), 0.05, rng)
    shimmer = _shaped_noise(n, sr, partials[~low], widths[~low], gains[~low], (2500, 16000), 0.3 * bright, rng)
    x = 0.6 * body * _exp_env(n, decay, sr) + shimmer * _exp_env(n, decay * 0.6, sr) * (0.5 + 0.5 * vel)
    if crash:  # broad wash with a short swell
        wash = signal.sosfilt(_sos("bandpass", [3000.0, 14000.0], sr), rng.standard_normal(n))
        x += 0.8 * bright * vel * wash * _exp_env(n, decay * 0.35, sr)
        x *= 1 - _exp_env(n, 0.004, sr)
    else:  # the stroke: a stick ping and bell partials over a quieter wash
        ping = signal.sosfilt(_sos("bandpass", [2000.0, 9000.0], sr), rng.standard_normal(n))
        ping *= _exp_env(n, 0.015, sr) / (np.sqrt(np.mean(ping[:int(0.05 * sr)] ** 2)) + 1e-12)
        t = np.arange(n) / sr
        bell = sum(np.sin(2 * np.pi * base * r * t + part_rng.uniform(0, 2 * np.pi)) / (1 + j)
                   for j, r in enumerate((2.03, 3.17, 4.41, 5.93)))
        x = 0.35 * x + k.ride_ping * (1.5 + 1.5 * vel) * ping + 0.6 * k.ride_ping * bell * _exp_env(n, 0.35, sr)
    # Fade to silence over the last quarter so tails end clean.
    m = n // 4
    x[n - m:] *= np.linspace(1.0, 0.0, m) ** 2
    return x


#: One-shot of each groove variant (the synthetic kits have no hat pedal and one crash).
_SHOTS = {"kick": ("kick",), "snare": ("snare",), "hat": ("hat_closed", "hat_open", "hat_closed"),
          "tom": ("tom0", "tom1", "tom2"), "ride": ("ride",), "crash": ("crash", "crash")}
#: Peak level of each one-shot's hard layer.
_LEVEL = {"kick": 0.8, "snare": 0.7, "hat_closed": 0.35, "hat_open": 0.4, "tom0": 0.65, "tom1": 0.65,
          "tom2": 0.7, "ride": 0.3, "crash": 0.45}
_ROUND_ROBIN = {"kick": 2, "snare": 2, "hat_closed": 2}  # others: 1
_LAYER_VEL = (0.4, 1.0)  # velocities of the soft and the hard layer


def render_kit(kit: Kit, sample_rate: int) -> Dict[str, List[Tuple[np.ndarray, np.ndarray]]]:
    """All one-shots of a kit: ``{shot: [(soft, hard) per round-robin variant]}``, float32."""
    synth = {"kick": _kick, "snare": _snare,
             "hat_closed": lambda k, v, r, sr: _hat(k, v, r, sr, False),
             "hat_open": lambda k, v, r, sr: _hat(k, v, r, sr, True),
             "tom0": lambda k, v, r, sr: _tom(k, v, r, sr, 0),
             "tom1": lambda k, v, r, sr: _tom(k, v, r, sr, 1),
             "tom2": lambda k, v, r, sr: _tom(k, v, r, sr, 2),
             "ride": lambda k, v, r, sr: _cymbal(k, v, r, sr, False),
             "crash": lambda k, v, r, sr: _cymbal(k, v, r, sr, True)}
    shots = {}
    for s, (key, fn) in enumerate(synth.items()):
        variants = []
        for rr in range(_ROUND_ROBIN.get(key, 1)):
            layers = []
            for vel in _LAYER_VEL:
                x = _fade_out(fn(kit, vel, np.random.default_rng([0xD3, kit.seed, s, rr, int(vel * 10)]),
                                 sample_rate), sample_rate)
                layers.append((x * (_LEVEL[key] / np.max(np.abs(x)))).astype(np.float32))
            variants.append(tuple(layers))
        shots[key] = variants
    return shots


class SyntheticDrums(DrySource):
    """Procedural multitrack drums: one mono stem ``[1, T]`` per drum track.

    See the module docstring for the instruments and grooves. In 30% of the
    clips one or two of the playing tracks are muted (as in sparse sections of
    real songs); the clip holds only non-silent tracks.

    Args:
        sample_rate: Hz.
        num_kits: number of kits (default 14, as in the paper).
        num_unseen: the last ``num_unseen`` kits form the ``"unseen"`` split (default 3).
        cache_kits: how many kits' one-shots to keep (about 5 MB each at 44.1 kHz).
    """

    def __init__(self, *, sample_rate: int = 44100, num_kits: int = 14, num_unseen: int = 3, cache_kits: int = 16):
        super().__init__("drums", sample_rate=sample_rate)
        if not 0 < num_unseen < num_kits:
            raise ValueError(f"need 0 < num_unseen < num_kits, got {num_unseen} and {num_kits}")
        self.kits: Dict[str, Kit] = {k.name: k for k in map(make_kit, range(num_kits))}
        self._num_unseen = num_unseen
        self._cache: "OrderedDict[str, dict]" = OrderedDict()
        self._cache_size = max(1, int(cache_kits))

    def names(self, split: Optional[str] = None) -> List[str]:
        return hold_out_last(self.kits, self._num_unseen, split)

    def kit(self, name: str) -> Kit:
        """The parameters of kit ``name``."""
        return self.kits[name]

    def shots(self, name: str) -> Dict[str, List[Tuple[np.ndarray, np.ndarray]]]:
        """The one-shots of kit ``name`` (rendered on first use, then cached)."""
        if name in self._cache:
            self._cache.move_to_end(name)
        else:
            self._cache[name] = render_kit(self.kits[name], self.sample_rate)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return self._cache[name]

    def _describe_lines(self) -> List[str]:
        lines = super()._describe_lines()
        lines[0] += ", mono stems (synthetic kits, grooves in " + ", ".join(STYLES) + ")"
        unseen = self.names("unseen")
        for k in self.kits.values():
            split = "unseen" if k.name in unseen else "train"
            lines.append(f"  {k.name} [{split}] kick {k.kick_f_end:.0f} Hz/{k.kick_decay * 1e3:.0f} ms, "
                         f"snare {k.snare_f:.0f} Hz, toms from {k.tom_f:.0f} Hz, ride {k.ride_decay:.1f} s")
        return lines

    def _clip(self, split: str, name: str, rng: np.random.Generator, num_samples: int) -> Clip:
        sr = self.sample_rate
        shots = self.shots(name)
        style = STYLES[list(STYLES)[rng.integers(len(STYLES))]]
        preroll = 3.0  # longest one-shot: earlier hits still ring into the clip
        hits = play(style, rng, -preroll, num_samples / sr).hits
        playing = [t for t, h in hits.items() if any(hit.time > -0.5 for hit in h)]
        if len(playing) > 1 and rng.random() < 0.3:
            muted = rng.choice(playing, size=min(int(rng.integers(1, 3)), len(playing) - 1), replace=False)
            for track in muted:
                hits[track] = []
        gain = 10 ** (rng.uniform(-6.0, 0.0) / 20)
        stems = {}
        for track, track_hits in hits.items():
            if track_hits:
                stems[track] = _place(track, track_hits, shots, rng, sr, num_samples, gain)[None]
        return stems


def _place(track: str, hits: Sequence[Hit], shots, rng: np.random.Generator, sr: int, n: int,
           gain: float) -> np.ndarray:
    """Mixes the one-shots of ``track``'s time-sorted hits into a stem; an open hat is choked by the next hat hit."""
    out = np.zeros(n, dtype=np.float32)
    for i, hit in enumerate(hits):
        shot = _SHOTS[track][hit.variant]
        start = int(round(hit.time * sr))
        if start >= n:
            break
        variants = shots[shot]
        soft, hard = variants[int(rng.integers(len(variants)))]
        w = float(np.clip((hit.velocity - _LAYER_VEL[0]) / (_LAYER_VEL[1] - _LAYER_VEL[0]), 0.0, 1.0))
        amp = gain * 10 ** (24.0 * (hit.velocity - 1.0) / 20)  # 24 dB of velocity range
        fade = int(0.01 * sr)
        length = len(hard)
        if shot == "hat_open" and i + 1 < len(hits):  # choked by the next hat hit
            length = max(fade, min(length, int(round(hits[i + 1].time * sr)) - start + fade))
        a, b = max(0, -start), min(length, n - start)
        if b <= a:
            continue
        seg = (amp * (1 - w)) * soft[a:b] + (amp * w) * hard[a:b]
        if length < len(hard):
            ramp = np.clip((length - np.arange(a, b)) / fade, 0.0, 1.0).astype(np.float32)
            seg *= ramp
        out[start + a:start + b] += seg
    peak = float(np.max(np.abs(out)))
    if peak > 0.98:
        out *= 0.98 / peak
    return out
