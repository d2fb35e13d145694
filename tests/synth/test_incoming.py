"""Tests of graphfx.synth.incoming: spectra, quantiles, shares of the mix, frame levels."""
import numpy as np

from graphfx.synth.incoming import frame_levels_db, mix_shares, spectral_quantile_frequency

SR = 16000


def test_spectral_quantile_of_two_tones():
    t = np.arange(SR) / SR
    x = (np.sin(2 * np.pi * 500 * t) + np.sin(2 * np.pi * 3000 * t))[None]
    assert 490 < spectral_quantile_frequency(x, SR, 0.3) < 510
    assert 2990 < spectral_quantile_frequency(x, SR, 0.7) < 3010


def test_masked_energy_is_not_counted():
    t = np.arange(SR) / SR
    low, high = np.sin(2 * np.pi * 500 * t)[None], np.sin(2 * np.pi * 3000 * t)[None]
    # A kick-like track with energy at 500 and 3000 Hz, under a hat that covers 3000 Hz.
    shares = mix_shares({"kick": low + high, "hat": 30 * high}, SR)
    assert set(shares) == {"kick", "hat"}
    freqs, kick = shares["kick"]
    assert kick[np.argmin(abs(freqs - 500))] > 0.99 and kick[np.argmin(abs(freqs - 3000))] < 0.01
    # Unmasked, 3000 Hz holds half the energy; in the mix the kick is heard at 500 Hz only.
    assert spectral_quantile_frequency(low + high, SR, 0.7) > 2900
    assert spectral_quantile_frequency(low + high, SR, 0.7, shares["kick"]) < 600
    assert mix_shares({"in": low}, SR) == {}


def test_frame_levels():
    x = np.concatenate([np.zeros(2048), np.ones(2048)])[None]
    levels = frame_levels_db(x)
    assert levels[0] < -90 and abs(levels[-1]) < 1e-6
