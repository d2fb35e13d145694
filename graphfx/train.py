"""Training: AdamW, linear warmup and decay, atomic resumable checkpoints, TensorBoard, DDP.

Section 3 "Training" of Lee et al. (2023): both decoding stages are trained
together, prototype decoding by teacher-forced cross-entropy with label
smoothing 0.1 and parameter estimation by L1 on the oracle prototype, with
AdamW, a linear schedule peaking at 5e-4 after 50k warmup steps, 200k steps,
batch 32 (the ``paper`` preset, :mod:`graphfx.presets`). ``cpu`` and ``smoke``
are the same recipe at a size a 2-core CPU runs in under an hour and in a minute.
Items are tokenized once, by the :class:`~graphfx.datasets.Tokenize` transform of
the dataset; :func:`collate` pads their tokens.

Multi-GPU and multi-node training uses PyTorch's own launcher: run
``torchrun --nproc_per_node N -m graphfx.cli train ...``; each process reads
``RANK``/``WORLD_SIZE`` from the environment, wraps the model in
``DistributedDataParallel`` and reads its share of the data through a
``DistributedSampler``. Only rank 0 writes checkpoints and logs.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import asdict
from typing import Callable, Dict, Iterator, Optional

import torch
from torch import nn
from torch.utils.data import DataLoader

from graphfx.dashboard import log_examples, log_hparams
from graphfx.datasets import GraphFXDataset, Tokenize
from graphfx.errors import GraphFXError
from graphfx.files import atomic_path
from graphfx.estimator import CHECKPOINT_FORMAT, CHECKPOINT_VERSION, BlindEstimator, EstimatorConfig, load_checkpoint
from graphfx.presets import PRESETS, TrainConfig  # noqa: F401 (PRESETS: re-exported)
from graphfx.provenance import git_revision
from graphfx.tokens import pad_tokens

CHECKPOINT = "checkpoint.pt"
#: The checkpoint with the lowest validation loss so far, beside :data:`CHECKPOINT`.
BEST = "best.pt"


def collate(items) -> Dict:
    """Tokenized items (:class:`~graphfx.datasets.Tokenize`) -> reference ``[B, 2, T]``, dry ``[B, K, T]``,
    tokens ``[B, L]`` and graphs."""
    return {"reference": torch.cat([item.reference for item in items]),
            "dry": torch.cat([item.dry for item in items]),
            "tokens": pad_tokens([item.tokens for item in items]), "graphs": [item.graph for item in items]}


def lr_factor(step: int, warmup: int, steps: int, decay: float = 1.0) -> float:
    """Linear warmup to 1, constant, then linear decay to 0 at ``steps`` over the last ``decay`` share of the
    steps after warmup (``decay=1``: the paper's linear decay from the end of warmup)."""
    if step < warmup:
        return (step + 1) / max(1, warmup)
    decay_steps = max(1, round(decay * (steps - warmup)))
    return max(0.0, min(1.0, (steps - step) / decay_steps))


def best_checkpoint(path: str) -> str:
    """The run's checkpoint with the best validation loss (``best.pt`` beside ``path``), else ``path``."""
    best = os.path.join(os.path.dirname(path), BEST)
    return best if os.path.exists(best) else path


def resume_step(out_dir: str) -> int:
    """The step that :func:`train` resumes from in run directory ``out_dir`` (0 without a checkpoint)."""
    path = os.path.join(out_dir, CHECKPOINT)
    return int(load_checkpoint(path)["step"]) if os.path.exists(path) else 0


@torch.no_grad()
def validation_losses(model: nn.Module, batches, device: str) -> Dict[str, float]:
    """Mean teacher-forced losses over ``batches`` (eval mode; the model's mode is restored)."""
    was_training = model.training
    model.eval()
    totals: Dict[str, float] = {}
    for batch in batches:
        losses = model(batch["reference"].to(device), batch["tokens"].to(device), batch["dry"].to(device))
        for name, value in losses.items():
            totals[name] = totals.get(name, 0.0) + value.item() / len(batches)
    model.train(was_training)
    return totals


def save_checkpoint(path: str, model: nn.Module, optimizer, scheduler, step: int, model_config: EstimatorConfig,
                    train_config: TrainConfig, best_val: float = math.inf) -> None:
    """Writes atomically: a crash leaves the previous checkpoint intact."""
    state = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "step": step, "model": model.state_dict(),
             "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
             "model_config": model_config.to_dict(), "train_config": asdict(train_config),
             "best_val": best_val, "git": git_revision()}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def slim_checkpoint(src: str, dst: str) -> None:
    """Writes ``src`` without its optimizer and scheduler state (a third of the size): enough to estimate
    and to evaluate, not to resume training. Atomic."""
    state = load_checkpoint(src)
    slim = {k: v for k, v in state.items() if k not in ("optimizer", "scheduler")}
    with atomic_path(dst) as tmp:
        torch.save(slim, tmp)


def _batches(loader: DataLoader, sampler) -> Iterator[Dict]:
    epoch = 0
    while True:
        if sampler is not None:
            sampler.set_epoch(epoch)
        yield from loader
        epoch += 1


def train(data_dir: str, out_dir: str, model_config: EstimatorConfig, config: TrainConfig, *,
          device: str = "cpu", on_step: Optional[Callable[[int, Dict[str, float]], None]] = None) -> str:
    """Trains (or resumes) a model on a generated dataset; returns the checkpoint path.

    Args:
        data_dir: a dataset written by ``graphfx generate``.
        out_dir: run directory: ``checkpoint.pt`` and TensorBoard event files.
        model_config: the model; ignored when resuming (the checkpoint's is used).
        config: optimization settings.
        device: ``"cpu"`` or ``"cuda"`` (``cuda:RANK`` under torchrun).
        on_step: called with (step, scalar losses) after each logged step.
    """
    from torch.utils.tensorboard import SummaryWriter

    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    rank = int(os.environ.get("RANK", "0"))
    if distributed:
        torch.distributed.init_process_group("nccl" if device.startswith("cuda") else "gloo")
        if device.startswith("cuda"):
            device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, CHECKPOINT)
    resumed = load_checkpoint(path) if os.path.exists(path) else None
    if resumed is not None:
        model_config = EstimatorConfig(**resumed["model_config"])
    torch.manual_seed(config.seed + rank)
    model = BlindEstimator(model_config).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, config.warmup, config.steps, config.decay))
    step, best_val = 0, math.inf
    if resumed is not None:
        model.load_state_dict(resumed["model"])
        optimizer.load_state_dict(resumed["optimizer"])
        scheduler.load_state_dict(resumed["scheduler"])
        step, best_val = int(resumed["step"]), float(resumed.get("best_val", math.inf))
    net = nn.parallel.DistributedDataParallel(model) if distributed else model

    dataset = GraphFXDataset(data_dir, "train", transform=Tokenize())
    sampler = torch.utils.data.DistributedSampler(dataset, seed=config.seed) if distributed else None
    generator = torch.Generator().manual_seed(config.seed + step)
    loader = DataLoader(dataset, batch_size=config.batch_size, shuffle=sampler is None, sampler=sampler,
                        collate_fn=collate, num_workers=config.num_workers, drop_last=len(dataset) > config.batch_size,
                        generator=generator)
    writer = SummaryWriter(out_dir) if rank == 0 else None
    if writer is not None and resumed is None:
        writer.add_text("config", f"```\n{model_config.to_dict()}\n{asdict(config)}\ngit {git_revision()}\n```")
    examples = _showcase(data_dir) if rank == 0 else None
    val_batches = _validation_batches(data_dir, config) if rank == 0 else []
    batches = _batches(loader, sampler)
    losses: Dict = {}
    model.train()
    started, first_step = time.time(), step
    while step < config.steps:
        batch = next(batches)
        tokens = batch["tokens"].to(device)
        losses = net(batch["reference"].to(device), tokens, batch["dry"].to(device))
        if not math.isfinite(losses["loss"].item()):
            raise GraphFXError(f"training diverged at step {step} (loss {losses['loss'].item()}); lower --lr")
        optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        scheduler.step()
        step += 1
        if rank == 0 and (step % config.log_every == 0 or step == config.steps):
            scalars = {k: v.item() for k, v in losses.items()}
            for name, value in scalars.items():
                writer.add_scalar(f"train/{name}", value, step)
            writer.add_scalar("train/lr", scheduler.get_last_lr()[0], step)
            writer.add_scalar("train/steps_per_second", (step - first_step) / max(1e-9, time.time() - started),
                              step)
            if on_step is not None:
                on_step(step, scalars)
        if rank == 0 and (step % config.checkpoint_every == 0 or step == config.steps):
            if val_batches:  # the seen split: over-fitting shows as val/loss rising while train/loss falls
                val = validation_losses(model, val_batches, device)
                for name, value in val.items():
                    writer.add_scalar(f"val/{name}", value, step)
                if val["loss"] < best_val:
                    best_val = val["loss"]
                    save_checkpoint(os.path.join(out_dir, BEST), model, optimizer, scheduler, step, model_config,
                                    config, best_val)
            save_checkpoint(path, model, optimizer, scheduler, step, model_config, config, best_val)
            if examples is not None:
                log_examples(writer, model, examples, step, dataset.sample_rate)
    if writer is not None:
        final = {f"final/{k}": v.item() for k, v in losses.items()}
        log_hparams(writer, {"decoder": model_config.decoder, "latent": model_config.latent,
                             "condition_on_source": model_config.condition_on_source, **asdict(config)}, final)
        writer.close()
    if distributed:
        torch.distributed.destroy_process_group()
    return path


def _validation_batches(data_dir: str, config: TrainConfig) -> list:
    """The first ``config.val_examples`` examples of the seen split, in training-size batches (loaded once)."""
    try:
        seen = GraphFXDataset(data_dir, "seen", transform=Tokenize())
    except GraphFXError:
        return []
    items = [seen[i] for i in range(min(config.val_examples, len(seen)))]
    return [collate(items[i:i + config.batch_size]) for i in range(0, len(items), config.batch_size)]


def _showcase(data_dir: str) -> Optional[Dict]:
    """The first two examples of the seen validation split, for TensorBoard (``None`` if it is empty)."""
    try:
        seen = GraphFXDataset(data_dir, "seen", transform=Tokenize())
    except GraphFXError:
        return None
    return collate([seen[i] for i in range(min(2, len(seen)))]) if len(seen) else None

