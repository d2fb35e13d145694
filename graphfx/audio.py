"""Reading and writing audio files, with the checks a user's file needs."""
from __future__ import annotations

import math
import os
import struct
from typing import NamedTuple, Optional, Tuple

import numpy as np
import soundfile as sf
import torch

from graphfx.errors import AudioError
from graphfx.files import atomic_path


class AudioInfo(NamedTuple):
    """What a file holds: ``frames`` per channel at ``sample_rate`` Hz, ``channels`` (1 or 2)."""

    frames: int
    sample_rate: int
    channels: int


def audio_info(path: str) -> AudioInfo:
    """Checks that ``path`` is whole, non-empty mono or stereo audio, without reading its samples.

    Raises:
        AudioError: unreadable, empty, more than two channels, or a WAV file whose header
            promises more audio than the file holds (a copy or a download cut short).
    """
    try:
        info = sf.info(path)
    except (sf.LibsndfileError, RuntimeError, OSError, TypeError) as err:
        raise AudioError(f"cannot read audio {path}: {_reason(err)}") from None
    if info.frames <= 0:
        raise AudioError(f"audio file {path} is empty")
    if info.channels > 2:
        raise AudioError(f"audio file {path} has {info.channels} channels; graphfx takes mono or stereo")
    promised = _wav_promised_frames(path)
    if promised is not None and promised > info.frames:
        rate = info.samplerate
        raise AudioError(f"audio file {path} is truncated: its header promises {promised / rate:.2f} s, it holds "
                         f"{info.frames / rate:.2f} s ({(promised - info.frames) / rate:.2f} s missing)")
    return AudioInfo(int(info.frames), int(info.samplerate), int(info.channels))


def load_audio(path: str, sample_rate: Optional[int] = None, resample: bool = True, *, start: int = 0,
               frames: Optional[int] = None) -> Tuple[torch.Tensor, int]:
    """Reads a file (or an excerpt of it) as float32 ``[channels, samples]`` (1 or 2 channels).

    Args:
        path: any format libsndfile reads (WAV, FLAC, OGG, AIFF, MP3).
        sample_rate: the rate wanted; ``None`` keeps the file's.
        resample: on a rate mismatch, resample (polyphase, scipy) instead of raising.
        start, frames: the excerpt to read, in frames of the file's own rate (default: all of it).

    Raises:
        AudioError: as :func:`audio_info`, or NaN/Inf samples, or a rate mismatch with ``resample=False``.
    """
    info = audio_info(path)
    if sample_rate is not None and info.sample_rate != sample_rate and not resample:
        raise AudioError(f"{path} is at {info.sample_rate} Hz but {sample_rate} Hz is needed")
    try:
        data, rate = sf.read(path, start=start, frames=-1 if frames is None else frames, dtype="float32",
                             always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError, TypeError) as err:
        raise AudioError(f"cannot read audio {path}: {_reason(err)}") from None
    if data.shape[0] == 0:
        raise AudioError(f"audio file {path} is empty" if start == 0 else f"{path} has no audio after frame {start}")
    if not np.isfinite(data).all():
        raise AudioError(f"audio file {path} contains NaN or Inf samples")
    if sample_rate is not None and rate != sample_rate:
        data = _resample(data, rate, sample_rate)
        rate = sample_rate
    return torch.from_numpy(np.ascontiguousarray(data.T)), rate


def _reason(err: Exception) -> str:
    return str(err).splitlines()[0] if str(err) else type(err).__name__


def _wav_promised_frames(path: str) -> Optional[int]:
    """The frames a WAV file's header promises (its ``data`` chunk size), ``None`` for other files.

    libsndfile quietly reads what is there when a WAV file is cut short, so the header is read here.
    Streaming writers that leave the size unset (0 or 0xFFFFFFFF) promise nothing.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
                return None
            order = "<" if head[:4] == b"RIFF" else ">"
            block_align = None
            while True:
                chunk = f.read(8)
                if len(chunk) < 8:
                    return None
                kind, size = chunk[:4], struct.unpack(order + "I", chunk[4:])[0]
                if kind == b"fmt ":
                    body = f.read(size)
                    if len(body) >= 14:
                        block_align = struct.unpack(order + "H", body[12:14])[0]
                    f.seek(size % 2, 1)
                elif kind == b"data":
                    if not block_align or size in (0, 0xFFFFFFFF):
                        return None
                    return size // block_align
                else:
                    f.seek(size + size % 2, 1)  # chunks are padded to an even size
    except OSError:
        return None


def resample(audio: torch.Tensor, rate: int, target: int) -> torch.Tensor:
    """``audio`` ``[..., samples]`` at ``rate`` Hz, resampled to ``target`` Hz (polyphase, scipy), float32."""
    if rate == target:
        return audio.float()
    data = audio.detach().cpu().float().numpy()
    flat = _resample(data.reshape(-1, data.shape[-1]).T, rate, target).T
    return torch.from_numpy(np.ascontiguousarray(flat.reshape(*data.shape[:-1], -1)))


def _resample(data: np.ndarray, rate: int, target: int) -> np.ndarray:
    from scipy.signal import resample_poly

    g = math.gcd(rate, target)
    return resample_poly(data, target // g, rate // g, axis=0).astype(np.float32)


def output_format(path: str) -> str:
    """The libsndfile format of an output file, from its extension; :class:`AudioError` if there is none."""
    ext = os.path.splitext(path)[1].lower()
    fmt = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".aiff": "AIFF", ".aif": "AIFF"}.get(ext)
    if fmt is None:
        raise AudioError(f"cannot write {path}: use .wav, .flac, .ogg or .aiff")
    return fmt


def save_audio(path: str, audio: torch.Tensor, sample_rate: int, subtype: Optional[str] = None) -> None:
    """Writes ``[channels, samples]`` atomically (a temp file renamed into place).

    The format follows the extension (``.wav``, ``.flac``, ...); WAV files are
    32-bit float unless ``subtype`` says otherwise, so nothing clips.
    """
    ext, fmt = os.path.splitext(path)[1].lower(), output_format(path)
    if subtype is None:
        subtype = "FLOAT" if fmt == "WAV" else ("PCM_24" if fmt in ("FLAC", "AIFF") else None)
    data = audio.detach().cpu().numpy().T
    try:
        with atomic_path(path, suffix=ext) as tmp:
            sf.write(tmp, data, sample_rate, format=fmt, subtype=subtype)
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        raise AudioError(f"cannot write {path}: {getattr(err, 'strerror', None) or err}") from None
