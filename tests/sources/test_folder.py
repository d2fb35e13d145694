"""Tests of FolderSource on small WAV/FLAC trees written into tmp_path."""
import os

import numpy as np
import pytest
import soundfile as sf

from graphfx.errors import AudioError
from graphfx.sources import FolderSource, make_source

SR = 44100


def _write(path, audio, rate=SR, fmt=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    sf.write(path, np.asarray(audio, dtype=np.float32).T, rate, format=fmt)


def _tone(freq, seconds, rate=SR, amp=0.5, channels=1):
    t = np.arange(int(seconds * rate)) / rate
    x = amp * np.sin(2 * np.pi * freq * t)
    return np.stack([x] * channels)


def _singing_tree(root, speakers=4, files=3, rate=SR):
    for s in range(speakers):
        for f in range(files):
            ext = "flac" if f % 2 else "wav"
            _write(str(root / f"spk{s}" / "takes" / f"f{f}.{ext}"), _tone(200 + 50 * s + 10 * f, 0.5, rate), rate)
    return root


# ----------------------------------------------------------------------------- singing

def test_singing_layout_and_splits(tmp_path):
    src = FolderSource(_singing_tree(tmp_path), "singing", unseen=1)
    assert src.names("unseen") and len(src.names("unseen")) == 1
    assert src.names("train") == src.names("seen")
    assert sorted(src.names()) == [f"spk{s}" for s in range(4)]
    assert not set(src.names("train")) & set(src.names("unseen"))
    train, seen = set(src.files("train")), set(src.files("seen"))
    assert train and seen and not train & seen  # held-out files, 1 of 3 per speaker
    assert len(seen) == 3 and len(train) == 6
    # deterministic split: the same tree gives the same unseen speaker
    assert FolderSource(tmp_path, "singing", unseen=1).names("unseen") == src.names("unseen")
    assert "spk" in src.describe()


def test_singing_clips(tmp_path):
    src = FolderSource(_singing_tree(tmp_path, rate=22050), "singing", unseen=1)
    a = src.clip("train", 3, 8000)
    assert list(a) == ["in"] and a["in"].shape == (1, 8000) and a["in"].dtype == np.float32
    assert np.array_equal(a["in"], src.clip("train", 3, 8000)["in"])
    assert not np.array_equal(a["in"], src.clip("train", 4, 8000)["in"])
    assert np.isfinite(a["in"]).all() and np.max(np.abs(a["in"])) <= 1
    # resampled from 22.05 kHz: the tone keeps its pitch
    name = src.names("unseen")[0]
    x = src.clip("unseen", 0, 8192, name=name)["in"][0]
    peak = np.fft.rfftfreq(8192, 1 / SR)[np.argmax(np.abs(np.fft.rfft(x * np.hanning(8192))))]
    expected = [200 + 50 * int(name[3:]) + 10 * f for f in range(3)]
    assert min(abs(peak - e) for e in expected) < 10
    stereo = FolderSource(tmp_path, "singing", unseen=1, channels=2).clip("seen", 0, 1000)["in"]
    assert stereo.shape == (2, 1000) and np.array_equal(stereo[0], stereo[1])


def test_clip_longer_than_file_is_zero_padded(tmp_path):
    src = FolderSource(_singing_tree(tmp_path), "singing", unseen=1)
    x = src.clip("train", 0, SR)["in"]  # files are 0.5 s
    assert x.shape == (1, SR) and np.all(x[0, SR // 2 + 10:] == 0)


def test_silent_segments_are_skipped(tmp_path):
    for s in range(3):
        audio = np.concatenate([np.zeros((1, SR * 4)), _tone(300, 0.5)], axis=1)  # 4 s silence, 0.5 s tone
        _write(str(tmp_path / f"s{s}" / "a.wav"), audio)
    src = FolderSource(tmp_path, "singing", unseen=1)
    for seed in range(5):
        x = src.clip("unseen", seed, 4410)["in"]
        assert 20 * np.log10(np.sqrt(np.mean(x.astype(float) ** 2))) > src.min_rms_db


def test_single_file_speakers_split_in_time(tmp_path):
    for s in range(3):
        _write(str(tmp_path / f"s{s}" / "only.wav"), _tone(300, 1.0))
    src = FolderSource(tmp_path, "singing", unseen=1)
    name = src.names("train")[0]
    assert src.files("train", name) == src.files("seen", name)
    (train,), (seen,) = src._items["train"][name], src._items["seen"][name]
    assert train.offset + train.duration == pytest.approx(seen.offset)
    assert seen.duration == pytest.approx(0.1)


def test_opensinger_layout(tmp_path):
    for group, singer, song in [("ManRaw", "0", "a"), ("ManRaw", "0", "b"), ("ManRaw", "1", "a"),
                                ("WomanRaw", "0", "c"), ("WomanRaw", "2", "d"), ("WomanRaw", "2", "e")]:
        for i in range(2):
            _write(str(tmp_path / group / f"{singer}_{song}" / f"{singer}_{song}_{i}.wav"), _tone(220, 0.3))
    src = FolderSource(tmp_path, "singing", unseen=1)
    assert sorted(src.names()) == ["ManRaw/0", "ManRaw/1", "WomanRaw/0", "WomanRaw/2"]
    men = FolderSource(tmp_path / "ManRaw", "singing", unseen=1)  # root may be a group folder
    assert sorted(men.names()) == ["ManRaw/0", "ManRaw/1"]
    assert men.clip("unseen", 0, 1000)["in"].shape == (1, 1000)


# ----------------------------------------------------------------------------- drums

def _kit(root, name, tracks, rate=SR, take_folders=False, seconds=1.0):
    """Stems of one take: the same decaying noise hits, track i scaled by 1 - 0.2 i; a tom stem is silent."""
    rng = np.random.default_rng(sum(map(ord, name)))
    hits = np.zeros(int(seconds * rate))
    hits[:: rate // 8] = 1.0  # 8 hits per second
    kernel = np.exp(-np.arange(2000) / 400) * rng.uniform(-1, 1, 2000)
    groove = 0.5 * np.convolve(hits, kernel)[: len(hits)]
    for i, track in enumerate(tracks):
        audio = np.zeros_like(hits) if track == "tom" else (1 - 0.2 * i) * groove
        if take_folders:
            path = root / name / track / "take1.flac"
        else:
            path = root / name / f"{track}.wav"
        _write(str(path), audio[None], rate)


def test_drum_layouts(tmp_path):
    _kit(tmp_path, "kitA", ["kick", "snare", "tom"])
    _kit(tmp_path, "kitB", ["kick", "snare", "hat"], take_folders=True)
    _kit(tmp_path, "kitC", ["kick", "ride"], rate=48000)
    _kit(tmp_path, "kitD", ["snare", "crash"])
    os.makedirs(tmp_path / "kitD" / "notes")  # ignored
    src = FolderSource(tmp_path, "drums", unseen=1)
    assert sorted(src.names()) == ["kitA", "kitB", "kitC", "kitD"] and len(src.names("unseen")) == 1
    for name in src.names():
        split = "unseen" if name in src.names("unseen") else "train"
        clip = src.clip(split, 0, 4000, name=name)
        assert clip and "tom" not in clip  # the silent stem is left out
        for audio in clip.values():
            assert audio.shape == (1, 4000) and audio.dtype == np.float32
    a = src.clip("train", 5, 4000, name=src.names("train")[0])
    assert all(np.array_equal(a[t], v) for t, v in src.clip("train", 5, 4000, name=src.names("train")[0]).items())


def test_drum_stems_are_aligned(tmp_path):
    for kit in ("k1", "k2"):
        _kit(tmp_path, kit, ["kick", "snare"])
    src = FolderSource(tmp_path, "drums", unseen=1)
    name = src.names("train")[0]
    for seed in range(3):  # both stems come from the same time span
        clip = src.clip("train", seed, 8000, name=name)
        np.testing.assert_allclose(clip["snare"], 0.8 * clip["kick"], atol=1e-4)


def test_make_source_with_root(tmp_path):
    src = make_source("singing", str(_singing_tree(tmp_path)), unseen=2)
    assert isinstance(src, FolderSource) and len(src.names("unseen")) == 2
    named = FolderSource(tmp_path, "singing", unseen=["spk0", "spk3"])
    assert named.names("unseen") == ["spk0", "spk3"]


# ----------------------------------------------------------------------------- errors

def _one_line_error(fn):
    with pytest.raises(AudioError) as err:
        fn()
    assert "\n" not in str(err.value)
    return str(err.value)


def test_errors(tmp_path):
    assert "does not exist" in _one_line_error(lambda: FolderSource(tmp_path / "missing", "singing"))
    assert "no audio files" in _one_line_error(lambda: FolderSource(tmp_path, "singing"))
    assert "no drum stems" in _one_line_error(lambda: FolderSource(tmp_path, "drums"))
    _singing_tree(tmp_path, speakers=3, files=1)
    assert "need more than 5" in _one_line_error(lambda: FolderSource(tmp_path, "singing"))
    assert "not found" in _one_line_error(lambda: FolderSource(tmp_path, "singing", unseen=["nobody"]))
    (tmp_path / "spk1" / "takes" / "broken.wav").write_bytes(b"RIFF\x00\x01garbage, not audio")
    assert "cannot read audio" in _one_line_error(lambda: FolderSource(tmp_path, "singing", unseen=1))


def test_hidden_files_are_ignored(tmp_path):
    _singing_tree(tmp_path, speakers=2, files=2)
    (tmp_path / "spk0" / "takes" / "._f0.wav").write_bytes(b"AppleDouble junk")
    assert len(FolderSource(tmp_path, "singing", unseen=1).names()) == 2
