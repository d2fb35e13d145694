import pytest
import torch

from graphfx.estimator import estimator_config, load_checkpoint, load_estimator
from graphfx.synth.generate import DatasetSpec, generate
from graphfx.presets import PRESETS
from graphfx.train import TrainConfig, lr_factor, train


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("data"))
    generate(root, DatasetSpec("singing", num_train=6, num_val=2, sample_rate=16000, num_samples=8000, shard_size=4))
    return root


def test_lr_schedule_warms_up_then_decays():
    assert lr_factor(0, 10, 100) == pytest.approx(0.1)
    assert lr_factor(9, 10, 100) == pytest.approx(1.0)
    assert lr_factor(55, 10, 100) == pytest.approx(0.5)
    assert lr_factor(100, 10, 100) == 0.0


def test_train_resume_and_reload(tiny_dataset, tmp_path):
    config = estimator_config(PRESETS["smoke"], "singing", "tokengt")
    run = str(tmp_path / "run")
    seen = []
    steps = TrainConfig(steps=4, batch_size=3, warmup=1, log_every=1, checkpoint_every=2)
    path = train(tiny_dataset, run, config, steps, on_step=lambda s, l: seen.append((s, l["loss"])))
    assert [s for s, _ in seen] == [1, 2, 3, 4]
    assert all(torch.isfinite(torch.tensor(v)) for _, v in seen)
    assert load_checkpoint(path)["step"] == 4
    # Resuming continues from the checkpoint's step.
    more = []
    train(tiny_dataset, run, config, TrainConfig(steps=6, batch_size=3, warmup=1, log_every=1, checkpoint_every=2),
          on_step=lambda s, l: more.append(s))
    assert more == [5, 6]
    model = load_estimator(path)
    graphs = model.estimate(torch.randn(2, 2, 8000), sample_rate=16000, max_tokens=64)
    for g in graphs:
        g.validate()


def test_autoencoder_reads_the_graph_not_the_audio(tiny_dataset, tmp_path):
    from graphfx.datasets import GraphFXDataset
    from graphfx.datasets import Tokenize
    from graphfx.train import collate

    config = estimator_config(PRESETS["smoke"], "singing", "tokengt", latent="graph")
    path = train(tiny_dataset, str(tmp_path / "ae"), config, TrainConfig(steps=2, batch_size=3, warmup=1,
                                                                          log_every=1, checkpoint_every=2))
    model = load_estimator(path)
    batch = collate([GraphFXDataset(tiny_dataset, "seen", transform=Tokenize())[i] for i in range(2)])
    silent = torch.zeros_like(batch["reference"])
    z_true = model.latents(batch["reference"], tokens=batch["tokens"])
    assert torch.equal(z_true, model.latents(silent, tokens=batch["tokens"]))  # the audio is ignored
    with pytest.raises(ValueError, match="ground-truth graph"):
        model.latents(batch["reference"])
    for g in model.estimate(batch["reference"], tokens=batch["tokens"], sample_rate=16000, max_tokens=64):
        g.validate()


def test_distributed_training_with_torchrun_on_cpu(tiny_dataset, tmp_path):
    """Two processes (gloo) through PyTorch's own launcher; rank 0 writes the checkpoint."""
    import subprocess
    import sys

    run = tmp_path / "ddp"
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m",
                             "graphfx.cli", "train", "--data", tiny_dataset, "--out", str(run), "--preset", "smoke",
                             "--steps", "2", "--batch-size", "2"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert load_checkpoint(str(run / "checkpoint.pt"))["step"] == 2
    assert result.stdout.count("wrote ") == 1


def test_checkpoints_get_the_mode_of_the_umask_and_leave_no_temporary(tmp_path):
    import os

    from graphfx.estimator import EstimatorConfig
    from graphfx.presets import TrainConfig
    from graphfx.train import save_checkpoint

    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.AdamW(model.parameters())
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
    old = os.umask(0o002)
    try:
        save_checkpoint(str(tmp_path / "checkpoint.pt"), model, optimizer, scheduler, 1, EstimatorConfig(),
                        TrainConfig())
    finally:
        os.umask(old)
    assert os.listdir(tmp_path) == ["checkpoint.pt"]
    assert os.stat(tmp_path / "checkpoint.pt").st_mode & 0o777 == 0o664
