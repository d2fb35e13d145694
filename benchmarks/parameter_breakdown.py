"""Parameter loss per processor type and slot: which parameters a model has learned from the audio.

For every node parameter of a validation split, the L1 error of each checkpoint's parameter stage (on the
oracle prototype, as ``graphfx bench``'s parameter loss) beside that of the per-(type, slot) median of the
training graphs, the best constant answer. A model that hears a parameter beats the median on its row.

    python benchmarks/parameter_breakdown.py --data bench-cpu/data-singing-cpu \\
        bench-cpu/runs/tokengt/best.pt bench-cpu/runs/no_latent/best.pt
"""
from __future__ import annotations

import argparse
import itertools
import os
from collections import defaultdict

import torch

from graphfx import catalog
from graphfx.datasets import GraphFXDataset, Tokenize
from graphfx.estimator import load_estimator
from graphfx.tokens import NODE, graph_to_tokens
from graphfx.train import collate


def slot_medians(data: str, graphs: int) -> dict:
    """``{(type, slot): median normalized value}`` over the first ``graphs`` training graphs."""
    values = defaultdict(list)
    for graph in itertools.islice(GraphFXDataset(data, "train", audio=False).graphs(), graphs):
        tokens = graph_to_tokens(graph)
        for t in torch.nonzero(tokens.kind == NODE).flatten().tolist():
            name = catalog.NODE_TYPES[int(tokens.proc_type[t])]
            for k in torch.nonzero(tokens.param_mask[t]).flatten().tolist():
                values[(name, k)].append(float(tokens.params[t, k]))
    return {key: float(torch.tensor(v).median()) for key, v in values.items()}


@torch.no_grad()
def errors(data: str, split: str, models: dict, medians: dict) -> dict:
    """``{(type, slot): {system: [abs errors]}}`` on a split (``median``: the constant answer)."""
    dataset = GraphFXDataset(data, split, transform=Tokenize())
    table = defaultdict(lambda: defaultdict(list))
    for start in range(0, len(dataset), 8):
        batch = collate([dataset[i] for i in range(start, min(len(dataset), start + 8))])
        tokens = batch["tokens"]
        predicted = {name: model.decoder.complete(model.latents(batch["reference"], batch["dry"], tokens),
                                                  tokens).params.double()
                     for name, model in models.items()}
        mask = tokens.param_mask & (tokens.kind == NODE)[..., None]
        for b, t, k in torch.nonzero(mask).tolist():
            key = (catalog.NODE_TYPES[int(tokens.proc_type[b, t])], k)
            truth = float(tokens.params[b, t, k])
            table[key]["median"].append(abs(truth - medians.get(key, 0.5)))
            for name, values in predicted.items():
                table[key][name].append(abs(float(values[b, t, k]) - truth))
    return table


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", help="trained checkpoints, named by their run folder")
    parser.add_argument("--data", required=True, help="a dataset made by graphfx generate")
    parser.add_argument("--split", default="unseen")
    parser.add_argument("--graphs", type=int, default=3000, help="training graphs for the medians")
    args = parser.parse_args()
    torch.set_num_threads(1)
    models = {os.path.basename(os.path.dirname(os.path.abspath(path))): load_estimator(path).eval()
              for path in args.checkpoints}
    table = errors(args.data, args.split, models, slot_medians(args.data, args.graphs))
    systems = ["median", *models]
    print("| type | slot | parameter | n | " + " | ".join(systems) + " |")
    print("|---|---|---|---|" + "---|" * len(systems))
    total = defaultdict(list)
    for (name, k), row in sorted(table.items()):
        for system in systems:
            total[system] += row[system]
        cells = " | ".join(f"{sum(row[s]) / len(row[s]):.3f}" for s in systems)
        print(f"| {name} | {k} | {catalog.SPECS[name].params[k].name} | {len(row['median'])} | {cells} |")
    print("| all | | | {} | {} |".format(len(total["median"]),
                                          " | ".join(f"{sum(total[s]) / len(total[s]):.4f}" for s in systems)))


if __name__ == "__main__":
    main()
