"""Drum groove patterns for the stem tools (``hydrogen_stems.py``, ``soundfont_stems.py``).

A groove is a drummer playing one style for a given length: per track
(``kick snare hat tom ride crash``) a time-sorted list of :class:`Hit`
``(time in s, velocity in 0..1, variant)``. ``variant`` says which instrument
of the track is struck: for ``tom`` 0/1/2 = high/mid/floor, for ``hat``
0/1/2 = closed/open/pedal, for ``crash`` 0/1 = first/second cymbal, 0 otherwise.

Construction: a 16th-note grid at the style's tempo; per-style kick/snare/hat
(or ride) backbone patterns, varied per bar (dropped or added kicks, snare
ghost notes); phrases of 4 bars with a tom fill (high to floor, crescendo) in
the last bar of some phrases and a crash (with a kick) on phrase starts; swing
of the off-beat 16ths (or 8ths); per-limb push/drag and Gaussian timing jitter;
velocity accents with random variation. Deterministic: the same arguments give
the same hits on any machine (numpy's PCG64 generator).

Needs numpy only. ``python tools/grooves.py`` prints an example as a drum grid.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, NamedTuple, Optional, Tuple

import numpy as np

TRACKS = ("kick", "snare", "hat", "tom", "ride", "crash")

# 16 steps per bar: "X" accent, "x" normal, "o" ghost, "O" open hat, "." rest.
_VEL = {"X": 0.95, "x": 0.75, "o": 0.3, "O": 0.8}


class Hit(NamedTuple):
    time: float  # seconds from the start of the take
    velocity: float  # 0..1
    variant: int = 0  # which drum of the track (see the module docstring)


@dataclass(frozen=True)
class Style:
    tempo: Tuple[float, float]  # BPM range
    swing: Tuple[float, float]  # 0.5 = straight, 0.67 = triplet feel
    swing_8ths: bool  # swing the 8ths (jazz, shuffle) instead of the 16ths
    kick: Tuple[str, ...]
    snare: Tuple[str, ...]
    hat: Tuple[str, ...]
    ride: Tuple[str, ...]
    p_ride: float  # probability that the ride keeps time instead of the hat
    ghost: float  # probability of a snare ghost note on a free 16th
    fill: float  # probability of a tom fill in the last bar of a phrase
    crash: float  # probability of a crash on a phrase start


STYLES: Dict[str, Style] = {
    "rock": Style((90, 150), (0.5, 0.52), False, ("x.......x.x.....", "x.......x.......", "x......xx.x....."),
                  ("....X.......X...",), ("X.x.x.x.X.x.x.x.", "x.x.x.x.x.x.x.xO"), ("x.x.x.x.x.x.x.x.",),
                  0.3, 0.03, 0.7, 0.7),
    "funk": Style((85, 115), (0.5, 0.56), False, ("x..x..x...x..x..", "x.x....x..x....."),
                  ("....X..o.o..X..o", "....X.o....oX.o."), ("xoxoxoxoxoxoxoxo", "x.x.x.xOx.x.x.x."),
                  ("x.x.x.x.x.x.x.x.",), 0.15, 0.1, 0.5, 0.4),
    "disco": Style((110, 130), (0.5, 0.5), False, ("x...x...x...x...",), ("....X.......X...",),
                   ("x.O.x.O.x.O.x.O.", "xxOxxxOxxxOxxxOx"), ("x.x.x.x.x.x.x.x.",), 0.1, 0.02, 0.4, 0.6),
    "hiphop": Style((70, 98), (0.54, 0.62), False, ("x.....x..x......", "x..x......x....."),
                    ("....X.......X...",), ("x.x.x.x.x.x.x.x.", "xxxxxxxxxxxxxxxx"), ("x.x.x.x.x.x.x.x.",),
                    0.1, 0.05, 0.3, 0.3),
    "shuffle": Style((80, 130), (0.62, 0.68), True, ("x.....x.x.......",), ("....X.......X...",),
                     ("x.x.x.x.x.x.x.x.",), ("x.x.x.x.x.x.x.x.",), 0.4, 0.05, 0.6, 0.5),
    "jazz": Style((100, 160), (0.6, 0.67), True, ("o...o...o...o...", "o.......o......."), ("................",),
                  ("....x.......x...",), ("x...x.x.x...x.x.",), 0.9, 0.12, 0.4, 0.3),
    "latin": Style((100, 140), (0.5, 0.5), False, ("x..xx..xx..xx..x",), ("x..x..x...x..x..",),
                   ("x.x.x.x.x.x.x.x.",), ("x.xxx.xxx.xxx.xx",), 0.5, 0.0, 0.4, 0.4),
    "metal": Style((130, 170), (0.5, 0.5), False, ("xxxxxxxxxxxxxxxx", "x.x.x.x.x.x.x.x."),
                   ("....X.......X...",), ("x.x.x.x.x.x.x.x.",), ("X.x.X.x.X.x.X.x.",), 0.5, 0.0, 0.8, 0.9),
    "ballad": Style((64, 90), (0.5, 0.55), False, ("x.......x.x.....", "x.........x....."),
                    ("....x.......x...",), ("x.x.x.x.x.x.x.x.",), ("x.x.x.x.x.x.x.x.",), 0.35, 0.02, 0.6, 0.6),
}


@dataclass
class Groove:
    style: str
    tempo: float  # BPM
    swing: float
    seconds: float
    hits: Dict[str, List[Hit]] = field(default_factory=dict)

    def count(self) -> Dict[str, int]:
        return {t: len(h) for t, h in self.hits.items()}


def make_groove(seconds: float, seed: int = 0, style: Optional[str] = None, tempo: Optional[float] = None,
                jitter: Optional[float] = None) -> Groove:
    """A groove of ``seconds`` (hits in ``[0, seconds)``), all tracks in :data:`TRACKS`.

    Args:
        seconds: length of the take.
        seed: random seed (style, tempo and every choice below derive from it).
        style: one of :data:`STYLES` (default: drawn from the seed).
        tempo: BPM (default: drawn from the style's range).
        jitter: standard deviation of the timing jitter in s (default: 2-8 ms, drawn).
    """
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x6A0E])
    names = sorted(STYLES)
    if style is None:
        style = names[int(rng.integers(len(names)))]
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; choose from {', '.join(names)}")
    st = STYLES[style]
    tempo = float(rng.uniform(*st.tempo)) if tempo is None else float(tempo)
    if tempo <= 0:
        raise ValueError(f"tempo must be positive, got {tempo}")
    swing = float(rng.uniform(*st.swing))
    jitter = float(rng.uniform(0.002, 0.008)) if jitter is None else float(jitter)
    step = 60.0 / tempo / 4.0
    bar = 16 * step
    lean = {t: float(rng.normal(0.0, 0.003)) for t in TRACKS}  # each limb's consistent push or drag
    use_ride = rng.random() < st.p_ride
    pats = {"kick": st.kick[int(rng.integers(len(st.kick)))], "snare": st.snare[int(rng.integers(len(st.snare)))],
            "hat": st.hat[int(rng.integers(len(st.hat)))], "ride": st.ride[int(rng.integers(len(st.ride)))]}
    if use_ride:  # hat pedal on 2 and 4 under the ride
        pats["hat"] = "....x.......x..."
    else:
        if pats["hat"].count(".") > 12:  # a pedal-only hat part (jazz): the hat takes the ride's pattern
            pats["hat"] = pats["ride"]
        pats["ride"] = "." * 16
    hits: Dict[str, List[Hit]] = {t: [] for t in TRACKS}
    start = float(rng.uniform(0.01, 0.05))  # first downbeat
    phrase_pos = 0  # takes start on a phrase start (crash)
    for b in range(int(math.ceil((seconds - start) / bar)) + 1):
        bar_start = start + b * bar
        pos = (phrase_pos + b) % 4
        fill_from = 16 - 4 * int(rng.integers(1, 3)) if pos == 3 and rng.random() < st.fill else 16
        for s in range(16):
            t = bar_start + s * step
            if st.swing_8ths and s % 4 == 2:
                t += (swing - 0.5) * 4 * step
            elif not st.swing_8ths and s % 2 == 1:
                t += (swing - 0.5) * 2 * step
            played: List[Tuple[str, float, int]] = []
            if s >= fill_from:  # fill: toms high to floor (some snare), crescendo, kick on the beats
                if rng.random() < 0.85:
                    progress = (s - fill_from) / (16 - fill_from)
                    if rng.random() < 0.25:
                        played.append(("snare", 0.6 + 0.35 * progress, 0))
                    else:
                        played.append(("tom", 0.6 + 0.35 * progress, min(int(progress * 3), 2)))
                if s % 4 == 0 and rng.random() < 0.5:
                    played.append(("kick", 0.7, 0))
            else:
                for track in ("kick", "snare", "hat", "ride"):
                    sym = pats[track][s]
                    if sym == "." and track == "snare" and rng.random() < st.ghost:
                        sym = "o"
                    if sym == "." and track == "kick" and s % 2 == 0 and rng.random() < 0.04:
                        sym = "x"
                    if sym == "." or (sym in "xo" and rng.random() < 0.04):
                        continue
                    variant = (1 if sym == "O" else 2 if use_ride else 0) if track == "hat" else 0
                    played.append((track, _VEL[sym], variant))
            if s == 0 and pos == 0 and rng.random() < st.crash:  # crash + kick replace the hat
                played = [p for p in played if p[0] not in ("kick", "hat")]
                played += [("crash", 0.9, int(rng.random() < 0.3)), ("kick", 0.9, 0)]
            for track, vel, variant in played:
                when = t + lean[track] + float(rng.normal(0.0, jitter))
                vel = float(np.clip(vel + rng.normal(0.0, 0.06), 0.05, 1.0))
                if 0.0 <= when < seconds:
                    hits[track].append(Hit(round(when, 6), round(vel, 4), variant))
    for track in TRACKS:
        hits[track].sort()
    return Groove(style, tempo, swing, float(seconds), hits)


def grid(groove: Groove, bars: int = 2) -> str:
    """The first ``bars`` bars as a text drum grid (for a quick look)."""
    step = 60.0 / groove.tempo / 4.0
    cols = 16 * bars
    lines = [f"{groove.style} {groove.tempo:.0f} BPM swing {groove.swing:.2f}"]
    for track in TRACKS:
        row = ["."] * cols
        for h in groove.hits[track]:
            k = int(round(h.time / step))
            if 0 <= k < cols:
                row[k] = "X" if h.velocity > 0.85 else "x" if h.velocity > 0.5 else "o"
        lines.append(f"{track:>5} " + "".join(row))
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    import sys

    print(grid(make_groove(8.0, int(sys.argv[1]) if len(sys.argv) > 1 else 0)))
