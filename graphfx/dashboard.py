"""TensorBoard pictures and sounds of a blind estimator at work.

Every so often during training, a few validation references are decoded and
logged: the reference, the dry source and the re-rendered estimate as audio
(TensorBoard audio is mono and clips beyond ±1: left and right go to separate
tags, scaled together), the ground-truth and estimated graphs one above the
other, and the reference's mel spectrogram as the encoder sees it (its bands
repeated so that the image is not a strip a few pixels high). Hyperparameters
and final losses are written through the same writer, so they stay in one run.
"""
from __future__ import annotations

import math
from typing import Dict

import torch
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams

from graphfx import catalog
from graphfx.graph import AudioGraph
from graphfx.renderer import render


#: Longest side of a logged graph picture, in pixels.
MAX_PIXELS = 1600


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
        image = ((mel - mel.min()) / (mel.max() - mel.min() + 1e-9)).flip(0)  # low frequencies at the bottom
        writer.add_image(f"example{i}/mel", readable(image)[None], step)


def readable(image: torch.Tensor, least: int = 128, most: int = 512) -> torch.Tensor:
    """A ``[bands, frames]`` spectrogram with each band repeated so that the picture is at least a third
    as tall as it is wide (between ``least`` and ``most`` pixels): 16 mel bands over 200 frames would
    be a 16-pixel strip."""
    wanted = max(least, min(most, image.shape[1] // 3))
    return image.repeat_interleave(max(1, math.ceil(wanted / image.shape[0])), dim=0)


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
    from graphfx.draw import draw, layout

    # One above the other, each at its own size, so that boxes and text keep their size (the layout is in inches).
    plan = layout(truth)
    sizes = [(plan.width, plan.height)]
    try:
        plan = layout(estimate)
        sizes.append((plan.width, plan.height))
    except Exception:  # an invalid estimate may have a cycle: no layout
        sizes.append(None)
    heights = [size[1] + 1.0 if size else 1.0 for size in sizes]
    width = max(size[0] for size in sizes if size) + 0.8
    spacing = {"left": 0.01, "right": 0.99, "bottom": 0.01, "top": 0.95, "hspace": 0.25}
    # An untrained model may decode a graph of dozens of nodes: at most MAX_PIXELS on a side, or TensorBoard's
    # image encoding takes seconds per checkpoint.
    dpi = min(100.0, MAX_PIXELS / max(width, sum(heights)))
    figure, axes = plt.subplots(2, 1, figsize=(width, sum(heights)), dpi=dpi,
                                gridspec_kw={"height_ratios": heights, **spacing})
    draw(truth, ax=axes[0], title="ground truth")
    if sizes[1] is None:
        axes[1].set_title("estimate (cannot be drawn)")
        axes[1].axis("off")
    else:
        draw(estimate, ax=axes[1], title="estimate" if estimate.is_valid() else "estimate (invalid)")
    return figure
