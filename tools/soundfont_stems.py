"""Per-track drum stems from General MIDI soundfont drum kits, rendered with fluidsynth.

A kit is a (soundfont, preset) pair of bank 128 (the GM percussion bank), e.g.
``FluidR3_GM-000-Standard`` or ``TimGM6mb-025-TR-808``. Every kit plays
generated grooves (:mod:`graphfx.sources.grooves`); the stems are written in
the layout ``graphfx.sources.FolderSource`` reads (same as
``hydrogen_stems.py``)::

    OUT/<soundfont>-<preset>-<name>/<track>/take00.wav ...   (44.1 kHz mono 24-bit)
    OUT/soundfont_equalization.json

* One MIDI file per kit and track (written with ``mido``) holds all takes back
  to back, 4 s apart; GM notes on channel 10: kick 36, snare 38, hat 42 closed /
  46 open / 44 pedal, toms 48 high / 45 mid / 41 floor, ride 51, crash 49 / 57.
  Velocity 0..1 maps to MIDI 1..127; notes are released after 2 s (or at the
  next hit of the same note).
* ``fluidsynth -ni -q -R 0 -C 0 -g 0.8 -r 44100 -O float -F out.wav SF2 in.mid``
  renders it (reverb and chorus off, float output so nothing clips); stereo is
  mixed to mono and the takes are cut out.
* Equalization as in ``hydrogen_stems.py``: every kit first renders one
  calibration file (each track playing the same fixed grooves, about 32 hits);
  its long-term spectrum per hit, per track, is compared with the mean over the
  kits, and a minimum-phase correction (shape limited to +-12 dB) is applied to
  the kit's stems.
* Presets that sound like an earlier kit on all six tracks (calibration audio
  correlated above 0.998: the same samples, maybe at another level or pan)
  are skipped (``--keep-duplicates`` keeps them); presets named like sound effects
  (``SFX``) or orchestra kits (timpani on the tom, hat and cymbal notes, as in
  the GS layout) are skipped. Kits with silent kick, snare or hat are skipped; others
  missing a track are used as partial (``--full-only`` skips them).

Usage::

    python tools/soundfont_stems.py --out DIR [--soundfont PATH ...] [--presets 0 8 16 ...]
        [--takes 8] [--seconds 10] [--seed 0] [--full-only] [--list]

Needs ``apt-get install fluidsynth fluid-soundfont-gm timgm6mb-soundfont`` and
``pip install mido``.
"""
from __future__ import annotations

import argparse
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import soundfile as sf

from graphfx.sources.grooves import TRACKS, Hit, make_groove
from hydrogen_stems import (HEADROOM, SR, ToolError, apply_fir, common_args, energy_spectrum, equalize_kits,
                            load_target, safe_name, take_seed, write_kit)

DEFAULT_SOUNDFONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/TimGM6mb.sf2")
INSTALL = "apt-get install fluidsynth fluid-soundfont-gm timgm6mb-soundfont"
#: GM percussion notes per track, in groove variant order (graphfx.sources.grooves.VARIANTS).
NOTES: Dict[str, Tuple[int, ...]] = {"kick": (36,), "snare": (38,), "hat": (42, 46, 44), "tom": (48, 45, 41),
                                     "ride": (51,), "crash": (49, 57)}
DRUM_CHANNEL = 9  # MIDI channel 10
TICKS_PER_BEAT = 1920
TEMPO_US = 500000  # 120 BPM: one tick = 0.26 ms
GAP = 4.0  # s of silence after each take in a render
NOTE_LENGTH = 2.0  # s until note off
CALIBRATION_HITS = 32
SAME_CORRELATION = 0.998  # calibration audio this correlated counts as the same sound (level, pan differ)
SKIP_NAMES = ("sfx", "effect", "orchestra")  # GS orchestra kits put timpani on the tom/hat/cymbal notes


# ----------------------------------------------------------------------------- soundfont presets
def sf2_presets(path: str) -> List[Tuple[int, int, str]]:
    """``(bank, preset, name)`` of every preset in a SoundFont 2 file (from its ``phdr`` chunk)."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"sfbk":
                raise ToolError(f"{path} is not a SoundFont 2 file")
            end = 8 + struct.unpack("<I", head[4:8])[0]
            pos = 12
            while pos + 8 <= end:
                f.seek(pos)
                cid, size = struct.unpack("<4sI", f.read(8))
                if cid == b"LIST":
                    kind = f.read(4)
                    if kind == b"pdta":
                        sub, stop = pos + 12, pos + 8 + size
                        while sub + 8 <= stop:
                            f.seek(sub)
                            sid, ssize = struct.unpack("<4sI", f.read(8))
                            if sid == b"phdr":
                                data = f.read(ssize)
                                out = []
                                for k in range(0, len(data) - 38, 38):  # the last record is "EOP"
                                    name, preset, bank = struct.unpack("<20sHH", data[k:k + 24])
                                    out.append((bank, preset, name.split(b"\0")[0].decode("latin-1").strip()))
                                return out
                            sub += 8 + ssize + (ssize & 1)
                pos += 8 + size + (size & 1)
    except OSError as err:
        raise ToolError(f"cannot read soundfont {path}: {err}") from None
    raise ToolError(f"{path}: no preset headers (phdr) found")


def drum_kits(soundfonts: Sequence[str], presets: Optional[Sequence[int]] = None) -> List[Tuple[str, str, int, str]]:
    """``(kit name, soundfont, preset, preset name)`` of the bank-128 presets (all, or those in ``presets``)."""
    kits = []
    for path in soundfonts:
        stem = safe_name(os.path.splitext(os.path.basename(path))[0])
        for bank, preset, name in sorted(sf2_presets(path), key=lambda p: (p[0], p[1])):
            if bank != 128 or (presets is not None and preset not in presets):
                continue
            kits.append((f"{stem}-{preset:03d}-{safe_name(name)}", path, preset, name))
    return kits


# ----------------------------------------------------------------------------- MIDI
def _require_mido():
    try:
        import mido
    except ImportError:
        raise ToolError("the Python package mido is missing; install it with `pip install mido`") from None
    return mido


def hit_note(track: str, hit: Hit) -> int:
    notes = NOTES[track]
    return notes[min(hit.variant, len(notes) - 1)]


def midi_velocity(v: float) -> int:
    return int(np.clip(round(1 + 126 * float(v)), 1, 127))


def write_midi(path: str, notes: Sequence[Tuple[float, int, int]], preset: int, end: float) -> None:
    """A type-0 MIDI file: program ``preset`` on channel 10 (fluidsynth's drum channel, bank 128) and
    ``(time s, note, velocity)`` hits, lasting until ``end`` s."""
    mido = _require_mido()
    sec_per_tick = TEMPO_US / 1e6 / TICKS_PER_BEAT
    events = []  # (tick, order, message); note offs before note ons at the same tick
    notes = sorted(notes)
    for k, (t, note, vel) in enumerate(notes):
        on = int(round(t / sec_per_tick))
        nxt = next((u for u, n, _ in notes[k + 1:] if n == note), None)
        off_t = t + NOTE_LENGTH if nxt is None else min(t + NOTE_LENGTH, nxt)
        events.append((on, 1, mido.Message("note_on", channel=DRUM_CHANNEL, note=note, velocity=vel)))
        events.append((max(int(round(off_t / sec_per_tick)) - 1, on + 1), 0,
                       mido.Message("note_off", channel=DRUM_CHANNEL, note=note, velocity=0)))
    last = max([e[0] for e in events] + [int(round(end / sec_per_tick))])
    # a controller event at the end keeps fluidsynth rendering the tails
    events.append((last, 2, mido.Message("control_change", channel=DRUM_CHANNEL, control=3, value=0)))
    events.sort(key=lambda e: (e[0], e[1]))
    mf = mido.MidiFile(type=0, ticks_per_beat=TICKS_PER_BEAT)
    tr = mido.MidiTrack()
    mf.tracks.append(tr)
    tr.append(mido.MetaMessage("set_tempo", tempo=TEMPO_US, time=0))
    tr.append(mido.Message("program_change", channel=DRUM_CHANNEL, program=int(preset), time=0))
    now = 0
    for tick, _, msg in events:
        tr.append(msg.copy(time=tick - now))
        now = tick
    tr.append(mido.MetaMessage("end_of_track", time=0))
    mf.save(path)


def takes_midi(path: str, track: str, grooves: Sequence, preset: int, seconds: float) -> List[float]:
    """One MIDI file with ``track``'s hits of every groove, take ``i`` starting at ``i * (seconds + GAP)``."""
    notes, starts = [], []
    for i, g in enumerate(grooves):
        start = i * (seconds + GAP)
        starts.append(start)
        notes += [(start + h.time, hit_note(track, h), midi_velocity(h.velocity)) for h in g.hits[track]]
    write_midi(path, notes, preset, len(grooves) * (seconds + GAP))
    return starts


def calibration_hits(track: str, minimum: int = CALIBRATION_HITS, max_grooves: int = 48,
                     max_gap: float = 1.5) -> List[Hit]:
    """The same hits for every kit: ``track``'s hits of fixed 10 s grooves until ``minimum``, the first at
    0.05 s and gaps over ``max_gap`` s shortened to it (toms play only in fills)."""
    hits: List[Hit] = []
    for i in range(max_grooves):
        hits += [Hit(h.time + 10.0 * i, h.velocity, h.variant) for h in make_groove(10.0, 90_000 + i).hits[track]]
        if len(hits) >= minimum:
            break
    out: List[Hit] = []
    shift, prev = (hits[0].time - 0.05 if hits else 0.0), None
    for h in hits:
        if prev is not None and h.time - prev > max_gap:
            shift += h.time - prev - max_gap
        prev = h.time
        out.append(Hit(round(h.time - shift, 6), h.velocity, h.variant))
    return out


# ----------------------------------------------------------------------------- rendering
def find_fluidsynth() -> str:
    exe = shutil.which("fluidsynth")
    if exe is None:
        raise ToolError(f"fluidsynth not found; install it with `{INSTALL}`")
    return exe


def render(exe: str, soundfont: str, midi: str, wav: str, gain: float = 0.8) -> np.ndarray:
    """Render ``midi`` with fluidsynth (reverb and chorus off) to mono float64 at :data:`SR`."""
    cmd = [exe, "-ni", "-q", "-R", "0", "-C", "0", "-g", str(gain), "-r", str(SR), "-O", "float", "-T", "wav",
           "-F", wav, soundfont, midi]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0 or not os.path.isfile(wav):
        msg = (proc.stderr or proc.stdout).strip().splitlines()
        raise ToolError(f"fluidsynth failed on {midi} ({soundfont}): {msg[-1] if msg else proc.returncode}")
    x, rate = sf.read(wav, dtype="float64", always_2d=True)
    if rate != SR:
        raise ToolError(f"fluidsynth wrote {rate} Hz instead of {SR}")
    return x.mean(axis=1)


def cut(x: np.ndarray, start: float, seconds: float) -> np.ndarray:
    a, n = int(round(start * SR)), int(round(seconds * SR))
    seg = x[a:a + n]
    return np.pad(seg, (0, n - len(seg)))


def calibrate(exe: str, soundfont: str, preset: int, tmp: str) -> Dict[str, np.ndarray]:
    """Calibration audio per track (the fixed hits of :func:`calibration_hits`), one fluidsynth run."""
    notes, spans, start = [], {}, 0.0
    for track in TRACKS:
        hits = calibration_hits(track)
        length = (max(h.time for h in hits) if hits else 0.0) + 3.0
        notes += [(start + h.time, hit_note(track, h), midi_velocity(h.velocity)) for h in hits]
        spans[track] = (start, length, len(hits))
        start += length + GAP
    midi, wav = os.path.join(tmp, "calibration.mid"), os.path.join(tmp, "calibration.wav")
    write_midi(midi, notes, preset, start)
    x = render(exe, soundfont, midi, wav)
    return {t: cut(x, s, n) for t, (s, n, _) in spans.items()}


def signature(cal: Dict[str, np.ndarray], seconds: float = 3.0) -> Dict[str, np.ndarray]:
    """Per track, the first ``seconds`` of the calibration audio scaled to unit norm (None if silent)."""
    out = {}
    for t in TRACKS:
        x = cal[t][: int(seconds * SR)].astype(np.float32)
        norm = float(np.linalg.norm(x))
        out[t] = x / norm if norm > 1e-6 else None
    return out


def same_sound(a: Optional[np.ndarray], b: Optional[np.ndarray], threshold: float = SAME_CORRELATION) -> bool:
    """Whether two signatures are the same sound up to level (correlation above ``threshold``)."""
    if a is None or b is None:
        return a is None and b is None
    return float(np.dot(a, b)) > threshold


# ----------------------------------------------------------------------------- main
def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    common_args(parser)
    parser.add_argument("--soundfont", action="append", default=None, metavar="PATH",
                        help="a .sf2 file (repeatable) [FluidR3_GM.sf2 and TimGM6mb.sf2 from Debian]")
    parser.add_argument("--presets", nargs="+", type=int, default=None,
                        help="bank-128 preset numbers to use [all drum kits of each soundfont]")
    parser.add_argument("--full-only", action="store_true", help="skip kits lacking one of the six tracks")
    parser.add_argument("--keep-duplicates", action="store_true",
                        help="keep presets that sound exactly like an earlier kit")
    parser.add_argument("--list", action="store_true", help="list the drum kits and exit")
    args = parser.parse_args(argv)
    try:
        return run(args)
    except ToolError as err:
        print(f"soundfont_stems: error: {err}", file=sys.stderr)
        return 2


def run(args) -> int:
    if args.takes < 1 or args.seconds <= 0:
        raise ToolError("--takes must be >= 1 and --seconds > 0")
    soundfonts = args.soundfont or [p for p in DEFAULT_SOUNDFONTS if os.path.isfile(p)]
    if not soundfonts:
        raise ToolError(f"no soundfont given and none of {', '.join(DEFAULT_SOUNDFONTS)} found; "
                        f"install them with `{INSTALL}` or give --soundfont")
    missing = [p for p in soundfonts if not os.path.isfile(p)]
    if missing:
        raise ToolError(f"soundfont {missing[0]} not found")
    kits = drum_kits(soundfonts, args.presets)
    if args.list:
        for name, path, preset, pname in kits:
            skipped = any(w in pname.lower() for w in SKIP_NAMES)
            print(f"{name}  ({os.path.basename(path)} bank 128 preset {preset} {pname!r})"
                  + ("  [skipped: not a drum kit layout]" if skipped else ""))
        return 0
    exe = find_fluidsynth()
    _require_mido()
    kits = [k for k in kits if not any(w in k[3].lower() for w in SKIP_NAMES)]
    if not kits:
        raise ToolError("no bank-128 (drum kit) presets found" + (" among --presets" if args.presets else ""))
    t_all = time.time()
    os.makedirs(args.out, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".soundfont_stems-", dir=args.out)
    try:
        # pass 1: calibration renders -> spectra, duplicates, missing tracks
        print(f"calibrating {len(kits)} kits ...", flush=True)
        spectra: Dict[str, Dict[str, np.ndarray]] = {}
        used: List[Tuple[str, str, int, List[str], List[str]]] = []
        kept: List[Tuple[str, Dict[str, np.ndarray]]] = []
        distinct: Dict[str, List[np.ndarray]] = {t: [] for t in TRACKS}
        for name, path, preset, _ in kits:
            cal = calibrate(exe, path, preset, tmp)
            present = [t for t in TRACKS if np.max(np.abs(cal[t])) > 10 ** (-60 / 20)]
            absent = [t for t in TRACKS if t not in present]
            sig = signature(cal)
            if {"kick", "snare", "hat"} - set(present):
                print(f"skip {name}: silent {', '.join(t for t in ('kick', 'snare', 'hat') if t not in present)}")
                continue
            if absent and args.full_only:
                print(f"skip {name}: silent {', '.join(absent)} (--full-only)")
                continue
            twin = next((k for k, ks in kept if all(same_sound(sig[t], ks[t]) for t in TRACKS)), None)
            if twin is not None and not args.keep_duplicates:
                print(f"skip {name}: sounds the same as {twin} (up to level)")
                continue
            kept.append((name, sig))
            for t in present:
                if not any(same_sound(sig[t], d) for d in distinct[t]):
                    distinct[t].append(sig[t])
            n_hits = {t: len(calibration_hits(t)) for t in TRACKS}
            spectra[name] = {t: energy_spectrum(cal[t]) / n_hits[t] for t in present}
            used.append((name, path, preset, present, absent))
        if not used:
            raise ToolError("no usable kits")
        filters, report = equalize_kits(spectra, load_target(args.eq_target), args.max_eq_db)
        print(f"calibrated in {time.time() - t_all:.1f} s; {len(used)} kits; distinct sounds per track: " +
              ", ".join(f"{t} {len(distinct[t])}" for t in TRACKS), flush=True)
        # pass 2: the takes
        for k, (name, path, preset, present, absent) in enumerate(used):
            t0 = time.time()
            grooves = [make_groove(args.seconds, take_seed(args.seed, name, i, args.same_grooves))
                       for i in range(args.takes)]
            stems: Dict[str, List[Optional[np.ndarray]]] = {}
            for track in present:
                midi, wav = os.path.join(tmp, f"{track}.mid"), os.path.join(tmp, f"{track}.wav")
                starts = takes_midi(midi, track, grooves, preset, args.seconds)
                x = render(exe, path, midi, wav)
                stems[track] = [apply_fir(cut(x, s, args.seconds), filters[name][track]) * HEADROOM
                                if g.hits[track] else None for s, g in zip(starts, grooves)]
            guards = write_kit(args.out, name, stems)
            notes = [f"partial: silent {', '.join(absent)}"] if absent else []
            if guards:
                notes.append("lowered to avoid clipping: " + ", ".join(f"{t} {g} dB" for t, g in guards.items()))
            print(f"[{k + 1}/{len(used)}] {name}: {len(present)} tracks x {args.takes} takes x {args.seconds:g} s "
                  f"in {time.time() - t0:.1f} s" + (f" ({'; '.join(notes)})" if notes else ""), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report["kits"] = {n: {"soundfont": p, "preset": pr, "tracks": pt, "missing": ab} for n, p, pr, pt, ab in used}
    import json

    with open(os.path.join(args.out, "soundfont_equalization.json"), "w") as f:
        json.dump(report, f)
    print(f"wrote {len(used)} kits to {args.out} in {time.time() - t_all:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
