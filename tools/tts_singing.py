"""Sung lines from text-to-speech, re-synthesised onto melodies with the WORLD vocoder.

Stands in for OpenSinger (Lee et al., 2023, Section 4.1), which cannot be
downloaded here: no Debian package ships recorded singing. Each line is

1. lyric-like text (a small word bank and templates, seeded) spoken by a TTS
   voice: espeak-ng variants, and flite / festival voices when installed;
2. analysed with WORLD (``pyworld``: DIO + StoneMask F0, CheapTrick spectral
   envelope, D4C aperiodicity; 5 ms frames; frames count as voiced where DIO
   finds F0 and the band below 3 kHz is mostly periodic); voiced runs split at energy dips
   are the syllable nuclei, the unvoiced / weak frames between them the
   consonants, and silences are cut;
3. re-timed onto a generated melody (:func:`make_melody`: a major or minor
   scale, mostly stepwise, 80-130 BPM, phrase-final long notes, a few two-note
   melismas): each syllable's consonants are placed just before its note and
   its vowel is stretched (the middle of it; 30 ms transitions kept) to the
   next syllable;
4. given a sung F0 (:func:`melody_f0`): the note pitches with raised-cosine
   glides between notes, a scoop into phrase onsets, vibrato at 5-6.5 Hz
   (20-60 cents, fading in after each onset), slow drift;
5. synthesised at 44.1 kHz with the spectral envelope and aperiodicity warped
   along frequency by the speaker's factor (formant shift: more speakers from
   one voice) and extended above the TTS band (-12 dB/octave, increasingly
   aperiodic; the TTS voices are 8-16 kHz band-limited);
6. normalized (-20 dBFS RMS over voiced frames, peak below -1 dBFS) and written as
   ``OUT/<speaker>/<n>.wav`` (44.1 kHz mono 24-bit), the layout
   ``graphfx.sources.FolderSource(OUT, "singing")`` reads.

A speaker is a TTS voice with a warp factor (1.0, then 1.10 / 0.90, then 1.18 /
0.85, ...) and a register (tenor/baritone or alto/soprano range by the voice's
gender, shifted with the warp). ``--list`` prints the order in which speakers
are made; ``OUT/speakers.json`` records them and the split FolderSource will
use by default (the 5 names first in SHA-1 order are "unseen").

Usage::

    python tools/tts_singing.py --out DIR [--speakers 12] [--lines 20] [--seed 0] [--list]

Needs ``apt-get install espeak-ng`` (and optionally ``flite festival
festvox-us-slt-hts festvox-kallpc16k festvox-kdlpc16k``) and ``pip install pyworld``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np
import soundfile as sf

SR = 44100
FRAME_MS = 5.0
FFT_OUT = 2048  # CheapTrick size of the 44.1 kHz synthesis
DEFAULT_UNSEEN = 5  # FolderSource's default for singing


class ToolError(Exception):
    """A problem the user can fix (printed as one line, exit status 2)."""


# ----------------------------------------------------------------------------- voices
@dataclass(frozen=True)
class Voice:
    name: str
    engine: str  # espeak-ng, flite, festival
    arg: str  # espeak voice, flite voice, festival voice function
    gender: str  # m or f


#: Base voices in the order speakers are made (engines interleaved, most natural first).
VOICES: Tuple[Voice, ...] = (
    Voice("festival-slt", "festival", "voice_cmu_us_slt_arctic_hts", "f"),
    Voice("flite-rms", "flite", "rms", "m"),
    Voice("espeak-f2", "espeak-ng", "en-us+f2", "f"),
    Voice("flite-awb", "flite", "awb", "m"),
    Voice("espeak-m3", "espeak-ng", "en-us+m3", "m"),
    Voice("flite-slt", "flite", "slt", "f"),
    Voice("festival-kal", "festival", "voice_kal_diphone", "m"),
    Voice("espeak-f4", "espeak-ng", "en-us+f4", "f"),
    Voice("festival-ked", "festival", "voice_ked_diphone", "m"),
    Voice("espeak-m1", "espeak-ng", "en-gb+m1", "m"),
    Voice("espeak-f5", "espeak-ng", "en-gb+f5", "f"),
    Voice("flite-kal16", "flite", "kal16", "m"),
    Voice("espeak-m7", "espeak-ng", "en-us+m7", "m"),
    Voice("espeak-f1", "espeak-ng", "en-gb+f1", "f"),
    Voice("espeak-m2", "espeak-ng", "en-us+m2", "m"),
)
WARPS = (1.0, 1.10, 0.90, 1.18, 0.85)
#: MIDI note at the centre of a melody, by gender.
REGISTER = {"m": 52.0, "f": 64.0}


@dataclass(frozen=True)
class Speaker:
    name: str
    voice: Voice
    warp: float

    @property
    def center(self) -> float:
        """Centre pitch (MIDI) of the speaker's melodies: the voice's register moved with the warp."""
        return REGISTER[self.voice.gender] + 24.0 * math.log2(self.warp)


def engine_available(engine: str) -> bool:
    return shutil.which({"festival": "text2wave"}.get(engine, engine)) is not None


def festival_voice_installed(func: str) -> bool:
    name = func[len("voice_"):]
    for root in ("/usr/share/festival/voices", "/usr/lib/festival/voices"):
        if os.path.isdir(root) and any(os.path.isdir(os.path.join(root, lang, name)) for lang in os.listdir(root)):
            return True
    return False


def available_voices() -> List[Voice]:
    out = []
    for v in VOICES:
        if not engine_available(v.engine):
            continue
        if v.engine == "festival" and not festival_voice_installed(v.arg):
            continue
        out.append(v)
    return out


def speakers(voices: Sequence[Voice], n: int) -> List[Speaker]:
    """The first ``n`` speakers: every voice unwarped, then every voice with the next warps."""
    out = []
    for w in WARPS:
        for v in voices:
            out.append(Speaker(v.name if w == 1.0 else f"{v.name}-w{w:.2f}", v, w))
    if n > len(out):
        raise ToolError(f"only {len(out)} speakers can be made from the {len(voices)} installed voices "
                        f"({len(WARPS)} warps each); install flite / festival voices or ask for fewer")
    return out[:n]


def unseen_names(names: Sequence[str], k: int = DEFAULT_UNSEEN) -> List[str]:
    """The names FolderSource holds out as unseen by default (first ``k`` in SHA-1 order)."""
    return sorted(sorted(names, key=lambda s: hashlib.sha1(s.encode()).hexdigest())[:k])


# ----------------------------------------------------------------------------- lyrics
_WORDS = {
    "subj": ["I", "you", "we", "they", "my heart", "the world", "your love", "the night", "my baby", "the river"],
    "verb": ["hold", "call", "need", "find", "feel", "want", "follow", "remember", "carry", "dream of", "wait for",
             "run to", "sing to", "fall for", "lean on"],
    "verb_i": ["shine", "fall", "burn", "fade", "rise", "cry", "sing", "dance", "glow", "wander", "linger"],
    "adj": ["golden", "silver", "endless", "lonely", "quiet", "burning", "gentle", "broken", "shining", "distant",
            "tender", "wild", "blue", "open", "falling"],
    "noun": ["light", "sky", "heart", "fire", "rain", "road", "ocean", "morning", "summer", "stars", "river", "moon",
             "dream", "home", "shadow", "window", "garden", "city", "wind", "song"],
    "time": ["tonight", "forever", "again", "today", "all night", "till the morning", "once more", "for a while"],
    "interj": ["oh", "oh oh", "yeah", "hey", "ooh", "la la", "whoa"],
    "adv": ["slowly", "softly", "gently", "closer", "higher", "away", "home"],
}
_TEMPLATES = (
    "{subj} {verb} the {adj} {noun}",
    "{interj}, {subj} {verb} you {time}",
    "{adj} {noun}, {adj} {noun}",
    "take me {adv}, take me {adv}",
    "under the {adj} {noun} we {verb_i}",
    "{subj} will {verb_i} {time}",
    "and the {noun} will {verb_i} {adv}",
    "{interj}, {adj} {noun} {time}",
    "I {verb} the {noun} and the {noun}",
    "{verb} me {adv}, {verb} me {time}",
)


def lyric_line(rng: np.random.Generator, phrases: int = 2) -> str:
    """One lyric-like line of ``phrases`` template phrases."""
    parts = []
    for _ in range(phrases):
        text = _TEMPLATES[int(rng.integers(len(_TEMPLATES)))]
        while "{" in text:  # fill slots one by one so repeated slots get different words
            start = text.index("{")
            key = text[start + 1:text.index("}", start)]
            words = _WORDS[key]
            text = text[:start] + words[int(rng.integers(len(words)))] + text[text.index("}", start) + 1:]
        parts.append(text)
    return ", ".join(parts)


# ----------------------------------------------------------------------------- melody (pure numpy)
@dataclass
class Note:
    onset: float  # s
    duration: float  # s
    pitch: float  # MIDI
    syllable: int  # index of the syllable it carries
    phrase_start: bool = False


_SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}


def make_melody(n_syllables: int, rng: np.random.Generator, center: float = 60.0,
                tempo: Optional[float] = None, start: float = 0.3) -> List[Note]:
    """Notes for ``n_syllables`` syllables: one (sometimes two) per syllable, phrases with rests.

    Pitches lie on a random major/minor scale within ``center`` +-7 semitones, mostly stepwise; durations
    are 1/2 to 2 beats at ``tempo`` (80-130 BPM drawn if None), phrase-final notes 1.5-3 beats.
    """
    if n_syllables < 1:
        return []
    tempo = float(rng.uniform(80, 130)) if tempo is None else float(tempo)
    beat = 60.0 / tempo
    scale = _SCALES["major" if rng.random() < 0.6 else "minor"]
    tonic = center - 5 + int(rng.integers(0, 10))
    pitches = np.array([tonic + 12 * o + s for o in range(-2, 3) for s in scale], dtype=float)
    pitches = pitches[np.abs(pitches - center) <= 7]
    k = int(np.argmin(np.abs(pitches - center - rng.uniform(-3, 3))))
    notes: List[Note] = []
    t = start
    phrase_len = int(rng.integers(4, 9))
    in_phrase = 0
    for syl in range(n_syllables):
        last_of_phrase = in_phrase == phrase_len - 1 or syl == n_syllables - 1
        if last_of_phrase:
            beats = float(rng.choice([1.5, 2.0, 3.0]))
        else:
            beats = float(rng.choice([0.5, 1.0, 1.5, 2.0], p=[0.5, 0.35, 0.1, 0.05]))
        count = 2 if (not last_of_phrase and beats >= 1.0 and rng.random() < 0.12) else 1
        for c in range(count):
            dur = beats * beat / count
            notes.append(Note(t, dur, float(pitches[k]), syl, phrase_start=(in_phrase == 0 and c == 0)))
            t += dur
            step = int(rng.choice([-2, -1, -1, 0, 1, 1, 2, -3, 3, 4, -4],
                                  p=[0.1, 0.2, 0.1, 0.12, 0.2, 0.1, 0.1, 0.02, 0.02, 0.02, 0.02]))
            k = int(np.clip(k + step, 0, len(pitches) - 1))
        in_phrase += 1
        if last_of_phrase and syl < n_syllables - 1:  # rest (breath) between phrases
            t += beat * float(rng.choice([0.5, 1.0]))
            in_phrase = 0
            phrase_len = int(rng.integers(4, 9))
    return notes


def melody_f0(notes: Sequence[Note], times: np.ndarray, rng: Optional[np.random.Generator] = None,
              vibrato_rate: Optional[float] = None, vibrato_depth: Optional[float] = None,
              glide: Optional[float] = None, drift: float = 8.0) -> np.ndarray:
    """Sung F0 (Hz) at ``times`` (s) for ``notes``.

    Args:
        notes: the melody (sorted by onset).
        times: frame times in s.
        rng: random generator for the drawn defaults, the vibrato rate wobble and the drift.
        vibrato_rate: Hz (default drawn in 5-6.5).
        vibrato_depth: cents, half of peak-to-peak (default drawn in 20-60).
        glide: s, length of the raised-cosine transition between notes (default drawn in 0.04-0.12).
        drift: cents, standard deviation of a slow random drift.

    Before the first note / after the last the pitch of the nearest note is held; the caller decides
    which frames are voiced. Vibrato fades in from 0.15 s after each onset over 0.25 s (only on notes
    longer than 0.3 s); phrase onsets scoop up from 80 cents below over 80 ms.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    rate = float(rng.uniform(5.0, 6.5)) if vibrato_rate is None else float(vibrato_rate)
    depth = float(rng.uniform(20.0, 60.0)) if vibrato_depth is None else float(vibrato_depth)
    glide = float(rng.uniform(0.04, 0.12)) if glide is None else float(glide)
    times = np.asarray(times, dtype=np.float64)
    if not notes:
        return np.zeros_like(times)
    onsets = np.array([n.onset for n in notes])
    pitch = np.array([n.pitch for n in notes])
    idx = np.clip(np.searchsorted(onsets, times, side="right") - 1, 0, len(notes) - 1)
    semis = pitch[idx].copy()
    # glides: raised cosine from the previous pitch, centred on each onset
    for k in range(1, len(notes)):
        a, b = onsets[k] - glide / 2, onsets[k] + glide / 2
        m = (times >= a) & (times < b)
        if m.any():
            w = 0.5 - 0.5 * np.cos(np.pi * (times[m] - a) / glide)
            semis[m] = pitch[k - 1] + (pitch[k] - pitch[k - 1]) * w
    cents = np.zeros_like(times)
    for k, n in enumerate(notes):
        if n.phrase_start:  # scoop into phrase onsets
            m = (times >= n.onset) & (times < n.onset + 0.08)
            cents[m] -= 80.0 * (1.0 - (times[m] - n.onset) / 0.08) ** 2
    # vibrato: continuous phase, rate wobbling +-0.2 Hz, depth envelope per note
    dt = np.diff(times, prepend=times[0])
    wobble = 0.2 * np.sin(2 * np.pi * 0.3 * times + rng.uniform(0, 2 * np.pi))
    phase = 2 * np.pi * np.cumsum((rate + wobble) * dt) + rng.uniform(0, 2 * np.pi)
    env = np.zeros_like(times)
    for k, n in enumerate(notes):
        if n.duration <= 0.3:
            continue
        end = n.onset + n.duration
        m = (times >= n.onset) & (times < end)
        ramp = np.clip((times[m] - n.onset - 0.15) / 0.25, 0.0, 1.0)
        env[m] = np.maximum(env[m], ramp)
    cents += depth * env * np.sin(phase)
    if drift > 0 and len(times) > 1:  # slow drift: smoothed noise (~1 Hz)
        step = max(float(np.median(np.diff(times))), 1e-3)
        noise = rng.normal(0.0, 1.0, len(times))
        win = max(1, int(round(0.5 / step)))
        kern = np.hanning(2 * win + 1)
        smooth = np.convolve(noise, kern / kern.sum(), mode="same")
        cents += drift * smooth / (np.std(smooth) + 1e-12)
    return 440.0 * 2.0 ** ((semis - 69.0) / 12.0 + cents / 1200.0)


# ----------------------------------------------------------------------------- TTS
def speak(voice: Voice, text: str, wav: str) -> Tuple[np.ndarray, int]:
    """Speak ``text`` with ``voice`` into ``wav``; mono float64 and its rate."""
    if voice.engine == "espeak-ng":
        cmd = ["espeak-ng", "-v", voice.arg, "-s", "150", "-w", wav, text]
    elif voice.engine == "flite":
        cmd = ["flite", "-voice", voice.arg, "-t", text, "-o", wav]
    elif voice.engine == "festival":
        txt = wav + ".txt"
        with open(txt, "w") as f:
            f.write(text + "\n")
        cmd = ["text2wave", "-eval", f"({voice.arg})", txt, "-o", wav]
    else:
        raise ToolError(f"unknown TTS engine {voice.engine}")
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0 or not os.path.isfile(wav):
        msg = (proc.stderr or proc.stdout).strip().splitlines()
        raise ToolError(f"{voice.engine} failed for voice {voice.arg}: {msg[-1] if msg else proc.returncode}")
    x, rate = sf.read(wav, dtype="float64", always_2d=True)
    return x.mean(axis=1), int(rate)


# ----------------------------------------------------------------------------- analysis and re-timing
def _runs(mask: np.ndarray) -> List[Tuple[int, int]]:
    """``[start, stop)`` of the True runs of ``mask``."""
    m = np.concatenate([[False], np.asarray(mask, bool), [False]])
    d = np.flatnonzero(np.diff(m.astype(int)))
    return list(zip(d[::2], d[1::2]))


def segment(f0: np.ndarray, energy_db: np.ndarray, frame_s: float = FRAME_MS / 1000,
            silence_db: float = 35.0, dip_db: float = 3.0, min_syllable: float = 0.08
            ) -> Tuple[List[Tuple[int, int]], np.ndarray]:
    """Syllable nuclei ``[(start, stop)]`` (frames) and a per-frame "not silent" mask.

    Voiced runs (short gaps filled, runs under 20 ms dropped) are split at energy dips of at least
    ``dip_db`` that leave pieces of at least ``min_syllable`` s; frames more than ``silence_db`` below
    the loudest and unvoiced are silent.
    """
    voiced = f0 > 0
    for a, b in _runs(~voiced):  # fill gaps of <= 2 frames inside voicing
        if a > 0 and b < len(voiced) and b - a <= 2:
            voiced[a:b] = True
    for a, b in _runs(voiced):
        if b - a < 4:
            voiced[a:b] = False
    e = np.convolve(energy_db, np.ones(5) / 5, mode="same")
    loud = e > e.max() - silence_db
    nuclei = []
    min_len = max(2, int(round(min_syllable / frame_s)))
    for a, b in _runs(voiced & loud):
        cuts = [a]
        seg = e[a:b]
        # local minima deep enough relative to the maxima on both sides
        for i in range(1, len(seg) - 1):
            if seg[i] <= seg[i - 1] and seg[i] < seg[i + 1]:
                left, right = seg[cuts[-1] - a:i].max(initial=seg[i]), seg[i:].max(initial=seg[i])
                if min(left, right) - seg[i] >= dip_db and a + i - cuts[-1] >= min_len and b - (a + i) >= min_len:
                    cuts.append(a + i)
        cuts.append(b)
        nuclei += [(cuts[j], cuts[j + 1]) for j in range(len(cuts) - 1)]
    return nuclei, loud | voiced


def retime(nuclei: Sequence[Tuple[int, int]], active: np.ndarray, notes: Sequence[Note], frame_s: float,
           keep: int = 6, total: Optional[float] = None) -> np.ndarray:
    """Source frame position (float; -1 = silence) of each output frame.

    Syllable ``i``'s consonants (active frames between nuclei ``i-1`` and ``i``, silences dropped) end at its
    first note's onset; its nucleus, ``keep`` frames of transition at each end kept as spoken and the middle
    stretched, fills the time until the next syllable's consonants (or its last note's end).
    """
    n_syl = len(nuclei)
    first = {}
    last_end = {}
    for n in notes:
        first.setdefault(n.syllable, n.onset)
        last_end[n.syllable] = n.onset + n.duration
    end_time = max(last_end.values()) + 0.4 if total is None else total
    n_out = int(math.ceil(end_time / frame_s))
    pos = np.full(n_out, -1.0)
    cons = []
    for i in range(n_syl):
        lo = nuclei[i - 1][1] if i > 0 else 0
        frames = [f for f in range(lo, nuclei[i][0]) if active[f]]
        cons.append(frames)
    tail = [f for f in range(nuclei[-1][1], len(active)) if active[f]] if n_syl else []
    for i in range(n_syl):
        if i not in first:
            continue
        onset = int(round(first[i] / frame_s))
        prev_room = onset - (int(round(first[i - 1] / frame_s)) if i > 0 and i - 1 in first else 0)
        c = cons[i]
        max_c = max(1, int(0.4 * prev_room)) if i > 0 else onset
        if len(c) > max_c:  # compress consonants that would eat the previous vowel
            c = [c[int(j * len(c) / max_c)] for j in range(max_c)]
        for j, f in enumerate(c):
            o = onset - len(c) + j
            if 0 <= o < n_out:
                pos[o] = f
        # nucleus until the next syllable's consonants start
        if i + 1 < n_syl and i + 1 in first:
            nxt = int(round(first[i + 1] / frame_s))
            nc = min(len(cons[i + 1]), max(1, int(0.4 * (nxt - onset))))
            stop = nxt - nc
            if (first[i + 1] - last_end[i]) > 0.15:  # a rest follows: end with the note
                stop = min(stop, int(round(last_end[i] / frame_s)))
        else:
            stop = int(round(last_end[i] / frame_s))
        a, b = nuclei[i]
        length = max(stop - onset, 1)
        src_len = b - a
        if length <= src_len:
            src = np.linspace(a, b - 1, length)
        else:
            k = min(keep, src_len // 3)
            mid = np.linspace(a + k, b - 1 - k, length - 2 * k) if src_len - 2 * k > 0 else np.full(length - 2 * k,
                                                                                                     (a + b) / 2)
            src = np.concatenate([np.arange(a, a + k), mid, np.arange(b - k, b)])
        o1 = min(onset + length, n_out)
        pos[onset:o1] = src[: o1 - onset]
    if tail and n_syl and (n_syl - 1) in last_end:  # final consonants after the last note
        start = int(round(last_end[n_syl - 1] / frame_s))
        for j, f in enumerate(tail[: int(0.3 / frame_s)]):
            if start + j < n_out:
                pos[start + j] = f
    return pos


def warp_envelope(sp: np.ndarray, ap: np.ndarray, fs_in: int, warp: float, fft_out: int = FFT_OUT,
                  fs_out: int = SR, tilt_db: float = 12.0, edge: float = 0.8) -> Tuple[np.ndarray, np.ndarray]:
    """Envelope and aperiodicity on the ``fs_out`` grid with frequencies scaled by ``warp``.

    Above ``edge`` x the input Nyquist frequency (where TTS output starts to roll off) the envelope
    continues from its mean level in the band just below, falling by ``tilt_db`` per octave, and becomes
    aperiodic within an octave.
    """
    nyq = fs_in / 2
    f_in = np.linspace(0, nyq, sp.shape[1])
    f_out = np.linspace(0, fs_out / 2, fft_out // 2 + 1)
    src = f_out / warp
    fe = edge * nyq
    inside = src <= fe
    band = (f_in >= 0.85 * fe) & (f_in <= fe)
    log_sp = np.log(np.maximum(sp, 1e-16))
    out_sp = np.empty((sp.shape[0], len(f_out)))
    out_ap = np.empty_like(out_sp)
    for t in range(sp.shape[0]):
        out_sp[t, inside] = np.interp(src[inside], f_in, log_sp[t])
        out_ap[t, inside] = np.interp(src[inside], f_in, ap[t])
    if (~inside).any():
        octaves = np.log2(src[~inside] / fe)
        ref = log_sp[:, band].mean(axis=1, keepdims=True)
        out_sp[:, ~inside] = ref - (tilt_db * np.log(10) / 10) * octaves[None, :]
        a0 = ap[:, band].mean(axis=1, keepdims=True)
        out_ap[:, ~inside] = a0 + (0.999 - a0) * np.clip(octaves, 0, 1)[None, :]
    return np.exp(out_sp), np.clip(out_ap, 0.0, 0.999)


def _pkg_resources_stub() -> None:
    """pyworld <= 0.3.5 imports ``pkg_resources`` (gone from setuptools >= 81) only for its version string."""
    import types
    from importlib import metadata

    stub = types.ModuleType("pkg_resources")
    stub.get_distribution = lambda name: types.SimpleNamespace(version=metadata.version(name))  # type: ignore
    sys.modules["pkg_resources"] = stub


def _require_pyworld():
    try:
        try:
            import pyworld
        except ModuleNotFoundError as err:
            if err.name != "pkg_resources":
                raise
            _pkg_resources_stub()
            import pyworld
    except ImportError:
        raise ToolError("the Python package pyworld is missing; install it with `pip install pyworld` "
                        "(builds from source: needs a C++ compiler and numpy)") from None
    return pyworld


def sing(x: np.ndarray, fs: int, speaker: Speaker, rng: np.random.Generator) -> np.ndarray:
    """Sung version of speech ``x`` (at ``fs``) for ``speaker``: mono float32 at :data:`SR`."""
    pw = _require_pyworld()
    frame_s = FRAME_MS / 1000
    x = np.ascontiguousarray(x, dtype=np.float64)
    f0, t = pw.dio(x, fs, f0_floor=60.0, f0_ceil=600.0, frame_period=FRAME_MS)
    f0 = pw.stonemask(x, f0, t, fs)
    sp = pw.cheaptrick(x, f0, t, fs)
    ap = pw.d4c(x, f0, t, fs)
    # DIO calls some fricatives voiced: keep voicing only where the band below 3 kHz is mostly periodic
    low = np.linspace(0, fs / 2, ap.shape[1]) <= 3000
    f0 = np.where(ap[:, low].mean(axis=1) < 0.5, f0, 0.0)
    energy = 10 * np.log10(sp.sum(axis=1) + 1e-20)
    nuclei, active = segment(f0, energy, frame_s)
    if not nuclei:
        raise ToolError("no voiced syllables found in the TTS output")
    notes = make_melody(len(nuclei), rng, center=speaker.center)
    pos = retime(nuclei, active, notes, frame_s)
    times = np.arange(len(pos)) * frame_s
    f0_out = melody_f0(notes, times, rng)
    # frames: interpolate the envelope (log) and aperiodicity between source frames
    valid = pos >= 0
    p = np.clip(pos, 0, len(f0) - 1)
    lo = np.floor(p).astype(int)
    hi = np.minimum(lo + 1, len(f0) - 1)
    w = (p - lo)[:, None]
    sp_frames = np.exp((1 - w) * np.log(sp[lo] + 1e-16) + w * np.log(sp[hi] + 1e-16))
    ap_frames = (1 - w) * ap[lo] + w * ap[hi]
    src_voiced = f0[np.round(p).astype(int)] > 0
    # voicing of the nucleus frames comes from the nucleus (not from the interpolation's end points)
    in_nucleus = np.zeros(len(f0), bool)
    for a, b in nuclei:
        in_nucleus[a:b] = True
    voiced = valid & (src_voiced | in_nucleus[np.round(p).astype(int)])
    f0_out = np.where(voiced, f0_out, 0.0)
    sp_w, ap_w = warp_envelope(sp_frames, ap_frames, fs, speaker.warp)
    sp_w[~valid] = 1e-12  # silence
    ap_w[~valid] = 0.999
    y = pw.synthesize(np.ascontiguousarray(f0_out), np.ascontiguousarray(sp_w), np.ascontiguousarray(ap_w),
                      SR, FRAME_MS)
    # level: -20 dBFS RMS over voiced frames, peak <= -1 dBFS; 10 ms fades
    hop = int(SR * frame_s)
    vmask = np.repeat(voiced, hop)[: len(y)]
    vmask = np.pad(vmask, (0, len(y) - len(vmask)))
    rms = np.sqrt(np.mean(y[vmask] ** 2)) if vmask.any() else np.sqrt(np.mean(y ** 2))
    y = y * (10 ** (-20 / 20) / max(rms, 1e-9))
    peak = np.max(np.abs(y))
    if peak > 0.89:
        y *= 0.89 / peak
    fade = int(0.01 * SR)
    y[:fade] *= np.linspace(0, 1, fade)
    y[-fade:] *= np.linspace(1, 0, fade)
    return y.astype(np.float32)


# ----------------------------------------------------------------------------- main
def check_tools() -> None:
    if shutil.which("espeak-ng") is None:
        raise ToolError("espeak-ng not found; install it with `apt-get install espeak-ng` (optionally also "
                        "flite festival festvox-us-slt-hts festvox-kallpc16k festvox-kdlpc16k)")
    _require_pyworld()


def line_seed(seed: int, speaker: str, n: int) -> int:
    return zlib.crc32(f"{seed}:{speaker}:{n}".encode())


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="output folder (OUT/<speaker>/<n>.wav)")
    parser.add_argument("--speakers", type=int, default=12, help="number of speakers [12]; >5 for the default "
                        "unseen split of FolderSource")
    parser.add_argument("--lines", type=int, default=20, help="sung lines per speaker [20]")
    parser.add_argument("--seed", type=int, default=0, help="lyrics/melody seed [0]")
    parser.add_argument("--list", action="store_true", help="print the speakers that would be made and exit")
    args = parser.parse_args(argv)
    try:
        return run(args)
    except ToolError as err:
        print(f"tts_singing: error: {err}", file=sys.stderr)
        return 2


def run(args) -> int:
    check_tools()
    if args.speakers < 1 or args.lines < 1:
        raise ToolError("--speakers and --lines must be >= 1")
    voices = available_voices()
    spk = speakers(voices, args.speakers)
    names = [s.name for s in spk]
    unseen = unseen_names(names) if len(names) > DEFAULT_UNSEEN else []
    if args.list:
        for s in spk:
            print(f"{s.name}: {s.voice.engine} {s.voice.arg}, warp {s.warp:.2f}, centre MIDI {s.center:.1f}"
                  + ("  [unseen]" if s.name in unseen else ""))
        return 0
    os.makedirs(args.out, exist_ok=True)
    t_all = time.time()
    tmp = tempfile.mkdtemp(prefix=".tts_singing-", dir=args.out)
    try:
        for k, s in enumerate(spk):
            t0 = time.time()
            final = os.path.join(args.out, s.name)
            part = os.path.join(args.out, f".{s.name}.tmp")
            shutil.rmtree(part, ignore_errors=True)
            os.makedirs(part)
            seconds = 0.0
            for n in range(args.lines):
                rng = np.random.default_rng(line_seed(args.seed, s.name, n))
                text = lyric_line(rng, phrases=int(rng.integers(1, 3)))
                x, fs = speak(s.voice, text, os.path.join(tmp, "speech.wav"))
                y = sing(x, fs, s, rng)
                sf.write(os.path.join(part, f"{n:03d}.wav"), y, SR, subtype="PCM_24")
                seconds += len(y) / SR
            shutil.rmtree(final, ignore_errors=True)
            os.replace(part, final)
            print(f"[{k + 1}/{len(spk)}] {s.name}: {args.lines} lines, {seconds:.0f} s of singing in "
                  f"{time.time() - t0:.1f} s" + (" (unseen by default)" if s.name in unseen else ""), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    info = {"speakers": {s.name: {"engine": s.voice.engine, "voice": s.voice.arg, "gender": s.voice.gender,
                                  "warp": s.warp, "center_midi": s.center} for s in spk},
            "default_unseen": unseen, "seed": args.seed, "lines": args.lines}
    with open(os.path.join(args.out, "speakers.json"), "w") as f:
        json.dump(info, f, indent=1)
    print(f"wrote {len(spk)} speakers to {args.out} in {time.time() - t_all:.1f} s; FolderSource's default "
          f"unseen speakers: {', '.join(unseen) if unseen else 'none (needs more than 5 speakers)'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
