"""The strategy comparison of Table 2 (Lee et al., 2023) as one command.

:func:`run` generates (or reuses) the preset's dataset, trains each requested
system (or loads a checkpoint), and evaluates it on the seen and unseen
validation sets with the metrics of :mod:`graphfx.metrics`. A *system* is a
registered decoder plus the estimator options that make the paper's rows:
``no_latent`` (➁, latents zeroed) and ``<decoder>+source`` (➃, the dry source
given to the encoder).
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, replace
from typing import Callable, Dict, List, Optional, Sequence

import torch

try:
    import fcntl  # POSIX: serializes the results files of parallel commands
except ImportError:  # pragma: no cover
    fcntl = None

from graphfx.datasets import GraphFXDataset
from graphfx.errors import GraphFXError
from graphfx.estimator import estimator_config, load_estimator
from graphfx.files import write_text_atomic
from graphfx.datasets import Tokenize
from graphfx.metrics import (invalid_rate, mss_between_graphs, node_type_iou, parameter_loss, summarize,
                             token_error_rates, with_default_params)
from graphfx.presets import PRESETS
from graphfx.provenance import git_revision, hardware
from graphfx.synth.generate import DatasetSpec, generate
from graphfx.tokens import NODE, Tokens, tokens_to_graph
from graphfx.train import collate, train

#: Metric columns, in the order of the paper's Table 2.
COLUMNS = ("node_error_rate", "edge_error_rate", "invalid_rate", "invalid_rate_unconstrained", "iou",
           "mss_default", "parameter_loss", "mss_oracle", "mss_full")
#: Short column titles for terminal tables.
TITLES = {"node_error_rate": "node err", "edge_error_rate": "edge err", "invalid_rate": "invalid",
          "invalid_rate_unconstrained": "inv. free", "iou": "IOU", "mss_default": "MSS-def",
          "parameter_loss": "param", "mss_oracle": "MSS-orc", "mss_full": "MSS-full"}
#: The paper's Table 2 (singing; seen set for ➂, unseen otherwise), for reference only.
PAPER_SINGING = {
    "no_latent": (.502, .014, 0, None, .365, .116, .200, .095, .107),
    "tokengt (seen)": (.215, .007, 0, None, .839, .044, .120, .056, .058),
    "tokengt (unseen)": (.242, .009, 0, None, .800, .054, .125, .057, .059),
    "tokengt+source": (.169, .011, 0, None, .906, .034, .123, .054, .052),
    "node_by_node": (.267, .052, .072, None, .742, .064, .142, .065, .066),
    "single_stage": (.249, .020, .002, None, .799, .053, .168, None, .070),
}


@dataclass(frozen=True)
class System:
    """One row of the comparison."""

    label: str
    decoder: str
    latent: str = "audio"
    condition_on_source: bool = False


def system(label: str) -> System:
    """``tokengt``, ``autoencoder`` (➀), ``no_latent`` (➁) or ``NAME+source`` (➃), for any registered NAME."""
    if label == "no_latent":
        return System(label, "tokengt", latent="zero")
    if label == "autoencoder":
        return System(label, "tokengt", latent="graph")
    if label.endswith("+source"):
        return System(label, label[:-len("+source")], condition_on_source=True)
    return System(label, label)


def default_systems() -> List[str]:
    """The full comparison: every registered decoder, plus no_latent and tokengt+source."""
    from graphfx.decoders import registry

    names = registry.list_decoders()
    rows = ["autoencoder", "no_latent", "tokengt", "tokengt+source"] + [n for n in names if n != "tokengt"]
    return rows


def dataset_for(preset: str, task: str, root: str) -> str:
    """Generates (or resumes) the dataset of a preset; returns its directory."""
    chosen = PRESETS[preset]
    path = os.path.join(root, f"data-{task}-{preset}")
    spec = DatasetSpec(task, num_train=chosen.num_train, num_val=chosen.num_val, sample_rate=chosen.sample_rate,
                       num_samples=round(chosen.seconds * chosen.sample_rate))
    generate(path, spec)
    return path


def train_system(row: System, preset: str, data_dir: str, run_dir: str,
                 on_step: Optional[Callable[[int, Dict[str, float]], None]] = None) -> str:
    """Trains (or resumes) one system on the dataset; returns its checkpoint."""
    data = GraphFXDataset(data_dir, "train")
    chosen = PRESETS[preset]
    config = estimator_config(chosen, data.task, row.decoder, sample_rate=data.sample_rate, tracks=data.tracks,
                              latent=row.latent, condition_on_source=row.condition_on_source)
    return train(data_dir, run_dir, config, chosen.train, on_step=on_step)


def evaluate(model, data_dir: str, split: str, batch_size: int = 8) -> Dict[str, tuple]:
    """Every metric of :data:`COLUMNS` on one validation split: ``{metric: (mean, 95% CI half-width)}``."""
    dataset = GraphFXDataset(data_dir, split, transform=Tokenize())
    if len(dataset) == 0:
        raise GraphFXError(f"the {split!r} split of {data_dir} is empty")
    rate, tracks = dataset.sample_rate, dataset.meta["tracks"]
    rows: List[Dict[str, float]] = []
    model.eval()
    for start in range(0, len(dataset), batch_size):
        batch = collate([dataset[i] for i in range(start, min(len(dataset), start + batch_size))])
        rows += _evaluate_batch(model, batch, rate, tracks)
    return summarize(rows)


@torch.no_grad()
def _evaluate_batch(model, batch, sample_rate: int, track_names: Sequence[str]) -> List[Dict[str, float]]:
    decoder = model.decoder
    tokens: Tokens = batch["tokens"]
    latents = model.latents(batch["reference"], batch["dry"], tokens)
    truth = batch["graphs"]
    dry = {name: batch["dry"][:, k:k + 1] for k, name in enumerate(track_names)}
    estimates = decoder.generate(latents, constrained=True, sample_rate=sample_rate)
    free = decoder.generate(latents, constrained=False, sample_rate=sample_rate)
    predicted = decoder.predict_next(latents, tokens) if decoder.token_by_token else None
    params = decoder.estimate_params(latents, tokens)
    with_estimates = replace(tokens, params=params.to(tokens.params.dtype))
    oracle = [tokens_to_graph(_example(with_estimates, i), sample_rate) for i in range(len(truth))]
    mss_default = mss_between_graphs([with_default_params(g) for g in truth],
                                     [with_default_params(g) for g in estimates], dry, sample_rate)
    mss_oracle = mss_between_graphs(truth, oracle, dry, sample_rate)
    mss_full = mss_between_graphs(truth, estimates, dry, sample_rate)
    mask = tokens.param_mask & (tokens.kind == NODE)[..., None]
    rows = []
    for i, g in enumerate(truth):
        row = {"invalid_rate": invalid_rate([estimates[i]]), "invalid_rate_unconstrained": invalid_rate([free[i]]),
               "iou": node_type_iou(g, estimates[i]),
               "parameter_loss": parameter_loss(params[i], tokens.params[i].to(params.dtype), mask[i]),
               "mss_default": float(mss_default[i]), "mss_oracle": float(mss_oracle[i]),
               "mss_full": float(mss_full[i])}
        if predicted is not None:  # predictions for positions 1 .. L-1
            row.update(token_error_rates(_example(predicted, i), _example(tokens, i, start=1)))
        rows.append(row)
    return rows


def _example(tokens: Tokens, i: int, start: int = 0) -> Tokens:
    """Example ``i`` of a token batch, from position ``start``."""
    return Tokens(**{k: v[i, start:] for k, v in tokens.as_dict().items()})


def run(labels: Sequence[str], preset: str, task: str, out_dir: str, *, checkpoint: Optional[str] = None,
        data_dir: Optional[str] = None, status: Callable[[str], None] = print,
        on_step: Optional[Callable[[str, int, Dict[str, float]], None]] = None) -> Dict:
    """Runs the comparison and writes ``results.json`` and ``results.md`` into ``out_dir``.

    Results are written after every system and merged with those already in ``out_dir`` for the same
    preset and task, so a comparison can be split over several commands (or machines) sharing one folder.
    Returns the merged results. ``on_step(label, step, losses)`` follows the training of each system.
    """
    from graphfx.decoders import registry

    rows = [system(label) for label in labels]
    for row in rows:  # an unknown name fails now, not after the dataset and the first trainings
        registry.get(row.decoder)
    os.makedirs(out_dir, exist_ok=True)
    if data_dir is None:
        status(f"dataset: generating or reusing the {preset} {task} set")
        data_dir = dataset_for(preset, task, out_dir)
    started = time.time()
    results = {"preset": preset, "task": task, "data": os.path.abspath(data_dir), "git": git_revision(),
               "hardware": hardware(), "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "systems": {}, "seconds": {}}
    for label, row in zip(labels, rows):
        if checkpoint is not None:
            path = checkpoint
        else:
            status(f"{label}: training ({preset} preset)")
            report = None if on_step is None else (lambda step, losses, label=label: on_step(label, step, losses))
            path = train_system(row, preset, data_dir, os.path.join(out_dir, "runs", label.replace("+", "_")),
                                report)
        model = load_estimator(path)
        status(f"{label}: evaluating")
        results["systems"][label] = {split: evaluate(model, data_dir, split) for split in ("seen", "unseen")}
        results["seconds"][label] = round(time.time() - started, 1)
        started = time.time()
        merged = _write(out_dir, results)  # after every system, so a long comparison keeps what it measured
    return merged


def _merged(out_dir: str, results: Dict) -> Dict:
    """``results`` over the systems that an earlier or parallel run of the same preset and task left in ``out_dir``."""
    try:
        with open(os.path.join(out_dir, "results.json")) as f:
            earlier = json.load(f)
    except (OSError, ValueError):
        return results
    if (earlier.get("preset"), earlier.get("task")) != (results["preset"], results["task"]):
        return results
    seconds = earlier.get("seconds")
    return {**results, "systems": {**earlier.get("systems", {}), **results["systems"]},
            "seconds": {**(seconds if isinstance(seconds, dict) else {}), **results["seconds"]}}


def _write(out_dir: str, results: Dict) -> Dict:
    """Merges ``results`` into ``out_dir``'s results.json and results.md; returns the merged results.

    A lock file serializes the read-merge-write of commands that share ``out_dir``, so none loses another's rows.
    """
    with open(os.path.join(out_dir, ".results.lock"), "w") as lock:
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)
        results = _merged(out_dir, results)
        write_text_atomic(os.path.join(out_dir, "results.json"), json.dumps(results, indent=1))
        write_text_atomic(os.path.join(out_dir, "results.md"), _markdown(results))
    return results


def _markdown(results: Dict) -> str:
    total = sum(results["seconds"].values())
    lines = [f"# graphfx bench: {results['task']}, {results['preset']} preset", "",
             f"git {results['git']}, {results['hardware']['cpu_model']}, {total:.0f} s "
             "(training and evaluation: " + ", ".join(f"{k} {v:.0f} s" for k, v in results["seconds"].items()) + ")",
             "",
             "| system | split | " + " | ".join(COLUMNS) + " |", "|---|---|" + "---|" * len(COLUMNS)]
    for label, splits in results["systems"].items():
        for split, metrics in splits.items():
            cells = [_cell(metrics.get(c)) for c in COLUMNS]
            lines.append(f"| {label} | {split} | " + " | ".join(cells) + " |")
    if results["task"] == "singing":
        lines += ["", "Paper, Table 2 (singing; quoted for reference, not measured here):", "",
                  "| system | " + " | ".join(COLUMNS) + " |", "|---|" + "---|" * len(COLUMNS)]
        for label, values in PAPER_SINGING.items():
            lines.append(f"| {label} | " + " | ".join("-" if v is None else f"{v:.3f}" for v in values) + " |")
    return "\n".join(lines) + "\n"


def _cell(value) -> str:
    if value is None:
        return "-"
    mean, half = value
    return f"{mean:.3f}" if half != half else f"{mean:.3f} ± {half:.3f}"  # NaN half-width: one example
