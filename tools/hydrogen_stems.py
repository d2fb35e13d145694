"""Per-track drum stems from Hydrogen drum kits (Debian's ``hydrogen-drumkits``).

Stands in for the 14 commercial sample libraries of Lee et al. (2023),
Section 4.1: every kit plays generated grooves (:mod:`graphfx.sources.grooves`),
one mono stem per track, written in the layout ``graphfx.sources.FolderSource``
reads::

    OUT/<kit>/<track>/take00.wav ...   (track in kick snare hat tom ride crash; 44.1 kHz mono 24-bit)
    OUT/hydrogen_equalization.json     (the equalization targets and per-kit corrections)

A take's stems share a file name; a track with no hit in a take has no file
(FolderSource reads it as silence).

* Kits: ``<kits-dir>/<Kit>/drumkit.xml`` plus its samples. Both XML schemas of
  the package are read: instruments with velocity ``<layer>`` s (``filename``,
  ``min``, ``max``, ``gain``, ``pitch``), and the old one with a single
  ``<filename>`` per instrument. Instruments are mapped to the six tracks by
  name keywords (see :func:`classify`): kick, snare, hat (closed / open /
  pedal), toms (high / mid / floor), ride, crash (two cymbals); rim shots,
  side sticks, bells, chokes, splashes, chinas and percussion are left out.
  Kits without kick, snare or hat (percussion kits) are skipped; kits missing
  other tracks are used as *partial* (``--full-only`` skips them).
* Each hit picks a velocity layer (``min <= velocity <= max``; a random one
  where layers overlap, the nearest otherwise) and is scaled by the velocity,
  the layer gain and the instrument volume; a hat hit chokes the ringing hat.
* Equalization ("so that each instrument has the same average frequency
  response across the kit", Section 4.1): a first pass renders every kit and
  measures, per track, the long-term energy spectrum of its stems divided by
  the number of hits, smoothed over 1/3 octave. The target is the mean (in dB)
  over the kits moved to a fixed energy per hit (:data:`HIT_ENERGY_DB`); the
  difference, its shape limited to +-12 dB around a broadband gain that matches
  the energy, becomes a minimum-phase FIR filter applied to that kit's track in
  the second (writing) pass. Each kit/track is then scaled down if a take would
  clip (reported).

Usage::

    python tools/hydrogen_stems.py --out DIR [--kits-dir /usr/share/hydrogen/data/drumkits]
        [--kits NAME ...] [--takes 8] [--seconds 10] [--seed 0] [--full-only] [--list]

Needs numpy, scipy, soundfile and ``apt-get install hydrogen-drumkits``.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import time
import xml.etree.ElementTree as ET
import zlib
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import soundfile as sf
from scipy import signal

from graphfx.sources.grooves import TRACKS, VARIANTS, Hit, make_groove

SR = 44100
DEFAULT_KITS_DIR = "/usr/share/hydrogen/data/drumkits"
EQ_NFFT = 4096
MAX_EQ_DB = 12.0
HEADROOM = 0.5  # -6 dB on top of the equalized level
#: Energy of one hit (dB re 1 s of full scale) each track is equalized to, before HEADROOM: the mean
#: levels of five Hydrogen kits, fixed so that kits made by different tools and runs match in level.
HIT_ENERGY_DB: Dict[str, float] = {"kick": -24.0, "snare": -28.0, "hat": -34.0, "tom": -26.0, "ride": -36.0,
                                   "crash": -30.0}
_EXCLUDE = {"stick", "clap", "cowbell", "rim", "rimshot", "roll", "choke", "swish", "splash", "china", "bell", "cup",
            "tambourine", "agogo", "flink", "click", "zap", "fx", "conga", "whistle", "semi", "semiopen", "free",
            "side", "sample", "bongo", "cajon", "djembe", "maraca", "snaps", "woodblock", "clave", "brush"}


class ToolError(Exception):
    """A problem the user can fix (printed as one line, exit status 2)."""


# ----------------------------------------------------------------------------- kit files
@dataclass
class Layer:
    path: str
    vmin: float = 0.0
    vmax: float = 1.0
    gain: float = 1.0
    pitch: float = 0.0  # semitones


@dataclass
class Instrument:
    name: str
    volume: float = 1.0
    layers: List[Layer] = field(default_factory=list)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(elem, name: str, default: Optional[str] = None) -> Optional[str]:
    for c in elem:
        if _local(c.tag) == name:
            return (c.text or "").strip()
    return default


def _float(text: Optional[str], default: float) -> float:
    try:
        return float(text) if text not in (None, "") else default
    except ValueError:
        return default


def parse_drumkit(xml_path: str) -> Tuple[str, List[Instrument]]:
    """Kit name and instruments (with existing sample files) of a Hydrogen ``drumkit.xml``."""
    try:
        root = ET.parse(xml_path).getroot()
    except (ET.ParseError, OSError) as err:
        raise ToolError(f"cannot read {xml_path}: {err}") from None
    folder = os.path.dirname(xml_path)
    name = _child(root, "name") or os.path.basename(folder)
    instruments = []
    for elem in root.iter():
        if _local(elem.tag) != "instrument":
            continue
        inst = Instrument(_child(elem, "name", "") or "", _float(_child(elem, "volume"), 1.0))
        if _child(elem, "isMuted", "false").lower() == "true":
            continue
        for layer in elem.iter():
            if _local(layer.tag) == "layer":
                fn = _child(layer, "filename")
                if fn:
                    inst.layers.append(Layer(os.path.join(folder, fn), _float(_child(layer, "min"), 0.0),
                                             _float(_child(layer, "max"), 1.0), _float(_child(layer, "gain"), 1.0),
                                             _float(_child(layer, "pitch"), 0.0)))
        fn = _child(elem, "filename")
        if not inst.layers and fn:  # old schema: one sample per instrument
            inst.layers.append(Layer(os.path.join(folder, fn)))
        inst.layers = [la for la in inst.layers if os.path.isfile(la.path)]
        if inst.layers:
            instruments.append(inst)
    return name, instruments


def _tokens(name: str) -> Tuple[str, List[str]]:
    s = name.lower()
    s = re.sub(r"^\s*[a-g]#?\d+\s*-\s*", "", s)  # "c#3 - stick" (note-named instruments)
    s = re.sub(r"\([^)]*\)", " ", s)  # '(Tama Superstar 16")'
    return s, re.findall(r"[a-z]+|\d+", s)


def classify(name: str) -> List[Tuple[str, int, int]]:
    """``(track, slot, preference)`` for an instrument name (lower preference wins); [] if unused."""
    s, toks = _tokens(name)
    joined = "".join(toks)
    if not toks or _EXCLUDE.intersection(toks):
        return []
    found = []
    if "kick" in joined or "bassdrum" in joined or "bd" in toks:
        found.append(("kick", 0, 0))
    elif "snare" in joined:
        found.append(("snare", 0, 0))
    elif "hat" in toks or "hh" in toks or "hihat" in joined:
        if {"open", "opened", "op"}.intersection(toks):
            found.append(("hat", 1, 0))
        elif {"pedal", "pd", "foot"}.intersection(toks):
            found.append(("hat", 2, 0))
        else:
            found.append(("hat", 0, 0 if {"closed", "close", "cl"}.intersection(toks) else 1))
    elif re.search(r"\btom", s):
        if {"floor", "low", "lo", "3"}.intersection(toks) or "floor" in joined:
            rank = 2
        elif "mid" in toks or "middle" in toks or "2" in toks:
            rank = 1
        elif {"hi", "high", "1", "small"}.intersection(toks) or "tomhi" in joined:
            rank = 0
        else:
            rank = 1
        found.append(("tom", rank, 0))
    else:
        if "ride" in joined:
            found.append(("ride", 0, 1 if "crash" in joined else 0))
        if "crash" in joined or "cymbal" in toks:
            found.append(("crash", 0, 1 if "ride" in joined else 0))
    return found


def map_kit(instruments: Sequence[Instrument]) -> Dict[str, List[Instrument]]:
    """Per track, one instrument per groove variant (:data:`graphfx.sources.grooves.VARIANTS`); missing slots
    fall back to the nearest."""
    cands: Dict[str, List[Tuple[int, int, int, Instrument]]] = {t: [] for t in TRACKS}
    for order, inst in enumerate(instruments):
        for track, slot, pref in classify(inst.name):
            cands[track].append((slot, pref, order, inst))
    kit: Dict[str, List[Instrument]] = {}
    for track, found in cands.items():
        if not found:
            continue
        n = len(VARIANTS[track])
        if track == "crash":  # the first two crash cymbals
            ordered = [c[3] for c in sorted(found, key=lambda c: (c[1], c[2]))]
            kit[track] = [ordered[min(i, len(ordered) - 1)] for i in range(n)]
            continue
        slots = []
        for i in range(n):  # the preferred instrument of the nearest slot (toms: the higher on a tie; hat: closed)
            best = min(found, key=lambda c: ((abs(c[0] - i), c[0]) if track == "tom" else (c[0] != i, c[0] != 0),
                                             c[1], c[2]))
            slots.append(best[3])
        kit[track] = slots
    return kit


def find_kits(kits_dir: str) -> List[str]:
    if not os.path.isdir(kits_dir):
        raise ToolError(f"Hydrogen drum kits folder {kits_dir} not found; install the kits with "
                        f"`apt-get install hydrogen-drumkits` or give --kits-dir")
    found = sorted(os.path.join(kits_dir, d, "drumkit.xml") for d in os.listdir(kits_dir)
                   if os.path.isfile(os.path.join(kits_dir, d, "drumkit.xml")))
    if not found:
        raise ToolError(f"no <Kit>/drumkit.xml under {kits_dir}; install `apt-get install hydrogen-drumkits`")
    return found


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", name).strip("._") or "kit"


# ----------------------------------------------------------------------------- rendering
class SampleCache:
    """Samples as mono float32 at :data:`SR` (resampled, pitch-shifted by the layer's semitones)."""

    def __init__(self):
        self._cache: Dict[Tuple[str, float], np.ndarray] = {}

    def get(self, layer: Layer) -> np.ndarray:
        key = (layer.path, layer.pitch)
        if key not in self._cache:
            try:
                data, rate = sf.read(layer.path, dtype="float32", always_2d=True)
            except Exception as err:
                raise ToolError(f"cannot read sample {layer.path}: {err}") from None
            x = data.mean(axis=1)
            if rate != SR:
                g = np.gcd(int(rate), SR)
                x = signal.resample_poly(x, SR // g, int(rate) // g).astype(np.float32)
            if layer.pitch:
                ratio = 2.0 ** (layer.pitch / 12.0)
                pos = np.arange(0, len(x) - 1, ratio)
                x = np.interp(pos, np.arange(len(x)), x).astype(np.float32)
            self._cache[key] = x
        return self._cache[key]


def pick_layers(inst: Instrument, velocity: float) -> List[Layer]:
    """The layers covering ``velocity`` (the nearest one if none does)."""
    inside = [la for la in inst.layers if la.vmin <= velocity <= la.vmax]
    if inside:
        return inside
    return [min(inst.layers, key=lambda la: min(abs(velocity - la.vmin), abs(velocity - la.vmax)))]


def render_track(slots: List[Instrument], hits: Sequence[Hit], num_samples: int, cache: SampleCache,
                 rng: np.random.Generator, gains: Optional[List[float]] = None, choke: bool = False) -> np.ndarray:
    """Mono stem of ``hits`` played on ``slots`` (one instrument per groove variant)."""
    out = np.zeros(num_samples, dtype=np.float64)
    starts = [int(round(h.time * SR)) for h in hits]
    fade = int(0.015 * SR)
    for k, (hit, start) in enumerate(zip(hits, starts)):
        if start >= num_samples:
            continue
        slot = min(hit.variant, len(slots) - 1)
        inst = slots[slot]
        layers = pick_layers(inst, hit.velocity)
        layer = layers[int(rng.integers(len(layers)))]
        x = cache.get(layer).astype(np.float64) * (hit.velocity * layer.gain * inst.volume)
        if gains is not None:
            x = x * gains[slot]
        if choke and k + 1 < len(starts):  # a hat hit stops the ringing one
            stop = max(starts[k + 1] - start, 1)
            if stop < len(x):
                x = x[:stop + fade].copy()
                x[stop:] *= np.linspace(1.0, 0.0, len(x) - stop)
        n = min(len(x), num_samples - start)
        out[start:start + n] += x[:n]
    return out


# ----------------------------------------------------------------------------- equalization
def third_octave_smooth(freqs: np.ndarray, power: np.ndarray, fraction: float = 3.0) -> np.ndarray:
    """Mean of ``power`` over ``[f 2^(-1/2fraction), f 2^(1/2fraction)]`` around each frequency."""
    csum = np.concatenate([[0.0], np.cumsum(power)])
    df = freqs[1] - freqs[0]
    half = 2.0 ** (1.0 / (2.0 * fraction))
    lo = np.clip(np.floor(freqs / half / df).astype(int), 0, len(freqs) - 1)
    hi = np.clip(np.ceil(freqs * half / df).astype(int), 0, len(freqs) - 1)
    hi = np.maximum(hi, lo)
    return (csum[hi + 1] - csum[lo]) / (hi + 1 - lo)


def energy_spectrum(x: np.ndarray, nfft: int = EQ_NFFT) -> np.ndarray:
    """Energy spectral density (Welch power x duration) of ``x``, ``nfft // 2 + 1`` bins."""
    x = np.asarray(x, dtype=np.float64)
    if len(x) < nfft:
        x = np.pad(x, (0, nfft - len(x)))
    _, psd = signal.welch(x, SR, window="hann", nperseg=nfft, noverlap=nfft // 2, scaling="density")
    return psd * len(x) / SR


def freqs_of(nfft: int = EQ_NFFT) -> np.ndarray:
    return np.fft.rfftfreq(nfft, 1.0 / SR)


def ltas_db(energy: np.ndarray, nfft: int = EQ_NFFT) -> np.ndarray:
    """1/3-octave smoothed spectrum in dB."""
    return 10.0 * np.log10(third_octave_smooth(freqs_of(nfft), energy) + 1e-20)


def equalization(spectra_db: Dict[str, np.ndarray], freqs: np.ndarray, max_db: float = MAX_EQ_DB,
                 target_db: Optional[np.ndarray] = None, band: Tuple[float, float] = (30.0, 18000.0),
                 floor_db: float = 80.0) -> Tuple[np.ndarray, Dict[str, np.ndarray]]:
    """Target spectrum and per-kit correction curves (dB) for one track.

    Args:
        spectra_db: per kit, the (smoothed) long-term spectrum of the track in dB.
        freqs: their frequencies (Hz).
        max_db: the spectral shape is corrected by at most this much (the broadband level is matched fully).
        target_db: the target (default: the mean of ``spectra_db`` in dB over the kits).
        band: outside it, the correction is held at its value at the band edge.
        floor_db: bins more than this below the target's peak are not shaped.

    Returns:
        ``(target_db, {kit: correction_db})``; adding a kit's correction to its spectrum moves it
        toward the target.
    """
    if target_db is None:
        target_db = np.mean(np.stack(list(spectra_db.values())), axis=0)
    target_db = np.asarray(target_db, dtype=np.float64)
    inband = (freqs >= band[0]) & (freqs <= band[1])
    ib = np.flatnonzero(inband)
    relevant = inband & (target_db > target_db[inband].max() - floor_db)
    corrections = {}
    for kit, spec in spectra_db.items():
        spec = np.asarray(spec, dtype=np.float64)
        t_lin, k_lin = 10 ** (target_db[relevant] / 10), 10 ** (spec[relevant] / 10)
        level = 10 * np.log10(t_lin.sum() / max(k_lin.sum(), 1e-30))
        shape = np.where(relevant, target_db - spec - level, 0.0)
        shape = np.clip(shape, -max_db, max_db)
        shape[: ib[0]] = shape[ib[0]]
        shape[ib[-1] + 1:] = shape[ib[-1]]
        # smooth the clipped curve once more (in the power domain of the gain) so that it has no corners
        shape = 10 * np.log10(third_octave_smooth(freqs, 10 ** (shape / 10)))
        corrections[kit] = np.clip(shape, -max_db, max_db) + level
    return target_db, corrections


def minimum_phase_fir(freqs: np.ndarray, gain_db: np.ndarray, ntaps: int = 2048, nfft: int = 16384) -> np.ndarray:
    """A minimum-phase FIR whose magnitude follows ``gain_db`` (homomorphic method)."""
    grid = np.fft.rfftfreq(nfft, 1.0 / SR)
    log_mag = np.interp(grid, freqs, gain_db) * (np.log(10.0) / 20.0)
    cep = np.fft.irfft(log_mag, nfft)
    fold = np.zeros(nfft)
    fold[0] = cep[0]
    fold[1:nfft // 2] = 2 * cep[1:nfft // 2]
    fold[nfft // 2] = cep[nfft // 2]
    h = np.fft.irfft(np.exp(np.fft.rfft(fold)), nfft)[:ntaps]
    h[ntaps // 2:] *= np.hanning(ntaps)[ntaps // 2:]  # fade the tail
    return h


def apply_fir(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    return signal.fftconvolve(x, h)[: len(x)]


def stem_spectrum(takes: Sequence[Optional[np.ndarray]], hits: int, nfft: int = EQ_NFFT) -> Optional[np.ndarray]:
    """Long-term energy spectrum of a kit's track (all its takes) per hit, or None without hits."""
    xs = [x for x in takes if x is not None]
    if not xs or hits <= 0:
        return None
    return energy_spectrum(np.concatenate(xs), nfft) / hits


def equalize_kits(spectra: Dict[str, Dict[str, np.ndarray]], target: Optional[Dict[str, List[float]]] = None,
                  max_db: float = MAX_EQ_DB, levels: Optional[Dict[str, float]] = HIT_ENERGY_DB
                  ) -> Tuple[Dict[str, Dict[str, np.ndarray]], dict]:
    """FIR filters ``{kit: {track: fir}}`` from per-hit energy spectra ``{kit: {track: energy}}``, and a report.

    The target of a track is ``target[track]`` (dB) if given, else the mean in dB over the kits, shifted
    so that one hit has the energy ``levels[track]`` (unless ``levels`` is None).
    """
    freqs = freqs_of()
    filters: Dict[str, Dict[str, np.ndarray]] = {k: {} for k in spectra}
    report = {"freqs_hz": [round(float(f), 2) for f in freqs], "target_db": {}, "correction_db": {},
              "max_shape_db": max_db}
    for track in TRACKS:
        kits = {k: ltas_db(s[track]) for k, s in spectra.items() if track in s}
        if not kits:
            continue
        if target and track in target:
            tgt = np.asarray(target[track], dtype=np.float64)
        else:
            tgt = np.mean(np.stack(list(kits.values())), axis=0)
            if levels is not None:
                energy_db = 10 * np.log10(np.sum(10 ** (tgt / 10)) * (freqs[1] - freqs[0]))
                tgt = tgt + levels[track] - energy_db
        tgt, corr = equalization(kits, freqs, max_db, tgt)
        report["target_db"][track] = [round(float(v), 2) for v in tgt]
        for kit, c in corr.items():
            filters[kit][track] = minimum_phase_fir(freqs, c)
            report["correction_db"].setdefault(kit, {})[track] = [round(float(v), 2) for v in c]
    return filters, report


def load_target(path: Optional[str]) -> Optional[Dict[str, List[float]]]:
    if not path:
        return None
    try:
        with open(path) as f:
            data = json.load(f)
        target = data["target_db"]
        if len(data["freqs_hz"]) != EQ_NFFT // 2 + 1:
            raise ValueError("frequency grid differs")
    except (OSError, ValueError, KeyError) as err:
        raise ToolError(f"cannot use equalization target {path}: {err}") from None
    return target


# ----------------------------------------------------------------------------- output
def take_seed(seed: int, kit: str, take: int, same_grooves: bool = False) -> int:
    """Seed of a take's groove: per kit, or shared by all kits (``same_grooves``, as the paper's MIDI files)."""
    return zlib.crc32(f"{seed}:{'' if same_grooves else kit}:{take}".encode())


def write_kit(out_dir: str, kit: str, stems: Dict[str, List[Optional[np.ndarray]]]) -> Dict[str, float]:
    """Write ``stems[track][take]`` (None: no file) atomically to ``out_dir/kit``; returns the applied clip guards."""
    final = os.path.join(out_dir, kit)
    tmp = os.path.join(out_dir, f".{kit}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    guards = {}
    for track, takes in stems.items():
        peak = max((float(np.max(np.abs(x))) for x in takes if x is not None), default=0.0)
        scale = min(1.0, 0.98 / peak) if peak > 0 else 1.0
        if scale < 1.0:
            guards[track] = round(20 * np.log10(scale), 2)
        for i, x in enumerate(takes):
            if x is None or not np.any(x):
                continue
            os.makedirs(os.path.join(tmp, track), exist_ok=True)
            sf.write(os.path.join(tmp, track, f"take{i:02d}.wav"), (x * scale).astype(np.float32), SR,
                     subtype="PCM_24")
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    return guards


def common_args(parser: argparse.ArgumentParser) -> None:
    """Adds the options both drum tools take (output, takes, grooves, equalization)."""
    parser.add_argument("--out", required=True, help="output folder (OUT/<kit>/<track>/<take>.wav)")
    parser.add_argument("--takes", type=int, default=8, help="takes per kit [8]")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of a take [10]")
    parser.add_argument("--seed", type=int, default=0, help="groove seed [0]")
    parser.add_argument("--same-grooves", action="store_true",
                        help="all kits play the same grooves (default: each kit its own)")
    parser.add_argument("--max-eq-db", type=float, default=MAX_EQ_DB, help="limit of the EQ shape [12]")
    parser.add_argument("--eq-target", default=None,
                        help="use the target spectra of an earlier run's *_equalization.json instead of the mean")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    common_args(parser)
    parser.add_argument("--kits-dir", default=DEFAULT_KITS_DIR, help=f"Hydrogen drumkits folder [{DEFAULT_KITS_DIR}]")
    parser.add_argument("--kits", nargs="+", default=None, help="only these kits (folder or kit names)")
    parser.add_argument("--full-only", action="store_true", help="skip kits lacking one of the six tracks")
    parser.add_argument("--list", action="store_true", help="print each kit's track mapping and exit")
    args = parser.parse_args(argv)
    try:
        return run(args)
    except ToolError as err:
        print(f"hydrogen_stems: error: {err}", file=sys.stderr)
        return 2


def run(args) -> int:
    if args.takes < 1 or args.seconds <= 0:
        raise ToolError("--takes must be >= 1 and --seconds > 0")
    t_all = time.time()
    kits = []
    for xml in find_kits(args.kits_dir):
        folder = os.path.basename(os.path.dirname(xml))
        name, instruments = parse_drumkit(xml)
        if args.kits and folder not in args.kits and name not in args.kits:
            continue
        mapping = map_kit(instruments)
        missing = [t for t in TRACKS if t not in mapping]
        if args.list:
            print(f"{folder}: " + ("; ".join(f"{t}: " + ", ".join(dict.fromkeys(i.name for i in mapping[t]))
                                             for t in TRACKS if t in mapping)) +
                  (f"  [missing {', '.join(missing)}]" if missing else ""))
            continue
        if {"kick", "snare", "hat"} - set(mapping):
            print(f"skip {folder}: no {', '.join(t for t in ('kick', 'snare', 'hat') if t not in mapping)}")
            continue
        if missing and args.full_only:
            print(f"skip {folder}: no {', '.join(missing)} (--full-only)")
            continue
        kits.append((safe_name(folder), mapping, missing))
    if args.list:
        return 0
    if args.kits:
        unknown = set(args.kits) - {k for k, _, _ in kits} - {os.path.basename(os.path.dirname(x))
                                                               for x in find_kits(args.kits_dir)}
        if unknown:
            raise ToolError(f"kits not found under {args.kits_dir}: {', '.join(sorted(unknown))}")
    if not kits:
        raise ToolError("no usable kits")
    os.makedirs(args.out, exist_ok=True)
    num = int(round(args.seconds * SR))

    def render(kit, mapping):
        cache = SampleCache()
        stems: Dict[str, List[Optional[np.ndarray]]] = {t: [] for t in mapping}
        hits = {t: 0 for t in mapping}
        for take in range(args.takes):
            groove = make_groove(args.seconds, take_seed(args.seed, kit, take, args.same_grooves))
            rng = np.random.default_rng(take_seed(args.seed, kit, take))
            for track, slots in mapping.items():
                h = groove.hits[track]
                hits[track] += len(h)
                stems[track].append(render_track(slots, h, num, cache, rng, choke=(track == "hat")) if h else None)
        return stems, hits

    print(f"analysing {len(kits)} kits for equalization ...", flush=True)
    t0 = time.time()
    spectra: Dict[str, Dict[str, np.ndarray]] = {}
    for kit, mapping, _ in kits:  # pass 1: long-term spectra of the unequalized stems
        stems, hits = render(kit, mapping)
        spectra[kit] = {t: sp for t in stems for sp in [stem_spectrum(stems[t], hits[t])] if sp is not None}
    filters, report = equalize_kits(spectra, load_target(args.eq_target), args.max_eq_db)
    print(f"equalization computed in {time.time() - t0:.1f} s", flush=True)
    for k, (kit, mapping, missing) in enumerate(kits):  # pass 2: the same stems, equalized
        t0 = time.time()
        stems, _ = render(kit, mapping)
        for track, takes in stems.items():
            takes[:] = [None if x is None else apply_fir(x, filters[kit][track]) * HEADROOM for x in takes]
        guards = write_kit(args.out, kit, stems)
        notes = [f"partial: no {', '.join(missing)}"] if missing else []
        if guards:
            notes.append("lowered to avoid clipping: " + ", ".join(f"{t} {g} dB" for t, g in guards.items()))
        print(f"[{k + 1}/{len(kits)}] {kit}: {len(mapping)} tracks x {args.takes} takes x {args.seconds:g} s "
              f"in {time.time() - t0:.1f} s" + (f" ({'; '.join(notes)})" if notes else ""), flush=True)
    report["kits"] = {kit: {"tracks": {t: [i.name for i in slots] for t, slots in mapping.items()},
                            "missing": missing} for kit, mapping, missing in kits}
    with open(os.path.join(args.out, "hydrogen_equalization.json"), "w") as f:
        json.dump(report, f)
    print(f"wrote {len(kits)} kits to {args.out} in {time.time() - t_all:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
