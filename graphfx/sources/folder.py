"""Dry sources from a folder of the user's own recordings.

Layouts (``.wav``, ``.flac``, ``.aif``/``.aiff`` and ``.ogg``; names starting
with ``.`` are skipped):

* **singing**: ``root/<speaker>/**/*.wav``: one folder per speaker, files
  anywhere below it. The OpenSinger layout (Huang et al., 2021),
  ``root/{ManRaw,WomanRaw}/<singer>_<song>/*.wav``, is recognized by its
  folder names: the speaker is ``ManRaw/<singer>`` (the part of the song
  folder's name before the first ``_``), so songs of one singer stay together;
  ``root`` may also be a ``ManRaw``/``WomanRaw`` folder itself.
* **drums**: ``root/<kit>/<track>.wav`` (one take per kit) or
  ``root/<kit>/<track>/<take>.wav`` (stems of one take share a file name), with
  ``track`` one of ``kick snare hat tom ride crash`` (a few aliases are
  understood: ``bd``, ``sd``, ``hihat``, ``hh``, ``toms``, ``cymbal``, ...).
  Stems of a take are aligned in time; a missing stem is silence.

Splits follow Section 4.1 of Lee et al. (2023): ``num_unseen`` speakers/kits
(5 for singing, 3 for drums by default) are held out as ``"unseen"``, chosen
by sorting the names by their SHA-1 hash (deterministic, independent of the
file system and not biased to alphabetical ends); or name them explicitly.
Of each remaining speaker/kit, files (singing) or takes (drums) are sorted by
the hash of their path and the first ``round(seen_fraction * n)`` (at least
one when n >= 2) go to ``"seen"``, the rest to ``"train"``; a speaker/kit with a
single file/take gives its last ``seen_fraction`` of time to ``"seen"``.

A clip is a random segment (seeded): a name is drawn uniformly, then a
file/take with probability proportional to its duration, then a start time.
Segments whose RMS is below ``min_rms_db`` are redrawn (up to ``max_tries``;
then the loudest one is kept). Audio is resampled with
``scipy.signal.resample_poly`` to ``sample_rate`` and mixed to ``channels``.
"""
from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from graphfx.catalog import DRUM_SOURCES
from graphfx.errors import AudioError
from graphfx.sources.base import Clip, DrySource

_MARGIN = 64  # input frames of context around a resampled segment
AUDIO_EXTENSIONS = (".wav", ".flac", ".aif", ".aiff", ".ogg")
OPENSINGER_GROUPS = ("manraw", "womanraw")
#: Stem names understood for each drum track (file or folder name, lower case).
TRACK_ALIASES: Dict[str, str] = {
    **{t: t for t in DRUM_SOURCES},
    "bd": "kick", "bassdrum": "kick", "bass_drum": "kick", "kickdrum": "kick",
    "sd": "snare", "snaredrum": "snare",
    "hihat": "hat", "hi-hat": "hat", "hi_hat": "hat", "hh": "hat", "hats": "hat",
    "toms": "tom", "rides": "ride", "crashes": "crash", "cymbal": "crash", "cymbals": "crash",
}


@dataclass
class _Stem:
    path: str
    frames: int
    rate: int
    channels: int

    @property
    def duration(self) -> float:
        return self.frames / self.rate


@dataclass
class _Item:
    """A file (singing) or a take of aligned stems (drums), restricted to [offset, offset + duration)."""

    name: str  # speaker or kit
    key: str  # relative path (singing) or kit/take (drums), for hashing and messages
    stems: Dict[str, _Stem]
    offset: float = 0.0
    duration: float = field(default=0.0)

    def __post_init__(self):
        if not self.duration:
            self.duration = max(s.duration for s in self.stems.values())


def _hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _is_audio(name: str) -> bool:
    return not name.startswith(".") and name.lower().endswith(AUDIO_EXTENSIONS)


def _stem(path: str) -> _Stem:
    try:
        info = sf.info(path)
    except Exception as err:  # libsndfile raises several types for bad files
        raise AudioError(f"cannot read audio {path}: {_first_line(err)}") from None
    if info.frames <= 0:
        raise AudioError(f"audio file {path} is empty")
    if info.channels > 2:
        raise AudioError(f"audio file {path} has {info.channels} channels; graphfx takes mono or stereo")
    return _Stem(path, int(info.frames), int(info.samplerate), int(info.channels))


def _subdirs(path: str) -> List[str]:
    return sorted(e.name for e in os.scandir(path) if e.is_dir() and not e.name.startswith("."))


def _audio_files(path: str) -> List[str]:
    found = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [os.path.join(dirpath, f) for f in sorted(filenames) if _is_audio(f)]
    return found


class FolderSource(DrySource):
    """Dry singing or drum recordings from a folder (layouts in the module docstring).

    Args:
        root: the folder.
        task: ``"singing"`` or ``"drums"``.
        sample_rate: rate of the clips; files at other rates are resampled.
        unseen: how many speakers/kits to hold out (default 5 for singing, 3
            for drums), or their names.
        seen_fraction: share of each training speaker's/kit's files (or time)
            held out as ``"seen"``.
        channels: 1 (files are mixed to mono) or 2 (mono files are copied to
            both channels).
        min_rms_db: segments quieter than this (RMS, dBFS, all tracks summed)
            count as silent and are redrawn.
        silence_db: drum tracks whose peak in a clip is below this (dBFS) are
            left out of the clip.
        max_tries: segments drawn before giving up on finding a loud one.

    Raises:
        AudioError: missing folder, no audio files, an unreadable file, or too
            few speakers/kits for the unseen count.
    """

    def __init__(self, root: str, task: str = "singing", *, sample_rate: int = 44100,
                 unseen: Union[int, Sequence[str], None] = None, seen_fraction: float = 0.1, channels: int = 1,
                 min_rms_db: float = -45.0, silence_db: float = -50.0, max_tries: int = 20):
        super().__init__(task, sample_rate=sample_rate, silence_db=silence_db)
        if channels not in (1, 2):
            raise ValueError(f"channels must be 1 or 2, got {channels}")
        if not 0.0 < seen_fraction < 1.0:
            raise ValueError(f"seen_fraction must be in (0, 1), got {seen_fraction}")
        self.root = os.path.abspath(os.path.expanduser(str(root)))
        self.channels = channels
        self.min_rms_db = float(min_rms_db)
        self.max_tries = max(1, int(max_tries))
        if not os.path.isdir(self.root):
            what = "does not exist" if not os.path.exists(self.root) else "is not a folder"
            raise AudioError(f"dry-source folder {self.root} {what}")
        items = self._scan_singing() if task == "singing" else self._scan_drums()
        by_name: Dict[str, List[_Item]] = {}
        for item in items:
            by_name.setdefault(item.name, []).append(item)
        self._unseen = self._choose_unseen(sorted(by_name), unseen)
        self._items: Dict[str, Dict[str, List[_Item]]] = {"train": {}, "seen": {}, "unseen": {}}
        for name, group in sorted(by_name.items()):
            if name in self._unseen:
                self._items["unseen"][name] = group
            else:
                self._items["train"][name], self._items["seen"][name] = self._hold_out(group, seen_fraction)

    # ------------------------------------------------------------------ scanning
    def _scan_singing(self) -> List[_Item]:
        items = []
        base = os.path.basename(self.root).lower()
        tops = [""] if base in OPENSINGER_GROUPS else _subdirs(self.root)
        for top in tops:
            folder = os.path.normpath(os.path.join(self.root, top))
            group = os.path.basename(folder)
            opensinger = group.lower() in OPENSINGER_GROUPS
            for path in _audio_files(folder):
                rel = os.path.relpath(path, self.root)
                if opensinger:  # <group>/<singer>_<song>/<file>
                    parts = os.path.relpath(path, folder).split(os.sep)
                    speaker = f"{group}/{parts[0].split('_')[0]}" if len(parts) > 1 else group
                else:
                    speaker = top
                items.append(_Item(speaker, rel, {"in": _stem(path)}))
        if not items:
            raise AudioError(f"no audio files ({', '.join(AUDIO_EXTENSIONS)}) found under {self.root}; "
                             "expected root/<speaker>/*.wav or root/ManRaw|WomanRaw/<singer>_<song>/*.wav")
        return items

    def _scan_drums(self) -> List[_Item]:
        items = []
        for kit in _subdirs(self.root):
            kit_dir = os.path.join(self.root, kit)
            takes: Dict[str, Dict[str, _Stem]] = {}
            for entry in sorted(os.scandir(kit_dir), key=lambda e: e.name):
                stem_name, _ = os.path.splitext(entry.name)
                if entry.name.startswith("."):
                    continue
                if entry.is_file() and _is_audio(entry.name) and stem_name.lower() in TRACK_ALIASES:
                    takes.setdefault("", {})[TRACK_ALIASES[stem_name.lower()]] = _stem(entry.path)
                elif entry.is_dir() and entry.name.lower() in TRACK_ALIASES:
                    track = TRACK_ALIASES[entry.name.lower()]
                    for f in sorted(os.listdir(entry.path)):
                        if _is_audio(f):
                            takes.setdefault(os.path.splitext(f)[0], {})[track] = _stem(os.path.join(entry.path, f))
            for take, stems in sorted(takes.items()):
                items.append(_Item(kit, f"{kit}/{take}" if take else kit, stems))
        if not items:
            raise AudioError(f"no drum stems found under {self.root}; expected root/<kit>/<track>.wav or "
                             f"root/<kit>/<track>/<take>.wav with track in {', '.join(DRUM_SOURCES)}")
        return items

    def _choose_unseen(self, names: List[str], unseen) -> List[str]:
        unit = "speakers" if self.task == "singing" else "kits"
        if unseen is None:
            unseen = 5 if self.task == "singing" else 3
        if isinstance(unseen, (int, np.integer)):
            if unseen < 0:
                raise ValueError(f"unseen must be >= 0, got {unseen}")
            if len(names) <= unseen:
                raise AudioError(f"found {len(names)} {unit} under {self.root}; need more than {unseen} "
                                 f"to hold {unseen} out as unseen (lower the unseen count)")
            return sorted(sorted(names, key=_hash)[:unseen])
        unseen = sorted(set(unseen))
        missing = [n for n in unseen if n not in names]
        if missing:
            raise AudioError(f"unseen {unit} {', '.join(missing)} not found under {self.root}")
        if len(unseen) >= len(names):
            raise AudioError(f"all {len(names)} {unit} under {self.root} are unseen; none left for training")
        return unseen

    @staticmethod
    def _hold_out(group: List[_Item], fraction: float) -> Tuple[List[_Item], List[_Item]]:
        if len(group) == 1:  # split one file/take in time
            item = group[0]
            cut = item.duration * (1.0 - fraction)
            return ([_Item(item.name, item.key, item.stems, 0.0, cut)],
                    [_Item(item.name, item.key, item.stems, cut, item.duration - cut)])
        ordered = sorted(group, key=lambda it: _hash(it.key))
        k = max(1, int(round(fraction * len(group))))
        return ordered[k:], ordered[:k]

    # ------------------------------------------------------------------ clips
    @property
    def _unit(self) -> str:
        return "speaker" if self.task == "singing" else "kit"

    def names(self, split: Optional[str] = None) -> List[str]:
        if split is None:
            return sorted(set(self._items["train"]) | set(self._items["unseen"]))
        if split not in self._items:
            raise ValueError(f"split must be one of {tuple(self._items)}, got {split!r}")
        return list(self._items[split])

    def files(self, split: str, name: Optional[str] = None) -> List[str]:
        """The files of ``split`` (of one speaker/kit when ``name`` is given)."""
        groups = self._items[split] if name is None else {name: self._items[split][name]}
        return sorted({s.path for g in groups.values() for it in g for s in it.stems.values()})

    def _clip(self, split: str, name: str, rng: np.random.Generator, num_samples: int) -> Clip:
        items = self._items[split][name]
        weights = np.array([it.duration for it in items])
        length = num_samples / self.sample_rate
        best, best_db = None, -np.inf
        for _ in range(self.max_tries):
            item = items[int(rng.choice(len(items), p=weights / weights.sum()))]
            start = item.offset + rng.uniform(0.0, max(item.duration - length, 0.0))
            stems = {track: self._read(stem, start, num_samples) for track, stem in item.stems.items()}
            mix = sum(stems.values())
            level = 10 * np.log10(np.mean(mix.astype(np.float64) ** 2) + 1e-20)
            if level > best_db:
                best, best_db = stems, level
            if level >= self.min_rms_db:
                break
        return best

    def _read(self, stem: _Stem, start: float, num_samples: int) -> np.ndarray:
        """``num_samples`` at :attr:`sample_rate` from ``start`` seconds, zero-padded, ``[channels, T]``."""
        g = math.gcd(stem.rate, self.sample_rate)
        up, down = self.sample_rate // g, stem.rate // g
        first = int(round(start * stem.rate))
        count = int(math.ceil(num_samples * down / up))
        # When resampling, read a margin on both sides so the filter has context at the edges.
        pre, post = (min(first, _MARGIN), _MARGIN) if up != down else (0, 0)
        out = np.zeros((num_samples, stem.channels), dtype=np.float32)
        if first < stem.frames:
            try:
                data = sf.read(stem.path, frames=pre + count + post, start=first - pre, dtype="float32",
                               always_2d=True)[0]
            except Exception as err:
                raise AudioError(f"cannot read audio {stem.path}: {_first_line(err)}") from None
            if up != down and len(data):
                data = resample_poly(data, up, down, axis=0)[int(round(pre * up / down)):]
            n = min(num_samples, len(data))
            out[:n] = data[:n]
        out = out.T  # (C, T)
        if self.channels == 1:
            return out.mean(axis=0, keepdims=True)
        return out if out.shape[0] == 2 else np.repeat(out[:1], 2, axis=0)

    def _describe_lines(self) -> List[str]:
        lines = super()._describe_lines()
        lines[0] += f", {'mono' if self.channels == 1 else 'stereo'}, from {self.root}"
        for split in ("train", "seen", "unseen"):
            items = [it for g in self._items[split].values() for it in g]
            hours = sum(it.duration for it in items) / 3600
            unit = "files" if self.task == "singing" else "takes"
            lines.append(f"  {split}: {len(items)} {unit}, {hours:.2f} h")
        return lines
