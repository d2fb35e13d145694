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


@pytest.mark.parametrize("subtype", ["PCM_16", "FLOAT"])
def test_a_truncated_wav_is_reported_with_what_is_missing(tmp_path, subtype):
    whole, cut = tmp_path / "whole.wav", tmp_path / "cut.wav"
    sf.write(str(whole), np.full((16000, 2), 0.1, dtype=np.float32), 16000, subtype=subtype)
    data = whole.read_bytes()
    cut.write_bytes(data[:len(data) // 3])  # the header still promises 1 s
    with pytest.raises(AudioError, match=r"truncated: its header promises 1.00 s, it holds 0.3\d s"):
        load_audio(str(cut))
    assert load_audio(str(whole))[0].shape == (2, 16000)


def test_an_excerpt_is_read_at_the_rate_wanted(tmp_path):
    path = str(tmp_path / "a.wav")
    x = torch.rand(1, 32000) - 0.5
    save_audio(path, x, 16000)
    y, _ = load_audio(path, start=8000, frames=4000)
    assert torch.equal(y, x[:, 8000:12000])
    z, rate = load_audio(path, 8000, start=8000, frames=4000)
    assert rate == 8000 and z.shape == (1, 2000)


def test_files_get_the_mode_of_the_umask_and_no_temporary_is_left(tmp_path):
    import os

    old = os.umask(0o027)
    try:
        save_audio(str(tmp_path / "a.wav"), torch.zeros(1, 10), 16000)
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "a.wav").st_mode & 0o777 == 0o640
    assert os.listdir(tmp_path) == ["a.wav"]
