"""The reference encoder of "Blind Estimation of Audio Processing Graph".

Lee et al. (ICASSP 2023) <https://arxiv.org/abs/2303.08257>, Section 3,
"Reference Encoder" and "Architecture Details": a log-Mel spectrogram of the
stereo reference (FFT 1536, hop 384, 256 Mel bands at 44.1 kHz) goes through
7 two-dimensional convolutional layers in the style of VGGish (Hershey et al.,
"CNN architectures for large-scale audio classification", ICASSP 2017)
modified with

(i) depthwise separable convolutions (Chollet, "Xception", CVPR 2017),
(ii) channels divided into four groups with dilations 1, 2, 4 and 8,
(iii) layer normalization (Ba et al. 2016);

the channel and frequency axes of the final feature map are flattened and
projected to ``d_model`` (512) vectors, and an attentive pooling across time
with learnable queries (1 for singing, 6 for drums), implemented as one
pre-LN transformer decoder layer, gives the latents ``z``:

    audio (B, C, T) -> log-mel (B, C, M, N) -> conv (B, C', M', N')
        -> sequence (B, N', d_model) -> latents (B, Q, d_model)

The Mel filterbank is written here (no torchaudio): Slaney's or the HTK Mel
scale, triangles on the FFT bin frequencies. Low filters narrower than an FFT
bin are widened to at least one bin on each side, which turns them into a
linear interpolation of the spectrum at their centre frequency (with the
paper's 256 bands on a 1536-point FFT, textbook triangles leave 6 HTK bands
empty and 38 Slaney bands with no bin above half weight).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphfx.errors import AudioError

__all__ = ["EncoderConfig", "ReferenceEncoder", "EncoderInputError", "mel_filterbank", "hz_to_mel", "mel_to_hz",
           "scaled_stft", "num_queries_for"]

REFERENCE_RATE = 44100  # the rate at which the paper's FFT size and hop are given
LOG_EPS = 1e-7  # power floor of the log-Mel spectrogram (-70 dB; a full-scale sine peaks at 1/4, -6 dB)
LOG_CENTER = 8.0  # forward() feeds (log_mel + 8) / 8 to the convolutions: floor -> about -1, full scale -> about 1
DILATIONS = (1, 2, 4, 8)  # one per channel group, Section 3 (ii)


class EncoderInputError(AudioError, ValueError):
    """Audio the encoder cannot take: shorter than one FFT frame, or not ``[batch, in_channels, samples]``."""


# ---------------------------------------------------------------------------------------------------------------------
# Mel filterbank
# ---------------------------------------------------------------------------------------------------------------------

_SLANEY_F_SP = 200.0 / 3  # Hz per mel below 1 kHz
_SLANEY_MIN_LOG_HZ = 1000.0
_SLANEY_MIN_LOG_MEL = _SLANEY_MIN_LOG_HZ / _SLANEY_F_SP  # 15
_SLANEY_LOGSTEP = math.log(6.4) / 27.0


def hz_to_mel(freq, *, htk: bool = False) -> np.ndarray:
    """Hertz to mels, on the HTK scale ``2595 log10(1 + f / 700)`` or Slaney's (linear below 1 kHz, log above)."""
    freq = np.asarray(freq, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + freq / 700.0)
    mel = freq / _SLANEY_F_SP
    high = freq >= _SLANEY_MIN_LOG_HZ
    safe = np.maximum(freq, _SLANEY_MIN_LOG_HZ)
    return np.where(high, _SLANEY_MIN_LOG_MEL + np.log(safe / _SLANEY_MIN_LOG_HZ) / _SLANEY_LOGSTEP, mel)


def mel_to_hz(mel, *, htk: bool = False) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    mel = np.asarray(mel, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)
    high = mel >= _SLANEY_MIN_LOG_MEL
    return np.where(high, _SLANEY_MIN_LOG_HZ * np.exp(_SLANEY_LOGSTEP * (mel - _SLANEY_MIN_LOG_MEL)),
                    _SLANEY_F_SP * mel)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float = 0.0, f_max: Optional[float] = None, *,
                   htk: bool = False, norm: Optional[str] = None) -> Tensor:
    """Triangular Mel filters ``[n_mels, n_fft // 2 + 1]`` (float32), to multiply a power spectrogram.

    Band ``m`` rises from the centre of band ``m - 1`` to its own centre and
    falls to the centre of band ``m + 1``, centres equally spaced in mels
    between ``f_min`` and ``f_max`` (default Nyquist). A side narrower than
    one FFT bin is widened to one bin, so every band holds at least one bin.

    Args:
        sample_rate: in Hz.
        n_fft: FFT size.
        n_mels: number of bands.
        f_min, f_max: frequency range in Hz.
        htk: HTK Mel scale instead of Slaney's.
        norm: ``None`` for unit-peak triangles, ``"slaney"`` for unit-area ones (``2 / width``).
    """
    if n_mels < 1 or n_fft < 2:
        raise ValueError(f"need n_mels >= 1 and n_fft >= 2, got n_mels={n_mels}, n_fft={n_fft}")
    if norm not in (None, "slaney"):
        raise ValueError(f"norm must be None or 'slaney', got {norm!r}")
    f_max = sample_rate / 2 if f_max is None else f_max
    bin_hz = sample_rate / n_fft
    freqs = np.arange(n_fft // 2 + 1) * bin_hz
    edges = mel_to_hz(np.linspace(hz_to_mel(f_min, htk=htk), hz_to_mel(f_max, htk=htk), n_mels + 2), htk=htk)
    center = edges[1:-1, None]
    lower = np.minimum(edges[:-2, None], center - bin_hz)
    upper = np.maximum(edges[2:, None], center + bin_hz)
    rise = (freqs - lower) / (center - lower)
    fall = (upper - freqs) / (upper - center)
    weights = np.maximum(0.0, np.minimum(rise, fall))  # [n_mels, n_freq]
    if norm == "slaney":
        weights *= 2.0 / (upper - lower)
    return torch.from_numpy(weights.astype(np.float32))


def scaled_stft(sample_rate: int, n_fft: int = 1536, hop: int = 384) -> Tuple[int, int]:
    """FFT size (even) and hop given at 44.1 kHz, scaled to ``sample_rate`` so frames last as long."""
    ratio = sample_rate / REFERENCE_RATE
    return max(16, 2 * round(n_fft * ratio / 2)), max(1, round(hop * ratio))


#: Normalizations of the convolutional blocks (:attr:`EncoderConfig.norm`).
NORMS = ("channel", "group")
#: What the CPU-sized presets add to the paper's encoder so that it learns within a short budget
#: (shared/notes/estimator-diagnosis.md). The ``paper`` preset and the dataclass defaults stay the paper's,
#: so configurations stored before these fields rebuild the same model.
LEARNS_EARLY = dict(norm="group", stats_token=True, spectral_token=True)


def num_queries_for(task: str) -> int:
    """Pooling queries of the paper: 1 for ``"singing"``, 6 for ``"drums"``."""
    queries = {"singing": 1, "drums": 6}
    if task not in queries:
        raise ValueError(f"unknown task {task!r}; expected one of {sorted(queries)}")
    return queries[task]


# ---------------------------------------------------------------------------------------------------------------------
# Config
# ---------------------------------------------------------------------------------------------------------------------

@dataclass
class EncoderConfig:
    """Configuration of :class:`ReferenceEncoder`; the defaults are the paper's singing model at 44.1 kHz.

    Args:
        sample_rate: of the input audio, Hz.
        n_fft, hop: STFT size and hop in samples (Hann window).
        n_mels: Mel bands; at most ``n_fft // 2 + 1``.
        channels: output channels of each convolutional layer; each divisible by 4 (the dilation groups).
        freq_pool, time_pool: max-pooling factor after each layer along frequency and time (1 = none).
        d_model: width of the projected sequence and of the latents.
        num_queries: learnable pooling queries (1 singing, 6 drums).
        in_channels: audio channels (2 = stereo reference; 3 or 4 with the dry source concatenated).
        num_heads: attention heads of the pooling layer.
        dropout: of the pooling layer.
        htk: HTK Mel scale instead of Slaney's.
        norm: normalization after each convolution: ``"channel"`` (layer norm over the channels of each
            time-frequency cell, the paper's) or ``"group"`` (over channels and frequency of each frame,
            ``GroupNorm(1, C)`` per frame: it keeps the level differences between bands that the
            per-cell norm discards).
        stats_token: append one latent made from the time mean and standard deviation of the projected
            sequence (one query behaves like a time mean at initialization: no second-order statistics
            of time would reach the decoder).
        spectral_token: append one latent made by an MLP from statistics of the log-Mel spectrogram itself
            (:func:`spectral_statistics`: per band and channel, and for the side signal, the time mean,
            the standard deviation and that of the frame-to-frame change), which reach the decoder from
            the first step, without waiting for the convolutions to learn them.
    """
    sample_rate: int = 44100
    n_fft: int = 1536
    hop: int = 384
    n_mels: int = 256
    channels: Tuple[int, ...] = (32, 64, 128, 128, 256, 256, 256)
    freq_pool: Tuple[int, ...] = (2, 2, 2, 2, 2, 1, 2)
    time_pool: Tuple[int, ...] = (1, 2, 1, 2, 1, 1, 1)
    d_model: int = 512
    num_queries: int = 1
    in_channels: int = 2
    num_heads: int = 8
    dropout: float = 0.0
    htk: bool = False
    norm: str = "channel"
    stats_token: bool = False
    spectral_token: bool = False

    def __post_init__(self):
        # Tuples whatever came in (a JSON checkpoint gives lists).
        self.channels = tuple(int(c) for c in self.channels)
        self.freq_pool = tuple(int(p) for p in self.freq_pool)
        self.time_pool = tuple(int(p) for p in self.time_pool)
        if not self.channels or any(c <= 0 or c % len(DILATIONS) for c in self.channels):
            raise ValueError(f"every entry of channels must be a positive multiple of {len(DILATIONS)} "
                             f"(one group per dilation {DILATIONS}), got {self.channels}")
        if not len(self.freq_pool) == len(self.time_pool) == len(self.channels):
            raise ValueError(f"freq_pool {self.freq_pool} and time_pool {self.time_pool} need one entry per layer "
                             f"of channels {self.channels}")
        if any(p < 1 for p in self.freq_pool + self.time_pool):
            raise ValueError("pooling factors must be >= 1")
        if self.n_fft < 2 or self.hop < 1 or self.sample_rate <= 0:
            raise ValueError(f"bad STFT settings: n_fft={self.n_fft}, hop={self.hop}, sample_rate={self.sample_rate}")
        if not 1 <= self.n_mels <= self.n_fft // 2 + 1:
            raise ValueError(f"n_mels={self.n_mels} must be between 1 and n_fft // 2 + 1 = {self.n_fft // 2 + 1}")
        if self.d_model % self.num_heads:
            raise ValueError(f"d_model={self.d_model} must be divisible by num_heads={self.num_heads}")
        if self.num_queries < 1 or self.in_channels < 1:
            raise ValueError("num_queries and in_channels must be >= 1")
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {self.norm!r}")

    @property
    def num_latents(self) -> int:
        """Latents per clip: the pooling queries, then the statistics and spectral tokens if any."""
        return self.num_queries + int(self.stats_token) + int(self.spectral_token)

    @property
    def num_freq_out(self) -> int:
        """Frequency bins left after the pooling (ceil mode: a bin is never dropped)."""
        size = self.n_mels
        for p in self.freq_pool:
            size = -(-size // p)
        return size

    def num_frames(self, num_samples: int) -> int:
        """Frames of the sequence the pooling attends to, for a clip of ``num_samples``."""
        size = 1 + num_samples // self.hop
        for p in self.time_pool:
            size = -(-size // p)
        return size

    @classmethod
    def _scaled(cls, task: str, sample_rate: int, stft_44k: Tuple[int, int], mels: int, **kwargs) -> "EncoderConfig":
        # STFT sizes are given at 44.1 kHz and scaled to the rate, unless overridden (then taken as they are).
        scaled_fft, scaled_hop = scaled_stft(sample_rate, *stft_44k)
        kwargs.setdefault("n_fft", scaled_fft)
        kwargs.setdefault("hop", scaled_hop)
        kwargs.setdefault("n_mels", min(mels, kwargs["n_fft"] // 2 + 1))
        kwargs.setdefault("num_queries", num_queries_for(task))
        return cls(sample_rate=sample_rate, **kwargs)

    @classmethod
    def paper(cls, task: str = "singing", sample_rate: int = 44100, **overrides) -> "EncoderConfig":
        """The paper's sizes (Section 3): FFT 1536, hop 384, 256 mels, 7 layers, d_model 512.

        ``task`` is ``"singing"`` (1 query) or ``"drums"`` (6); at other sample rates the FFT and
        hop are scaled with the rate and the mels capped at ``n_fft // 2 + 1``; any field can be
        overridden by keyword.
        """
        return cls._scaled(task, sample_rate, (1536, 384), 256, **overrides)

    @classmethod
    def small(cls, task: str = "singing", sample_rate: int = 44100, **overrides) -> "EncoderConfig":
        """A CPU-sized encoder: 64 mels, narrow convolutions, d_model 128, and :data:`LEARNS_EARLY`."""
        kwargs = dict(channels=(8, 16, 16, 32, 32, 64, 64), freq_pool=(2, 2, 1, 2, 1, 2, 1),
                      time_pool=(1, 2, 1, 2, 1, 1, 1), d_model=128, num_heads=4, **LEARNS_EARLY)
        return cls._scaled(task, sample_rate, (1536, 384), 64, **{**kwargs, **overrides})

    @classmethod
    def tiny(cls, task: str = "singing", sample_rate: int = 44100, **overrides) -> "EncoderConfig":
        """A few thousand parameters and a short FFT (512 at 44.1 kHz), and :data:`LEARNS_EARLY`, for tests."""
        kwargs = dict(channels=(4, 4, 8, 8, 8, 8, 8), freq_pool=(2, 2, 1, 2, 1, 1, 1),
                      time_pool=(1, 2, 1, 1, 1, 1, 1), d_model=16, num_heads=2, **LEARNS_EARLY)
        return cls._scaled(task, sample_rate, (512, 128), 16, **{**kwargs, **overrides})


# ---------------------------------------------------------------------------------------------------------------------
# Modules
# ---------------------------------------------------------------------------------------------------------------------

class FrameGroupNorm(nn.GroupNorm):
    """Normalization over the channels and frequencies of each frame of ``(B, C, F, T)`` (one group)."""

    def __init__(self, channels: int):
        super().__init__(1, channels)

    def forward(self, x: Tensor) -> Tensor:
        B, C, F_, T = x.shape
        frames = x.permute(0, 3, 1, 2).reshape(B * T, C, F_)                  # (B * T, C, F)
        y = super().forward(frames)
        return y.reshape(B, T, C, F_).permute(0, 2, 3, 1)                     # (B, C, F, T), channels-last


class ChannelLayerNorm(nn.LayerNorm):
    """Layer normalization over the channels of each time-frequency cell of ``(B, C, F, T)``."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class DilatedDepthwiseConv2d(nn.Module):
    """A 3x3 depthwise convolution whose channels are split into groups, group ``g`` dilated by ``dilations[g]``.

    Section 3 (ii) of the paper; the size of the feature map is kept.
    """

    def __init__(self, channels: int, dilations: Sequence[int] = DILATIONS):
        super().__init__()
        self.dilations = tuple(dilations)
        width = channels // len(self.dilations)
        self.convs = nn.ModuleList(nn.Conv2d(width, width, 3, padding=d, dilation=d, groups=width)
                                   for d in self.dilations)

    def forward(self, x: Union[Tensor, Sequence[Tensor]]) -> Tensor:  # (B, C, F, T) -> (B, C, F, T)
        """Filter ``x``, or its channel groups given already split (a list of ``(B, C / 4, F, T)``)."""
        groups = x.chunk(len(self.convs), dim=1) if isinstance(x, Tensor) else x
        return torch.cat([conv(g) for conv, g in zip(self.convs, groups)], dim=1)


class ConvBlock(nn.Module):
    """One of the 7 layers: pointwise 1x1 (mixes channels), grouped dilated depthwise 3x3, layer norm, ReLU, max-pool.

    The pointwise convolution comes first so the dilation groups split the
    block's output channels (the input may be 2 or 3 audio channels).
    """

    def __init__(self, in_channels: int, out_channels: int, pool: Tuple[int, int], norm: str = "channel"):
        super().__init__()
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1)
        self.depthwise = DilatedDepthwiseConv2d(out_channels)
        self.norm = FrameGroupNorm(out_channels) if norm == "group" else ChannelLayerNorm(out_channels)
        self.act = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool2d(pool, ceil_mode=True) if pool != (1, 1) else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:  # (B, C_in, F, T) -> (B, C_out, ceil(F / pf), ceil(T / pt))
        # The pointwise convolution is computed group by group (slices of its weight), the same numbers as
        # self.pointwise(x).chunk(4, dim=1) but each group contiguous: in channels-last memory a channel
        # slice of one big output would be copied by every depthwise convolution.
        w, b = self.pointwise.weight, self.pointwise.bias
        width = w.shape[0] // len(self.depthwise.convs)
        groups = [F.conv2d(x, w[i:i + width], b[i:i + width]) for i in range(0, w.shape[0], width)]
        return self.pool(self.act(self.norm(self.depthwise(groups))))


def sinusoidal_positions(length: int, dim: int, *, device=None, dtype=torch.float32) -> Tensor:
    """The sinusoidal position encoding of Vaswani et al. (2017), ``[length, dim]``."""
    position = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    freqs = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim, device=device, dtype=torch.float32)
    table[:, 0::2] = torch.sin(position * freqs)
    table[:, 1::2] = torch.cos(position * freqs[: dim // 2])
    return table.to(dtype)


class ReferenceEncoder(nn.Module):
    """The reference encoder from the "Blind Estimation of Audio Processing Graph"
    <https://arxiv.org/abs/2303.08257> paper (Section 3).

    log-Mel spectrogram -> 7 VGGish-style convolutional layers (depthwise
    separable, four dilation groups 1/2/4/8, layer norm) -> flatten channel x
    frequency and project to ``d_model`` -> attentive pooling over time by
    ``num_queries`` learnable queries (one pre-LN transformer decoder layer,
    sinusoidal time positions) -> latents ``[B, num_queries, d_model]``, followed
    with ``stats_token`` by one latent of the sequence's time mean and standard
    deviation. The presets normalize each block over channels and frequency per
    frame (``norm="group"``); the paper's per-cell layer norm is ``norm="channel"``.

    Args:
        config: an :class:`EncoderConfig`; ``EncoderConfig.paper(task)`` for the paper's model.
    """

    def __init__(self, config: Optional[EncoderConfig] = None):
        super().__init__()
        config = config or EncoderConfig()
        self.config = config
        # Derived from the config, hence not saved in state dicts.
        hann = torch.hann_window(config.n_fft)
        self.register_buffer("window", hann / hann.sum(), persistent=False)  # a sine of amplitude A peaks at A / 2
        fb = mel_filterbank(config.sample_rate, config.n_fft, config.n_mels, htk=config.htk)
        self.register_buffer("mel_fb", fb, persistent=False)  # [n_mels, n_fft // 2 + 1]

        blocks, width = [], config.in_channels
        for out, pf, pt in zip(config.channels, config.freq_pool, config.time_pool):
            blocks.append(ConvBlock(width, out, (pf, pt), config.norm))
            width = out
        self.convs = nn.Sequential(*blocks)
        self.proj = nn.Linear(width * config.num_freq_out, config.d_model)
        self.memory_norm = nn.LayerNorm(config.d_model)
        self.queries = nn.Parameter(torch.empty(config.num_queries, config.d_model))
        self.pool = nn.TransformerDecoderLayer(config.d_model, config.num_heads, 4 * config.d_model,
                                               dropout=config.dropout, batch_first=True, norm_first=True)
        self.out_norm = nn.LayerNorm(config.d_model)
        self.stats = (nn.Sequential(nn.Linear(2 * config.d_model, config.d_model), nn.LayerNorm(config.d_model))
                      if config.stats_token else None)
        width = 3 * (config.in_channels + 1) * config.n_mels  # see spectral_statistics
        self.spectral = (nn.Sequential(nn.Linear(width, config.d_model), nn.GELU(),
                                       nn.Linear(config.d_model, config.d_model), nn.LayerNorm(config.d_model))
                         if config.spectral_token else None)
        self.reset_parameters()

    def reset_parameters(self):
        """Re-initialize: He-normal convolutions with zero biases, PyTorch defaults for the other layers,
        N(0, 0.02) for the queries.

        With PyTorch's default convolution init each block shrinks the signal about threefold while its
        biases stay: after 7 blocks the latents of different clips differed by under 1% of their spread,
        and training learned the graph prior only (tokengt no better than no_latent).
        """
        for module in self.modules():
            if module is not self and hasattr(module, "reset_parameters"):
                module.reset_parameters()
        for block in self.convs:
            # The pointwise convolution reads the previous block's ReLU output; the depthwise one is linear.
            nn.init.kaiming_normal_(block.pointwise.weight, nonlinearity="relu")
            nn.init.zeros_(block.pointwise.bias)
            for conv in block.depthwise.convs:
                nn.init.kaiming_normal_(conv.weight, nonlinearity="linear")
                nn.init.zeros_(conv.bias)
        # nn.TransformerDecoderLayer has no reset_parameters: its submodules (Linear, LayerNorm) were reset
        # above, but MultiheadAttention keeps its own in-projection initialization.
        for attn in (self.pool.self_attn, self.pool.multihead_attn):
            attn._reset_parameters()
        nn.init.normal_(self.queries, std=0.02)

    def _check(self, audio: Tensor):
        c = self.config
        if audio.dim() != 3 or audio.shape[1] != c.in_channels:
            raise EncoderInputError(f"the encoder expects audio [batch, {c.in_channels}, samples], "
                                     f"got shape {tuple(audio.shape)}")
        if audio.shape[-1] < c.n_fft:
            raise EncoderInputError(f"clip of {audio.shape[-1]} samples is shorter than one FFT frame "
                                     f"(n_fft={c.n_fft} at {c.sample_rate} Hz)")

    def mel(self, audio: Tensor) -> Tensor:
        """Natural-log Mel power spectrogram ``[B, C, n_mels, 1 + T // hop]`` of ``audio [B, C, T]``.

        The window is divided by its sum, so a full-scale sine has power
        1/4 at its peak bin; powers are floored by adding ``LOG_EPS``.
        """
        self._check(audio)
        return self._log_mel(audio)

    def _log_mel(self, audio: Tensor) -> Tensor:
        c = self.config
        B, C, T = audio.shape
        # Always float32: half precision would flush the power floor to zero.
        with torch.autocast(device_type=audio.device.type, enabled=False):
            flat = audio.reshape(B * C, T).float()
            spec = torch.stft(flat, c.n_fft, c.hop, window=self.window.float(), center=True, pad_mode="reflect",
                              return_complex=True)  # (B*C, n_fft // 2 + 1, N)
            # torch.stft's result is a transposed view; in (B*C, N, F) order it is contiguous, and the
            # power and the Mel projection (one large matrix product) run about twice as fast.
            spec = spec.transpose(1, 2)  # (B*C, N, F)
            power = torch.addcmul(spec.real * spec.real, spec.imag, spec.imag)
            mel = torch.matmul(power, self.mel_fb.float().T)  # (B*C, N, M)
            return torch.log(mel + LOG_EPS).transpose(1, 2).reshape(B, C, c.n_mels, -1)

    def forward(self, audio: Tensor) -> Tensor:
        """Latents ``[B, num_latents, d_model]`` of ``audio [B, in_channels, T]``, any ``T >= n_fft``."""
        x = (self.mel(audio) + LOG_CENTER) / LOG_CENTER  # (B, C, M, N), float32
        spectral = None
        if self.spectral is not None:
            side = (self._log_mel(0.5 * (audio[:, :1] - audio[:, 1:2])) + LOG_CENTER) / LOG_CENTER  # (B, 1, M, N)
            spectral = self.spectral(spectral_statistics(torch.cat([x, side], 1)).to(self.proj.weight.dtype))
        x = x.to(self.proj.weight.dtype)  # a model converted with .half() / .bfloat16()
        # Channels-last memory: on CPU the depthwise convolutions, the channel layer norms and the pooling
        # run 2-4 times faster than in the default layout, and the layer norms need no copy.
        x = self.convs(x.contiguous(memory_format=torch.channels_last))  # (B, C', M', N')
        B, C, M, N = x.shape
        x = x.permute(0, 3, 1, 2).reshape(B, N, C * M)  # (B, N', C' * M')
        memory = self.memory_norm(self.proj(x))  # (B, N', D)
        stats = torch.cat([memory.mean(1), memory.std(1, correction=0)], dim=-1) if self.stats is not None else None
        memory = memory + sinusoidal_positions(N, memory.shape[-1], device=memory.device, dtype=memory.dtype)
        queries = self.queries.unsqueeze(0).expand(B, -1, -1)  # (B, Q, D)
        latents = [self.out_norm(self.pool(queries, memory))]  # (B, Q, D)
        if stats is not None:
            latents.append(self.stats(stats).unsqueeze(1))
        if spectral is not None:
            latents.append(spectral.unsqueeze(1))
        return torch.cat(latents, dim=1)  # (B, num_latents, D)


def spectral_statistics(mel: Tensor) -> Tensor:
    """``[B, 3 * C * M]`` statistics of a log-Mel spectrogram ``[B, C, M, N]``: per channel and band, the
    time mean (level, spectral shape, the balance between channels), the standard deviation over time
    (dynamics) and that of the frame-to-frame difference (modulation, transients)."""
    flux = mel.diff(dim=-1) if mel.shape[-1] > 1 else torch.zeros_like(mel)
    stats = [mel.mean(-1), mel.std(-1, correction=0), flux.std(-1, correction=0)]
    return torch.cat([s.flatten(1) for s in stats], dim=1)
