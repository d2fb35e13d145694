import numpy as np
import pytest
import soundfile as sf
import torch

from graphfx import AudioError
from graphfx.audio import load_audio, save_audio


def test_round_trip_and_resampling(tmp_path):
    x = torch.rand(2, 1001) - 0.5
    path = str(tmp_path / "a.wav")
    save_audio(path, x, 16000)
    y, rate = load_audio(path)
    assert rate == 16000 and torch.equal(x, y)
    z, rate = load_audio(path, 32000)
    assert rate == 32000 and z.shape == (2, 2002)


def test_flac_and_mono(tmp_path):
    path = str(tmp_path / "m.flac")
    sf.write(path, np.zeros(500, dtype=np.float32), 44100)
    y, _ = load_audio(path)
    assert y.shape == (1, 500)


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_bytes(b"RIFF....garbage"), "cannot read"),
    (lambda p: sf.write(str(p), np.zeros((0, 1), dtype=np.float32), 16000), "empty"),
    (lambda p: sf.write(str(p), np.full(10, np.nan, dtype=np.float32), 16000, subtype="FLOAT"), "NaN"),
    (lambda p: sf.write(str(p), np.zeros((10, 3), dtype=np.float32), 16000), "3 channels"),
])
def test_bad_files_raise_one_line_errors(tmp_path, make, message):
    path = tmp_path / "bad.wav"
    make(path)
    with pytest.raises(AudioError, match=message):
        load_audio(str(path))


def test_rate_mismatch_without_resampling(tmp_path):
    path = str(tmp_path / "a.wav")
    save_audio(path, torch.zeros(1, 100), 16000)
    with pytest.raises(AudioError, match="16000 Hz"):
        load_audio(path, 44100, resample=False)


def test_unsupported_extension(tmp_path):
    with pytest.raises(AudioError, match="use .wav"):
        save_audio(str(tmp_path / "a.mp4"), torch.zeros(1, 10), 16000)
