"""The estimator: its configuration for a preset and a dataset, checkpoint loading, and inference without training."""
import subprocess
import sys

import numpy as np
import pytest
import soundfile
import torch

from graphfx.estimator import (BlindEstimator, CheckpointError, estimator_config, load_checkpoint,
                               load_estimator)
from graphfx.models.encoder import EncoderConfig
from graphfx.presets import PRESETS


def test_config_of_a_preset_for_a_dataset():
    config = estimator_config(PRESETS["smoke"], "drums", "tokengt", sample_rate=22050,
                              tracks=("kick", "snare", "hat", "tom", "ride", "crash"), latent="zero",
                              condition_on_source=True)
    sized = EncoderConfig.tiny("drums", PRESETS["smoke"].sample_rate)
    assert config.encoder["sample_rate"] == 22050 and config.encoder["n_fft"] == sized.n_fft  # sized by the preset
    assert config.encoder["in_channels"] == 8 and config.latent == "zero" and config.condition_on_source
    assert config.decoder_config["d_model"] == sized.d_model and config.decoder_config["task"] == "drums"
    plain = estimator_config(PRESETS["smoke"], "singing", "tokengt")
    assert plain.encoder["in_channels"] == 2 and plain.encoder["sample_rate"] == PRESETS["smoke"].sample_rate
    with pytest.raises(ValueError, match="tracks"):
        estimator_config(PRESETS["smoke"], "singing", "tokengt", condition_on_source=True)


def test_broken_checkpoints_are_clear_errors(tmp_path):
    bad = tmp_path / "checkpoint.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read"):
        load_checkpoint(str(bad))
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(str(tmp_path / "missing.pt"))
    torch.save({"format": "something else"}, str(bad))
    with pytest.raises(CheckpointError, match="not a graphfx checkpoint"):
        load_checkpoint(str(bad))


@pytest.mark.parametrize("version, absent", [(1, ("estimate_gains", "typed_params")), (2, ("typed_params",))])
def test_older_checkpoints_rebuild_the_heads_they_were_saved_with(tmp_path, version, absent):
    from graphfx.estimator import CHECKPOINT_FORMAT
    config = estimator_config(PRESETS["smoke"], "singing", "tokengt")
    for name in absent:  # a decoder of that version: stored without the field, built without the head
        config.decoder_config[name] = False
    model = BlindEstimator(config)
    stored = config.to_dict()
    for name in absent:
        del stored["decoder_config"][name]
    path = str(tmp_path / "old.pt")
    torch.save({"format": CHECKPOINT_FORMAT, "version": version, "model_config": stored,
                "model": model.state_dict()}, path)
    loaded = load_estimator(path)
    assert all(getattr(loaded.decoder.config, name) is False for name in absent)


def test_estimate_imports_no_training_code(tmp_path):
    """`graphfx estimate` loads a checkpoint and decodes without importing training, datasets or TensorBoard."""
    config = estimator_config(PRESETS["smoke"], "singing", "tokengt")
    torch.manual_seed(0)
    model = BlindEstimator(config)
    checkpoint = tmp_path / "checkpoint.pt"
    torch.save({"format": "graphfx.checkpoint", "model": model.state_dict(), "model_config": config.to_dict()},
               str(checkpoint))
    assert load_estimator(str(checkpoint)).state_dict().keys() == model.state_dict().keys()
    song = tmp_path / "song.wav"
    soundfile.write(song, 0.1 * np.sin(np.arange(8000) * 0.05), PRESETS["smoke"].sample_rate)
    code = ("import sys\n"
            "from graphfx.cli import main\n"
            f"main(['estimate', {str(checkpoint)!r}, {str(song)!r}, '-o', {str(tmp_path / 'g.json')!r}],"
            " standalone_mode=False)\n"
            "bad = [m for m in sys.modules if m in ('graphfx.train', 'graphfx.dashboard', 'graphfx.datasets')"
            " or m.split('.')[0] == 'tensorboard' or m.startswith('torch.utils.tensorboard')]\n"
            "print(bad)\n"
            "sys.exit(1 if bad else 0)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "g.json").exists()


def test_auxiliary_targets_of_a_known_graph():
    """Presence: the types in the graph; summary: per type, the mean of its nodes' normalized parameters."""
    from conftest import EXAMPLE_JSON

    from graphfx import catalog
    from graphfx.estimator import presence_targets, summary_targets
    from graphfx.graph import AudioGraph
    from graphfx.tokens import NODE, graph_to_tokens, pad_tokens

    tokens = pad_tokens([graph_to_tokens(AudioGraph.from_json(EXAMPLE_JSON))])
    like = torch.zeros(1, len(catalog.NODE_TYPES))
    present = {catalog.NODE_TYPES[i] for i in presence_targets(tokens, like)[0].nonzero().flatten().tolist()}
    assert present == {"in", "out", "crossover", "distortion", "mix"}

    target, known = summary_targets(tokens, torch.zeros(1, len(catalog.NODE_TYPES), catalog.MAX_PARAMS))
    nodes = (tokens.kind[0] == NODE).nonzero().flatten()
    distortion = catalog.NODE_TYPES.index("distortion")
    rows = [i for i in nodes if tokens.proc_type[0, i] == distortion]
    assert len(rows) == 2
    slots = len(catalog.SPECS["distortion"].params)
    expected = (tokens.params[0, rows[0], :slots] + tokens.params[0, rows[1], :slots]).float() / 2
    torch.testing.assert_close(target[0, distortion, :slots], expected)
    crossover = catalog.NODE_TYPES.index("crossover")
    assert known[0, distortion].tolist() == [True] * slots + [False] * (catalog.MAX_PARAMS - slots)
    assert known[0, crossover].sum() == len(catalog.SPECS["crossover"].params)
    assert known.sum() == slots + len(catalog.SPECS["crossover"].params)  # mix, in and out have none


def test_the_summary_head_adds_its_loss():
    from dataclasses import replace

    from conftest import random_graph

    from graphfx.tokens import graph_to_tokens, pad_tokens
    config = estimator_config(replace(PRESETS["smoke"], summary_weight=0.5), "singing", "tokengt")
    torch.manual_seed(0)
    model = BlindEstimator(config)
    tokens = pad_tokens([graph_to_tokens(random_graph(seed)) for seed in range(3)])
    model.eval()  # no dropout: the same latents twice
    reference = torch.randn(3, 2, 8000)
    losses = model(reference, tokens)
    assert 0 < losses["summary"] < 1
    decoded = model.decoder.loss(model.latents(reference), tokens)["loss"]
    torch.testing.assert_close(losses["loss"], decoded + PRESETS["smoke"].presence_weight * losses["presence"]
                               + 0.5 * losses["summary"])
    assert "summary" not in BlindEstimator(estimator_config(PRESETS["smoke"], "singing", "tokengt"))(reference, tokens)
