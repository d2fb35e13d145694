"""Can the parameter stage read parameters it is given? The autoencoder sanity check on tokens alone.

The autoencoder (Table 2, ➀) reads the true graph, parameters included, through a graph encoder;
its decoder must then estimate those parameters back. This script measures how fast that happens,
without audio: prototypes from the synthesizer get every normalized parameter drawn uniformly (so
predicting 0.5 scores an L1 of about 0.25), the ``cpu``-size tokengt decoder and graph encoder are
trained on fresh graphs every step, and the parameter L1 on 64 other graphs is printed every 100 steps.

Variants (``--variant``):

* ``node_latents``: as in ``graphfx bench`` (pooled latents for the prototype stage, and the graph
  encoder's output at each node's token for that node's parameters);
* ``bottleneck``: the paper's, the pooled latents only (as in ``graphfx bench`` before 2026-12-03);
* ``per_token``: no bottleneck, the graph encoder's per-token outputs are the latents;
* ``plumbing``: the true parameters are added to the decoder's own token embeddings (checks that the
  head, loss and masks learn at all).

    python benchmarks/autoencoder_params.py --variant node_latents --steps 300
    python benchmarks/autoencoder_params.py --variant bottleneck --steps 600
    python benchmarks/autoencoder_params.py --variant per_token --params-only --lr 3e-4
"""
import argparse
import random
import time

import torch
from torch import nn

from graphfx import catalog
from graphfx.estimator import BlindEstimator, estimator_config
from graphfx.presets import PRESETS
from graphfx.synth.prototype import PrototypeConfig, sample_prototype
from graphfx.tokens import NODE, Tokens, graph_to_tokens, pad_tokens


def random_params(seed: int) -> Tokens:
    """A sampled prototype's tokens with uniformly drawn normalized parameters."""
    tokens = graph_to_tokens(sample_prototype(random.Random(seed), PrototypeConfig()))
    draw = torch.rand(tokens.params.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    tokens.params = draw * tokens.param_mask
    return tokens


def parameter_values(tokens: Tokens) -> torch.Tensor:
    """``[B, L, 2P]``: the parameters and their mask, as the graph encoder embeds them."""
    return torch.cat([tokens.params.float() * tokens.param_mask, tokens.param_mask.float()], dim=-1)


class PerTokenGraphEncoder(nn.Module):
    """The graph encoder without its pooling: one latent per token."""

    def __init__(self, encoder):
        super().__init__()
        self.inner = encoder

    def forward(self, tokens: Tokens) -> torch.Tensor:
        e = self.inner
        x = e.embed(tokens) + e.params(parameter_values(tokens))
        return e.norm(e.encoder(x, src_key_padding_mask=tokens.kind == 0))


class WithParameters(nn.Module):
    """The decoder's token embedding plus a projection of the true parameters (the plumbing check)."""

    def __init__(self, embed, d_model: int):
        super().__init__()
        self.inner = embed
        self.params = nn.Linear(2 * catalog.MAX_PARAMS, d_model)

    def forward(self, tokens: Tokens) -> torch.Tensor:
        return self.inner(tokens) + self.params(parameter_values(tokens))


def squared_error(model: BlindEstimator, tokens: Tokens) -> torch.Tensor:
    """Mean squared error of the parameter stage on the node parameters of ``tokens``."""
    predicted, _ = model.decoder.estimate(model.latents(None, None, tokens), tokens)
    mask = tokens.param_mask & (tokens.kind == NODE)[..., None]
    return (predicted - tokens.params.float()).pow(2)[mask].mean()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", choices=["node_latents", "bottleneck", "per_token", "plumbing"],
                        default="node_latents")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--params-only", action="store_true", help="train on the parameter loss alone")
    parser.add_argument("--param-weight", type=float, default=1.0)
    parser.add_argument("--mse", action="store_true", help="train the parameter stage on squared errors (the L1 is "
                                                           "still what is reported)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    config = estimator_config(PRESETS["cpu"], "singing", "tokengt", latent="graph")
    config.decoder_config["param_weight"] = args.param_weight
    config.decoder_config["node_latents"] = args.variant == "node_latents"
    model = BlindEstimator(config)
    if args.variant == "per_token":
        model.encoder = PerTokenGraphEncoder(model.encoder)
    elif args.variant == "plumbing":
        model.decoder.backbone.embed = WithParameters(model.decoder.backbone.embed, model.decoder.config.d_model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    validation = pad_tokens([random_params(10 ** 6 + i) for i in range(64)])
    started = time.time()
    print("step  train L1  validation L1  seconds")
    for step in range(1, args.steps + 1):
        batch = pad_tokens([random_params(step * 1000 + i) for i in range(args.batch_size)])
        model.train()
        losses = model(None, batch)
        objective = losses["params"] if args.params_only else losses["loss"]
        if args.mse:
            objective = objective - losses["params"] + squared_error(model, batch)
        optimizer.zero_grad()
        objective.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if step % 100 == 0 or step == args.steps:
            model.eval()
            with torch.no_grad():
                val = model(None, validation)["params"].item()
            print(f"{step:5d}  {losses['params'].item():.4f}    {val:.4f}         {time.time() - started:.0f}")


if __name__ == "__main__":
    main()
