"""The built-in singing source: a procedural singer.

It stands in for OpenSinger (Huang et al., 2021), the singing of Section 4.1
of "Blind Estimation of Audio Processing Graph" (Lee et al., ICASSP 2023)
<https://arxiv.org/abs/2303.08257>, which cannot be shipped. It needs nothing
but numpy, scipy and numba, is deterministic given ``(split, seed)`` and
renders a 3.63 s clip at 44.1 kHz in a few milliseconds.

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
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numba
import numpy as np
from scipy import signal

from graphfx.sources.base import Clip, DrySource, hold_out_last

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
        self._num_unseen = num_unseen

    def names(self, split: Optional[str] = None) -> List[str]:
        return hold_out_last(self.voices, self._num_unseen, split)

    def voice(self, name: str) -> Voice:
        """The parameters of voice ``name``."""
        return self.voices[name]

    def _describe_lines(self) -> List[str]:
        lines = super()._describe_lines()
        lines[0] += ", mono (source-filter synthesis: Rosenberg pulses, cascaded formants)"
        unseen = self.names("unseen")
        for v in self.voices.values():
            split = "unseen" if v.name in unseen else "train"
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
