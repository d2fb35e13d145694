"""Built-in procedural dry sources: a synthetic singer and a synthetic drum kit.

They stand in for the datasets of Section 4.1 of Lee et al. (2023), which cannot
be shipped: OpenSinger (singing) and drums rendered from 14 commercial sample
libraries with Groove MIDI files. Both need nothing but numpy, scipy and numba,
are deterministic given ``(split, seed)`` and render a 3.63 s clip at 44.1 kHz
in a few milliseconds.

:class:`SyntheticSinger` is a source-filter singing synthesizer (Fant, 1960;
Klatt, 1980):

* source: Rosenberg (1971) glottal flow pulses at a sung f0 contour, with
  per-cycle jitter and shimmer, aspiration noise gated by the glottal flow,
  lip radiation (first difference) and a voice-dependent spectral tilt (a
  first-order high shelf at 2 kHz);
* f0: a scale-based random melody, phrases of 2-7 notes separated by breaths,
  portamento between notes and a scoop into phrase onsets, vibrato at
  5-6.5 Hz that fades in after each note onset, slow drift;
* filter: a cascade of time-varying formant resonators (Klatt, 1980,
  "Software for a cascade/parallel formant synthesizer", JASA 67(3)): F1-F5
  from the singing-vowel table of the Csound manual's "Formant values"
  appendix (bass/tenor/alto/soprano; a e i o u), three more every 1100 Hz
  above F5 with 6% bandwidths (as Praat's KlattGrid), all scaled by the
  voice's vocal-tract length; F1 is kept above f0 (formant tuning, Sundberg);
  the vowel changes per note with 40 ms glides. A first-order 4-6 kHz branch
  in parallel stands in for the higher formants a truncated cascade lacks;
  the long-term spectrum falls about 26 dB (4-8 kHz) and 36 dB (8-16 kHz)
  below its peak band, close to the long-term speech spectrum;
* articulation: syllable boundaries are legato, nasal murmurs (dip in level,
  lowered F1/F2), fricatives or plosives (voicing stops, band-passed noise);
  breath noise in some pauses.

A *voice* is a parameter set (:class:`Voice`) drawn from its index: 20 voices,
``voice00`` ... ``voice19``, registers cycling bass, tenor, alto, soprano; the
last 5 are ``"unseen"``. ``"train"`` and ``"seen"`` share the other 15 voices and
differ only in the clip seeds (the split is mixed into each clip's seed).

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
Grooves come from 10 styles (rock, funk, disco, hip-hop, half-time, shuffle,
jazz, latin, metal, ballad) on a 16th grid at 70-160 BPM with per-bar
variation, ghost notes, swing, timing jitter, tom fills at phrase ends, crashes
at phrase starts and, in some clips, tracks left out (as in a real arrangement),
so the set of non-silent tracks varies from clip to clip.
"""
from __future__ import annotations

import functools
import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numba
import numpy as np
from scipy import signal

from graphfx.sources.base import Clip, DrySource

# ----------------------------------------------------------------------------- singing

#: Formant frequencies (Hz) and bandwidths (Hz) of sung vowels, F1..F5, from the
#: Csound manual, Appendix "Formant values" (soprano, alto, tenor, bass).
FORMANTS: Dict[str, Dict[str, Tuple[Tuple[float, ...], Tuple[float, ...]]]] = {
    "soprano": {"a": ((800, 1150, 2900, 3900, 4950), (80, 90, 120, 130, 140)),
                "e": ((350, 2000, 2800, 3600, 4950), (60, 100, 120, 150, 200)),
                "i": ((270, 2140, 2950, 3900, 4950), (60, 90, 100, 120, 120)),
                "o": ((450, 800, 2830, 3800, 4950), (70, 80, 100, 130, 135)),
                "u": ((325, 700, 2700, 3800, 4950), (50, 60, 170, 180, 200))},
    "alto": {"a": ((800, 1150, 2800, 3500, 4950), (80, 90, 120, 130, 140)),
             "e": ((400, 1600, 2700, 3300, 4950), (60, 80, 120, 150, 200)),
             "i": ((350, 1700, 2700, 3700, 4950), (50, 100, 120, 150, 200)),
             "o": ((450, 800, 2830, 3500, 4950), (70, 80, 100, 130, 135)),
             "u": ((325, 700, 2530, 3500, 4950), (50, 60, 170, 180, 200))},
    "tenor": {"a": ((650, 1080, 2650, 2900, 3250), (80, 90, 120, 130, 140)),
              "e": ((400, 1700, 2600, 3200, 3580), (70, 80, 100, 120, 120)),
              "i": ((290, 1870, 2800, 3250, 3540), (40, 90, 100, 120, 120)),
              "o": ((400, 800, 2600, 2800, 3000), (40, 80, 100, 120, 120)),
              "u": ((350, 600, 2700, 2900, 3300), (40, 60, 100, 120, 120))},
    "bass": {"a": ((600, 1040, 2250, 2450, 2750), (60, 70, 110, 120, 130)),
             "e": ((400, 1620, 2400, 2800, 3100), (40, 80, 100, 120, 120)),
             "i": ((250, 1750, 2600, 3050, 3340), (60, 90, 100, 120, 120)),
             "o": ((400, 750, 2400, 2600, 2900), (40, 80, 100, 120, 120)),
             "u": ((350, 600, 2400, 2675, 2950), (40, 80, 100, 120, 120))},
}
VOWELS = "aeiou"
#: Typical sung ranges as MIDI notes (bass E2-E4, tenor C3-C5, alto F3-F5, soprano C4-C6).
REGISTERS: Dict[str, Tuple[int, int]] = {"bass": (40, 64), "tenor": (48, 72), "alto": (53, 77), "soprano": (60, 84)}
_REGISTER_ORDER = ("bass", "tenor", "alto", "soprano")
#: Scales (semitones above the key) the melodies are drawn from.
SCALES = ((0, 2, 4, 5, 7, 9, 11), (0, 2, 3, 5, 7, 8, 10), (0, 2, 4, 7, 9), (0, 3, 5, 7, 10), (0, 2, 3, 5, 7, 9, 10))
_CTRL_HOP = 64  # samples per control frame of f0, level and formant tracks
_HIGH_FORMANTS, _HIGH_SPACING = 3, 1100.0  # formants above F5: how many, Hz apart
_SHELF_HZ = 2000.0  # corner of the source's tilt shelf
_BYPASS = 3.0  # level of the 4-6 kHz branch that stands in for the formants above the cascade


@dataclass(frozen=True)
class Voice:
    """Parameters of one synthetic singer.

    Args:
        name: ``voiceNN``.
        register: ``bass``, ``tenor``, ``alto`` or ``soprano`` (formant table, range).
        f0_min: lowest f0 in Hz; every sung f0, vibrato included, is >= this.
        f0_max: highest f0 in Hz; every sung f0 is <= this.
        tract_scale: factor on all formant frequencies (shorter tract: > 1).
        vibrato_rate: Hz, 5-6.5.
        vibrato_depth: peak deviation in semitones.
        jitter: std of the per-cycle relative f0 perturbation.
        shimmer: std of the per-cycle relative amplitude perturbation.
        open_quotient: open phase / period of the Rosenberg pulse.
        speed_quotient: opening / closing duration of the pulse.
        brightness_db: gain of the first-order high shelf (corner 2 kHz) on the
            source; sets the spectral tilt (pressed, bright voices: high).
        breathiness: level of aspiration noise relative to the voiced source.
        portamento: time constant of note-to-note glides, in seconds.
    """

    name: str
    register: str
    f0_min: float
    f0_max: float
    tract_scale: float
    vibrato_rate: float
    vibrato_depth: float
    jitter: float
    shimmer: float
    open_quotient: float
    speed_quotient: float
    brightness_db: float
    breathiness: float
    portamento: float


def make_voice(index: int) -> Voice:
    """The voice of a given index (registers cycle bass, tenor, alto, soprano)."""
    rng = np.random.default_rng([0x5146, index])
    register = _REGISTER_ORDER[index % 4]
    lo, hi = REGISTERS[register]
    span = rng.uniform(14.0, 20.0)
    low = rng.uniform(lo, hi - span)
    return Voice(name=f"voice{index:02d}", register=register,
                 f0_min=float(_midi_to_hz(low)), f0_max=float(_midi_to_hz(low + span)),
                 tract_scale=float(rng.uniform(0.9, 1.1)),
                 vibrato_rate=float(rng.uniform(5.0, 6.5)), vibrato_depth=float(rng.uniform(0.2, 0.7)),
                 jitter=float(rng.uniform(0.002, 0.008)), shimmer=float(rng.uniform(0.02, 0.07)),
                 open_quotient=float(rng.uniform(0.45, 0.75)), speed_quotient=float(rng.uniform(1.5, 3.5)),
                 brightness_db=float(rng.uniform(8.0, 18.0)), breathiness=float(rng.uniform(0.02, 0.25)),
                 portamento=float(rng.uniform(0.02, 0.07)))


def _midi_to_hz(m):
    return 440.0 * 2.0 ** ((np.asarray(m, dtype=np.float64) - 69.0) / 12.0)


@dataclass
class _Note:
    start: float
    end: float
    midi: float
    vowel: str
    onset: str  # "phrase" (after a pause), "legato", "murmur", "fricative" or "plosive"
    level: float  # linear
    gap: float = 0.0  # s of voicing dip before a consonant onset
    phrase_end: bool = False


class SyntheticSinger(DrySource):
    """Procedural singing voice: a sung vowel line per clip, mono ``[1, T]``.

    See the module docstring for the model. Clips are peak-normalized to a
    random level between -12 and -3 dBFS.

    Args:
        sample_rate: Hz.
        num_voices: number of voices (default 20).
        num_unseen: the last ``num_unseen`` voices form the ``"unseen"`` split
            (default 5, as the 5 unseen speakers of the paper).
    """

    def __init__(self, *, sample_rate: int = 44100, num_voices: int = 20, num_unseen: int = 5):
        super().__init__("singing", sample_rate=sample_rate)
        if not 0 < num_unseen < num_voices:
            raise ValueError(f"need 0 < num_unseen < num_voices, got {num_unseen} and {num_voices}")
        self.voices: Dict[str, Voice] = {v.name: v for v in map(make_voice, range(num_voices))}
        self._unseen = list(self.voices)[num_voices - num_unseen:]

    def names(self, split: Optional[str] = None) -> List[str]:
        if split is None:
            return list(self.voices)
        if split == "unseen":
            return list(self._unseen)
        return [n for n in self.voices if n not in self._unseen]

    def voice(self, name: str) -> Voice:
        """The parameters of voice ``name``."""
        return self.voices[name]

    def _describe_lines(self) -> List[str]:
        lines = super()._describe_lines()
        lines[0] += ", mono (source-filter synthesis: Rosenberg pulses, cascaded formants)"
        for v in self.voices.values():
            split = "unseen" if v.name in self._unseen else "train"
            lines.append(f"  {v.name} [{split}] {v.register}, f0 {v.f0_min:.0f}-{v.f0_max:.0f} Hz, "
                         f"vibrato {v.vibrato_rate:.1f} Hz/{v.vibrato_depth:.2f} st, "
                         f"breathiness {v.breathiness:.2f}")
        return lines

    def _clip(self, split: str, name: str, rng: np.random.Generator, num_samples: int) -> Clip:
        return {"in": sing(self.voices[name], rng, num_samples, self.sample_rate)[None]}


def sing(voice: Voice, rng: np.random.Generator, num_samples: int, sample_rate: int) -> np.ndarray:
    """Renders one sung line of ``voice``: float32 ``[num_samples]``, peak in [-12, -3] dBFS."""
    sr = sample_rate
    n_ctrl = num_samples // _CTRL_HOP + 2
    tc = np.arange(n_ctrl) * (_CTRL_HOP / sr)  # control-frame times, s
    notes = _melody(voice, rng, num_samples / sr)
    f0 = _f0_track(voice, notes, rng, tc)  # (n_ctrl,) Hz
    level = _level_track(notes, rng, tc)  # (n_ctrl,) linear
    freqs, bws = _formant_tracks(voice, notes, tc)  # (n_ctrl, 5 + _HIGH_FORMANTS) each

    # Per cycle: jitter on the period, shimmer on the amplitude.
    cycles = int(np.sum(f0) * _CTRL_HOP / sr) + 16
    jitter = voice.jitter * rng.standard_normal(cycles)
    shimmer = voice.shimmer * rng.standard_normal(cycles)
    noise = rng.standard_normal(num_samples)
    voiced = _voice_kernel(f0, level, freqs, bws, noise, jitter, shimmer, _CTRL_HOP, float(sr),
                           voice.open_quotient, voice.speed_quotient, 10.0 * voice.breathiness,
                           10 ** (voice.brightness_db / 20), _BYPASS, num_samples)
    voiced /= np.sqrt(np.mean(voiced**2)) + 1e-12

    out = voiced + _unvoiced(notes, rng, noise, sr, num_samples)
    peak = np.max(np.abs(out))
    target = 10 ** (rng.uniform(-12.0, -3.0) / 20)
    return (out * (target / peak if peak > 0 else 0.0)).astype(np.float32)


def _melody(voice: Voice, rng: np.random.Generator, duration: float) -> List[_Note]:
    """Phrases of notes on a scale within the voice's range, covering [0, duration]."""
    margin = voice.vibrato_depth + 0.6  # room for vibrato, scoops and drift
    lo = 69 + 12 * math.log2(voice.f0_min / 440) + margin
    hi = 69 + 12 * math.log2(voice.f0_max / 440) - margin
    scale, key = SCALES[rng.integers(len(SCALES))], int(rng.integers(12))
    pitches = [m for m in range(math.ceil(lo), math.floor(hi) + 1) if (m - key) % 12 in scale]
    beat = 60.0 / rng.uniform(70.0, 150.0)
    idx = int(rng.integers(len(pitches)))
    vowel = VOWELS[rng.integers(5)]
    notes: List[_Note] = []
    t = -rng.uniform(0.0, 1.5)  # clips start anywhere in a phrase
    while t < duration:
        phrase_db = rng.uniform(-6.0, 0.0)
        for k in range(int(rng.integers(2, 8))):
            dur = beat * rng.choice([0.5, 1.0, 1.5, 2.0, 3.0], p=[0.25, 0.35, 0.15, 0.15, 0.1])
            step = rng.choice([-4, -2, -1, 0, 1, 2, 4], p=[0.05, 0.15, 0.25, 0.1, 0.25, 0.15, 0.05])
            idx = abs(idx + step)  # reflect at the range borders
            idx = min(idx if idx < len(pitches) else 2 * (len(pitches) - 1) - idx, len(pitches) - 1)
            if rng.random() < 0.6:
                vowel = VOWELS[rng.integers(5)]
            onset = "phrase" if k == 0 else rng.choice(["legato", "murmur", "fricative", "plosive"],
                                                         p=[0.35, 0.3, 0.2, 0.15])
            level = 10 ** ((phrase_db + rng.normal(0.0, 1.5)) / 20)
            gap = min(rng.uniform(0.04, 0.1), 0.35 * (notes[-1].end - notes[-1].start)) if k else 0.0
            notes.append(_Note(t, t + dur, float(pitches[idx]), vowel, str(onset), level, gap))
            t += dur
        notes[-1].phrase_end = True
        t += rng.uniform(0.12, 0.6)  # breath
    return notes


def _one_pole(x: np.ndarray, tau: float, rate: float) -> np.ndarray:
    """First-order low-pass smoothing with time constant ``tau`` (s), starting at ``x[0]``."""
    a = math.exp(-1.0 / max(tau * rate, 1e-6))
    y, _ = signal.lfilter([1 - a], [1, -a], x, zi=[a * x[0]])
    return y


def _f0_track(voice: Voice, notes: List[_Note], rng: np.random.Generator, tc: np.ndarray) -> np.ndarray:
    """f0 in Hz per control frame: glides, phrase-onset scoops, vibrato, drift."""
    rate = 1.0 / (tc[1] - tc[0])
    target = np.full(tc.shape, notes[0].midi)
    depth = np.zeros(tc.shape)
    for i, note in enumerate(notes):
        a, b = np.searchsorted(tc, [note.start, note.end])
        target[a:b] = note.midi
        # vibrato fades in 0.15-0.4 s after the onset, over 0.25 s
        delay = note.start + rng.uniform(0.15, 0.4)
        ramp = np.clip((tc[a:b] - delay) / 0.25, 0.0, 1.0)
        depth[a:b] = voice.vibrato_depth * rng.uniform(0.7, 1.0) * ramp
        if note.phrase_end and i + 1 < len(notes):  # during the breath: sit below the next note
            c = np.searchsorted(tc, notes[i + 1].start)
            target[b:c] = notes[i + 1].midi - rng.uniform(0.2, 0.6)
    # two one-pole stages: an S-shaped glide of about ``portamento`` seconds
    glide = _one_pole(_one_pole(target, voice.portamento / 2, rate), voice.portamento / 2, rate)
    vib_rate = voice.vibrato_rate * (1 + 0.03 * np.interp(tc, tc[::512], rng.standard_normal(len(tc[::512]))))
    vibrato = depth * np.sin(2 * np.pi * np.cumsum(vib_rate) / rate + rng.uniform(0, 2 * np.pi))
    knots = np.arange(0.0, tc[-1] + 0.5, 0.25)
    drift = np.interp(tc, knots, rng.normal(0.0, 0.05, len(knots)))
    midi = glide + vibrato + drift
    lo, hi = (69 + 12 * np.log2(np.array([voice.f0_min, voice.f0_max]) / 440))
    return _midi_to_hz(np.clip(midi, lo, hi))


def _level_track(notes: List[_Note], rng: np.random.Generator, tc: np.ndarray) -> np.ndarray:
    """Voicing level per control frame: attacks, releases, consonant dips, swells."""
    times: List[float] = []
    values: List[float] = []

    def point(t: float, v: float) -> None:
        times.append(max(t, times[-1]) if times else t)
        values.append(v)

    for i, note in enumerate(notes):
        dur = note.end - note.start
        prev = notes[i - 1] if i > 0 else None
        if note.onset == "phrase" or prev is None:
            point(note.start, 0.0)
            point(note.start + min(rng.uniform(0.03, 0.08), 0.4 * dur), note.level)
        else:
            gap = note.gap
            if note.onset == "legato":
                point(note.start, 0.75 * min(prev.level, note.level))
            elif note.onset == "murmur":
                point(note.start - gap, 0.3 * prev.level)
                point(note.start - 0.01, 0.3 * note.level)
            else:  # fricative / plosive: voicing stops
                point(note.start - gap, 0.0)
                point(note.start, 0.0)
            point(note.start + min(0.03, 0.3 * dur), note.level)
        point(0.5 * (note.start + note.end), note.level * rng.uniform(0.8, 1.2))
        nxt = notes[i + 1] if i + 1 < len(notes) else None
        if note.phrase_end or nxt is None:
            point(note.end - min(rng.uniform(0.06, 0.15), 0.4 * dur), note.level * 0.9)
            point(note.end, 0.0)
        elif nxt.onset in ("fricative", "plosive", "murmur"):
            point(note.end - nxt.gap - 0.015, note.level)
    level = np.interp(tc, times, values)
    return _one_pole(level, 0.005, 1.0 / (tc[1] - tc[0]))


def _formant_tracks(voice: Voice, notes: List[_Note], tc: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Formant frequencies and bandwidths per control frame, (n_ctrl, 5 + _HIGH_FORMANTS) each."""
    table = FORMANTS[voice.register]
    times: List[float] = []
    freqs: List[np.ndarray] = []
    bws: List[np.ndarray] = []
    for i, note in enumerate(notes):
        f, b = (np.array(x, dtype=np.float64) for x in table[note.vowel])
        # higher formants every 1100 Hz above F5, bandwidth 6% (as Praat's KlattGrid)
        high = f[4] + _HIGH_SPACING * np.arange(1, _HIGH_FORMANTS + 1)
        f = np.concatenate([f, high]) * voice.tract_scale
        b = np.concatenate([b, 0.06 * high])
        # sung vowels: F1 rises to stay above f0 (formant tuning, Sundberg)
        f[0] = max(f[0], 1.1 * _midi_to_hz(note.midi))
        glide = min(0.04, 0.25 * (note.end - note.start))
        if note.onset == "murmur" and i > 0:  # nasal murmur: F1 and F2 drop, F1 widens
            nasal_f = f.copy()
            nasal_f[:2] = (250.0 * voice.tract_scale, 1100.0 * voice.tract_scale)
            nasal_b = b.copy()
            nasal_b[0] = 120.0
            times.append(max(note.start - 0.02, times[-1] if times else -np.inf))
            freqs.append(nasal_f)
            bws.append(nasal_b)
        for t in (note.start + glide, note.end - glide):
            times.append(max(t, times[-1] if times else -np.inf))
            freqs.append(f)
            bws.append(b)
    times_a = np.asarray(times)
    f_arr, b_arr = np.stack(freqs), np.stack(bws)
    f_out = np.stack([np.interp(tc, times_a, f_arr[:, k]) for k in range(f_arr.shape[1])], axis=1)
    b_out = np.stack([np.interp(tc, times_a, b_arr[:, k]) for k in range(f_arr.shape[1])], axis=1)
    return f_out, b_out


@numba.njit(cache=True)
def _voice_kernel(f0, level, freqs, bws, noise, jitter, shimmer, hop, sr, oq, sq, breath, shelf, bypass, n):
    """Glottal source and vocal tract, one pass over the samples (numba).

    Source: Rosenberg (1971) flow pulses; each new cycle draws its period
    perturbation from ``jitter`` and its amplitude from ``shimmer``. The
    excitation is the flow's derivative per unit of phase (lip radiation,
    independent of f0) plus aspiration noise gated by the flow.

    Filter: a first-order high shelf at ``_SHELF_HZ`` (gain ``shelf``) for the
    spectral tilt, then Klatt (1980) resonators in cascade (unit DC gain),
    coefficients updated every ``hop`` samples, formants above 0.45 ``sr``
    skipped. A truncated all-pole cascade has almost no energy above its top
    formant (Klatt's "higher-pole" problem), so, as Klatt's parallel branch
    does, ``bypass`` times the excitation band-passed to 4-6 kHz (one
    high-pass, two low-pass poles with zeros at Nyquist) is added.

    ``f0``, ``level`` (linearly interpolated) and ``freqs``/``bws`` (held) are
    control tracks with one frame per ``hop``.
    """
    nf = freqs.shape[1]
    y = np.empty(n)
    s1 = np.zeros(nf)
    s2 = np.zeros(nf)
    ca = np.ones(nf)
    cb = np.zeros(nf)
    cc = np.zeros(nf)
    t_open = oq * sq / (1.0 + sq)
    t_close = oq / (1.0 + sq)
    phase = 0.0
    cycle = 0
    jit = 1.0 + jitter[0]
    shim = 1.0 + shimmer[0]
    prev_flow = 0.0
    lp = 0.0
    lp4 = 0.0
    hp4_prev = 0.0
    lp6 = 0.0
    lp6_prev = 0.0
    lp6b = 0.0
    a1 = math.exp(-2.0 * math.pi * _SHELF_HZ / sr)
    a4 = math.exp(-2.0 * math.pi * 4000.0 / sr)
    a6 = math.exp(-2.0 * math.pi * 6000.0 / sr)
    for i in range(n):
        frame = i // hop
        frac = (i - frame * hop) / hop
        if i % hop == 0:
            for k in range(nf):
                f = freqs[frame, k]
                if f >= 0.45 * sr:
                    ca[k] = 1.0
                    cb[k] = 0.0
                    cc[k] = 0.0
                else:
                    r = math.exp(-math.pi * bws[frame, k] / sr)
                    cb[k] = 2.0 * r * math.cos(2.0 * math.pi * f / sr)
                    cc[k] = -r * r
                    ca[k] = 1.0 - cb[k] - cc[k]
        f0_i = f0[frame] + (f0[frame + 1] - f0[frame]) * frac
        lev = level[frame] + (level[frame + 1] - level[frame]) * frac
        phase += f0_i * jit / sr
        if phase >= 1.0:
            phase -= math.floor(phase)
            cycle = min(cycle + 1, jitter.shape[0] - 1)
            jit = 1.0 + jitter[cycle]
            shim = 1.0 + shimmer[cycle]
        if phase < t_open:
            g = 0.5 - 0.5 * math.cos(math.pi * phase / t_open)
        elif phase < t_open + t_close:
            g = math.cos(0.5 * math.pi * (phase - t_open) / t_close)
        else:
            g = 0.0
        flow = g * shim * lev
        e = (flow - prev_flow) * sr / f0_i + breath * noise[i] * (0.2 + g) * lev
        prev_flow = flow
        lp = (1.0 - a1) * e + a1 * lp
        e = lp + shelf * (e - lp)
        lp4 = (1.0 - a4) * e + a4 * lp4
        hp4 = e - lp4
        lp6_new = 0.5 * (1.0 - a6) * (hp4 + hp4_prev) + a6 * lp6  # zero at Nyquist
        lp6b = 0.5 * (1.0 - a6) * (lp6_new + lp6_prev) + a6 * lp6b
        hp4_prev = hp4
        lp6_prev = lp6_new
        lp6 = lp6_new
        v = e
        for k in range(nf):
            out = ca[k] * v + cb[k] * s1[k] + cc[k] * s2[k]
            s2[k] = s1[k]
            s1[k] = out
            v = out
        y[i] = v + bypass * lp6b
    return y


#: Unvoiced consonants and breath: (band low Hz, band high Hz, relative level).
_NOISES = {"s": (4500.0, 9500.0, 0.35), "sh": (2200.0, 5500.0, 0.35), "f": (1500.0, 9000.0, 0.15),
           "t": (2500.0, 7000.0, 0.5), "k": (1200.0, 3500.0, 0.5), "breath": (700.0, 4000.0, 0.04)}


@functools.lru_cache(maxsize=64)
def _bandpass(low: float, high: float, sr: int) -> np.ndarray:
    high = min(high, 0.45 * sr)
    return signal.butter(2, [low, high], btype="bandpass", fs=sr, output="sos")


def _unvoiced(notes: List[_Note], rng: np.random.Generator, noise: np.ndarray, sr: int, n: int) -> np.ndarray:
    """Fricatives, plosive bursts and breaths, placed at the syllable boundaries."""
    out = np.zeros(n)
    for i, note in enumerate(notes):
        if note.onset in ("fricative", "plosive") and i > 0:
            if note.onset == "fricative":
                kind = ("s", "sh", "f")[rng.integers(3)]
                start, length = note.start - note.gap, note.gap + 0.01
            else:
                kind = ("t", "k")[rng.integers(2)]
                start, length = note.start - 0.015, 0.02 + rng.uniform(0.0, 0.015)
        elif note.onset == "phrase" and i > 0 and rng.random() < 0.5 \
                and note.start - notes[i - 1].end > 0.2:  # audible in-breath in the pause
            kind = "breath"
            start = notes[i - 1].end + 0.03
            length = note.start - start - 0.03
        else:
            continue
        a, b = int(round(start * sr)), int(round((start + length) * sr))
        if b <= 0 or a >= n or b - a < 8:
            continue
        low, high, gain = _NOISES[kind]
        if low >= 0.45 * sr:
            continue
        m = b - a
        offset = int(rng.integers(0, n - m)) if n > m else 0
        excitation = noise[offset:offset + m] if offset + m <= n else rng.standard_normal(m)
        burst = signal.sosfilt(_bandpass(low, high, sr), excitation)
        win = np.exp(-np.arange(m) / (0.006 * sr)) if kind in ("t", "k") else np.hanning(m)
        burst *= win * gain * 2.5 * rng.uniform(0.6, 1.2)
        lo, hi = max(a, 0), min(b, n)
        out[lo:hi] += burst[lo - a:hi - a]
    return out


# ----------------------------------------------------------------------------- drums

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


#: One-shot keys per track, and the peak level of each instrument's hard layer.
_SHOTS = {"kick": ("kick",), "snare": ("snare",), "hat": ("hat_closed", "hat_open"),
          "tom": ("tom0", "tom1", "tom2"), "ride": ("ride",), "crash": ("crash",)}
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


# Grooves: 16 steps per bar; "X" accent, "x" normal, "o" ghost, "O" open hat, "." rest.
_VEL = {"X": 0.95, "x": 0.75, "o": 0.35, "O": 0.8}


@dataclass(frozen=True)
class _Style:
    tempo: Tuple[float, float]
    swing: Tuple[float, float]  # 0.5: straight
    swing_8th: bool  # swing the 8ths (jazz, shuffle) instead of the 16ths
    kick: Tuple[str, ...]
    snare: Tuple[str, ...]
    hat: Tuple[str, ...]
    ride: Tuple[str, ...]
    keeper: Tuple[float, float, float]  # P(hat only), P(ride only), P(ride + hat)
    ghost: float  # probability of an extra snare ghost note per free 16th
    fill: float  # probability of a fill in the 4th bar of a phrase
    crash: float  # probability of a crash on a phrase start
    dynamics: float = 1.0  # scale of all velocities


STYLES: Dict[str, _Style] = {
    "rock": _Style((90, 150), (0.5, 0.52), False, ("x.......x.x.....", "x.......x.......", "x......xx.x....."),
                   ("....X.......X...",), ("X.x.x.x.X.x.x.x.", "x.x.x.x.x.x.x.xO"), ("x.x.x.x.x.x.x.x.",),
                   (0.7, 0.2, 0.1), 0.03, 0.7, 0.6),
    "funk": _Style((85, 115), (0.5, 0.56), False, ("x..x..x...x..x..", "x.x....x..x....."),
                   ("....X..o.o..X..o", "....X.o....oX.o."), ("xoxoxoxoxoxoxoxo", "x.x.x.xOx.x.x.x."),
                   ("x.x.x.x.x.x.x.x.",), (0.85, 0.1, 0.05), 0.1, 0.5, 0.3),
    "disco": _Style((110, 130), (0.5, 0.5), False, ("x...x...x...x...",), ("....X.......X...",),
                    ("x.O.x.O.x.O.x.O.", "xxOxxxOxxxOxxxOx"), ("x.x.x.x.x.x.x.x.",), (0.9, 0.0, 0.1), 0.02, 0.4, 0.5),
    "hiphop": _Style((70, 98), (0.54, 0.62), False, ("x.....x..x......", "x..x......x....."),
                     ("....X.......X...",), ("x.x.x.x.x.x.x.x.", "xxxxxxxxxxxxxxxx"), ("x.x.x.x.x.x.x.x.",),
                     (0.9, 0.1, 0.0), 0.05, 0.3, 0.2),
    "halftime": _Style((70, 100), (0.5, 0.54), False, ("x......x..x.....",), ("........X.......",),
                       ("x.x.x.x.x.x.x.x.",), ("x.x.x.x.x.x.x.x.",), (0.6, 0.3, 0.1), 0.05, 0.6, 0.5),
    "shuffle": _Style((80, 130), (0.62, 0.68), True, ("x.....x.x.......",), ("....X.......X...",),
                      ("x.x.x.x.x.x.x.x.",), ("x.x.x.x.x.x.x.x.",), (0.6, 0.3, 0.1), 0.05, 0.6, 0.4),
    "jazz": _Style((100, 160), (0.6, 0.67), True, ("o...o...o...o...", "o.......o......."), ("................",),
                   ("....x.......x...",), ("x...x.x.x...x.x.",), (0.1, 0.3, 0.6), 0.12, 0.4, 0.2, 0.85),
    "latin": _Style((100, 140), (0.5, 0.5), False, ("x..xx..xx..xx..x",), ("x..x..x...x..x..",),
                    ("x.x.x.x.x.x.x.x.",), ("x.xxx.xxx.xxx.xx",), (0.5, 0.4, 0.1), 0.0, 0.4, 0.3, 0.8),
    "metal": _Style((130, 160), (0.5, 0.5), False, ("xxxxxxxxxxxxxxxx", "x.x.x.x.x.x.x.x."),
                    ("....X.......X...",), ("x.x.x.x.x.x.x.x.",), ("X.x.X.x.X.x.X.x.",), (0.4, 0.5, 0.1),
                    0.0, 0.8, 0.8),
    "ballad": _Style((70, 90), (0.5, 0.55), False, ("x.......x.x.....", "x.........x....."),
                     ("....x.......x...",), ("x.x.x.x.x.x.x.x.",), ("x.x.x.x.x.x.x.x.",), (0.6, 0.3, 0.1),
                     0.02, 0.6, 0.5, 0.7),
}


@dataclass
class _Hit:
    time: float  # s, relative to the clip start
    shot: str  # key into the kit's one-shots
    vel: float


def groove(style: _Style, rng: np.random.Generator, start: float, end: float) -> Dict[str, List[_Hit]]:
    """Hits per track for a drummer playing ``style`` from ``start`` to ``end`` (s)."""
    tempo = rng.uniform(*style.tempo)
    step = 60.0 / tempo / 4
    swing = rng.uniform(*style.swing)
    jitter = rng.uniform(0.002, 0.01)
    lean = {t: rng.normal(0.0, 0.004) for t in _SHOTS}  # each limb's consistent push or drag
    keeper = ("hat", "ride", "both")[rng.choice(3, p=style.keeper)]
    patterns = {"kick": style.kick[rng.integers(len(style.kick))],
                "snare": style.snare[rng.integers(len(style.snare))],
                "hat": style.hat[rng.integers(len(style.hat))] if keeper in ("hat", "both") else "." * 16,
                "ride": style.ride[rng.integers(len(style.ride))] if keeper in ("ride", "both") else "." * 16}
    if keeper == "both":  # hat pedal on 2 and 4 under the ride
        patterns["hat"] = "....x.......x..."
    hits: Dict[str, List[_Hit]] = {t: [] for t in _SHOTS}
    bar = 16 * step
    t0 = start - rng.uniform(0.0, bar)
    phrase_pos = int(rng.integers(4))
    for b in range(int(math.ceil((end - t0) / bar))):
        bar_start = t0 + b * bar
        pos = (phrase_pos + b) % 4
        fill_from = 16 - 4 * int(rng.integers(1, 3)) if pos == 3 and rng.random() < style.fill else 16
        for s in range(16):
            t = bar_start + s * step
            if style.swing_8th and s % 4 == 2:
                t += (swing - 0.5) * 2 * 2 * step
            elif not style.swing_8th and s % 2 == 1:
                t += (swing - 0.5) * 2 * step
            played = []
            if s >= fill_from:  # fill: snare and toms, high to low, crescendo
                if rng.random() < 0.85:
                    progress = (s - fill_from) / (16 - fill_from)
                    shot = "snare" if rng.random() < 0.3 else f"tom{min(int(progress * 3), 2)}"
                    played.append((shot, 0.6 + 0.35 * progress))
                if s % 4 == 0 and rng.random() < 0.5:
                    played.append(("kick", 0.7))
            else:
                for track in ("kick", "snare", "hat", "ride"):
                    sym = patterns[track][s]
                    if sym == "." and track == "snare" and rng.random() < style.ghost:
                        sym = "o"
                    if sym == "." and track == "kick" and s % 2 == 0 and rng.random() < 0.04:
                        sym = "x"
                    if sym == "." or (sym in "xo" and rng.random() < 0.04):
                        continue
                    shot = {"hat": "hat_open" if sym == "O" else "hat_closed"}.get(track, track)
                    played.append((shot, _VEL[sym]))
            if s == 0 and pos == 0 and rng.random() < style.crash:  # crash + kick; replaces the hat
                played = [p for p in played if p[0] != "kick" and not p[0].startswith("hat")]
                played += [("crash", 0.9), ("kick", 0.9)]
            for shot, vel in played:
                track = shot.rstrip("012").split("_")[0]
                vel = float(np.clip(style.dynamics * vel + rng.normal(0.0, 0.06), 0.1, 1.0))
                hits[track].append(_Hit(t + lean[track] + rng.normal(0.0, jitter), shot, vel))
    return hits


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
        self._unseen = list(self.kits)[num_kits - num_unseen:]
        self._cache: "OrderedDict[str, dict]" = OrderedDict()
        self._cache_size = max(1, int(cache_kits))

    def names(self, split: Optional[str] = None) -> List[str]:
        if split is None:
            return list(self.kits)
        if split == "unseen":
            return list(self._unseen)
        return [n for n in self.kits if n not in self._unseen]

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
        for k in self.kits.values():
            split = "unseen" if k.name in self._unseen else "train"
            lines.append(f"  {k.name} [{split}] kick {k.kick_f_end:.0f} Hz/{k.kick_decay * 1e3:.0f} ms, "
                         f"snare {k.snare_f:.0f} Hz, toms from {k.tom_f:.0f} Hz, ride {k.ride_decay:.1f} s")
        return lines

    def _clip(self, split: str, name: str, rng: np.random.Generator, num_samples: int) -> Clip:
        sr = self.sample_rate
        shots = self.shots(name)
        style = STYLES[list(STYLES)[rng.integers(len(STYLES))]]
        preroll = 3.0  # longest one-shot: earlier hits still ring into the clip
        hits = groove(style, rng, -preroll, num_samples / sr)
        playing = [t for t, h in hits.items() if any(hit.time > -0.5 for hit in h)]
        if len(playing) > 1 and rng.random() < 0.3:
            muted = rng.choice(playing, size=min(int(rng.integers(1, 3)), len(playing) - 1), replace=False)
            for track in muted:
                hits[track] = []
        gain = 10 ** (rng.uniform(-6.0, 0.0) / 20)
        stems = {}
        for track, track_hits in hits.items():
            if track_hits:
                stems[track] = _place(track_hits, shots, rng, sr, num_samples, gain)[None]
        return stems


def _place(hits: Sequence[_Hit], shots, rng: np.random.Generator, sr: int, n: int, gain: float) -> np.ndarray:
    """Mixes one-shots into a stem; an open hat is choked by the next hat hit."""
    out = np.zeros(n, dtype=np.float32)
    hits = sorted(hits, key=lambda h: h.time)
    for i, hit in enumerate(hits):
        start = int(round(hit.time * sr))
        if start >= n:
            break
        variants = shots[hit.shot]
        soft, hard = variants[int(rng.integers(len(variants)))]
        w = float(np.clip((hit.vel - _LAYER_VEL[0]) / (_LAYER_VEL[1] - _LAYER_VEL[0]), 0.0, 1.0))
        amp = gain * 10 ** (24.0 * (hit.vel - 1.0) / 20)  # 24 dB of velocity range
        fade = int(0.01 * sr)
        length = len(hard)
        if hit.shot == "hat_open" and i + 1 < len(hits):  # choked by the next hat hit
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
