"""The blind estimation system: a reference encoder and a graph decoder, its configuration and checkpoints.

Fig. 3 of Lee et al. (2023): the reference ``y`` is encoded into latents
``z``; a decoder reconstructs the prototype graph from ``z`` token by token,
then estimates its parameters. Options give the paper's Table 2 variants:
``latent="zero"`` is the no-latent lower bound (➁), ``latent="graph"`` the
autoencoding upper bound (➀: a TokenGT graph encoder reads the ground-truth
graph instead of the audio), ``condition_on_source`` feeds the dry source to
the encoder next to the reference (➃).

Inference needs nothing above this module: :func:`load_estimator` rebuilds a
model from a checkpoint written by :mod:`graphfx.train` without importing
training code (or TensorBoard).
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphfx import catalog

from graphfx.decoders import registry
from graphfx.errors import GraphFXError
from graphfx.graph import AudioGraph
from graphfx.models.encoder import EncoderConfig, ReferenceEncoder
from graphfx.models.graph_encoder import GraphEncoder, GraphEncoderConfig
from graphfx.presets import Preset
from graphfx.tokens import NODE, Tokens

#: The ``format`` entry of every checkpoint.
CHECKPOINT_FORMAT = "graphfx.checkpoint"
#: Checkpoints of version 1 predate estimated edge gains, those of version 2 the per-type parameter
#: read-out (:func:`load_estimator` rebuilds them without).
CHECKPOINT_VERSION = 3


class CheckpointError(GraphFXError):
    """A missing, corrupt or incompatible checkpoint."""


@dataclass
class EstimatorConfig:
    """Everything needed to rebuild an estimator (stored in every checkpoint).

    Args:
        decoder: registered decoder name (``graphfx decoders`` lists them).
        decoder_config: overrides of the decoder's ``Config`` fields.
        encoder: the reference encoder's fields (see :class:`EncoderConfig`).
        latent: ``"audio"`` (the reference encoder), ``"zero"`` (latents set to 0) or
            ``"graph"`` (the ground-truth graph, through :class:`GraphEncoder`).
        condition_on_source: also give the encoder the dry source tracks.
        presence_weight: weight of the auxiliary presence loss: a linear head on the mean latent predicts
            which processor types the graph holds (multi-label cross-entropy), a direct training signal for
            the encoder, which otherwise learns only through the decoder attending to its latents. 0: none.
        summary_weight: weight of the auxiliary parameter-summary loss: a linear head on the mean latent
            predicts, for each processor type in the graph, the mean normalized value of each of its parameters
            (L1 on the types present), a direct training signal for what the parameter stage reads. 0: none.
    """

    decoder: str = "tokengt"
    decoder_config: Dict = field(default_factory=dict)
    encoder: Dict = field(default_factory=dict)
    latent: str = "audio"
    condition_on_source: bool = False
    presence_weight: float = 0.0
    summary_weight: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def estimator_config(preset: Preset, task: str, decoder: str, *, sample_rate: Optional[int] = None,
                     tracks: Optional[Sequence[str]] = None, latent: str = "audio",
                     condition_on_source: bool = False) -> EstimatorConfig:
    """The model configuration of a preset for a task, a registered decoder and the data it reads.

    Args:
        preset: names the encoder and decoder sizes (:data:`graphfx.presets.PRESETS`).
        task: ``"singing"`` or ``"drums"``.
        decoder: a registered decoder name.
        sample_rate: of the dataset (default: the preset's). The encoder's STFT stays sized for the preset.
        tracks: the dataset's dry tracks; with ``condition_on_source`` the encoder reads them beside the
            stereo reference.
        latent, condition_on_source: see :class:`EstimatorConfig`.
    """
    encoder = getattr(EncoderConfig, preset.encoder)(task, preset.sample_rate)
    decoder_config = asdict(registry.get(decoder).make_config(preset.decoder))
    decoder_config["d_model"] = encoder.d_model
    if "task" in decoder_config:
        decoder_config["task"] = task
    if "node_latents" in decoder_config:  # the autoencoder hands one latent per node to the parameter stage
        decoder_config["node_latents"] = latent == "graph"
    # The auxiliary losses need audio latents; the learned and autoencoded rows do without them.
    audio = latent == "audio"
    config = EstimatorConfig(decoder, decoder_config, asdict(encoder), latent, condition_on_source,
                             presence_weight=preset.presence_weight if audio else 0.0,
                             summary_weight=preset.summary_weight if audio else 0.0)
    if sample_rate is not None:
        config.encoder["sample_rate"] = sample_rate
    if condition_on_source:
        if tracks is None:
            raise ValueError("condition_on_source needs the dataset's dry tracks")
        config.encoder["in_channels"] = 2 + len(tracks)
    return config


class BlindEstimator(nn.Module):
    """Reference encoder + registered graph decoder."""

    def __init__(self, config: EstimatorConfig):
        super().__init__()
        if config.latent not in ("audio", "zero", "graph"):
            raise ValueError(f"latent must be 'audio', 'zero' or 'graph', got {config.latent!r}")
        self.config = config
        audio = EncoderConfig(**config.encoder)
        # Only the encoder in use is built, so that DDP sees no unused parameters.
        slots = config.decoder_config.get("max_nodes", 0) if config.decoder_config.get("node_latents") else 0
        self.encoder = (GraphEncoder(GraphEncoderConfig(audio.d_model, num_queries=audio.num_latents,
                                                        node_slots=slots))
                        if config.latent == "graph" else ReferenceEncoder(audio))
        self.decoder = registry.create(config.decoder, **config.decoder_config)
        # The auxiliary heads read the mean of audio latents.
        heard = config.latent == "audio"
        self.presence = (nn.Linear(audio.d_model, len(catalog.NODE_TYPES))
                         if config.presence_weight > 0 and heard else None)
        self.summary = (nn.Linear(audio.d_model, len(catalog.NODE_TYPES) * catalog.MAX_PARAMS)
                        if config.summary_weight > 0 and heard else None)

    def encoder_input(self, reference: Tensor, dry: Optional[Tensor] = None) -> Tensor:
        """What the encoder sees: the reference, with the dry tracks stacked on the channel axis for ➃."""
        return torch.cat([reference, dry], dim=1) if self.config.condition_on_source else reference

    def latents(self, reference: Tensor, dry: Optional[Tensor] = None, tokens: Optional[Tokens] = None) -> Tensor:
        """``[B, 2, T]`` reference (and ``[B, K, T]`` dry tracks; the true ``tokens`` for ➀) -> ``[B, Q, D]``."""
        if self.config.latent == "graph":
            if tokens is None:
                raise ValueError("the autoencoder needs the ground-truth graph tokens")
            return self.encoder(tokens)
        z = self.encoder(self.encoder_input(reference, dry))
        return torch.zeros_like(z) if self.config.latent == "zero" else z

    def forward(self, reference: Tensor, tokens: Tokens, dry: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """Teacher-forced losses of both stages (and the presence loss) for a batch (``forward`` so that DDP
        syncs gradients)."""
        latents = self.latents(reference, dry, tokens)
        losses = self.decoder.loss(latents, tokens)
        pooled = latents.mean(1)                                                  # (B, D)
        if self.presence is not None:
            logits = self.presence(pooled)                                         # (B, num_types)
            losses["presence"] = F.binary_cross_entropy_with_logits(logits, presence_targets(tokens, logits))
            losses["loss"] = losses["loss"] + self.config.presence_weight * losses["presence"]
        if self.summary is not None:
            pred = torch.sigmoid(self.summary(pooled)).view(len(latents), len(catalog.NODE_TYPES), -1)
            target, known = summary_targets(tokens, pred)
            losses["summary"] = (pred - target).abs()[known].mean() if known.any() else pred.sum() * 0
            losses["loss"] = losses["loss"] + self.config.summary_weight * losses["summary"]
        return losses

    loss = forward

    @torch.no_grad()
    def estimate(self, reference: Tensor, dry: Optional[Tensor] = None, *, tokens: Optional[Tokens] = None,
                 constrained: bool = True, sample_rate: int = 44100, max_tokens: int = 256) -> List[AudioGraph]:
        """Decodes one graph (with parameters) per reference."""
        return self.decoder.generate(self.latents(reference, dry, tokens), constrained=constrained,
                                     sample_rate=sample_rate, max_tokens=max_tokens)


def presence_targets(tokens: Tokens, like: Tensor) -> Tensor:
    """``[B, num_types]``: 1 where a node of that type is in the graph (``like``: dtype and device)."""
    tokens = tokens.to(like.device)
    nodes = tokens.kind == NODE
    target = torch.zeros_like(like)
    rows = torch.arange(len(target), device=like.device)[:, None].expand_as(nodes)
    target[rows[nodes], tokens.proc_type[nodes]] = 1.0
    return target


def summary_targets(tokens: Tokens, like: Tensor) -> Tuple[Tensor, Tensor]:
    """``[B, num_types, MAX_PARAMS]`` mean normalized parameter of each type's nodes, and where it is defined
    (a node of that type with that parameter is in the graph)."""
    tokens = tokens.to(like.device)
    nodes = (tokens.kind == NODE)[..., None]
    kinds = F.one_hot(tokens.proc_type.clamp(0, len(catalog.NODE_TYPES) - 1), len(catalog.NODE_TYPES))
    kinds = (kinds * nodes).to(like.dtype)                                              # (B, L, num_types)
    mask = (tokens.param_mask & nodes).to(like.dtype)                                   # (B, L, P)
    counts = torch.einsum("blt,blp->btp", kinds, mask)
    sums = torch.einsum("blt,blp->btp", kinds, tokens.params.to(like.dtype) * mask)
    return sums / counts.clamp(min=1), counts > 0


def load_checkpoint(path: str) -> dict:
    """Reads a checkpoint without executing code (``weights_only=True``)."""
    if not os.path.isfile(path):
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a damaged file
        # torch's weights-only refusal opens with advice to load unsafely; say what the file is instead.
        reason = ("damaged, or not a checkpoint saved by graphfx" if "weights only" in str(err).lower()
                  else str(err).splitlines()[0])
        raise CheckpointError(f"cannot read checkpoint {path}: {reason}") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a graphfx checkpoint")
    return state


def load_estimator(path: str) -> BlindEstimator:
    """Rebuilds the model a checkpoint describes and loads its weights (in eval mode)."""
    state = load_checkpoint(path)
    try:
        config = EstimatorConfig(**state["model_config"])
        if state.get("version", 1) < 2 and "estimate_gains" in _config_fields(config.decoder):
            config.decoder_config.setdefault("estimate_gains", False)  # saved before the gain head existed
        if state.get("version", 1) < 3 and "typed_params" in _config_fields(config.decoder):
            config.decoder_config.setdefault("typed_params", False)
        model = BlindEstimator(config)
        model.load_state_dict(state["model"])
    except (TypeError, KeyError, RuntimeError, GraphFXError) as err:
        raise CheckpointError(f"checkpoint {path} does not match this graphfx: {str(err).splitlines()[0]}") from None
    return model.eval()


def _config_fields(decoder: str) -> set:
    config = registry.get(decoder).Config
    return {f.name for f in fields(config)} if config is not None else set()
