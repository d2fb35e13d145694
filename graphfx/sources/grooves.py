"""Drum grooves: a drummer playing a style, as timed hits per drum track.

They stand in for the Groove MIDI Dataset that the drums of Section 4.1 of
"Blind Estimation of Audio Processing Graph" (Lee et al., ICASSP 2023)
<https://arxiv.org/abs/2303.08257> were rendered from. :class:`SyntheticDrums`
(:mod:`graphfx.sources.drums`) plays them on its kits with :func:`play`; the
stem tools (``tools/hydrogen_stems.py``, ``tools/soundfont_stems.py``) play
takes made by :func:`make_groove` on recorded kits.

A :class:`Groove` holds, per track of :data:`TRACKS`, a time-sorted list of
:class:`Hit` ``(time in s, velocity in 0..1, variant)``; ``variant`` says
which drum of the track is struck (:data:`VARIANTS`): closed, open or pedal
hat; high, mid or floor tom; first or second crash; 0 on the other tracks.

Construction: a 16th-note grid at the style's tempo; per-style kick, snare,
hat and ride patterns, with the time kept on the hat, the ride, or the ride
over a hat pedal on 2 and 4; per-bar variation (dropped or added kicks, snare
ghost notes); phrases of 4 bars with a tom fill (high to floor, crescendo) in
the last bar of some phrases and a crash with a kick on phrase starts (the
crashes alternate between two cymbals from phrase to phrase); swing of the
off-beat 16ths (or 8ths); per-limb push or drag and Gaussian timing jitter;
velocity accents with random variation. 10 styles (:data:`STYLES`) at
70-160 BPM. Deterministic: the same generator state gives the same hits on any
machine (numpy's PCG64).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, NamedTuple, Optional, Tuple

import numpy as np

from graphfx.catalog import DRUM_SOURCES

#: The drum tracks, in the order of :data:`graphfx.catalog.DRUM_SOURCES`.
TRACKS: Tuple[str, ...] = tuple(DRUM_SOURCES)
#: The drums of each track, indexed by :attr:`Hit.variant`.
VARIANTS: Dict[str, Tuple[str, ...]] = {"kick": ("kick",), "snare": ("snare",), "hat": ("closed", "open", "pedal"),
                                        "tom": ("high", "mid", "floor"), "ride": ("ride",),
                                        "crash": ("crash1", "crash2")}
#: Velocity of each pattern symbol: "X" accent, "x" normal, "o" ghost, "O" open hat ("." is a rest).
_VEL = {"X": 0.95, "x": 0.75, "o": 0.35, "O": 0.8}
_PEDAL = "....x.......x..."  # hat pedal on 2 and 4


class Hit(NamedTuple):
    """One stroke: ``time`` in s, ``velocity`` in 0..1, ``variant`` (the drum of the track, :data:`VARIANTS`)."""

    time: float
    velocity: float
    variant: int = 0


@dataclass(frozen=True)
class Style:
    """A way of playing: tempo range, feel and 16-step patterns (one drawn per groove).

    Args:
        name: the key in :data:`STYLES`.
        tempo: BPM range.
        swing: range of the swing ratio (0.5: straight, 0.67: triplet feel).
        swing_8ths: swing the 8ths (jazz, shuffle) instead of the 16ths.
        kick, snare, hat, ride: 16-step patterns, one symbol per 16th (see ``_VEL``).
        keeper: probabilities that the hat, the ride, or the ride over a hat pedal keeps time.
        ghost: probability of an extra snare ghost note on a free 16th.
        fill: probability of a tom fill in the last bar of a phrase.
        crash: probability of a crash on a phrase start.
        dynamics: scale of all velocities.
    """

    name: str
    tempo: Tuple[float, float]
    swing: Tuple[float, float]
    swing_8ths: bool
    kick: Tuple[str, ...]
    snare: Tuple[str, ...]
    hat: Tuple[str, ...]
    ride: Tuple[str, ...]
    keeper: Tuple[float, float, float]
    ghost: float
    fill: float
    crash: float
    dynamics: float = 1.0


STYLES: Dict[str, Style] = {s.name: s for s in (
    Style("rock", (90, 150), (0.5, 0.52), False, ("x.......x.x.....", "x.......x.......", "x......xx.x....."),
          ("....X.......X...",), ("X.x.x.x.X.x.x.x.", "x.x.x.x.x.x.x.xO"), ("x.x.x.x.x.x.x.x.",),
          (0.7, 0.2, 0.1), 0.03, 0.7, 0.6),
    Style("funk", (85, 115), (0.5, 0.56), False, ("x..x..x...x..x..", "x.x....x..x....."),
          ("....X..o.o..X..o", "....X.o....oX.o."), ("xoxoxoxoxoxoxoxo", "x.x.x.xOx.x.x.x."),
          ("x.x.x.x.x.x.x.x.",), (0.85, 0.1, 0.05), 0.1, 0.5, 0.3),
    Style("disco", (110, 130), (0.5, 0.5), False, ("x...x...x...x...",), ("....X.......X...",),
          ("x.O.x.O.x.O.x.O.", "xxOxxxOxxxOxxxOx"), ("x.x.x.x.x.x.x.x.",), (0.9, 0.0, 0.1), 0.02, 0.4, 0.5),
    Style("hiphop", (70, 98), (0.54, 0.62), False, ("x.....x..x......", "x..x......x....."),
          ("....X.......X...",), ("x.x.x.x.x.x.x.x.", "xxxxxxxxxxxxxxxx"), ("x.x.x.x.x.x.x.x.",),
          (0.9, 0.1, 0.0), 0.05, 0.3, 0.2),
    Style("halftime", (70, 100), (0.5, 0.54), False, ("x......x..x.....",), ("........X.......",),
          ("x.x.x.x.x.x.x.x.",), ("x.x.x.x.x.x.x.x.",), (0.6, 0.3, 0.1), 0.05, 0.6, 0.5),
    Style("shuffle", (80, 130), (0.62, 0.68), True, ("x.....x.x.......",), ("....X.......X...",),
          ("x.x.x.x.x.x.x.x.",), ("x.x.x.x.x.x.x.x.",), (0.6, 0.3, 0.1), 0.05, 0.6, 0.4),
    Style("jazz", (100, 160), (0.6, 0.67), True, ("o...o...o...o...", "o.......o......."), ("................",),
          ("....x.......x...",), ("x...x.x.x...x.x.",), (0.1, 0.3, 0.6), 0.12, 0.4, 0.2, 0.85),
    Style("latin", (100, 140), (0.5, 0.5), False, ("x..xx..xx..xx..x",), ("x..x..x...x..x..",),
          ("x.x.x.x.x.x.x.x.",), ("x.xxx.xxx.xxx.xx",), (0.5, 0.4, 0.1), 0.0, 0.4, 0.3, 0.8),
    Style("metal", (130, 160), (0.5, 0.5), False, ("xxxxxxxxxxxxxxxx", "x.x.x.x.x.x.x.x."),
          ("....X.......X...",), ("x.x.x.x.x.x.x.x.",), ("X.x.X.x.X.x.X.x.",), (0.4, 0.5, 0.1), 0.0, 0.8, 0.8),
    Style("ballad", (70, 90), (0.5, 0.55), False, ("x.......x.x.....", "x.........x....."),
          ("....x.......x...",), ("x.x.x.x.x.x.x.x.",), ("x.x.x.x.x.x.x.x.",), (0.6, 0.3, 0.1), 0.02, 0.6, 0.5,
          0.7),
)}


@dataclass
class Groove:
    """Hits per track of a drummer playing ``style`` at ``tempo`` BPM, the first bar starting at ``downbeat`` s."""

    style: str
    tempo: float
    swing: float
    downbeat: float
    hits: Dict[str, List[Hit]] = field(default_factory=dict)

    def count(self) -> Dict[str, int]:
        """Hits per track."""
        return {t: len(h) for t, h in self.hits.items()}


def play(style: Style, rng: np.random.Generator, start: float, end: float, *, tempo: Optional[float] = None,
         jitter: Optional[float] = None, downbeat: Optional[float] = None, phrase: Optional[int] = None) -> Groove:
    """A drummer playing ``style`` in whole bars from about ``start`` to past ``end`` (s).

    Hits are not cut to ``[start, end)``: the caller keeps what it needs
    (earlier hits may still ring into a clip).

    Args:
        style: what to play.
        rng: the source of every choice.
        start: the time the first bar reaches.
        end: the time the last bar reaches.
        tempo: BPM (default: drawn from the style's range).
        jitter: standard deviation of the timing jitter in s (default: drawn in 2-10 ms).
        downbeat: start of the first bar (default: drawn within the bar before ``start``).
        phrase: position of the first bar in its 4-bar phrase, 0 to 3 (default: drawn).
    """
    # The draws below come in a fixed order: SyntheticDrums' clips depend on it, keep it.
    tempo = rng.uniform(*style.tempo) if tempo is None else tempo
    step = 60.0 / tempo / 4
    swing = rng.uniform(*style.swing)
    jitter = rng.uniform(0.002, 0.01) if jitter is None else jitter
    lean = {t: rng.normal(0.0, 0.004) for t in TRACKS}  # each limb's consistent push or drag
    keeper = ("hat", "ride", "both")[rng.choice(3, p=style.keeper)]
    patterns = {"kick": style.kick[rng.integers(len(style.kick))],
                "snare": style.snare[rng.integers(len(style.snare))],
                "hat": style.hat[rng.integers(len(style.hat))] if keeper in ("hat", "both") else "." * 16,
                "ride": style.ride[rng.integers(len(style.ride))] if keeper in ("ride", "both") else "." * 16}
    if keeper == "both":
        patterns["hat"] = _PEDAL
    hits: Dict[str, List[Hit]] = {t: [] for t in TRACKS}
    bar = 16 * step
    t0 = start - rng.uniform(0.0, bar) if downbeat is None else downbeat
    phrase_pos = int(rng.integers(4)) if phrase is None else phrase
    for b in range(int(math.ceil((end - t0) / bar))):
        bar_start = t0 + b * bar
        pos = (phrase_pos + b) % 4
        fill_from = 16 - 4 * int(rng.integers(1, 3)) if pos == 3 and rng.random() < style.fill else 16
        for s in range(16):
            t = bar_start + s * step
            if style.swing_8ths and s % 4 == 2:
                t += (swing - 0.5) * 2 * 2 * step
            elif not style.swing_8ths and s % 2 == 1:
                t += (swing - 0.5) * 2 * step
            played: List[Tuple[str, float, int]] = []  # (track, velocity, variant)
            if s >= fill_from:  # fill: snare and toms, high to low, crescendo
                if rng.random() < 0.85:
                    progress = (s - fill_from) / (16 - fill_from)
                    if rng.random() < 0.3:
                        played.append(("snare", 0.6 + 0.35 * progress, 0))
                    else:
                        played.append(("tom", 0.6 + 0.35 * progress, min(int(progress * 3), 2)))
                if s % 4 == 0 and rng.random() < 0.5:
                    played.append(("kick", 0.7, 0))
            else:
                for track in ("kick", "snare", "hat", "ride"):
                    sym = patterns[track][s]
                    if sym == "." and track == "snare" and rng.random() < style.ghost:
                        sym = "o"
                    if sym == "." and track == "kick" and s % 2 == 0 and rng.random() < 0.04:
                        sym = "x"
                    if sym == "." or (sym in "xo" and rng.random() < 0.04):
                        continue
                    variant = (1 if sym == "O" else 2 if keeper == "both" else 0) if track == "hat" else 0
                    played.append((track, _VEL[sym], variant))
            if s == 0 and pos == 0 and rng.random() < style.crash:  # crash + kick; replaces the hat
                played = [p for p in played if p[0] not in ("kick", "hat")]
                played += [("crash", 0.9, (phrase_pos + b) // 4 % 2), ("kick", 0.9, 0)]
            for track, vel, variant in played:
                vel = float(np.clip(style.dynamics * vel + rng.normal(0.0, 0.06), 0.1, 1.0))
                hits[track].append(Hit(float(t + lean[track] + rng.normal(0.0, jitter)), vel, variant))
    for track_hits in hits.values():
        track_hits.sort(key=lambda h: h.time)
    return Groove(style.name, float(tempo), float(swing), float(t0), hits)


def make_groove(seconds: float, seed: int = 0, style: Optional[str] = None, tempo: Optional[float] = None,
                jitter: Optional[float] = None) -> Groove:
    """A take of ``seconds`` from ``seed``: hits in ``[0, seconds)``, starting on a phrase start (a crash).

    Args:
        seconds: length of the take.
        seed: random seed (style, tempo and every choice derive from it).
        style: one of :data:`STYLES` (default: drawn from the seed).
        tempo: BPM (default: drawn from the style's range).
        jitter: standard deviation of the timing jitter in s (default: drawn).
    """
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    if tempo is not None and tempo <= 0:
        raise ValueError(f"tempo must be positive, got {tempo}")
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x6A0E])
    names = sorted(STYLES)
    if style is None:
        style = names[int(rng.integers(len(names)))]
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; choose from {', '.join(names)}")
    groove = play(STYLES[style], rng, 0.0, seconds, tempo=tempo, jitter=jitter,
                  downbeat=float(rng.uniform(0.01, 0.05)), phrase=0)
    groove.hits = {t: [h for h in hits if 0.0 <= h.time < seconds] for t, hits in groove.hits.items()}
    return groove


def grid(groove: Groove, bars: int = 2) -> str:
    """The first ``bars`` bars as a text drum grid (for a quick look)."""
    step = 60.0 / groove.tempo / 4.0
    cols = 16 * bars
    lines = [f"{groove.style} {groove.tempo:.0f} BPM swing {groove.swing:.2f}"]
    for track in TRACKS:
        row = ["."] * cols
        for h in groove.hits[track]:
            k = int(round((h.time - groove.downbeat) / step))
            if 0 <= k < cols:
                row[k] = "X" if h.velocity > 0.85 else "x" if h.velocity > 0.5 else "o"
        lines.append(f"{track:>5} " + "".join(row))
    return "\n".join(lines)
