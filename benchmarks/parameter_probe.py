"""How much of the node parameters a clip's global spectral statistics tell (issue 12, item 2).

An MLP reads the spectral statistics of a clip's reference (graphfx.models.encoder.spectral_statistics
of the log-Mel spectrogram of both channels and of the side signal, as the encoder's statistics latent)
and the one-hot type of a node, and predicts that node's normalized parameters (L1, every node of every
graph; nodes of one type in one graph get the same answer). Its L1 on the unseen split, per type and
overall, is printed beside the best constant: the per-(type, slot) median of the training graphs.

This is a probe of the data, not of a model: if the statistics of the whole clip cannot place a
parameter, the parameter stage must find it in finer structure (which processor did what, where in
the spectrum and in time), which takes a trained encoder much longer.

    python benchmarks/parameter_probe.py bench-cpu/data-singing-cpu --clips 4000 --steps 3000
"""
from __future__ import annotations

import argparse

import torch
from torch import nn

from graphfx import catalog
from graphfx.datasets import GraphFXDataset
from graphfx.models.encoder import LOG_CENTER, EncoderConfig, ReferenceEncoder, spectral_statistics

TYPES, SLOTS = len(catalog.NODE_TYPES), catalog.MAX_PARAMS


def node_rows(data: str, split: str, clips: int, encoder: ReferenceEncoder) -> dict:
    """Per clip its statistics ``[clips, F]``; per node with parameters its clip, type, targets and mask."""
    dataset = GraphFXDataset(data, split)
    stats, rows = [], []
    for i in range(min(clips, len(dataset))):
        item = dataset[i]
        audio = item.reference
        with torch.no_grad():
            channels = (encoder.mel(audio) + LOG_CENTER) / LOG_CENTER
            side = 0.5 * (audio[:, :1] - audio[:, 1:2])
            side = (encoder.mel(side.expand(-1, 2, -1))[:, :1] + LOG_CENTER) / LOG_CENTER
            stats.append(spectral_statistics(torch.cat([channels, side], 1))[0])
        for node in item.graph.nodes:
            target, mask = torch.zeros(SLOTS), torch.zeros(SLOTS, dtype=torch.bool)
            for k, p in enumerate(node.spec.params):
                target[k], mask[k] = p.normalize(node.params[p.name]), True
            if mask.any():
                rows.append((i, catalog.NODE_TYPES.index(node.type), target, mask))
    clip, kind, target, mask = zip(*rows)
    return {"stats": torch.stack(stats), "clip": torch.tensor(clip), "type": torch.tensor(kind),
            "target": torch.stack(target), "mask": torch.stack(mask)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="a singing dataset made by graphfx generate")
    parser.add_argument("--clips", type=int, default=4000, help="training clips read [4000]")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    rate = GraphFXDataset(args.data, "unseen").sample_rate
    encoder = ReferenceEncoder(EncoderConfig.small("singing", rate, spectral_token=True)).eval()
    train, unseen = node_rows(args.data, "train", args.clips, encoder), node_rows(args.data, "unseen", 200, encoder)
    median = torch.zeros(TYPES, SLOTS)  # the best constant, per (type, slot)
    for t in train["type"].unique():
        median[t] = train["target"][train["type"] == t].median(0).values
    center, scale = train["stats"].mean(0), train["stats"].std(0) + 1e-3
    width = 128
    net = nn.Sequential(nn.Linear(train["stats"].shape[1] + TYPES, width), nn.GELU(), nn.Linear(width, width),
                        nn.GELU(), nn.Linear(width, SLOTS))
    optimizer = torch.optim.AdamW(net.parameters(), 1e-3, weight_decay=0.05)

    def predict(rows, index):
        x = (rows["stats"][rows["clip"][index]] - center) / scale
        return torch.sigmoid(net(torch.cat([x, nn.functional.one_hot(rows["type"][index], TYPES).float()], 1)))

    def errors(rows):
        with torch.no_grad():
            index = torch.arange(len(rows["type"]))
            return (predict(rows, index) - rows["target"]).abs(), (median[rows["type"]] - rows["target"]).abs()

    print(f"{len(train['type'])} training nodes, {len(unseen['type'])} unseen")
    for step in range(1, args.steps + 1):
        batch = torch.randint(len(train["type"]), (256,))
        loss = (predict(train, batch) - train["target"][batch]).abs()[train["mask"][batch]].mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 500 == 0:
            mlp, _ = errors(unseen)
            print(f"step {step}: training L1 {loss.item():.4f}, unseen L1 {mlp[unseen['mask']].mean():.4f}")
    mlp, constant = errors(unseen)
    mask = unseen["mask"]
    print(f"unseen L1: MLP {mlp[mask].mean():.4f}, per-(type, slot) median {constant[mask].mean():.4f}")
    print("type            nodes   MLP  median")
    for t in unseen["type"].unique().tolist():
        rows = (unseen["type"] == t)[:, None] & mask
        print(f"{catalog.NODE_TYPES[t]:15s} {int((unseen['type'] == t).sum()):5d} {mlp[rows].mean():.3f}  "
              f"{constant[rows].mean():.3f}")


if __name__ == "__main__":
    main()
