"""Can the reference encoder hear which processors made a clip? A probe, without the graph decoder.

Trains the preset's reference encoder with one linear layer on top to predict
the set of processor types in each training graph (multi-label, binary
cross-entropy), and reports the loss on the unseen set against two
references: the prior (each type's frequency, no audio) and a small MLP on
time-pooled log-Mel statistics (mean, spread, side level, frame-to-frame
change per band). If the encoder stays at the prior while the MLP does not,
the information is in the audio and the encoder is not learning it: this is
how the initialization bug behind ``benchmarks/results/bench_cpu_singing_default_init.json``
was found.

    python benchmarks/encoder_probe.py bench-cpu/data-singing-cpu --steps 600
    python benchmarks/encoder_probe.py bench-cpu/data-singing-cpu --steps 600 --default-init
"""
import argparse
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

from graphfx import catalog
from graphfx.datasets import GraphFXDataset
from graphfx.errors import GraphFXError
from graphfx.datasets import Tokenize
from graphfx.models.encoder import LOG_CENTER, EncoderConfig, ReferenceEncoder
from graphfx.train import collate


def types_present(graphs) -> torch.Tensor:
    """Multi-hot ``[B, num_types]`` of the processor types in each graph."""
    y = torch.zeros(len(graphs), len(catalog.NODE_TYPES))
    for i, graph in enumerate(graphs):
        for node in graph.nodes:
            y[i, catalog.NODE_TYPES.index(node.type)] = 1
    return y


def pooled_features(encoder: ReferenceEncoder, reference: torch.Tensor) -> torch.Tensor:
    """Time-pooled log-Mel statistics of ``[B, 2, T]``: the MLP baseline's input."""
    with torch.no_grad():
        mel = (encoder.mel(reference) + LOG_CENTER) / LOG_CENTER  # (B, 2, M, N)
    mid, side = mel.mean(1), (mel[:, 0] - mel[:, 1]).abs()
    change = (mid[..., 1:] - mid[..., :-1]).abs()
    return torch.cat([mid.mean(-1), mid.std(-1), side.mean(-1), change.mean(-1)], dim=1)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", help="a graphfx dataset (e.g. the cpu preset's, made by graphfx bench)")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--encoder", default="small", choices=["tiny", "small", "paper"])
    parser.add_argument("--default-init", action="store_true",
                        help="PyTorch's default convolution init (what graphfx used before the fix)")
    parser.add_argument("--val", type=int, default=200, help="unseen examples to evaluate on")
    args = parser.parse_args()
    torch.manual_seed(0)
    try:
        train, unseen = (GraphFXDataset(args.data, split, transform=Tokenize()) for split in ("train", "unseen"))
    except GraphFXError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    encoder = ReferenceEncoder(getattr(EncoderConfig, args.encoder)(train.meta["task"], train.sample_rate))
    if args.default_init:
        for module in encoder.convs.modules():
            if isinstance(module, nn.Conv2d):
                module.reset_parameters()
    head = nn.Linear(encoder.config.d_model, len(catalog.NODE_TYPES))
    val = collate([unseen[i] for i in range(min(args.val, len(unseen)))])
    val_y = types_present(val["graphs"])

    # References: the training prior, and an MLP on pooled statistics (one pass over the training set).
    batches = [collate([train[i] for i in range(s, min(len(train), s + 64))]) for s in range(0, len(train), 64)]
    x = torch.cat([pooled_features(encoder, b["reference"]) for b in batches])
    y = torch.cat([types_present(b["graphs"]) for b in batches])
    prior = y.mean(0).clamp(1e-3, 1 - 1e-3)
    prior_loss = F.binary_cross_entropy(prior.expand_as(val_y), val_y).item()
    mu, sd = x.mean(0), x.std(0) + 1e-6
    mlp = nn.Sequential(nn.Linear(x.shape[1], 256), nn.ReLU(), nn.Dropout(0.3), nn.Linear(256, y.shape[1]))
    optimizer = torch.optim.AdamW(mlp.parameters(), lr=1e-3)
    for _ in range(10):  # epochs
        for s in torch.randperm(len(x)).split(64):
            loss = F.binary_cross_entropy_with_logits(mlp((x[s] - mu) / sd), y[s])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    mlp.eval()
    with torch.no_grad():
        mlp_loss = F.binary_cross_entropy_with_logits(mlp((pooled_features(encoder, val["reference"]) - mu) / sd),
                                                      val_y).item()
    print(f"unseen BCE: prior {prior_loss:.4f}, MLP on pooled log-Mel statistics {mlp_loss:.4f}")

    params = list(encoder.parameters()) + list(head.parameters())
    optimizer = torch.optim.AdamW(params, lr=args.lr)
    start = time.time()
    for step in range(1, args.steps + 1):
        batch = collate([train[i] for i in torch.randint(0, len(train), (args.batch_size,)).tolist()])
        loss = F.binary_cross_entropy_with_logits(head(encoder(batch["reference"])[:, 0]),
                                                  types_present(batch["graphs"]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 100 == 0 or step == args.steps:
            encoder.eval()
            with torch.no_grad():
                val_loss = F.binary_cross_entropy_with_logits(head(encoder(val["reference"])[:, 0]), val_y).item()
            encoder.train()
            print(f"step {step:5d}  encoder unseen BCE {val_loss:.4f}  ({time.time() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
