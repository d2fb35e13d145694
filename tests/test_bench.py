import json
import os

import numpy as np
import pytest
import soundfile
from click.testing import CliRunner

from graphfx.bench import COLUMNS, _write, system
from graphfx.cli import main
from graphfx.graph import AudioGraph


def test_systems_of_the_comparison():
    assert system("no_latent").latent == "zero" and system("no_latent").decoder == "tokengt"
    assert system("tokengt+source").condition_on_source and system("tokengt+source").decoder == "tokengt"
    assert system("autoencoder").latent == "graph"
    row = system("no_latent@consensus")
    assert row.decoding == "consensus" and row.latent == "zero" and row.run == "no_latent"
    assert system("tokengt+source@consensus").condition_on_source and system("tokengt").decoding == "greedy"
    assert system("no_latent_sampled").decoding == "sampled"


def test_bench_smoke_end_to_end(tmp_path):
    runner = CliRunner()
    out = tmp_path / "bench"
    result = runner.invoke(main, ["bench", "--decoder", "tokengt", "--preset", "smoke", "--out", str(out)])
    assert result.exit_code == 0, result.output
    for phase in ("dataset: 36/36 examples", "tokengt training: 20/20 steps", "tokengt seen: 6/6 examples",
                  "tokengt unseen: 6/6 examples", "tokengt: writing"):  # each phase, with its progress
        assert phase in result.output, result.output
    assert " ± " in result.output  # the intervals in the console table
    results = json.loads((out / "results.json").read_text())
    for split in ("seen", "unseen"):
        metrics = results["systems"]["tokengt"][split]
        assert set(COLUMNS) <= set(metrics)
        assert metrics["invalid_rate"][0] == 0.0  # constrained decoding is always valid
        assert 0.0 <= metrics["iou"][0] <= 1.0
    assert "| tokengt | unseen |" in (out / "results.md").read_text()
    # Evaluating a checkpoint reuses the dataset and skips training.
    checkpoint = out / "runs" / "tokengt" / "checkpoint.pt"
    result = runner.invoke(main, ["bench", "--decoder", "tokengt", "--checkpoint", str(checkpoint),
                                  "--out", str(out)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["bench", "--decoder", "tokengt@consensus", "--checkpoint", str(checkpoint),
                                  "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = json.loads((out / "results.json").read_text())["systems"]
    assert {"tokengt", "tokengt@consensus"} <= set(rows) and rows["tokengt@consensus"]["unseen"]["invalid_rate"][0] == 0
    result = runner.invoke(main, ["bench", "--decoder", "tokengt", "--checkpoint", str(tmp_path / "nope.pt"),
                                  "--out", str(out)])
    assert result.exit_code == 2 and "no checkpoint" in result.output

    # The trained checkpoint estimates the graph of a recording.
    song = tmp_path / "song.wav"
    soundfile.write(song, 0.1 * np.sin(np.arange(16000) * 0.05), 16000)
    graph_file = tmp_path / "estimate.json"
    result = runner.invoke(main, ["estimate", str(checkpoint), str(song), "-o", str(graph_file)])
    assert result.exit_code == 0, result.output
    graph = AudioGraph.load(str(graph_file)).validate()
    assert graph.sample_rate == 16000 and {"in", "out"} <= {n.type for n in graph.nodes}
    (tmp_path / "broken.wav").write_bytes(b"RIFF....WAVEfmt nothing")
    result = runner.invoke(main, ["estimate", str(checkpoint), str(tmp_path / "broken.wav"), "-o", str(graph_file)])
    assert result.exit_code == 2 and "error" in result.output
    assert AudioGraph.load(str(graph_file)) == graph  # the earlier estimate is kept
    soundfile.write(tmp_path / "silence.wav", np.zeros(16000), 16000)
    for args, message in [([str(tmp_path / "silence.wav"), "-o", str(graph_file)], "silent"),
                          ([str(song), "-o", str(tmp_path / "nowhere" / "g.json")], "does not exist")]:
        result = runner.invoke(main, ["estimate", str(checkpoint)] + args)
        assert result.exit_code == 2 and message in result.output
    (tmp_path / "broken.pt").write_bytes(b"not a checkpoint")
    result = runner.invoke(main, ["estimate", str(tmp_path / "broken.pt"), str(song), "-o", str(graph_file)])
    assert result.exit_code == 2 and "error" in result.output


def test_the_console_table_shows_intervals_and_survives_nulls(tmp_path, monkeypatch):
    def run(labels, preset, task, out_dir, **options):  # what results.json may hold after a merge
        return {"systems": {"tokengt": {"unseen": {"iou": [0.323, 0.025], "node_error_rate": [None, None],
                                                   "edge_error_rate": [0.5, None]}}}}

    monkeypatch.setattr("graphfx.bench.run", run)
    result = CliRunner().invoke(main, ["bench", "--decoder", "tokengt", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "unseen" in line)
    assert "0.323 ± 0.025" in row and "0.500" in row and " - " in row, result.output


def _results(preset, systems):
    return {"preset": preset, "task": "singing", "git": "abc", "hardware": {"cpu_model": "cpu"},
            "systems": {name: {"unseen": {"iou": [0.5, 0.1]}} for name in systems},
            "seconds": {name: 10.0 for name in systems}}


def test_results_of_runs_sharing_a_folder_are_merged(tmp_path):
    _write(str(tmp_path), _results("cpu", ["tokengt"]))
    merged = _write(str(tmp_path), _results("cpu", ["no_latent"]))
    assert set(merged["systems"]) == {"tokengt", "no_latent"} and set(merged["seconds"]) == {"tokengt", "no_latent"}
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert set(on_disk["systems"]) == {"tokengt", "no_latent"}
    assert "| tokengt | unseen |" in (tmp_path / "results.md").read_text()
    # Another preset's results are replaced, not mixed in.
    assert set(_write(str(tmp_path), _results("smoke", ["single_stage"]))["systems"]) == {"single_stage"}


def _write_many(out_dir, name, barrier):
    barrier.wait()  # both processes write at the same time
    for i in range(60):
        _write(out_dir, _results("cpu", [f"{name}{i}"]))


def test_parallel_commands_sharing_a_folder_keep_every_row(tmp_path):
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    workers = [context.Process(target=_write_many, args=(str(tmp_path), name, barrier)) for name in ("a", "b")]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert [w.exitcode for w in workers] == [0, 0]
    systems = json.loads((tmp_path / "results.json").read_text())["systems"]
    assert set(systems) == {f"{name}{i}" for name in "ab" for i in range(60)}


def test_results_are_strict_json_with_null_for_undefined_intervals(tmp_path):
    results = _results("cpu", ["tokengt"])
    results["systems"]["tokengt"]["unseen"]["iou"] = [0.5, float("nan")]  # one example: no interval
    _write(str(tmp_path), results)
    text = (tmp_path / "results.json").read_text()
    assert "NaN" not in text
    on_disk = json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c} in results.json"))
    assert on_disk["systems"]["tokengt"]["unseen"]["iou"] == [0.5, None]
    markdown = (tmp_path / "results.md").read_text()
    assert " 0.500 |" in markdown and "nan" not in markdown
    merged = _write(str(tmp_path), _results("cpu", ["no_latent"]))  # the null read back merges and prints
    assert merged["systems"]["tokengt"]["unseen"]["iou"] == [0.5, None]
    assert sorted(os.listdir(tmp_path)) == ["results.json", "results.md"]  # no lock file left
