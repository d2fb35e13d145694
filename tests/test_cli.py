import json

import pytest
from click.testing import CliRunner

from conftest import EXAMPLE_JSON
from graphfx.cli import main


@pytest.fixture
def run():
    runner = CliRunner()
    return lambda *args: runner.invoke(main, list(args))


def test_processors_table_and_json(run):
    result = run("processors")
    assert result.exit_code == 0 and "pingpong_delay" in result.output
    data = json.loads(run("processors", "--json").output)
    assert len(data) == 41 and data["bell"]["inlets"] == ["in", "frequency", "gain"]
    assert list(json.loads(run("processors", "--json", "bell").output)) == ["bell"]
    assert run("processors", "kazoo").exit_code == 2


def test_validate_valid_file(run, tmp_path):
    path = tmp_path / "g.json"
    path.write_text(EXAMPLE_JSON)
    result = run("validate", str(path))
    assert result.exit_code == 0 and "valid" in result.output


@pytest.mark.parametrize("text, fragment", [
    ("{", "malformed JSON"),
    (EXAMPLE_JSON.replace('"type": "mix"', '"type": "mixx"'), "unknown processor type 'mixx'"),
    (EXAMPLE_JSON.replace('"outlet": "low"', '"outlet": "lo"'), "no outlet 'lo'"),
    (EXAMPLE_JSON.replace('{"src": "m", "dst": "out"}]', '{"src": "m", "dst": "out"}, {"src": "m", "dst": "x"}]'),
     "cycle"),
    (EXAMPLE_JSON.replace('"frequency": 800', '"frequency": 80000'), "outside"),
])
def test_validate_invalid_files_print_one_line_and_exit_2(run, tmp_path, text, fragment):
    path = tmp_path / "g.json"
    path.write_text(text)
    result = run("validate", str(path))
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in result.output


def test_validate_missing_file(run, tmp_path):
    result = run("validate", str(tmp_path / "nope.json"))
    assert result.exit_code == 2 and "cannot read" in result.output


def test_draw_writes_a_png(run, tmp_path):
    pytest.importorskip("matplotlib")
    src = tmp_path / "g.json"
    src.write_text(EXAMPLE_JSON)
    out = tmp_path / "g.png"
    result = run("draw", str(src), "-o", str(out), "--canonical")
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _write_wav(path, channels=1, rate=16000, n=4000):
    import numpy as np
    import soundfile as sf

    rng = np.random.default_rng(0)
    sf.write(str(path), (0.1 * rng.standard_normal((n, channels))).astype("float32"), rate)


def test_render_mono_file_to_stereo(run, tmp_path):
    import soundfile as sf

    graph = tmp_path / "g.json"
    graph.write_text(EXAMPLE_JSON.replace('"sample_rate": 44100', '"sample_rate": 16000'))
    _write_wav(tmp_path / "dry.wav")
    out = tmp_path / "wet.flac"
    result = run("render", str(graph), "--input", str(tmp_path / "dry.wav"), "--output", str(out))
    assert result.exit_code == 0, result.output
    data, rate = sf.read(str(out))
    assert rate == 16000 and data.shape == (4000, 2)


def test_render_resamples_or_refuses(run, tmp_path):
    graph = tmp_path / "g.json"
    graph.write_text(EXAMPLE_JSON.replace('"sample_rate": 44100', '"sample_rate": 16000'))
    _write_wav(tmp_path / "dry.wav", rate=8000, n=2000)
    out = tmp_path / "wet.wav"
    assert run("render", str(graph), "-i", str(tmp_path / "dry.wav"), "-o", str(out)).exit_code == 0
    result = run("render", str(graph), "-i", str(tmp_path / "dry.wav"), "-o", str(out), "--no-resample")
    assert result.exit_code == 2 and "8000 Hz" in result.output


def test_render_drum_graph_needs_named_tracks(run, tmp_path):
    drum = ('{"sample_rate": 16000, "nodes": [{"id": "kick", "type": "kick"}, {"id": "snare", "type": "snare"},'
            ' {"id": "m", "type": "mix"}, {"id": "out", "type": "out"}], "edges": [{"src": "kick", "dst": "m"},'
            ' {"src": "snare", "dst": "m"}, {"src": "m", "dst": "out"}]}')
    graph = tmp_path / "d.json"
    graph.write_text(drum)
    _write_wav(tmp_path / "k.wav")
    _write_wav(tmp_path / "s.wav", channels=2, n=3000)
    out = tmp_path / "mix.wav"
    result = run("render", str(graph), "-i", str(tmp_path / "k.wav"), "-o", str(out))
    assert result.exit_code == 2 and "drum graph" in result.output
    result = run("render", str(graph), "-i", f"kick={tmp_path / 'k.wav'}", "-i", f"snare={tmp_path / 's.wav'}",
                 "-o", str(out))
    assert result.exit_code == 0, result.output
    result = run("render", str(graph), "-i", f"kick={tmp_path / 'k.wav'}", "-o", str(out))
    assert result.exit_code == 2 and "snare" in result.output


def test_render_bad_audio_is_one_line(run, tmp_path):
    graph = tmp_path / "g.json"
    graph.write_text(EXAMPLE_JSON)
    (tmp_path / "bad.wav").write_bytes(b"not audio at all")
    result = run("render", str(graph), "-i", str(tmp_path / "bad.wav"), "-o", str(tmp_path / "o.wav"))
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "o.wav").exists()


def test_render_without_input_uses_the_builtin_sources(run, tmp_path):
    graph = tmp_path / "g.json"
    graph.write_text(EXAMPLE_JSON.replace('"sample_rate": 44100', '"sample_rate": 16000'))
    result = run("render", str(graph), "-o", str(tmp_path / "wet.wav"))
    assert result.exit_code == 0, result.output
    drum = ('{"sample_rate": 16000, "nodes": [{"id": "kick", "type": "kick"}, {"id": "ride", "type": "ride"},'
            ' {"id": "m", "type": "mix"}, {"id": "out", "type": "out"}], "edges": [{"src": "kick", "dst": "m"},'
            ' {"src": "ride", "dst": "m"}, {"src": "m", "dst": "out"}]}')
    (tmp_path / "d.json").write_text(drum)
    result = run("render", str(tmp_path / "d.json"), "-o", str(tmp_path / "mix.wav"))
    assert result.exit_code == 0, result.output


def test_decoders_lists_tokengt(run):
    result = run("decoders")
    assert result.exit_code == 0 and "tokengt" in result.output


def test_train_smoke_and_clear_errors(run, tmp_path):
    from graphfx.synth.generate import DatasetSpec, generate

    data = str(tmp_path / "data")
    generate(data, DatasetSpec("singing", num_train=4, num_val=1, sample_rate=16000, num_samples=8000, shard_size=4))
    result = run("train", "--data", data, "--out", str(tmp_path / "run"), "--preset", "smoke", "--steps", "2",
                 "--batch-size", "2")
    assert result.exit_code == 0, result.output
    assert "tensorboard --logdir" in result.output and (tmp_path / "run" / "checkpoint.pt").exists()
    assert "training tokengt: 2/2 steps" in result.output and "warning" not in result.output
    # Resumed, with another preset's sizes than the data's: a resume line and a one-line warning.
    result = run("train", "--data", data, "--out", str(tmp_path / "run"), "--preset", "cpu", "--steps", "3",
                 "--batch-size", "2")
    assert result.exit_code == 0, result.output
    assert "resuming from step 2" in result.output and "training tokengt: 3/3 steps" in result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "the cpu preset 2.00 s at 16000 Hz" in warnings[0], result.output
    result = run("train", "--data", str(tmp_path / "nothing"), "--out", str(tmp_path / "r2"))
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    result = run("train", "--data", data, "--out", str(tmp_path / "r3"), "--decoder", "nope", "--preset", "smoke")
    assert result.exit_code == 2 and "tokengt" in result.output


def test_bracketed_words_in_errors_are_printed(run, tmp_path):
    graph = tmp_path / "g.json"
    graph.write_text(EXAMPLE_JSON.replace('"sample_rate": 44100', '"sample_rate": 16000'))
    _write_wav(tmp_path / "k.wav")
    result = run("render", str(graph), "-i", f"kick={tmp_path / 'k.wav'}", "-o", str(tmp_path / "o.wav"))
    assert result.exit_code == 2 and "has a [in] node" in result.output, result.output


@pytest.mark.parametrize("args, fragment", [
    (["--steps", "-5"], "--steps"), (["--steps", "0"], "--steps"), (["--batch-size", "0"], "--batch-size"),
    (["--lr", "-1"], "--lr"), (["--preset", "huge"], "--preset")])
def test_train_numbers_are_checked_in_one_line(run, tmp_path, args, fragment):
    result = run("train", "--data", str(tmp_path), "--out", str(tmp_path / "run"), *args)
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and fragment in lines[0], result.output
    assert "wrote" not in result.output and not (tmp_path / "run").exists()


def test_light_commands_do_not_import_torch(tmp_path):
    import subprocess
    import sys

    graph = tmp_path / "g.json"
    graph.write_text(EXAMPLE_JSON)
    code = ("import sys\nfrom graphfx.cli import main\n"
            f"for args in (['--help'], ['processors'], ['validate', {str(graph)!r}],"
            f" ['draw', {str(graph)!r}, '-o', {str(tmp_path / 'g.png')!r}]):\n"
            "    try:\n        main(args)\n    except SystemExit:\n        pass\n"
            "print(sorted(m for m in ('torch', 'torch_geometric', 'numba') if m in sys.modules), file=sys.stderr)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stderr.strip().splitlines()[-1] == "[]", result.stderr
