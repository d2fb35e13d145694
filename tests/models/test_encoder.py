"""Tests of the reference encoder (Section 3 of Lee et al. 2023)."""
import math
from dataclasses import asdict

import numpy as np
import pytest
import torch

from graphfx.errors import AudioError
from graphfx.models.encoder import (DILATIONS, LOG_CENTER, ConvBlock, DilatedDepthwiseConv2d, EncoderConfig,
                                    ReferenceEncoder, hz_to_mel, mel_filterbank, mel_to_hz, scaled_stft)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


pytestmark = pytest.mark.usefixtures("one_thread")


def _encoder(config, seed=0):
    torch.manual_seed(seed)
    return ReferenceEncoder(config).eval()


def _noise(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * 0.1


# --- mel filterbank ---

def test_mel_scales_known_values():
    assert hz_to_mel(1000.0) == pytest.approx(15.0)  # Slaney: linear to 1 kHz at 200/3 Hz per mel
    assert hz_to_mel(6400.0) == pytest.approx(42.0)  # ... then 27 mels per factor 6.4
    assert hz_to_mel(1000.0, htk=True) == pytest.approx(2595 * math.log10(1 + 1000 / 700))
    freqs = np.array([0.0, 20.0, 999.0, 1000.0, 1001.0, 8000.0, 22050.0])
    for htk in (False, True):
        np.testing.assert_allclose(mel_to_hz(hz_to_mel(freqs, htk=htk), htk=htk), freqs, atol=1e-6)


@pytest.mark.parametrize("htk", [False, True])
def test_mel_filterbank_rows_are_triangles_around_their_centres(htk):
    sr, n_fft, n_mels = 44100, 1536, 256  # the paper's: the low bands are narrower than an FFT bin
    fb = mel_filterbank(sr, n_fft, n_mels, htk=htk).numpy()
    assert fb.shape == (n_mels, n_fft // 2 + 1) and fb.min() >= 0
    assert (fb.max(axis=1) >= 0.5).all(), "every band holds at least one bin"
    centres = mel_to_hz(np.linspace(0, hz_to_mel(sr / 2, htk=htk), n_mels + 2), htk=htk)[1:-1]
    nearest = np.round(centres / (sr / n_fft)).astype(int)
    np.testing.assert_array_equal(fb.argmax(axis=1), nearest)
    # Where bands are wider than a bin, the row is the textbook triangle (librosa / torchaudio formula).
    freqs = np.arange(n_fft // 2 + 1) * sr / n_fft
    edges = mel_to_hz(np.linspace(0, hz_to_mel(sr / 2, htk=htk), n_mels + 2), htk=htk)
    for m in (n_mels // 2, n_mels - 1):
        lo, c, hi = edges[m], edges[m + 1], edges[m + 2]
        expected = np.clip(np.minimum((freqs - lo) / (c - lo), (hi - freqs) / (hi - c)), 0, None)
        np.testing.assert_allclose(fb[m], expected, atol=1e-6)


def test_mel_filterbank_slaney_norm_has_unit_area_per_hz():
    sr, n_fft = 16000, 4096
    fb = mel_filterbank(sr, n_fft, 40, norm="slaney").numpy()
    area = fb.sum(axis=1) * sr / n_fft  # integral of each triangle over Hz
    np.testing.assert_allclose(area, 1.0, rtol=0.02)


# --- config ---

def test_config_presets_and_sample_rate_scaling():
    paper = EncoderConfig.paper("singing")
    assert (paper.n_fft, paper.hop, paper.n_mels, paper.d_model, paper.num_queries) == (1536, 384, 256, 512, 1)
    assert len(paper.channels) == 7 and EncoderConfig.paper("drums").num_queries == 6
    assert scaled_stft(22050) == (768, 192) and scaled_stft(48000) == (1672, 418)
    low = EncoderConfig.paper("singing", sample_rate=8000)
    assert low.n_mels == low.n_fft // 2 + 1 < 256  # capped by what the FFT allows
    assert EncoderConfig.small("drums", 22050).n_fft == 768
    with pytest.raises(ValueError):
        EncoderConfig.paper("speech")


def test_config_validation_and_round_trip():
    with pytest.raises(ValueError, match="multiple of 4"):
        EncoderConfig(channels=(32, 64, 128, 128, 256, 256, 250))
    with pytest.raises(ValueError, match="one entry per layer"):
        EncoderConfig(channels=(8, 8))
    with pytest.raises(ValueError, match="n_mels"):
        EncoderConfig(n_fft=256, n_mels=256)
    cfg = EncoderConfig.small("drums")
    as_json = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()}
    assert EncoderConfig(**as_json) == cfg


# --- encoder ---

@pytest.mark.parametrize("preset,task,batch,in_channels,length", [
    ("tiny", "singing", 1, 2, 512),  # exactly one FFT frame
    ("tiny", "singing", 3, 2, 4001),  # odd length
    ("tiny", "drums", 2, 3, 4000),  # source conditioning: reference + dry source
    ("tiny", "drums", 2, 4, 2048),
    ("small", "singing", 2, 2, 1536),
    ("small", "drums", 1, 3, 6001),
])
def test_output_shapes(preset, task, batch, in_channels, length):
    cfg = getattr(EncoderConfig, preset)(task, in_channels=in_channels)
    enc = _encoder(cfg)
    audio = _noise(batch, in_channels, length)
    z = enc(audio)
    assert z.shape == (batch, cfg.num_latents, cfg.d_model)
    assert torch.isfinite(z).all()
    assert enc.mel(audio).shape == (batch, in_channels, cfg.n_mels, 1 + length // cfg.hop)


def test_other_sample_rate():
    cfg = EncoderConfig.tiny("singing", sample_rate=16000)
    assert _encoder(cfg)(_noise(2, 2, 1601)).shape == (2, cfg.num_latents, cfg.d_model)


def test_paper_preset_parameter_count_4_936_480():
    """The paper preset: 4 936 480 parameters for singing (1 query), 4 939 040 for drums (6 queries)."""
    singing = ReferenceEncoder(EncoderConfig.paper("singing"))
    drums = ReferenceEncoder(EncoderConfig.paper("drums"))
    assert sum(p.numel() for p in singing.parameters()) == 4_936_480
    assert sum(p.numel() for p in drums.parameters()) == 4_939_040
    with torch.inference_mode():
        assert singing.eval()(_noise(1, 2, 1536)).shape == (1, 1, 512)


def test_tiny_preset_has_a_few_thousand_parameters():
    n = sum(p.numel() for p in ReferenceEncoder(EncoderConfig.tiny()).parameters())
    assert 1000 < n < 10000


def test_too_short_or_misshapen_audio_raises():
    enc = _encoder(EncoderConfig.tiny())
    with pytest.raises(ValueError, match="shorter than one FFT frame"):
        enc(torch.zeros(1, 2, 511))
    with pytest.raises(AudioError, match="samples"):
        enc.mel(torch.zeros(1, 2, 100))
    with pytest.raises(ValueError, match=r"\[batch, 2, samples\]"):
        enc(torch.zeros(1, 3, 4000))
    with pytest.raises(ValueError):
        enc(torch.zeros(2, 4000))


@pytest.mark.parametrize("freq", [300.0, 1000.0, 3000.0, 9000.0])
def test_mel_of_a_sine_peaks_at_its_band(freq):
    cfg = EncoderConfig.tiny(n_fft=1024, hop=256, n_mels=64)
    enc = _encoder(cfg)
    t = torch.arange(8192) / cfg.sample_rate
    sine = torch.sin(2 * math.pi * freq * t).expand(1, 2, -1)
    log_mel = enc.mel(sine)[0, :, :, 2:-2].mean(dim=-1)  # [C, M], frames away from the edges
    centres = mel_to_hz(np.linspace(0, hz_to_mel(cfg.sample_rate / 2), cfg.n_mels + 2))[1:-1]
    expected = int(np.argmin(np.abs(centres - freq)))
    assert log_mel.argmax(dim=-1).tolist() == [expected, expected]
    # Power scaling: 20 dB less amplitude is ln(100) less log power.
    quiet = enc.mel(0.1 * sine)[0, :, :, 2:-2].mean(dim=-1)
    assert (log_mel - quiet)[:, expected].tolist() == pytest.approx([math.log(100)] * 2, abs=1e-3)


def test_dilation_groups_use_dilations_1_2_4_8():
    enc = ReferenceEncoder(EncoderConfig.paper())
    blocks = [m for m in enc.modules() if isinstance(m, ConvBlock)]
    assert len(blocks) == 7
    for block, channels in zip(blocks, enc.config.channels):
        convs = block.depthwise.convs
        assert [c.dilation for c in convs] == [(1, 1), (2, 2), (4, 4), (8, 8)]
        for c in convs:  # depthwise: one 3x3 filter per channel, a quarter of the channels per group
            assert c.in_channels == c.out_channels == c.groups == channels // 4
            assert c.kernel_size == (3, 3) and c.padding == c.dilation
        assert block.pointwise.kernel_size == (1, 1) and block.pointwise.out_channels == channels
        assert isinstance(block.norm, torch.nn.LayerNorm)


def test_dilation_groups_reach_their_dilated_neighbours():
    conv = DilatedDepthwiseConv2d(8)
    with torch.no_grad():
        for c in conv.convs:
            c.weight.fill_(1.0)
            c.bias.zero_()
    impulse = torch.zeros(1, 8, 33, 33)
    impulse[..., 16, 16] = 1.0
    response = conv(impulse)[0]  # [8, 33, 33]
    for channel in range(8):
        d = DILATIONS[channel // 2]
        rows, cols = torch.nonzero(response[channel], as_tuple=True)
        assert sorted(set(rows.tolist())) == [16 - d, 16, 16 + d]
        assert sorted(set(cols.tolist())) == [16 - d, 16, 16 + d]


def test_gradients_reach_every_parameter():
    cfg = EncoderConfig.tiny("drums", in_channels=3)
    enc = ReferenceEncoder(cfg).train()
    audio = _noise(2, 3, 3000).requires_grad_()
    z = enc(audio)
    weights = torch.randn(z.shape, generator=torch.Generator().manual_seed(1))
    (z * weights).sum().backward()
    for name, p in enc.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    assert torch.isfinite(audio.grad).all() and audio.grad.abs().sum() > 0


def test_deterministic_in_eval_mode():
    enc = _encoder(EncoderConfig.tiny("drums"))
    audio = _noise(3, 2, 3001)
    assert torch.equal(enc(audio), enc(audio))
    again = _encoder(EncoderConfig.tiny("drums"))  # same seed, same weights
    assert torch.equal(enc(audio), again(audio))


def test_batch_independence():
    enc = _encoder(EncoderConfig.tiny("drums"))
    audio = _noise(4, 2, 3000)
    z = enc(audio)
    for i in range(4):
        torch.testing.assert_close(enc(audio[i:i + 1]), z[i:i + 1], atol=1e-5, rtol=1e-5)
    other = audio.clone()
    other[1:] = _noise(3, 2, 3000, seed=7)
    torch.testing.assert_close(enc(other)[0], z[0], atol=1e-5, rtol=1e-5)


def test_state_dict_round_trip_excludes_derived_buffers():
    cfg = EncoderConfig.tiny()
    enc = _encoder(cfg, seed=0)
    state = enc.state_dict()
    assert "mel_fb" not in state and "window" not in state
    other = _encoder(cfg, seed=1)
    other.load_state_dict(state)
    audio = _noise(2, 2, 2048)
    assert torch.equal(enc(audio), other(audio))


@pytest.mark.parametrize("device", DEVICES)
def test_device_agnostic(device):
    enc = _encoder(EncoderConfig.tiny()).to(device)
    audio = _noise(2, 2, 2049).to(device)
    z = enc(audio)
    assert z.device.type == device and z.shape == (2, EncoderConfig.tiny().num_latents, 16)
    torch.testing.assert_close(z.cpu(), _encoder(EncoderConfig.tiny())(audio.cpu()), atol=1e-4, rtol=1e-4)


def test_half_precision_and_autocast():
    enc = _encoder(EncoderConfig.tiny())
    audio = _noise(2, 2, 2048)
    reference = enc(audio)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        torch.testing.assert_close(enc(audio).float(), reference, atol=0.1, rtol=0.1)
    z = enc.bfloat16()(audio)  # the Mel front end stays float32 inside
    assert z.dtype == torch.bfloat16 and torch.isfinite(z).all()


def test_silence_sits_at_the_log_floor():
    enc = _encoder(EncoderConfig.tiny())
    log_mel = enc.mel(torch.zeros(1, 2, 2048))
    torch.testing.assert_close(log_mel, torch.full_like(log_mel, math.log(1e-7)))
    assert torch.isfinite(enc(torch.zeros(1, 2, 2048))).all()


def test_untrained_convolutions_keep_clips_apart():
    """At initialization, clips with different spectra give different features (the default PyTorch init
    washed them out to within a few percent of each other, and training then ignored the audio)."""
    torch.manual_seed(0)
    t = torch.arange(32000) / 16000
    noise = torch.randn(32000)
    low = torch.nn.functional.avg_pool1d(noise[None], 15, stride=1, padding=7)[0]
    clips = [0.1 * noise, 0.3 * low, 0.1 * (noise - low), 0.3 * torch.sin(2 * math.pi * 220 * t),
             0.3 * torch.sin(2 * math.pi * 3000 * t), 0.1 * noise * (t % 0.5 < 0.1)]
    audio = torch.stack([torch.stack([x, x]) for x in clips])
    for seed in range(3):
        enc = _encoder(EncoderConfig.small("singing", 16000), seed=seed).eval()
        with torch.no_grad():
            features = enc.convs((enc.mel(audio) + LOG_CENTER) / LOG_CENTER).flatten(1)
        assert features.std(0).mean() / features.std() > 0.07


def test_paper_layout_without_the_additions():
    # Configurations stored before the statistics token and the frame norm rebuild the paper's layout.
    cfg = EncoderConfig.tiny("singing", norm="channel", stats_token=False, spectral_token=False)
    enc = _encoder(cfg)
    assert enc.stats is None and enc.spectral is None and cfg.num_latents == 1
    assert enc(_noise(2, 2, 2048)).shape == (2, 1, cfg.d_model)


def test_frame_group_norm_keeps_levels_between_bands():
    # GroupNorm per frame normalizes each frame as a whole: a band louder than another stays louder.
    from graphfx.models.encoder import FrameGroupNorm
    x = torch.ones(1, 4, 8, 3)
    x[:, :, :4] *= 10.0                       # the low bands are louder in every frame
    y = FrameGroupNorm(4)(x)
    assert (y[:, :, :4] > y[:, :, 4:].max()).all()
    assert torch.allclose(y.mean(dim=(1, 2)), torch.zeros(1, 3), atol=1e-5)


def test_stats_token_sees_time_variation():
    cfg = EncoderConfig.tiny("singing")
    enc = _encoder(cfg).eval()
    steady = 0.1 * torch.ones(1, 2, 4096)
    pulsing = steady * (torch.arange(4096) // 512 % 2).float()
    z = enc(torch.cat([steady, pulsing]))
    assert z.shape[1] == 3 and not torch.allclose(z[0, 1], z[1, 1], atol=1e-3)


def test_spectral_statistics_tell_level_balance_and_motion_apart():
    from graphfx.models.encoder import spectral_statistics
    mel = torch.zeros(3, 2, 4, 6)
    mel[1, 0] += 1.0                               # louder left channel: the means differ
    mel[2, :, :, ::2] += 1.0                       # alternating frames: std and flux, not the mean shape
    stats = spectral_statistics(mel).reshape(3, 3, 2, 4)  # (clip, mean/std/flux, channel, band)
    assert stats[0].abs().max() == 0
    assert (stats[1, 0, 0] == 1).all() and (stats[1, 0, 1] == 0).all() and stats[1, 1:].abs().max() == 0
    assert (stats[2, 1] == 0.5).all() and (stats[2, 2] > 0.9).all()


def test_spectral_token_hears_the_side_signal():
    cfg = EncoderConfig.tiny("singing", spectral_token=True)
    enc = _encoder(cfg).eval()
    assert cfg.num_latents == 3
    mono = 0.1 * _noise(1, 1, 4096).expand(1, 2, 4096)
    wide = mono * torch.tensor([1.0, -1.0])[:, None]     # same level per channel, all in the side signal
    with torch.no_grad():
        z = enc(torch.cat([mono, wide]))
    assert z.shape == (2, 3, cfg.d_model) and not torch.allclose(z[0, 2], z[1, 2], atol=1e-3)
