"""TensorBoard pictures and sounds of a blind estimator at work.

Every so often during training, a few validation references are decoded and
logged: the reference, the dry source and the re-rendered estimate as audio
(TensorBoard audio is mono and clips beyond ±1: left and right go to separate
tags, scaled together), the ground-truth and estimated graphs side by side,
and the reference's mel spectrogram as the encoder sees it. Hyperparameters
and final losses are written through the same writer, so they stay in one run.
"""
from __future__ import annotations

from typing import Dict

import torch
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams

from graphfx import catalog
from graphfx.graph import AudioGraph
from graphfx.renderer import render


def log_examples(writer: SummaryWriter, model, batch: Dict, step: int, sample_rate: int, count: int = 2) -> None:
    """Logs audio, graph pictures and mel spectrograms of the first ``count`` examples of ``batch``."""
    model.eval()
    reference, dry = batch["reference"][:count], batch["dry"][:count]
    device = next(model.parameters()).device
    tokens = _first(batch["tokens"], count, device)
    with torch.no_grad():
        graphs = model.estimate(reference.to(device), dry.to(device), tokens=tokens, sample_rate=sample_rate)
        audio_encoder = hasattr(model.encoder, "mel")  # the autoencoder (➀) reads graphs, not audio
        mels = model.encoder.mel(model.encoder_input(reference.to(device), dry.to(device))).cpu() \
            if audio_encoder else None  # [n, C, mels, T']
    model.train()
    for i, (truth, estimate) in enumerate(zip(batch["graphs"][:count], graphs)):
        sounds = {"reference": reference[i], "dry": dry[i].sum(0, keepdim=True).expand(2, -1)}
        if estimate.is_valid():
            sounds["estimate"] = _render_like(estimate, dry[i], sample_rate)
        peak = max(float(s.abs().max()) for s in sounds.values()) or 1.0
        for name, audio in sounds.items():
            for channel, side in enumerate(("left", "right")):
                writer.add_audio(f"example{i}/{name}/{side}", (audio[channel] / peak).cpu(), step,
                                 sample_rate=sample_rate)
        figure = _graphs_figure(truth, estimate)
        if figure is not None:
            writer.add_figure(f"example{i}/graphs", figure, step)
        if mels is None:
            continue
        mel = mels[i, 0]
        writer.add_image(f"example{i}/mel", ((mel - mel.min()) / (mel.max() - mel.min() + 1e-9)).flip(0)[None],
                         step)


def _first(tokens, count: int, device):
    return type(tokens)(**{k: v[:count].to(device) for k, v in tokens.as_dict().items()})


def log_hparams(writer: SummaryWriter, config: Dict, metrics: Dict[str, float]) -> None:
    """Writes hyperparameters and final metrics into the writer's own run (not a new sub-run)."""
    flat = {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in config.items()}
    for summary in hparams(flat, metrics):
        writer.file_writer.add_summary(summary)
    for name, value in metrics.items():
        writer.add_scalar(name, value)


def _render_like(estimate: AudioGraph, dry: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """Renders the estimate on the example's dry tracks (``dry`` rows: ``in``, or the six drum tracks)."""
    names = ("in",) if dry.shape[0] == 1 else catalog.DRUM_SOURCES
    tracks = {name: dry[k][None, None] for k, name in enumerate(names)}
    wanted = {n.type for n in estimate.nodes if n.type in catalog.INPUT_TYPES}
    silent = torch.zeros_like(dry[0])[None, None]
    return render(estimate, {name: tracks.get(name, silent) for name in wanted}, sample_rate=sample_rate)[0]


def _graphs_figure(truth: AudioGraph, estimate: AudioGraph):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pictures need the plot extra
        return None
    from graphfx.draw import draw

    figure, axes = plt.subplots(1, 2, figsize=(16, 4))
    draw(truth, ax=axes[0], title="ground truth")
    try:
        draw(estimate, ax=axes[1], title="estimate" if estimate.is_valid() else "estimate (invalid)")
    except Exception:  # an invalid estimate may have a cycle: no layout
        axes[1].set_title("estimate (cannot be drawn)")
        axes[1].axis("off")
    return figure
