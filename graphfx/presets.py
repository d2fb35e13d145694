"""Named sizes of the whole system: data format, model sizes and optimization.

``paper`` is the recipe of Section 3 "Training" of Lee et al. (2023): 44.1 kHz
clips of 160 000 samples, the paper's encoder and decoder, AdamW with a linear
schedule peaking at 5e-4 after 50k warmup steps, 200k steps, batch 32. ``cpu``
and ``smoke`` are the same recipe at a size a 2-core CPU runs in about an hour
and in a minute.

Plain data, read by the layers that need it: :func:`graphfx.estimator.estimator_config`
(model sizes), :mod:`graphfx.train` (optimization) and :mod:`graphfx.bench` (data format).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass
class TrainConfig:
    """Optimization settings (the model's live in :class:`graphfx.estimator.EstimatorConfig`).

    The learning rate warms up linearly over ``warmup`` steps, stays at ``lr``, and decays linearly to 0 over
    the last ``decay`` share of the steps after warmup (1: the paper's decay from the end of warmup). At each
    checkpoint the losses on the first ``val_examples`` clips of the seen split are logged (``val/*``) and the
    model with the lowest one is kept as ``best.pt``.
    """

    steps: int = 200_000
    batch_size: int = 32
    lr: float = 5e-4
    warmup: int = 50_000
    decay: float = 1.0
    val_examples: int = 64
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    log_every: int = 100
    checkpoint_every: int = 2000
    seed: int = 0
    num_workers: int = 0


@dataclass
class Preset:
    """A named size: data format, model sizes and optimization."""

    name: str
    sample_rate: int
    seconds: float
    num_train: int
    num_val: int
    encoder: str  # EncoderConfig preset name
    decoder: str  # decoder Config preset name
    train: TrainConfig = field(default_factory=TrainConfig)
    presence_weight: float = 1.0  # the encoder's auxiliary presence loss (EstimatorConfig.presence_weight)
    summary_weight: float = 0.0  # its auxiliary parameter-summary loss (EstimatorConfig.summary_weight)


PRESETS = {
    "paper": Preset("paper", 44100, 160000 / 44100, 300_000, 3_000, "paper", "paper"),
    # About an hour per system on two cores: 144k examples from 24k pairs, the learning rate constant after
    # warmup and decaying over the last fifth, the best validation loss kept. 9000 steps rather than 6000 and
    # the parameter-summary loss: each measured on tokengt (benchmarks/README.md, "The cpu recipe").
    "cpu": Preset("cpu", 16000, 2.0, 24000, 200, "small", "small",
                  TrainConfig(steps=9000, batch_size=16, lr=1e-3, warmup=300, decay=0.2, log_every=25,
                              checkpoint_every=500), summary_weight=1.0),
    "smoke": Preset("smoke", 16000, 0.5, 24, 6, "tiny", "tiny",
                    TrainConfig(steps=20, batch_size=4, lr=1e-3, warmup=5, log_every=5, checkpoint_every=10)),
}


def data_mismatch(preset: Preset, sample_rate: int, num_samples: int) -> Optional[str]:
    """One line of warning when a dataset's clips differ from the preset's (``None`` when they match).

    A training step costs about in proportion to the samples in a clip (the encoder's input), so the line
    says how much longer a step will take than the preset's sizes assume, and how to make matching data.
    """
    expected = round(preset.seconds * preset.sample_rate)
    if (sample_rate, num_samples) == (preset.sample_rate, expected):
        return None
    ratio = num_samples / expected
    return (f"the dataset has {num_samples / sample_rate:.2f} s clips at {sample_rate} Hz ({num_samples} samples), "
            f"the {preset.name} preset {preset.seconds:.2f} s at {preset.sample_rate} Hz ({expected}): a step will "
            f"take roughly {ratio:.1f}x as long (samples per clip); matching data: graphfx generate --sample-rate "
            f"{preset.sample_rate} --samples {expected}")
