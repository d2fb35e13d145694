"""Reading and writing audio files, with the checks a user's file needs."""
from __future__ import annotations

import math
import os
import tempfile
from typing import Optional, Tuple

import numpy as np
import soundfile as sf
import torch

from graphfx.errors import AudioError


def load_audio(path: str, sample_rate: Optional[int] = None, resample: bool = True) -> Tuple[torch.Tensor, int]:
    """Reads a file as float32 ``[channels, samples]`` (1 or 2 channels).

    Args:
        path: any format libsndfile reads (WAV, FLAC, OGG, AIFF, MP3).
        sample_rate: the rate wanted; ``None`` keeps the file's.
        resample: on a rate mismatch, resample (polyphase, scipy) instead of raising.

    Raises:
        AudioError: unreadable, empty, more than two channels, NaN/Inf, or a
            rate mismatch with ``resample=False``.
    """
    try:
        data, rate = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError, TypeError) as err:
        raise AudioError(f"cannot read audio {path}: {err}") from None
    if data.shape[0] == 0:
        raise AudioError(f"audio file {path} is empty")
    if data.shape[1] > 2:
        raise AudioError(f"audio file {path} has {data.shape[1]} channels; graphfx takes mono or stereo")
    if not np.isfinite(data).all():
        raise AudioError(f"audio file {path} contains NaN or Inf samples")
    if sample_rate is not None and rate != sample_rate:
        if not resample:
            raise AudioError(f"{path} is at {rate} Hz but {sample_rate} Hz is needed")
        data = _resample(data, rate, sample_rate)
        rate = sample_rate
    return torch.from_numpy(np.ascontiguousarray(data.T)), rate


def _resample(data: np.ndarray, rate: int, target: int) -> np.ndarray:
    from scipy.signal import resample_poly

    g = math.gcd(rate, target)
    return resample_poly(data, target // g, rate // g, axis=0).astype(np.float32)


def save_audio(path: str, audio: torch.Tensor, sample_rate: int, subtype: Optional[str] = None) -> None:
    """Writes ``[channels, samples]`` atomically (a temp file renamed into place).

    The format follows the extension (``.wav``, ``.flac``, ...); WAV files are
    32-bit float unless ``subtype`` says otherwise, so nothing clips.
    """
    ext = os.path.splitext(path)[1].lower()
    fmt = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".aiff": "AIFF", ".aif": "AIFF"}.get(ext)
    if fmt is None:
        raise AudioError(f"cannot write {path}: use .wav, .flac, .ogg or .aiff")
    if subtype is None:
        subtype = "FLOAT" if fmt == "WAV" else ("PCM_24" if fmt in ("FLAC", "AIFF") else None)
    data = audio.detach().cpu().numpy().T
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".audio-", suffix=ext)
    os.close(fd)
    try:
        sf.write(tmp, data, sample_rate, format=fmt, subtype=subtype)
        os.replace(tmp, path)
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        os.unlink(tmp)
        raise AudioError(f"cannot write {path}: {err}") from None
