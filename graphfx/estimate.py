"""Estimating the graph behind a recording of any length (``graphfx estimate``).

A recording no longer than one window (:data:`WINDOW_SECONDS`, the paper's
clip of 160 000 samples at 44.1 kHz) is encoded whole. A longer one is read
and encoded one window at a time, so that memory does not grow with the
recording: consecutive windows (the last one ending with the recording), or
:data:`MAX_WINDOWS` of them spread evenly over a very long one. Silent windows
are skipped; the latents of the others are averaged and decoded once, as the
processing is assumed to be the same throughout the recording.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional

import torch

from graphfx.audio import audio_info, load_audio
from graphfx.errors import AudioError, GraphFXError
from graphfx.graph import AudioGraph

#: Length of the windows a long recording is analysed in: the paper's clips (and longer than any preset's).
WINDOW_SECONDS = 160000 / 44100
#: Most windows analysed; a longer recording is sampled by this many windows spread evenly over it.
MAX_WINDOWS = 64


@dataclass
class Estimate:
    """An estimated graph and what it was estimated from."""

    graph: AudioGraph
    seconds: float         # length of the recording
    windows: int           # windows analysed (1: the whole recording at once)
    window_seconds: float  # length of a window


def window_starts(frames: int, window: int, most: int = MAX_WINDOWS) -> List[int]:
    """First frames of the windows of ``window`` frames that cover ``frames``: consecutive, the last one
    ending with the recording; ``most`` of them spread evenly when more would be needed."""
    if frames <= window:
        return [0]
    last = frames - window
    count = math.ceil(frames / window)
    if count <= most:
        return [min(k * window, last) for k in range(count)]
    return [round(k * last / (most - 1)) for k in range(most)]


def check_model(model, dry_file: Optional[str]) -> None:
    """Raises a one-line error when the model cannot estimate from a recording (and ``dry_file``)."""
    if model.config.latent == "graph":
        raise GraphFXError("this checkpoint is the autoencoder sanity check: it reads graphs, not audio")
    if model.config.condition_on_source:
        if model.config.encoder["in_channels"] != 3:
            raise GraphFXError("this model takes one dry file per drum track, which estimate does not read yet")
        if dry_file is None:
            raise AudioError("this model was trained with the dry source: give it with --dry FILE")


def estimate_recording(model, audio_file: str, dry_file: Optional[str] = None, *, constrained: bool = True,
                       window_seconds: float = WINDOW_SECONDS, max_windows: int = MAX_WINDOWS) -> Estimate:
    """Estimates the graph that made ``audio_file`` (and, for a source-conditioned model, ``dry_file``).

    Args:
        model: a :class:`~graphfx.estimator.BlindEstimator` (:func:`~graphfx.estimator.load_estimator`).
        audio_file: the processed recording, any length, mono or stereo, any sample rate.
        dry_file: its dry source, for a model trained with ``condition_on_source``.
        constrained: decode only valid graphs.
        window_seconds, max_windows: how a long recording is analysed (see the module docs).
    """
    check_model(model, dry_file)
    rate = model.config.encoder["sample_rate"]
    info = audio_info(audio_file)
    seconds = info.frames / info.sample_rate
    window = math.ceil(window_seconds * info.sample_rate)  # in frames of the file
    if info.frames <= window:  # the whole recording at once
        reference, dry = _read(model, audio_file, dry_file, rate)
        if reference is None:
            raise AudioError(f"{audio_file} is silent: there is no processing to estimate")
        graph = model.estimate(reference, dry, constrained=constrained, sample_rate=rate)[0]
        return Estimate(graph, seconds, 1, seconds)
    if dry_file is not None and model.config.condition_on_source:
        dry_info = audio_info(dry_file)
        if abs(dry_info.frames / dry_info.sample_rate - seconds) * rate >= 1:
            raise AudioError(f"the dry recording lasts {dry_info.frames / dry_info.sample_rate:.3f} s, the reference "
                             f"{seconds:.3f} s: they must be the same clip")
    starts = window_starts(info.frames, window, max_windows)
    latents = []
    with torch.no_grad():
        for start in starts:
            reference, dry = _read(model, audio_file, dry_file, rate, (start, window))
            if reference is not None:
                latents.append(model.latents(reference, dry))
    if not latents:
        raise AudioError(f"{audio_file} is silent: there is no processing to estimate")
    graph = model.decoder.generate(torch.stack(latents).mean(0), constrained=constrained, sample_rate=rate)[0]
    return Estimate(graph, seconds, len(starts), window / info.sample_rate)


def _read(model, audio_file: str, dry_file: Optional[str], rate: int, excerpt: Optional[tuple] = None):
    """The reference ``[1, 2, T]`` (``None`` if silent) and the dry source ``[1, 1, T]`` (or ``None``) at
    ``rate``, of the whole files or of ``excerpt``: ``(start, frames)`` in frames of ``audio_file``."""
    start, frames = excerpt or (0, None)
    reference, _ = load_audio(audio_file, rate, start=start, frames=frames)
    if not reference.abs().max() > 0:
        return None, None
    reference = reference.expand(2, -1)[None]  # mono -> stereo, [1, 2, T]
    if not model.config.condition_on_source:
        return reference, None
    if excerpt is not None:  # the same excerpt of the dry file, at its own rate
        scale = audio_info(dry_file).sample_rate / audio_info(audio_file).sample_rate
        start, frames = round(start * scale), math.ceil(frames * scale)
    dry, _ = load_audio(dry_file, rate, start=start, frames=frames)
    dry = dry.mean(0, keepdim=True)[None]
    if excerpt is not None:  # the two rates may round to a sample more or less
        length = min(dry.shape[-1], reference.shape[-1])
        reference, dry = reference[..., :length], dry[..., :length]
    elif dry.shape[-1] != reference.shape[-1]:
        raise AudioError(f"the dry recording has {dry.shape[-1]} samples at {rate} Hz, the reference "
                         f"{reference.shape[-1]}: they must be the same clip")
    return reference, dry
