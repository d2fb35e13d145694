"""Estimating the graph behind a recording: the command ``graphfx estimate`` and :func:`estimate`.

:func:`estimate` goes beyond the single greedy guess of Lee et al. (ICASSP 2023)
<https://arxiv.org/abs/2303.08257>, along the lines of its future work:

1. **Encoding.** The recording is encoded in windows of :data:`WINDOW_SECONDS`
   chosen where it is active (at most :data:`MAX_WINDOWS`, the loudest); their
   latents are averaged, as the processing is assumed to be the same throughout.
2. **Hypothesis search.** The greedy prototype and ``candidates - 1`` samples
   at :data:`TEMPERATURE` (all valid: decoding is constrained), each with the
   parameters and edge gains of the parameter stage, ranked by *consensus*: a
   candidate's mean node-type IOU with all the decodings drawn (minimum Bayes
   risk decoding: it picks the structure the model's distribution agrees on,
   which beats the greedy decoding on IOU). With a dry signal, each candidate's
   rendering of the loudest :data:`CLIP_SECONDS` is also scored by the
   multi-scale spectral (MSS) loss against the reference, for the report and
   the refinement (measured: ranking by MSS picks what sounds closest with the
   network's parameters, and loses IOU; benchmarks/README.md).
3. **Test-time refinement** (with a dry signal, :func:`refine`): the normalized
   parameters and edge gains of candidates are optimized through the
   differentiable renderer, as one batch (Adam on the MSS loss, a sigmoid keeps
   them in range, a small pull toward the network's estimate). A short
   screening first refines :data:`SCREENED` starts (the search's choice and
   the candidates that sound closest) for :data:`SCREEN_STEPS` steps, which
   tells the structures that fit once their parameters move from those that
   only sounded close; the :data:`REFINED` best are refined, from where they
   started, for the remaining steps, and the one that ends closest to the
   reference is the result (its structure may differ from the search's: the
   report lists both).

:func:`estimate_recording` is the plain greedy estimate of a file, read window
by window so that memory does not grow with its length: consecutive windows
(the last one ending with the recording), or :data:`MAX_WINDOWS` of them
spread evenly over a very long one; silent windows are skipped.
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
import types
from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple

import torch
from torch import Tensor

from graphfx.audio import audio_info, load_audio, resample, save_audio
from graphfx.errors import AudioError, GraphFXError
from graphfx.files import atomic_path
from graphfx.graph import HETERO_EDGE, HETERO_NODE, AudioGraph, Edge, Node, round_param
from graphfx.losses import mss_between, mss_loss, spectra

#: Length of the windows a long recording is analysed in: the paper's clips (and longer than any preset's).
WINDOW_SECONDS = 160000 / 44100
#: Most windows analysed; a longer recording is sampled by this many windows spread evenly over it.
MAX_WINDOWS = 64
#: Length of the excerpt (the loudest) on which candidates are rendered, compared and refined.
CLIP_SECONDS = 2.0
#: Candidates listed in the report.
LISTED = 5
#: Sampling temperature of the search's candidates: below 1 they keep nearer the likely decodings, whose
#: consensus picks better structures (measured on the seen split: benchmarks/README.md).
TEMPERATURE = 0.5
#: Decodings drawn by the search (the greedy one and ``CANDIDATES - 1`` samples): the consensus is a
#: minimum-Bayes-risk choice whose estimate of the risk sharpens with more samples (measured, 16 -> 64: IOU
#: +0.019 +- 0.016 on seen clips, +0.011 +- 0.015 on unseen ones; benchmarks/README.md).
CANDIDATES = 64
#: Refinement starts screened (with a dry signal): the search's choice and the candidates with the lowest MSS.
SCREENED = 8
#: Steps of the screening: every start is refined this long, and the :data:`REFINED` that end lowest are then
#: refined, from where they started, for the rest of the steps (measured on 32 seen clips, against refining the
#: search's choice and the lowest-MSS candidate for all the steps: MSS-full / greedy's 0.388 vs 0.410, paired
#: -0.022 +- 0.017, 1.75x the time; benchmarks/README.md).
SCREEN_STEPS = 30
#: Starts kept after the screening.
REFINED = 2
#: A recording whose peak is below this (-100 dBFS) is silent.
SILENCE = 1e-5


@dataclass
class Estimate:
    """An estimated graph and what it was estimated from."""

    graph: AudioGraph
    seconds: float         # length of the recording
    windows: int           # windows analysed (1: the whole recording at once)
    window_seconds: float  # length of a window


def window_starts(frames: int, window: int, most: int = MAX_WINDOWS) -> List[int]:
    """First frames of the windows of ``window`` frames that cover ``frames``: consecutive, the last one
    ending with the recording; ``most`` of them spread evenly when more would be needed."""
    if frames <= window:
        return [0]
    last = frames - window
    count = math.ceil(frames / window)
    if count <= most:
        return [min(k * window, last) for k in range(count)]
    return [round(k * last / (most - 1)) for k in range(most)]


def check_model(model, dry_file: Optional[str]) -> None:
    """Raises a one-line error when the model cannot estimate from a recording (and ``dry_file``)."""
    if model.config.latent == "graph":
        raise GraphFXError("this checkpoint is the autoencoder sanity check: it reads graphs, not audio")
    if model.config.condition_on_source:
        if model.config.encoder["in_channels"] != 3:
            raise GraphFXError("this model takes one dry file per drum track, which estimate does not read yet")
        if dry_file is None:
            raise AudioError("this model was trained with the dry source: give it with --dry FILE")


def estimate_recording(model, audio_file: str, dry_file: Optional[str] = None, *, constrained: bool = True,
                       window_seconds: float = WINDOW_SECONDS, max_windows: int = MAX_WINDOWS) -> Estimate:
    """Estimates the graph that made ``audio_file`` (and, for a source-conditioned model, ``dry_file``).

    Args:
        model: a :class:`~graphfx.estimator.BlindEstimator` (:func:`~graphfx.estimator.load_estimator`).
        audio_file: the processed recording, any length, mono or stereo, any sample rate.
        dry_file: its dry source, for a model trained with ``condition_on_source``.
        constrained: decode only valid graphs.
        window_seconds, max_windows: how a long recording is analysed (see the module docs).
    """
    check_model(model, dry_file)
    rate = model.config.encoder["sample_rate"]
    info = audio_info(audio_file)
    seconds = info.frames / info.sample_rate
    window = math.ceil(window_seconds * info.sample_rate)  # in frames of the file
    if info.frames <= window:  # the whole recording at once
        reference, dry = _read(model, audio_file, dry_file, rate)
        if reference is None:
            raise AudioError(f"{audio_file} is silent: there is no processing to estimate")
        graph = model.estimate(reference, dry, constrained=constrained, sample_rate=rate)[0]
        return Estimate(graph, seconds, 1, seconds)
    if dry_file is not None and model.config.condition_on_source:
        dry_info = audio_info(dry_file)
        if abs(dry_info.frames / dry_info.sample_rate - seconds) * rate >= 1:
            raise AudioError(f"the dry recording lasts {dry_info.frames / dry_info.sample_rate:.3f} s, the reference "
                             f"{seconds:.3f} s: they must be the same clip")
    starts = window_starts(info.frames, window, max_windows)
    latents = []
    with torch.no_grad():
        for start in starts:
            reference, dry = _read(model, audio_file, dry_file, rate, (start, window))
            if reference is not None:
                latents.append(model.latents(reference, dry))
    if not latents:
        raise AudioError(f"{audio_file} is silent: there is no processing to estimate")
    graph = model.decoder.generate(torch.stack(latents).mean(0), constrained=constrained, sample_rate=rate)[0]
    return Estimate(graph, seconds, len(starts), window / info.sample_rate)


def _read(model, audio_file: str, dry_file: Optional[str], rate: int, excerpt: Optional[tuple] = None):
    """The reference ``[1, 2, T]`` (``None`` if silent) and the dry source ``[1, 1, T]`` (or ``None``) at
    ``rate``, of the whole files or of ``excerpt``: ``(start, frames)`` in frames of ``audio_file``."""
    start, frames = excerpt or (0, None)
    reference, _ = load_audio(audio_file, rate, start=start, frames=frames)
    if not reference.abs().max() > 0:
        return None, None
    reference = reference.expand(2, -1)[None]  # mono -> stereo, [1, 2, T]
    if not model.config.condition_on_source:
        return reference, None
    if excerpt is not None:  # the same excerpt of the dry file, at its own rate
        scale = audio_info(dry_file).sample_rate / audio_info(audio_file).sample_rate
        start, frames = round(start * scale), math.ceil(frames * scale)
    dry, _ = load_audio(dry_file, rate, start=start, frames=frames)
    dry = dry.mean(0, keepdim=True)[None]
    if excerpt is not None:  # the two rates may round to a sample more or less
        length = min(dry.shape[-1], reference.shape[-1])
        reference, dry = reference[..., :length], dry[..., :length]
    elif dry.shape[-1] != reference.shape[-1]:
        raise AudioError(f"the dry recording has {dry.shape[-1]} samples at {rate} Hz, the reference "
                         f"{reference.shape[-1]}: they must be the same clip")
    return reference, dry


# --- search, refinement and the report (graphfx.estimate) -------------------------------------------------------------

Progress = Callable[[int, int, float], None]


@dataclass
class Candidate:
    """A hypothesis of the search: a graph, where it came from (``"greedy"``, ``"sample k"``), how many of the
    decodings drawn gave it, and its scores."""

    graph: AudioGraph
    source: str
    log_likelihood: Optional[float] = None
    mss: Optional[float] = None
    votes: int = 1
    consensus: Optional[float] = None  # mean node-type IOU with every decoding drawn

    def to_dict(self) -> dict:
        return {"source": self.source, "votes": self.votes, "consensus": _round(self.consensus),
                "log_likelihood": _round(self.log_likelihood), "mss": _round(self.mss),
                "nodes": [n.type for n in self.graph.nodes if not n.spec.terminal], "edges": len(self.graph.edges)}


def estimate(audio: Tensor, sample_rate: int, dry: Optional[Tensor] = None, *, task: str = "singing",
             checkpoint=None, candidates: int = CANDIDATES, refine: int = 150, seed: int = 0,
             clip_seconds: float = CLIP_SECONDS, match_level: bool = False, progress: Optional[Progress] = None,
             out: Optional[str] = None) -> Tuple[AudioGraph, dict]:
    """Estimates the graph that made ``audio``, with hypothesis search and, given the dry signal, test-time
    refinement through the differentiable renderer (see the module docs).

    Args:
        audio: the processed recording ``[C, T]`` or ``[1, C, T]`` (mono or stereo, any length).
        sample_rate: of ``audio`` and ``dry`` (resampled to the model's rate).
        dry: the dry signal of the same clip, ``[C, T]`` or ``[1, C, T]``; candidates are then scored by
            how close they render it to ``audio``, and the chosen one refined.
        task: ``"singing"`` or ``"drums"``: chooses the shipped model (:mod:`graphfx.pretrained`) and must
            match the model's.
        checkpoint: a checkpoint file or a loaded :class:`~graphfx.estimator.BlindEstimator` (default: the
            shipped model of ``task``).
        candidates: hypotheses considered: the greedy decoding and ``candidates - 1`` samples.
        refine: Adam steps of the refinement (with ``dry``; 0: none).
        seed: of the sampled candidates.
        clip_seconds: length of the loudest excerpt that candidates are rendered and refined on.
        match_level: compare renderings with ``audio`` at equal energy (for a recording whose level was
            changed after processing, e.g. normalized); by default the dry signal and the recording are taken
            at their true relative level, as graphfx renders them.
        progress: called as ``progress(step, steps, mss)`` after each refinement step.
        out: also write the results to this folder (:func:`write_folder`).

    Returns:
        The estimated :class:`~graphfx.graph.AudioGraph` and the report (plain data, as in ``report.json``).
    """
    started = time.perf_counter()
    if candidates < 1 or refine < 0:
        raise GraphFXError("candidates must be at least 1 and refine at least 0")
    model, source = _load_model(checkpoint, task)
    check_model(model, None if dry is None else "dry")
    if dry is not None and task == "drums":
        raise AudioError("a drum graph takes one dry signal per track, which estimate does not read yet; "
                         "estimate drums without the dry signal")
    rate = model.config.encoder["sample_rate"]
    reference = _prepare(audio, sample_rate, rate, "the recording").expand(2, -1)  # [2, T]
    if dry is not None:
        dry = _prepare(dry, sample_rate, rate, "the dry signal")
        if abs(dry.shape[-1] - reference.shape[-1]) > max(1, rate // 1000):  # resampling may round
            raise AudioError(f"the dry signal lasts {dry.shape[-1] / rate:.3f} s, the recording "
                             f"{reference.shape[-1] / rate:.3f} s: they must be the same clip")
        length = min(dry.shape[-1], reference.shape[-1])
        reference, dry = reference[:, :length], dry[:, :length]
    seconds = {}
    latents, starts, window = encode(model, reference, dry)
    seconds["encode"] = time.perf_counter() - started

    tick = time.perf_counter()
    found = search(model, latents, candidates, seed)
    clip = None
    if dry is not None:  # how close each candidate renders the dry clip to the reference
        frames = min(reference.shape[-1], math.ceil(clip_seconds * rate))
        first = loudest_start(reference, frames)
        clip = (first, frames)
        ref_clip, dry_clip = reference[None, :, first:first + frames], dry[None, :, first:first + frames]
        losses = clip_loss([c.graph for c in found], dry_clip, ref_clip, rate, match_level)
        for c, loss in zip(found, losses.tolist()):
            c.mss = loss
    ranked = sorted(found, key=rank_key)
    seconds["search"] = time.perf_counter() - tick
    best = ranked[0]
    stages = {"greedy": {"mss": _round(found[0].mss), "log_likelihood": _round(found[0].log_likelihood)},
              "search": {"chosen": best.source, "mss": _round(best.mss), "log_likelihood": _round(best.log_likelihood)}}
    graph = best.graph
    if dry is not None and refine > 0:
        tick = time.perf_counter()
        origins = [best] + [c for c in sorted(found, key=lambda c: c.mss) if c is not best][:SCREENED - 1]
        screening = min(SCREEN_STEPS, refine // 2) if len(origins) > REFINED else 0
        screened, curve = {"starts": [c.source for c in origins], "steps": screening}, []
        if screening:
            _, screen = _refine([c.graph for c in origins], dry_clip, ref_clip, rate, steps=screening,
                                match_level=match_level, progress=_offset(progress, 0, refine))
            kept = sorted(range(len(origins)), key=lambda k: screen["starts"][k]["after"])[:REFINED]
            origins = [origins[k] for k in kept]
            screened["after"] = [start["after"] for start in screen["starts"]]
            curve = screen["curve"]
        graph, stages["refine"] = _refine([c.graph for c in origins], dry_clip, ref_clip, rate,
                                          steps=refine - screening, match_level=match_level,
                                          progress=_offset(progress, screening, refine))
        stages["refine"]["chosen"] = origins[stages["refine"]["chosen"]].source
        # Loss before: the search's choice's, whichever starts were kept; steps and curve: both stages.
        stages["refine"].update(before=_round(best.mss), steps=refine, curve=curve + stages["refine"]["curve"],
                                screened=screened)
        seconds["refine"] = time.perf_counter() - tick
    else:
        stages["refine"] = {"skipped": "no dry signal" if dry is None else "refine is 0"}
    seconds["total"] = time.perf_counter() - started
    report = {
        "format": "graphfx.estimate-report", "version": 1,
        "model": {**source, "decoder": model.config.decoder, "task": task, "sample_rate": rate},
        "input": {"seconds": _round(reference.shape[-1] / rate), "sample_rate": sample_rate,
                  "channels": int(_as_clip(audio).shape[0]), "dry": dry is not None,
                  "windows": [_round(s / rate) for s in starts], "window_seconds": _round(window / rate),
                  "clip": None if clip is None else {"start": _round(clip[0] / rate), "seconds": _round(clip[1] / rate),
                                                     "levels": "matched" if match_level else "as given"}},
        "candidates": {"considered": candidates, "distinct": len(found), "temperature": TEMPERATURE,
                       "ranked_by": "consensus, then log_likelihood" if len(found) > 1 else "none (greedy only)",
                       "top": [c.to_dict() for c in ranked[:LISTED if dry is None else len(ranked)]]},
        "stages": stages,
        "seconds": {k: _round(v) for k, v in seconds.items()},
    }
    if out is not None:
        write_folder(out, graph, report, reference, rate, dry)
    return graph, report


def encode(model, reference: Tensor, dry: Optional[Tensor] = None) -> Tuple[Tensor, List[int], int]:
    """The latents ``[1, Q, D]`` of a reference ``[2, T]`` at the model's rate (and its dry signal ``[C, T]``
    for a source-conditioned model), with the first samples of the windows encoded and their length.

    A reference no longer than :data:`WINDOW_SECONDS` is encoded whole. A longer one is cut into consecutive
    windows; those within 40 dB of the loudest are encoded (the :data:`MAX_WINDOWS` loudest, at most) and
    their latents averaged.
    """
    length = reference.shape[-1]
    window = min(length, math.ceil(WINDOW_SECONDS * model.config.encoder["sample_rate"]))
    starts = window_starts(length, window, most=length)
    levels = [float(reference[:, s:s + window].square().mean()) for s in starts]
    loudest = sorted(zip(levels, starts), reverse=True)[:MAX_WINDOWS]
    active = sorted(s for level, s in loudest if level > 1e-4 * loudest[0][0])
    latents = []
    with torch.no_grad():
        for s in active:
            x = reference[None, :, s:s + window]
            d = dry[None, :, s:s + window].mean(1, keepdim=True) if model.config.condition_on_source else None
            latents.append(model.latents(x, d))
    return torch.stack(latents).mean(0), active, window


def search(model, latents: Tensor, count: int, seed: int = 0, temperature: float = TEMPERATURE) -> List[Candidate]:
    """The greedy decoding and ``count - 1`` sampled ones at ``temperature`` (one seeded generator), duplicates
    merged into votes; each scored by its consensus (mean node-type IOU with every decoding drawn, votes
    counted) and by the model's log-likelihood where its decoder has one (:meth:`TokenGTDecoder.log_likelihood`).
    Decoders that decode greedily only give the greedy candidate."""
    from graphfx.metrics import consensus
    from graphfx.tokens import graph_to_tokens, pad_tokens

    decoder, rate = model.decoder, model.config.encoder["sample_rate"]
    graphs = decoder.generate(latents, sample_rate=rate)
    sources = ["greedy"]
    if count > 1 and getattr(decoder, "token_by_token", False):
        generator = torch.Generator().manual_seed(seed)
        graphs += decoder.generate(latents.expand(count - 1, -1, -1), sample_rate=rate, generator=generator,
                                   temperature=temperature)
        sources += [f"sample {k}" for k in range(1, count)]
    found = {}
    for graph, source in zip(graphs, sources):
        key = graph.to_json(indent=None)
        if key in found:
            found[key].votes += 1
        else:
            found[key] = Candidate(graph, source)
    found = list(found.values())
    for c, score in zip(found, consensus([c.graph for c in found], [c.votes for c in found])):
        c.consensus = score
    if getattr(decoder, "token_by_token", False) and hasattr(decoder, "log_likelihood"):
        tokens = pad_tokens([graph_to_tokens(c.graph) for c in found])
        scores = decoder.log_likelihood(latents.expand(len(found), -1, -1), tokens)
        for c, score in zip(found, scores.tolist()):
            c.log_likelihood = score
    return found


def rank_key(candidate: Candidate) -> tuple:
    """Sorts candidates best first: highest consensus, then highest log-likelihood (the greedy one first among
    equals: ``sorted`` is stable)."""
    return (-candidate.consensus, -(candidate.log_likelihood if candidate.log_likelihood is not None else 0.0))


def clip_loss(graphs: List[AudioGraph], dry: Tensor, reference: Tensor, sample_rate: int,
              match_level: bool = False) -> Tensor:
    """MSS loss ``[len(graphs)]`` of each graph rendering ``dry`` ``[1, C, T]``, against ``reference``
    ``[1, 2, T]`` (levels matched with ``match_level``; fast renderer)."""
    from graphfx.renderer import render

    with torch.no_grad():
        wet = render(graphs, dry.expand(len(graphs), -1, -1), sample_rate=sample_rate)
        return spectral_distance(wet, reference.expand(len(graphs), -1, -1), match_level)


def spectral_distance(wet: Tensor, reference: Tensor, match_level: bool = False) -> Tensor:
    """MSS loss ``[B]`` of ``wet`` against ``reference`` (both ``[B, 2, T]``), with ``match_level`` after
    scaling ``wet`` to the reference's energy (:func:`leveled`)."""
    return mss_loss(leveled(wet, reference) if match_level else wet, reference)


def leveled(wet: Tensor, reference: Tensor) -> Tensor:
    """``wet`` ``[B, 2, T]`` scaled to the energy of ``reference``: the level of a recording says nothing of its
    processing."""
    energy = reference.square().mean(dim=(1, 2), keepdim=True)
    return wet * torch.sqrt((energy + 1e-12) / (wet.square().mean(dim=(1, 2), keepdim=True) + 1e-12))


def refine(graphs, dry: Tensor, reference: Tensor, sample_rate: int, *, steps: int = 100,
           lr: float = 0.05, pull: float = 0.1, match_level: bool = False,
           progress: Optional[Progress] = None) -> Tuple[AudioGraph, dict]:
    """Test-time refinement of the parameters and edge gains of one graph, or of several starting graphs at once,
    against a reference; the best result is kept.

    The normalized parameters ``u`` and the edge gains ``g`` are reparametrized as ``u = sigmoid(a)``,
    ``g = GAIN_MAX * sigmoid(b)`` (so they stay in range) and ``a, b`` optimized with Adam on the
    MSS loss of the differentiable renderer (as :func:`spectral_distance`; levels matched with ``match_level``:
    measured, optimizing the matched loss leaves the level free and doubles the loss at the true level),
    plus ``pull`` times the mean squared distance of ``u`` and ``g / GAIN_MAX`` to where they started.
    Several graphs are rendered as one batch, each with its own loss.

    Args:
        graphs: the starting graph (the network's estimate), or a list of them.
        dry: ``[1, C, T]`` dry audio; reference: ``[1, 2, T]`` the recording, both at ``sample_rate``.
        steps, lr, pull: of the optimization.
        match_level: compare at equal energy (see :func:`estimate`).
        progress: called as ``progress(step, steps, mss)`` after each step (the lowest loss of the batch).

    Returns:
        The refined graph with the lowest loss (measured with the exact, fast renderer; a starting graph
        when refinement did not improve on it) and a report: ``before`` (of the first starting graph),
        ``after``, ``chosen`` (index of the starting graph it came from), ``starts`` (each one's loss
        before and after) and the lowest loss at each step (``curve``, differentiable renderer).
    """
    from torch_geometric.data import Batch

    from graphfx.renderer import render
    from graphfx.tokens import GAIN_MAX

    graphs = [graphs] if isinstance(graphs, AudioGraph) else list(graphs)
    count = len(graphs)
    data = Batch.from_data_list([g.to_hetero() for g in graphs])
    node_of = data[HETERO_NODE].batch
    edge_of = node_of[data[HETERO_EDGE].edge_index[0]]  # the graph of each edge's source
    dry, reference = dry.expand(count, -1, -1), reference.expand(count, -1, -1)
    mask = data[HETERO_NODE].param_mask
    u0 = data[HETERO_NODE].params.float().clamp(0, 1)
    g0 = (data[HETERO_EDGE].gain.float() / GAIN_MAX).clamp(0, 1)
    a = torch.logit(u0.clamp(1e-3, 1 - 1e-3)).requires_grad_(True)
    b = torch.logit(g0.clamp(1e-3, 1 - 1e-3)).requires_grad_(True)
    optimizer = torch.optim.Adam([a, b], lr=lr)
    target = spectra(reference[:1])  # the reference's side of the loss, computed once
    best = [(math.inf, None, None)] * count
    curve = []
    for step in range(steps):
        u, g = torch.where(mask, torch.sigmoid(a), torch.zeros_like(a)), torch.sigmoid(b)
        data[HETERO_NODE].params, data[HETERO_EDGE].gain = u, GAIN_MAX * g
        wet = render(data, dry, sample_rate=sample_rate, grad=True)
        mss = mss_between(spectra(leveled(wet, reference) if match_level else wet), target)
        # The pull, per graph: mean squared distance over its parameters and gains.
        moved = (u - u0).square() * mask
        distance = (torch.zeros(count).index_add(0, node_of, moved.sum(1))
                    / torch.zeros(count).index_add(0, node_of, mask.sum(1).float()).clamp(min=1))
        if g.numel():
            distance = distance + (torch.zeros(count).index_add(0, edge_of, (g - g0).square())
                                   / torch.bincount(edge_of, minlength=count).clamp(min=1))
        values = mss.detach().tolist()
        for k, value in enumerate(values):
            if value < best[k][0]:
                best[k] = (value, u.detach()[node_of == k].clone(), GAIN_MAX * g.detach()[edge_of == k].clone())
        optimizer.zero_grad()
        (mss + pull * distance).sum().backward()
        optimizer.step()
        curve.append(min(values))
        if progress is not None:
            progress(step + 1, steps, min(values))
    refined = [g if p is None else with_values(g, p, gains) for g, (_, p, gains) in zip(graphs, best)]
    losses = clip_loss(graphs + refined, dry[:1], reference[:1], sample_rate, match_level).tolist()
    starts = []
    for k in range(count):  # keep a starting graph where refinement did not improve it
        before, after = losses[k], losses[count + k]
        if after > before:
            refined[k], after = graphs[k], before
        starts.append({"before": _round(before), "after": _round(after)})
    chosen = min(range(count), key=lambda k: starts[k]["after"])
    return refined[chosen], {"steps": steps, "before": starts[0]["before"], "after": starts[chosen]["after"],
                             "chosen": chosen, "starts": starts, "curve": [_round(x) for x in curve]}


_refine = refine  # estimate() calls it under this name: its own argument ``refine`` hides the function


def _offset(progress: Optional[Progress], done: int, total: int) -> Optional[Progress]:
    """``progress`` for one stage of a refinement of ``total`` steps whose first ``done`` are behind it."""
    return None if progress is None else lambda step, steps, mss: progress(done + step, total, mss)


def with_values(graph: AudioGraph, params: Tensor, gains: Tensor) -> AudioGraph:
    """``graph`` with normalized parameters ``[N, MAX_PARAMS]`` (rows in node order) and edge gains ``[E]``."""
    nodes = [Node(n.id, n.type, {p.name: round_param(float(p.denormalize(float(params[i, j]))))
                                 for j, p in enumerate(n.spec.params)}, n.track)
             for i, n in enumerate(graph.nodes)]
    edges = [Edge(e.src, e.dst, e.outlet, e.inlet, round(float(gain), 6)) for e, gain in zip(graph.edges, gains)]
    return AudioGraph(nodes, edges, graph.sample_rate)


def loudest_start(audio: Tensor, frames: int) -> int:
    """First sample of the loudest excerpt of ``frames`` samples of ``audio`` ``[C, T]`` (on a grid of
    ``frames / 8``)."""
    if audio.shape[-1] <= frames:
        return 0
    energy = torch.cat([audio.new_zeros(1, dtype=torch.float64), audio.double().square().sum(0).cumsum(0)])
    hop = max(1, frames // 8)
    totals = energy[frames::hop] - energy[:-frames:hop][:len(energy[frames::hop])]
    return int(totals.argmax()) * hop


def write_folder(out: str, graph: AudioGraph, report: dict, reference: Tensor, sample_rate: int,
                 dry: Optional[Tensor] = None) -> List[str]:
    """Writes ``graph.json``, ``graph.png`` and, with the dry signal ``[C, T]``, ``estimate.wav`` (it rendered
    through the graph) and ``reference.wav`` (``[2, T]``, the recording at the model's rate); then
    ``report.json``, which lists them. Returns the file names written."""
    from graphfx.draw import draw
    from graphfx.renderer import render

    os.makedirs(out, exist_ok=True)
    graph.save(os.path.join(out, "graph.json"))
    written = ["graph.json"]
    try:
        draw(graph, os.path.join(out, "graph.png"), title="estimated graph")
        written.append("graph.png")
    except ImportError as err:
        report["picture"] = str(err)
    if dry is not None:
        with torch.no_grad():
            wet = render(graph, dry[None], sample_rate=sample_rate)[0]
        save_audio(os.path.join(out, "estimate.wav"), wet, sample_rate)
        save_audio(os.path.join(out, "reference.wav"), reference, sample_rate)
        written += ["estimate.wav", "reference.wav"]
    report["files"] = written + ["report.json"]
    with atomic_path(os.path.join(out, "report.json"), suffix=".json") as tmp:
        with open(tmp, "w") as f:
            json.dump(report, f, indent=1)
            f.write("\n")
    return report["files"]


def _load_model(checkpoint, task: str):
    """The model and where it came from (``{"checkpoint": path, "shipped": bool}``)."""
    from graphfx.estimator import BlindEstimator, load_estimator
    from graphfx.pretrained import checkpoint_path

    if task not in ("singing", "drums"):
        raise GraphFXError(f"task must be 'singing' or 'drums', got {task!r}")
    if isinstance(checkpoint, BlindEstimator):
        model, source = checkpoint.eval(), {"checkpoint": None, "shipped": False}
    else:
        path = str(checkpoint) if checkpoint is not None else checkpoint_path(task)
        model, source = load_estimator(path), {"checkpoint": path, "shipped": checkpoint is None}
    decodes = model.config.decoder_config.get("task", "auto")
    if decodes not in ("auto", task):
        raise GraphFXError(f"this model estimates {decodes} graphs, not {task} (see --task)")
    return model, source


def _as_clip(audio) -> Tensor:
    audio = torch.as_tensor(audio)
    return audio[0] if audio.dim() == 3 and audio.shape[0] == 1 else audio


def _prepare(audio, sample_rate: int, rate: int, what: str) -> Tensor:
    """``audio`` as float32 ``[C, T]`` at ``rate``, checked: mono or stereo, finite, not silent."""
    x = _as_clip(audio)
    if x.dim() == 1:
        x = x[None]
    if x.dim() != 2 or x.shape[0] not in (1, 2) or x.shape[-1] == 0:
        raise AudioError(f"{what} must be [channels, samples] with 1 or 2 channels, got {list(x.shape)}")
    if not torch.isfinite(x).all():
        raise AudioError(f"{what} contains NaN or Inf samples")
    if not float(x.abs().max()) > SILENCE:
        raise AudioError(f"{what} is silent: there is no processing to estimate")
    return resample(x, sample_rate, rate)


def _round(value, digits: int = 5):
    return None if value is None else round(float(value), digits)


class _CallableModule(types.ModuleType):
    """``graphfx.estimate`` is this module once any code imports it, and :func:`estimate` before: calling the
    module calls the function, so ``graphfx.estimate(...)`` works either way."""

    def __call__(self, *args, **kwargs):
        return estimate(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
