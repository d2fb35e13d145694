"""The interface shared by every dry source: singing voices and multitrack drums.

Section 4.1 of "Blind Estimation of Audio Processing Graph" (Lee et al., ICASSP
2023) <https://arxiv.org/abs/2303.08257> feeds the graphs with two kinds of dry
audio, each with three splits:

* **singing** (OpenSinger): one input ``in``. 90% of the audio of the training
  speakers is ``"train"``, the other 10% is the **seen**-speaker validation set
  and 5 further speakers form the **unseen**-speaker set;
* **drums** (14 sample libraries): six tracks ``kick snare hat tom ride
  crash``, rendered separately. 11 kits give ``"train"`` and ``"seen"`` (held-out
  MIDI files), 3 kits are ``"unseen"``. A clip holds only the tracks with
  non-zero energy, so that graphs get no dummy inputs.

A :class:`DrySource` knows its *names* (voices or kits) per split and cuts
clips: ``clip(split, seed, num_samples)`` returns ``{track: float32 array
[channels, num_samples]}`` and is deterministic given ``(split, seed)``.
"""
from __future__ import annotations

import abc
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from graphfx.catalog import DRUM_SOURCES

#: The splits of Section 4.1: training audio, held-out audio of the training
#: voices/kits ("seen"), and held-out voices/kits ("unseen").
SPLITS: Tuple[str, ...] = ("train", "seen", "unseen")
#: The two tasks of the paper.
TASKS: Tuple[str, ...] = ("singing", "drums")
#: Mixed into every clip's seed so that a seed gives different audio per split.
_SPLIT_CODE = {"train": 0, "seen": 1, "unseen": 2}

Seed = Union[int, np.random.Generator]
Clip = Dict[str, np.ndarray]


def split_rng(seed: Seed, split: str) -> np.random.Generator:
    """A fresh generator for one clip of ``split``; never touches global RNG state.

    An ``int`` seed gives the same stream every time; a ``Generator`` is
    consumed (one draw) to seed the child.
    """
    if isinstance(seed, np.random.Generator):
        seed = int(seed.integers(2**63))
    elif isinstance(seed, (bool, float)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int or a numpy Generator, got {seed!r}")
    return np.random.default_rng([_SPLIT_CODE[split], int(seed)])


def hold_out_last(names: Sequence[str], num_unseen: int, split: Optional[str]) -> List[str]:
    """The ``names`` of ``split`` when the last ``num_unseen`` form ``"unseen"`` and the others ``"train"``
    and ``"seen"`` (all of them for ``None``): the split of the built-in voices and kits."""
    names = list(names)
    if split is None:
        return names
    cut = len(names) - num_unseen
    return names[cut:] if split == "unseen" else names[:cut]


def peak_db(audio: np.ndarray) -> float:
    """Peak level in dBFS (``-inf`` for digital silence)."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    return 20.0 * np.log10(peak) if peak > 0 else -np.inf


class DrySource(abc.ABC):
    """Base class of dry sources.

    Subclasses set ``task`` and ``sample_rate``, implement :meth:`names` and
    :meth:`_clip`, and may extend :meth:`_describe_lines`.

    Args:
        task: ``"singing"`` or ``"drums"``.
        sample_rate: rate of every clip, in Hz.
        silence_db: drum tracks whose peak in a clip is below this level
            (dBFS) are left out of the clip.
    """

    def __init__(self, task: str, *, sample_rate: int = 44100, silence_db: float = -50.0):
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {task!r}")
        if int(sample_rate) <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        self.task = task
        self.sample_rate = int(sample_rate)
        self.silence_db = float(silence_db)

    @property
    def tracks(self) -> Tuple[str, ...]:
        """Input tracks: ``("in",)`` for singing, the six drum sources for drums."""
        return ("in",) if self.task == "singing" else DRUM_SOURCES

    @abc.abstractmethod
    def names(self, split: Optional[str] = None) -> List[str]:
        """Voices (singing) or kits (drums) of ``split``; all of them for ``None``.

        ``"train"`` and ``"seen"`` share their names; ``"unseen"`` names are disjoint.
        """

    @abc.abstractmethod
    def _clip(self, split: str, name: str, rng: np.random.Generator, num_samples: int) -> Clip:
        """Renders or cuts one clip of voice/kit ``name``: ``{track: [C, num_samples]}``."""

    def clip(self, split: str, seed: Seed, num_samples: int, *, name: Optional[str] = None) -> Clip:
        """One dry clip.

        Args:
            split: ``"train"``, ``"seen"`` or ``"unseen"``.
            seed: an ``int`` (the clip's index: same seed, same clip) or a numpy
                ``Generator``.
            num_samples: clip length at :attr:`sample_rate`.
            name: a voice/kit of ``split``; by default one drawn uniformly.

        Returns:
            ``{"in": audio}`` for singing; for drums ``{track: audio}`` with only
            the tracks whose peak is above ``silence_db`` (at least one). Audio is
            float32 ``[channels, num_samples]``, finite, with peak <= 1.
        """
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if int(num_samples) <= 0:
            raise ValueError(f"num_samples must be positive, got {num_samples}")
        rng = split_rng(seed, split)
        pool = self.names(split)
        if not pool:
            raise ValueError(f"split {split!r} has no {self._unit}s")
        if name is None:
            name = pool[int(rng.integers(len(pool)))]
        elif name not in pool:
            raise ValueError(f"{name!r} is not a {self._unit} of split {split!r}; choose from {pool}")
        stems = self._clip(split, name, rng, int(num_samples))
        return self._finish(stems)

    def _finish(self, stems: Clip) -> Clip:
        """float32, finite, peak <= 1; silent drum tracks dropped (the loudest always kept)."""
        out = {}
        for track, audio in stems.items():
            audio = np.nan_to_num(np.asarray(audio, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
            peak = float(np.max(np.abs(audio))) if audio.size else 0.0
            if peak > 1.0:
                audio = audio / np.float32(peak)
            out[track] = audio
        if self.task == "drums":
            levels = {t: peak_db(a) for t, a in out.items()}
            loudest = max(levels, key=levels.get)
            out = {t: a for t, a in out.items() if levels[t] >= self.silence_db or t == loudest}
            out = {t: out[t] for t in DRUM_SOURCES if t in out}
        return out

    @property
    def _unit(self) -> str:
        return "voice" if self.task == "singing" else "kit"

    def describe(self) -> str:
        """A few lines for humans: what the source is and how it is split."""
        return "\n".join(self._describe_lines())

    def _describe_lines(self) -> List[str]:
        train, unseen = self.names("train"), self.names("unseen")
        unit = self._unit
        return [f"{type(self).__name__}: {self.task}, tracks {', '.join(self.tracks)}, {self.sample_rate} Hz",
                f"  train/seen {unit}s ({len(train)}): {_short(train)}",
                f"  unseen {unit}s ({len(unseen)}): {_short(unseen)}"]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(task={self.task!r}, sample_rate={self.sample_rate})"


def _short(names: Sequence[str], limit: int = 8) -> str:
    names = list(names)
    return ", ".join(names[:limit]) + (f", ... (+{len(names) - limit})" if len(names) > limit else "")
