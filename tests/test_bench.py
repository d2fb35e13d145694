import json

from click.testing import CliRunner

from graphfx.bench import COLUMNS, _write, system
from graphfx.cli import main


def test_systems_of_the_comparison():
    assert system("no_latent").latent == "zero" and system("no_latent").decoder == "tokengt"
    assert system("tokengt+source").condition_on_source and system("tokengt+source").decoder == "tokengt"
    assert system("autoencoder").latent == "graph"


def test_bench_smoke_end_to_end(tmp_path):
    runner = CliRunner()
    out = tmp_path / "bench"
    result = runner.invoke(main, ["bench", "--decoder", "tokengt", "--preset", "smoke", "--out", str(out)])
    assert result.exit_code == 0, result.output
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
    result = runner.invoke(main, ["bench", "--decoder", "tokengt", "--checkpoint", str(tmp_path / "nope.pt"),
                                  "--out", str(out)])
    assert result.exit_code == 2 and "no checkpoint" in result.output


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
