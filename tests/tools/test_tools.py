"""Tests of the dry-source tools in tools/ (Hydrogen stems, soundfont stems, TTS singing; the grooves they play
are tested in tests/sources/test_grooves.py).

They need none of the tools' optional packages (hydrogen-drumkits, fluidsynth, mido, espeak-ng, pyworld):
the Hydrogen kit and the soundfont header are written here, and the MIDI test is skipped without mido.
"""
import os
import shutil
import struct
import sys

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools")
sys.path.insert(0, os.path.abspath(TOOLS))

import hydrogen_stems as h2  # noqa: E402
import soundfont_stems as sfs  # noqa: E402
import tts_singing as tts  # noqa: E402

from graphfx.sources import FolderSource, grooves  # noqa: E402


# ----------------------------------------------------------------------------- Hydrogen kits
NEW_SCHEMA = """<?xml version="1.0" encoding="UTF-8"?>
<drumkit_info xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns="http://www.hydrogen-music.org/drumkit">
 <name>{name}</name>
 <author>test</author>
 <license>GPL</license>
 <instrumentList>
{instruments}
 </instrumentList>
</drumkit_info>
"""
NEW_INSTRUMENT = """  <instrument>
   <id>{id}</id>
   <name>{name}</name>
   <volume>1</volume>
   <isMuted>false</isMuted>
   <pan_L>1</pan_L>
   <pan_R>1</pan_R>
   <gain>1</gain>
{layers}
  </instrument>"""
LAYER = """   <layer>
    <filename>{file}</filename>
    <min>{lo}</min>
    <max>{hi}</max>
    <gain>1</gain>
    <pitch>0</pitch>
   </layer>"""
OLD_INSTRUMENT = """		<instrument>
			<id>{id}</id>
			<name>{name}</name>
			<filename>{file}</filename>
			<volume>0.900000</volume>
			<isMuted>false</isMuted>
			<pan_L>1.000000</pan_L>
			<pan_R>1.000000</pan_R>
			<exclude></exclude>
		</instrument>"""


def _shot(path, freq, rate=44100, seconds=0.15, noise=0.0, stereo=False, amp=0.8, seed=0):
    t = np.arange(int(rate * seconds)) / rate
    rng = np.random.default_rng(seed)
    x = amp * np.exp(-t * 30) * (np.sin(2 * np.pi * freq * t) + noise * rng.normal(size=len(t)))
    sf.write(path, np.stack([x, x], 1) if stereo else x, rate)


def write_fake_kits(root):
    """Kit A (new schema, velocity layers, all six tracks) and kit B (old schema, no ride, 22.05 kHz)."""
    a = os.path.join(root, "Kit A")
    os.makedirs(a)
    insts = [("Kick", 60, [(0, 0.5), (0.5, 1)]), ("Side Stick", 900, [(0, 1)]), ("Snare", 200, [(0, 0.4), (0.4, 1)]),
             ("Closed HH", 6000, [(0, 1)]), ("Open HH", 5000, [(0, 1)]), ("Pedal HH", 5500, [(0, 1)]),
             ("Tom Hi", 220, [(0, 1)]), ("Tom Mid", 160, [(0, 1)]), ("Floor Tom", 90, [(0, 1)]),
             ("Ride", 3000, [(0, 1)]), ("Ride Bell", 2500, [(0, 1)]), ("Crash", 4000, [(0, 1)])]
    xml = []
    for i, (name, freq, layers) in enumerate(insts):
        ls = []
        for k, (lo, hi) in enumerate(layers):
            fn = f"{name.replace(' ', '')}-{k}.wav"
            _shot(os.path.join(a, fn), freq, noise=0.3, amp=0.3 + 0.5 * k, stereo=(name == "Crash"), seed=i)
            ls.append(LAYER.format(file=fn, lo=lo, hi=hi))
        xml.append(NEW_INSTRUMENT.format(id=i, name=name, layers="\n".join(ls)))
    with open(os.path.join(a, "drumkit.xml"), "w") as f:
        f.write(NEW_SCHEMA.format(name="Kit A", instruments="\n".join(xml)))
    b = os.path.join(root, "kit_b")
    os.makedirs(b)
    insts = [("c3 - bass drum 1", 55), ("d3 - snare 1", 180), ("f#3 - hi-hat closed", 7000),
             ("b3 - low tom", 100), ("d4 - high tom", 240), ("c#4 - crash", 3500), ("g#4 - cowbell", 800)]
    xml = []
    for i, (name, freq) in enumerate(insts):
        fn = f"s{i}.flac"
        _shot(os.path.join(b, fn), freq, rate=22050, noise=0.2, seed=10 + i)
        xml.append(OLD_INSTRUMENT.format(id=i, name=name, file=fn))
    with open(os.path.join(b, "drumkit.xml"), "w") as f:
        f.write("<drumkit_info>\n\t<name>rumpf-like</name>\n\t<instrumentList>\n" + "\n".join(xml) +
                "\n\t</instrumentList>\n</drumkit_info>\n")
    os.makedirs(os.path.join(root, "Percussion"))  # no kick/snare/hat: skipped
    _shot(os.path.join(root, "Percussion", "bongo.wav"), 400)
    with open(os.path.join(root, "Percussion", "drumkit.xml"), "w") as f:
        f.write(NEW_SCHEMA.format(name="Percussion", instruments=NEW_INSTRUMENT.format(
            id=0, name="Bongo Hi", layers=LAYER.format(file="bongo.wav", lo=0, hi=1))))
    return a, b


def test_parse_and_map_hydrogen_kits(tmp_path):
    a, b = write_fake_kits(str(tmp_path))
    name, insts = h2.parse_drumkit(os.path.join(a, "drumkit.xml"))
    assert name == "Kit A" and len(insts) == 12
    kick = insts[0]
    assert [la.vmax for la in kick.layers] == [0.5, 1.0]
    assert h2.pick_layers(kick, 0.2)[0].path.endswith("Kick-0.wav")
    assert h2.pick_layers(kick, 0.9)[0].path.endswith("Kick-1.wav")
    m = h2.map_kit(insts)
    assert set(m) == set(grooves.TRACKS)
    assert [i.name for i in m["hat"]] == ["Closed HH", "Open HH", "Pedal HH"]
    assert [i.name for i in m["tom"]] == ["Tom Hi", "Tom Mid", "Floor Tom"]
    assert [i.name for i in m["ride"]] == ["Ride"] and m["snare"][0].name == "Snare"
    name, insts = h2.parse_drumkit(os.path.join(b, "drumkit.xml"))
    mb = h2.map_kit(insts)
    assert "ride" not in mb and mb["kick"][0].name == "c3 - bass drum 1"
    assert [i.name for i in mb["tom"]] == ["d4 - high tom", "d4 - high tom", "b3 - low tom"]
    # names seen in Debian's hydrogen-drumkits
    assert h2.classify("Pearl Snare Rimshot") == [] and h2.classify("Sabian Hat Semi-Open") == []
    assert h2.classify('Tom High (Tama Superstar 12")') == [("tom", 0, 0)]
    assert h2.classify("Crash/Ride (Paiste Rude Crash/Ride 18\")") == [("ride", 0, 1), ("crash", 0, 1)]
    assert h2.classify("BassDrum") == [("kick", 0, 0)] and h2.classify("Hi Hat Opened") == [("hat", 1, 0)]


def test_hydrogen_tool_writes_folder_source_layout(tmp_path, capsys):
    kits = tmp_path / "kits"
    write_fake_kits(str(kits))
    out = tmp_path / "out"
    args = ["--out", str(out), "--kits-dir", str(kits), "--takes", "2", "--seconds", "1.5", "--seed", "1"]
    assert h2.main(args) == 0
    log = capsys.readouterr().out
    assert "skip Percussion" in log and "partial: no ride" in log
    assert sorted(os.listdir(out)) == ["Kit_A", "hydrogen_equalization.json", "kit_b"]
    for track in ("kick", "snare", "hat"):
        info = sf.info(str(out / "Kit_A" / track / "take00.wav"))
        assert (info.samplerate, info.channels, info.frames) == (44100, 1, int(1.5 * 44100))
    assert not (out / "kit_b" / "ride").exists()
    first = sf.read(str(out / "Kit_A" / "kick" / "take00.wav"))[0]
    assert 0 < np.max(np.abs(first)) <= 0.99
    src = FolderSource(str(out), "drums", unseen=1)
    assert sorted(src.names()) == ["Kit_A", "kit_b"]
    clip = src.clip("train", 0, 22050)
    assert clip and all(x.shape == (1, 22050) for x in clip.values())
    # deterministic
    assert h2.main(args[:1] + [str(tmp_path / "again")] + args[2:]) == 0
    again = sf.read(str(tmp_path / "again" / "Kit_A" / "kick" / "take00.wav"))[0]
    assert np.array_equal(first, again)


def test_hydrogen_missing_kits_dir_is_one_line_error(tmp_path, capsys):
    assert h2.main(["--out", str(tmp_path / "o"), "--kits-dir", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "apt-get install hydrogen-drumkits" in err


# ----------------------------------------------------------------------------- equalization
def test_equalization_moves_lowpassed_kit_toward_mean():
    rng = np.random.default_rng(0)
    n = 4 * h2.SR
    sos = signal.butter(1, 2000, "low", fs=h2.SR, output="sos")  # -16 dB at 12 kHz
    signals = {"flat1": rng.normal(0, 0.1, n), "flat2": rng.normal(0, 0.2, n),
               "dark": signal.sosfilt(sos, rng.normal(0, 0.1, n))}
    freqs = h2.freqs_of()
    spectra = {k: h2.ltas_db(h2.energy_spectrum(x)) for k, x in signals.items()}
    target, corr = h2.equalization(spectra, freqs, max_db=12.0)
    assert np.allclose(target, np.mean(list(spectra.values()), axis=0))
    band = (freqs > 100) & (freqs < 12000)
    hi = np.argmin(np.abs(freqs - 6000))
    lo = np.argmin(np.abs(freqs - 300))
    # the dark kit is boosted in the highs relative to its lows, by no more than the limit
    shape = corr["dark"] - corr["dark"][lo]
    assert 6.0 < shape[hi] <= 24.0 + 1e-6
    assert np.max(corr["dark"]) - np.min(corr["dark"]) <= 24.0 + 1e-6
    fixed = h2.apply_fir(signals["dark"], h2.minimum_phase_fir(freqs, corr["dark"]))
    after = h2.ltas_db(h2.energy_spectrum(fixed))
    before_err = np.sqrt(np.mean((spectra["dark"] - target)[band] ** 2))
    after_err = np.sqrt(np.mean((after - target)[band] ** 2))
    assert after_err < 0.6 * before_err
    # the filter realizes the curve it was designed from
    h = h2.minimum_phase_fir(freqs, corr["flat2"])
    w, resp = signal.freqz(h, worN=[500.0, 2000.0, 8000.0], fs=h2.SR)
    want = np.interp(w, freqs, corr["flat2"])
    assert np.allclose(20 * np.log10(np.abs(resp)), want, atol=1.0)


def test_equalize_kits_levels_and_target():
    rng = np.random.default_rng(1)
    spectra = {k: {"kick": h2.energy_spectrum(rng.normal(0, s, h2.SR)) / 10} for k, s in (("a", 0.1), ("b", 0.3))}
    filters, report = h2.equalize_kits(spectra)
    assert set(filters) == {"a", "b"} and set(report["target_db"]) == {"kick"}
    f = np.array(report["freqs_hz"])
    energy = 10 * np.log10(np.sum(10 ** (np.array(report["target_db"]["kick"]) / 10)) * (f[1] - f[0]))
    assert abs(energy - h2.HIT_ENERGY_DB["kick"]) < 0.1
    # a given target is used as is
    _, rep2 = h2.equalize_kits(spectra, target=report["target_db"])
    assert np.allclose(rep2["target_db"]["kick"], report["target_db"]["kick"], atol=0.01)


# ----------------------------------------------------------------------------- soundfonts
def _fake_sf2(path, presets):
    """A SoundFont 2 file with only preset headers (enough for listing the kits)."""
    recs = b"".join(struct.pack("<20sHHHIII", name.encode(), preset, bank, 0, 0, 0, 0)
                    for bank, preset, name in list(presets) + [(0, 0, "EOP")])
    phdr = b"phdr" + struct.pack("<I", len(recs)) + recs
    pdta = b"LIST" + struct.pack("<I", 4 + len(phdr)) + b"pdta" + phdr
    info = b"LIST" + struct.pack("<I", 4 + 12) + b"INFO" + b"ifil" + struct.pack("<IHH", 4, 2, 1)
    body = b"sfbk" + info + pdta
    with open(path, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", len(body)) + body)


def test_sf2_preset_listing(tmp_path):
    path = str(tmp_path / "My Font.sf2")
    _fake_sf2(path, [(0, 0, "Piano"), (128, 0, "Standard"), (128, 25, "TR-808"), (128, 56, "SFX")])
    assert sfs.sf2_presets(path) == [(0, 0, "Piano"), (128, 0, "Standard"), (128, 25, "TR-808"), (128, 56, "SFX")]
    kits = sfs.drum_kits([path])
    assert [k[0] for k in kits] == ["My_Font-000-Standard", "My_Font-025-TR-808", "My_Font-056-SFX"]
    assert [k[2] for k in sfs.drum_kits([path], presets=[25])] == [25]
    (tmp_path / "bad.sf2").write_bytes(b"not a soundfont")
    with pytest.raises(sfs.ToolError):
        sfs.sf2_presets(str(tmp_path / "bad.sf2"))


def test_soundfont_midi_writing(tmp_path):
    mido = pytest.importorskip("mido")
    g = grooves.make_groove(3.0, seed=5, style="rock")
    path = str(tmp_path / "hat.mid")
    starts = sfs.takes_midi(path, "hat", [g, g], preset=25, seconds=3.0)
    assert starts == [0.0, 3.0 + sfs.GAP]
    mf = mido.MidiFile(path)
    t, ons, programs = 0.0, [], []
    for msg in mf:  # iterating a MidiFile yields messages with times in seconds
        t += msg.time
        if msg.type == "note_on" and msg.velocity > 0:
            assert msg.channel == 9
            ons.append((t, msg.note, msg.velocity))
        elif msg.type == "program_change":
            programs.append((msg.channel, msg.program))
    assert programs == [(9, 25)]
    want = [(s + h.time, sfs.NOTES["hat"][h.variant], sfs.midi_velocity(h.velocity))
            for s in starts for h in g.hits["hat"]]
    assert len(ons) == len(want)
    assert all(abs(a[0] - b[0]) < 1e-3 and a[1:] == b[1:] for a, b in zip(ons, sorted(want)))
    assert t >= 2 * (3.0 + sfs.GAP) - 1e-3  # the file lasts until the tails are rendered
    assert sfs.midi_velocity(0.0) == 1 and sfs.midi_velocity(1.0) == 127


def test_soundfont_tool_without_fluidsynth(tmp_path, monkeypatch, capsys):
    path = str(tmp_path / "kit.sf2")
    _fake_sf2(path, [(128, 0, "Standard")])
    monkeypatch.setenv("PATH", str(tmp_path))  # no fluidsynth on it
    assert sfs.main(["--out", str(tmp_path / "o"), "--soundfont", path]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "fluidsynth not found" in err and "apt-get install fluidsynth" in err
    assert sfs.main(["--out", str(tmp_path / "o"), "--soundfont", str(tmp_path / "missing.sf2")]) == 2


REAL_SOUNDFONT = "/usr/share/sounds/sf2/TimGM6mb.sf2"


@pytest.mark.skipif(shutil.which("fluidsynth") is None or not os.path.isfile(REAL_SOUNDFONT),
                    reason="needs `apt-get install fluidsynth timgm6mb-soundfont` (CI installs them when it can)")
def test_soundfont_tool_renders_a_real_kit(tmp_path):
    pytest.importorskip("mido")
    out = tmp_path / "kits"
    args = ["--soundfont", REAL_SOUNDFONT, "--presets", "0", "--takes", "1", "--seconds", "2", "--out", str(out)]
    assert sfs.main(args) == 0
    (kit,) = [d for d in os.listdir(out) if (out / d).is_dir()]
    for track in ("kick", "snare", "hat"):
        audio, rate = sf.read(str(out / kit / track / "take00.wav"))
        assert rate == 44100 and len(audio) == 2 * 44100 and 0 < np.max(np.abs(audio)) <= 1.0
    clip = FolderSource(str(out), "drums", unseen=0).clip("train", 0, 2 * 44100)
    assert len(clip) >= 3 and all(np.isfinite(x).all() and x.any() for x in clip.values())


def test_calibration_hits_are_fixed():
    for track in grooves.TRACKS:
        hits = sfs.calibration_hits(track)
        assert len(hits) >= sfs.CALIBRATION_HITS
        gaps = np.diff([h.time for h in hits])
        assert np.all(gaps >= -1e-9) and np.all(gaps <= 1.5 + 1e-6)
    assert sfs.calibration_hits("tom") == sfs.calibration_hits("tom")


# ----------------------------------------------------------------------------- TTS singing
def _cents(f0, midi):
    return 1200 * np.log2(f0 / (440 * 2 ** ((midi - 69) / 12)))


def test_melody_f0_vibrato_and_glides():
    times = np.arange(0, 3.0, 0.005)
    notes = [tts.Note(0.0, 3.0, 60.0, 0)]
    f0 = tts.melody_f0(notes, times, np.random.default_rng(0), vibrato_rate=5.5, vibrato_depth=40, drift=0)
    c = _cents(f0, 60.0)
    late = times > 0.6
    assert abs(np.mean(c[late])) < 3 and 70 < np.ptp(c[late]) < 90
    spec = np.abs(np.fft.rfft(c[late] - c[late].mean(), 8192))
    peak = np.fft.rfftfreq(8192, 0.005)[np.argmax(spec)]
    assert 5.0 <= peak <= 6.5
    assert np.max(np.abs(c[times < 0.15])) < 1e-6  # vibrato fades in after the onset
    # two notes: each held at its pitch, a monotonic glide between
    notes = [tts.Note(0.0, 1.0, 60.0, 0, True), tts.Note(1.0, 1.0, 64.0, 1)]
    f0 = tts.melody_f0(notes, times[times < 2], np.random.default_rng(0), vibrato_depth=0, glide=0.1, drift=0)
    t = times[times < 2]
    assert abs(_cents(f0[(t > 0.3) & (t < 0.9)], 60).mean()) < 1
    assert abs(_cents(f0[(t > 1.1) & (t < 1.9)], 64).mean()) < 1
    g = f0[(t >= 0.95) & (t <= 1.05)]
    assert np.all(np.diff(g) >= 0) and g[0] < 270 < g[-1]
    assert _cents(f0[t < 0.01], 60)[0] < -50  # scoop into the phrase onset


def test_make_melody_shape():
    rng = np.random.default_rng(3)
    notes = tts.make_melody(12, rng, center=64.0, tempo=100)
    assert sorted({n.syllable for n in notes}) == list(range(12))
    onsets = [n.onset for n in notes]
    assert onsets == sorted(onsets) and all(n.duration > 0 for n in notes)
    assert all(abs(n.pitch - 64.0) <= 7 for n in notes)
    assert notes[0].phrase_start
    for a, b in zip(notes, notes[1:]):
        assert b.onset >= a.onset + a.duration - 1e-9
    assert tts.make_melody(12, np.random.default_rng(3), center=64.0, tempo=100) == notes


def test_segment_and_retime():
    frame = 0.005
    f0 = np.zeros(200)
    energy = np.full(200, -80.0)
    for a, b in ((20, 60), (80, 100), (100, 140)):  # three syllables, the last two joined by a dip
        f0[a:b] = 150.0
        energy[a:b] = -10.0
    energy[98:102] = -20.0
    energy[70:80] = -30.0  # an unvoiced consonant
    nuclei, active = tts.segment(f0, energy, frame)
    assert len(nuclei) == 3 and nuclei[0] == (20, 60)
    assert active[75] and not active[5]
    notes = [tts.Note(0.3, 0.5, 60, 0, True), tts.Note(0.8, 0.5, 62, 1), tts.Note(1.3, 0.8, 64, 2)]
    pos = tts.retime(nuclei, active, notes, frame)
    assert pos[int(0.3 / frame)] == 20  # the vowel starts on its note
    on2 = int(0.8 / frame)
    assert pos[on2] == nuclei[1][0] and 70 <= pos[on2 - 1] < 80  # the consonant just before it
    assert np.all(pos[: int(0.3 / frame) - 1] == -1)


def test_warp_envelope_moves_formants_and_extends_band():
    fs_in = 16000
    f_in = np.linspace(0, fs_in / 2, 513)
    sp = np.tile(np.exp(-((f_in - 1000) / 150) ** 2) + 1e-4, (3, 1))
    ap = np.full_like(sp, 0.1)
    out_sp, out_ap = tts.warp_envelope(sp, ap, fs_in, 1.2)
    f_out = np.linspace(0, tts.SR / 2, tts.FFT_OUT // 2 + 1)
    assert out_sp.shape == (3, tts.FFT_OUT // 2 + 1)
    assert abs(f_out[np.argmax(out_sp[0])] - 1200) < 30
    assert np.all(out_sp[:, f_out > 12000] > 0) and out_ap[0, -1] > 0.9


def test_tts_tool_errors_without_espeak_or_pyworld(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert tts.main(["--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "apt-get install espeak-ng" in err
    monkeypatch.setattr(tts.shutil, "which", lambda name: "/usr/bin/" + name)
    monkeypatch.setitem(sys.modules, "pyworld", None)  # import fails
    assert tts.main(["--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install pyworld" in err


def test_speakers_and_unseen_split():
    voices = [v for v in tts.VOICES if v.engine == "espeak-ng"]
    spk = tts.speakers(voices, 10)
    assert len({s.name for s in spk}) == 10 and spk[0].warp == 1.0
    assert any(s.warp != 1.0 for s in tts.speakers(voices, len(voices) + 1))
    with pytest.raises(tts.ToolError):
        tts.speakers(voices[:1], 99)
    names = [s.name for s in spk]
    import hashlib
    want = sorted(sorted(names, key=lambda s: hashlib.sha1(s.encode()).hexdigest())[:5])
    assert tts.unseen_names(names) == want
    line = tts.lyric_line(np.random.default_rng(0))
    assert line and "{" not in line and line == tts.lyric_line(np.random.default_rng(0))
