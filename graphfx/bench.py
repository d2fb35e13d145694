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
import math
import os
import time
from dataclasses import dataclass, replace
from itertools import islice
from typing import Callable, Dict, List, Optional, Sequence

import torch
from torch import Tensor

from graphfx.datasets import GraphFXDataset, Tokenize
from graphfx.errors import GraphFXError
from graphfx.estimate import CANDIDATES, rank_key, search
from graphfx.estimator import estimator_config, load_estimator
from graphfx.files import locked_directory, write_text_atomic
from graphfx.metrics import Guess, score, summarize
from graphfx.presets import PRESETS
from graphfx.provenance import git_revision, hardware
from graphfx.priors import ConstantPrior
from graphfx.synth.generate import DatasetSpec, generate
from graphfx.tokens import Tokens
from graphfx.train import best_checkpoint, collate, resume_step, train

#: ``progress(done, total)``: work done so far, of the total (examples, pairs).
Progress = Callable[[int, int], None]

#: Metric columns, in the order of the paper's Table 2.
COLUMNS = ("node_error_rate", "edge_error_rate", "invalid_rate", "invalid_rate_unconstrained", "iou",
           "mss_default", "parameter_loss", "gain_loss", "mss_oracle", "mss_full")
#: Short column titles for terminal tables.
TITLES = {"node_error_rate": "node err", "edge_error_rate": "edge err", "invalid_rate": "invalid",
          "invalid_rate_unconstrained": "inv. free", "iou": "IOU", "mss_default": "MSS-def",
          "parameter_loss": "param", "gain_loss": "gain", "mss_oracle": "MSS-orc", "mss_full": "MSS-full"}
#: The paper's Table 2 (singing; seen set for ➂, unseen otherwise), for reference only (in COLUMNS order;
#: the paper reports no gain loss).
PAPER_SINGING = {
    "no_latent": (.502, .014, 0, None, .365, .116, .200, None, .095, .107),
    "tokengt (seen)": (.215, .007, 0, None, .839, .044, .120, None, .056, .058),
    "tokengt (unseen)": (.242, .009, 0, None, .800, .054, .125, None, .057, .059),
    "tokengt+source": (.169, .011, 0, None, .906, .034, .123, None, .054, .052),
    "node_by_node": (.267, .052, .072, None, .742, .064, .142, None, .065, .066),
    "single_stage": (.249, .020, .002, None, .799, .053, .168, None, None, .070),
}


@dataclass(frozen=True)
class System:
    """One row of the comparison.

    Args:
        label: the row's name.
        decoder: the registered decoder (``None`` for the constant prior).
        latent, condition_on_source: the estimator options (:class:`~graphfx.estimator.EstimatorConfig`).
        decoding: ``"greedy"``; ``"sampled"`` (one sample at temperature 1); ``"consensus"`` (the candidate
            ``graphfx estimate`` chooses without a dry signal: :func:`graphfx.estimate.search` ranked by
            :func:`~graphfx.estimate.rank_key`).
        run: the training run the row evaluates (rows may share one: ``no_latent`` and ``no_latent_sampled``).
    """

    label: str
    decoder: Optional[str]
    latent: str = "audio"
    condition_on_source: bool = False
    decoding: str = "greedy"
    run: str = ""


#: Rows that use no audio: the best of them is the bar every audio-conditioned system must clear.
PRIOR_ROWS = ("prior", "no_latent", "no_latent_sampled", "no_latent@consensus")
#: One line per built-in system name, for ``graphfx decoders`` (registered decoders are rows too).
SYSTEMS = {
    "prior": "the best constant graph of the training set, with median parameters and gains (no model)",
    "no_latent": "tokengt with its latents set to zero: the learned prior (Table 2, ➁)",
    "no_latent_sampled": "the no_latent model decoded by sampling instead of greedily",
    "autoencoder": "tokengt decoding latents of the true graph: the sanity check (Table 2, ➀)",
    "NAME+source": "decoder NAME with the dry source given to the encoder beside the reference (Table 2, ➃)",
    "NAME@consensus": f"a sampling row decoded by consensus of {CANDIDATES} decodings, as graphfx estimate does",
}


def system(label: str) -> System:
    """``prior``, ``no_latent`` (➁), ``no_latent_sampled``, ``autoencoder`` (➀), ``NAME+source`` (➃) or a
    registered decoder NAME; any of these but ``prior`` followed by ``@consensus``."""
    if label.endswith("@consensus") and label != "prior@consensus":
        base = system(label[:-len("@consensus")])
        return replace(base, label=label, decoding="consensus")
    if label == "prior":
        return System(label, None, run=label)
    if label in ("no_latent", "no_latent_sampled"):
        decoding = "sampled" if label.endswith("sampled") else "greedy"
        return System(label, "tokengt", latent="zero", decoding=decoding, run="no_latent")
    if label == "autoencoder":
        return System(label, "tokengt", latent="graph", run=label)
    if label.endswith("+source"):
        return System(label, label[:-len("+source")], condition_on_source=True, run=label.replace("+", "_"))
    return System(label, label, run=label)


def default_systems() -> List[str]:
    """The full comparison: the priors, the autoencoder, every registered decoder, tokengt+source."""
    from graphfx.decoders import registry

    names = registry.list_decoders()
    return (["prior", "no_latent", "no_latent_sampled", "autoencoder", "tokengt", "tokengt+source"]
            + [n for n in names if n != "tokengt"])


def dataset_for(preset: str, task: str, root: str, *, progress: Optional[Progress] = None) -> str:
    """Generates (or resumes) the dataset of a preset; returns its directory. ``progress(pairs done, to do)``
    follows the generation."""
    chosen = PRESETS[preset]
    path = os.path.join(root, f"data-{task}-{preset}")
    spec = DatasetSpec(task, num_train=chosen.num_train, num_val=chosen.num_val, sample_rate=chosen.sample_rate,
                       num_samples=round(chosen.seconds * chosen.sample_rate))
    generate(path, spec, progress=progress)
    return path


def train_system(row: System, preset: str, data_dir: str, run_dir: str,
                 on_step: Optional[Callable[[int, Dict[str, float]], None]] = None) -> str:
    """Trains (or resumes) one system on the dataset; returns its checkpoint."""
    data = GraphFXDataset(data_dir, "train")
    chosen = PRESETS[preset]
    config = estimator_config(chosen, data.task, row.decoder, sample_rate=data.sample_rate, tracks=data.tracks,
                              latent=row.latent, condition_on_source=row.condition_on_source)
    return train(data_dir, run_dir, config, chosen.train, on_step=on_step)


def evaluate(guesser: Callable[[Dict, int], Guess], data_dir: str, split: str,
             batch_size: int = 8, *, progress: Optional[Progress] = None) -> Dict[str, tuple]:
    """Every metric of :data:`COLUMNS` on one validation split: ``{metric: (mean, 95% CI half-width)}``.

    ``guesser(batch, sample_rate)`` is the system's answer for a batch (:func:`model_guess`,
    :meth:`ConstantPrior.guess <graphfx.priors.ConstantPrior.guess>`). ``progress(examples done, total)`` is
    called before the first batch and after each.
    """
    dataset = GraphFXDataset(data_dir, split, transform=Tokenize())
    if len(dataset) == 0:
        raise GraphFXError(f"the {split!r} split of {data_dir} is empty")
    rate, tracks = dataset.sample_rate, dataset.meta["tracks"]
    rows: List[Dict[str, float]] = []
    if progress is not None:
        progress(0, len(dataset))
    for start in range(0, len(dataset), batch_size):
        batch = collate([dataset[i] for i in range(start, min(len(dataset), start + batch_size))])
        dry = {name: batch["dry"][:, k:k + 1] for k, name in enumerate(tracks)}
        rows += score(batch["graphs"], batch["tokens"], guesser(batch, rate), dry, rate)
        if progress is not None:
            progress(len(rows), len(dataset))
    return summarize(rows)


def guesser_of(row: System, data_dir: str, checkpoint: Optional[str]) -> Callable[[Dict, int], Guess]:
    """The answer function of a row: the constant prior fitted on the training graphs, or a trained model."""
    if row.decoder is None:
        prior = ConstantPrior.fit(list(islice(GraphFXDataset(data_dir, "train", audio=False).graphs(), 5000)))
        return lambda batch, rate: prior.guess(batch["tokens"], rate)
    model = load_estimator(checkpoint).eval()
    if row.decoding == "consensus" and not model.decoder.token_by_token:
        raise GraphFXError(f"{row.label}: the {row.decoder} decoder decodes greedily only, it has no samples to "
                           "take the consensus of")
    # Sampled rows draw from a fixed seed, so that a row is reproducible.
    generator = torch.Generator().manual_seed(0) if row.decoding != "greedy" else None
    return lambda batch, rate: model_guess(model, batch, rate, generator, consensus_of=row.decoding == "consensus")


@torch.no_grad()
def model_guess(model, batch, sample_rate: int, generator: Optional[torch.Generator] = None, *,
                consensus_of: bool = False) -> Guess:
    """A trained model's answer for a batch: decoded greedily, sampled with ``generator``, or (``consensus_of``)
    chosen as ``graphfx estimate`` does among the greedy decoding and samples (seeded from ``generator``). The
    unconstrained decoding (for the invalid rate) is greedy or one sample."""
    decoder = model.decoder
    tokens: Tokens = batch["tokens"]
    latents = model.latents(batch["reference"], batch["dry"], tokens)
    if consensus_of:
        # One search seed per clip, drawn from the row's generator: a row is reproducible.
        seeds = torch.randint(2 ** 31 - 1, (len(latents),), generator=generator).tolist()
        graphs = [min(search(model, z[None], CANDIDATES, seed), key=rank_key).graph for z, seed in zip(latents, seeds)]
        free = decoder.generate(latents, constrained=False, sample_rate=sample_rate)
    else:
        graphs = decoder.generate(latents, constrained=True, sample_rate=sample_rate, **_sampling(generator))
        free = decoder.generate(latents, constrained=False, sample_rate=sample_rate, **_sampling(generator))
    predicted = decoder.predict_next(latents, tokens) if decoder.token_by_token else None
    return Guess(graphs, free, predicted, decoder.complete(latents, tokens).to("cpu"))


def _sampling(generator: Optional[torch.Generator]) -> Dict:
    return {} if generator is None else {"generator": generator}


def run(labels: Sequence[str], preset: str, task: str, out_dir: str, *, checkpoint: Optional[str] = None,
        data_dir: Optional[str] = None, status: Callable[[str], None] = print,
        on_step: Optional[Callable[[str, int, Dict[str, float]], None]] = None,
        on_progress: Optional[Callable[[str, int, int], None]] = None) -> Dict:
    """Runs the comparison and writes ``results.json`` and ``results.md`` into ``out_dir``.

    Results are written after every system and merged with those already in ``out_dir`` for the same
    preset and task, so a comparison can be split over several commands (or machines) sharing one folder.
    Returns the merged results. ``status(text)`` announces each phase (dataset, training, evaluation,
    writing); ``on_step(label, step, losses)`` follows the training of each system and
    ``on_progress(what, done, total)`` the examples of the dataset's generation (``what``: ``"dataset"``)
    and of each evaluation (``"LABEL SPLIT"``).
    """
    from graphfx.decoders import registry

    rows = [system(label) for label in labels]
    for row in rows:  # an unknown name fails now, not after the dataset and the first trainings
        if row.decoder is not None:
            registry.get(row.decoder)
    os.makedirs(out_dir, exist_ok=True)
    if data_dir is None:
        status(f"dataset: generating or reusing the {preset} {task} set")
        data_dir = dataset_for(preset, task, out_dir, progress=_named(on_progress, "dataset"))
    else:
        status(f"dataset: {data_dir}")
    started = time.time()
    results = {"preset": preset, "task": task, "data": os.path.abspath(data_dir), "git": git_revision(),
               "hardware": hardware(), "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "systems": {}, "seconds": {}}
    for label, row in zip(labels, rows):
        path = checkpoint
        if checkpoint is None and row.decoder is not None:
            run_dir, steps = os.path.join(out_dir, "runs", row.run), PRESETS[preset].train.steps
            done = resume_step(run_dir)
            resuming = "" if done == 0 else (f", resuming from step {done}" if done < steps else ", already done")
            status(f"{label}: training ({preset} preset, {steps} steps{resuming})")
            report = None if on_step is None else (lambda step, losses, label=label: on_step(label, step, losses))
            path = best_checkpoint(train_system(row, preset, data_dir, run_dir, report))
        status(f"{label}: evaluating on the seen and unseen splits")
        guesser = guesser_of(row, data_dir, path)
        results["systems"][label] = {split: evaluate(guesser, data_dir, split,
                                                     progress=_named(on_progress, f"{label} {split}"))
                                     for split in ("seen", "unseen")}
        results["seconds"][label] = round(time.time() - started, 1)
        started = time.time()
        status(f"{label}: writing {os.path.join(out_dir, 'results.json')} and results.md")
        merged = _write(out_dir, results)  # after every system, so a long comparison keeps what it measured
    return merged


def _named(on_progress: Optional[Callable[[str, int, int], None]], what: str) -> Optional[Progress]:
    return None if on_progress is None else lambda done, total: on_progress(what, done, total)


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

    A lock on ``out_dir`` itself serializes the read-merge-write of commands that share it, so none loses
    another's rows; undefined numbers (a confidence interval of one example) are written as ``null``.
    """
    with locked_directory(out_dir):
        results = _merged(out_dir, results)
        results["gaps_to_prior"] = gaps_to_prior(results)
        write_text_atomic(os.path.join(out_dir, "results.json"), json.dumps(json_safe(results), indent=1,
                                                                             allow_nan=False))
        write_text_atomic(os.path.join(out_dir, "results.md"), _markdown(results))
    return results


def json_safe(value):
    """``value`` with every NaN or infinite float replaced by ``None`` (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


#: The metrics each system is compared on with the best prior, and whether higher is better.
GAP_METRICS = {"iou": True, "node_error_rate": False}


def gaps_to_prior(results: Dict) -> Dict[str, Dict[str, Dict[str, tuple]]]:
    """Per system and split, each :data:`GAP_METRICS` metric minus that of the best prior row (the best of
    :data:`PRIOR_ROWS` present, chosen per metric and split), with the half-width of the difference's 95%
    interval (the two rows' half-widths added in quadrature: the rows are scored on the same examples, so
    this is conservative). Empty when no prior row was run."""
    systems = results["systems"]
    priors = [label for label in PRIOR_ROWS if label in systems]
    out: Dict[str, Dict[str, Dict[str, tuple]]] = {}
    for label, splits in systems.items():
        for split, metrics in splits.items():
            for metric, higher in GAP_METRICS.items():
                values = [systems[p][split][metric] for p in priors if metric in systems[p].get(split, {})]
                if metric not in metrics or not values:
                    continue
                best = (max if higher else min)(values, key=lambda v: v[0])
                mean, half = metrics[metric]
                gap = (mean - best[0], math.sqrt(_finite(half) ** 2 + _finite(best[1]) ** 2))
                out.setdefault(label, {}).setdefault(split, {})[metric] = gap
    return out


def _finite(x) -> float:
    return 0.0 if x is None or x != x else float(x)


def _markdown(results: Dict) -> str:
    total = sum(results["seconds"].values())
    lines = [f"# graphfx bench: {results['task']}, {results['preset']} preset", "",
             f"git {results['git']}, {results['hardware']['cpu_model']}, {total:.0f} s "
             "(training and evaluation: " + ", ".join(f"{k} {v:.0f} s" for k, v in results["seconds"].items()) + ")",
             "",
             "| system | split | " + " | ".join(COLUMNS) + " |", "|---|---|" + "---|" * len(COLUMNS)]
    for label, splits in results["systems"].items():
        for split, metrics in splits.items():
            cells = [cell(metrics.get(c)) for c in COLUMNS]
            lines.append(f"| {label} | {split} | " + " | ".join(cells) + " |")
    gaps = gaps_to_prior(results)
    if gaps:
        lines += ["", "Gap to the best prior row (" + ", ".join(p for p in PRIOR_ROWS if p in results["systems"])
                  + "; IOU: higher is better, node error: lower is better; 95% intervals):", "",
                  "| system | split | " + " | ".join(GAP_METRICS) + " |", "|---|---|" + "---|" * len(GAP_METRICS)]
        for label, splits in gaps.items():
            for split, metrics in splits.items():
                cells = [cell(metrics.get(m), signed=True) for m in GAP_METRICS]
                lines.append(f"| {label} | {split} | " + " | ".join(cells) + " |")
    if results["task"] == "singing":
        lines += ["", "Paper, Table 2 (singing; quoted for reference, not measured here):", "",
                  "| system | " + " | ".join(COLUMNS) + " |", "|---|" + "---|" * len(COLUMNS)]
        for label, values in PAPER_SINGING.items():
            lines.append(f"| {label} | " + " | ".join("-" if v is None else f"{v:.3f}" for v in values) + " |")
    return "\n".join(lines) + "\n"


def cell(value, signed: bool = False) -> str:
    """A ``(mean, 95% half-width)`` pair as ``"0.323 ± 0.025"``: ``"-"`` without a mean, the mean alone
    without a half-width (``None``/NaN, as read back from results.json)."""
    if value is None:
        return "-"
    mean, half = value
    if mean is None or mean != mean:
        return "-"
    text = f"{mean:+.3f}" if signed else f"{mean:.3f}"
    # No half-width (NaN, or null in a merged results.json): one example.
    return text if half is None or half != half else f"{text} ± {half:.3f}"
