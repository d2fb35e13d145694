"""Register a new graph decoder and train it like the built-in ones.

The decoder here is TokenGT with orthonormal node identifiers instead of the
paper's sinusoidal ones (TokenGT's own choice; the sinusoidal table is far
from orthonormal). Any ``GraphDecoder`` subclass registers the same way; a
third-party package can instead declare it in its entry points:

    [options.entry_points]
    graphfx.decoders =
        tokengt_ortho = mypackage.decoders:OrthonormalTokenGT

Run:  python examples/custom_decoder.py   (about a minute on a 2-core CPU)
"""
import dataclasses
import tempfile

import torch

from graphfx.decoders import registry
from graphfx.decoders.tokengt import TokenGTDecoder
from graphfx.datasets import GraphFXDataset
from graphfx.synth.generate import DatasetSpec, generate
from graphfx.train import PRESETS, collate, estimator_config, load_estimator, train


@registry.register("tokengt_ortho")
class OrthonormalTokenGT(TokenGTDecoder):
    """TokenGT with orthonormal node identifiers (Kim et al., 2022)."""

    @dataclasses.dataclass
    class Config(TokenGTDecoder.Config):
        node_id: str = "orthonormal"
        node_id_dim: int = 64  # one orthonormal row per possible node (max_nodes)


def main():
    print("registered decoders:", registry.list_decoders())
    with tempfile.TemporaryDirectory() as work:
        data, run = f"{work}/data", f"{work}/run"
        generate(data, DatasetSpec("singing", num_train=16, num_val=4, sample_rate=16000, num_samples=8000))
        preset = PRESETS["smoke"]
        config = estimator_config(preset, "singing", "tokengt_ortho")
        train(data, run, config, dataclasses.replace(preset.train, steps=30),
              on_step=lambda step, losses: print(f"step {step:3d}  loss {losses['loss']:.3f}"))
        model = load_estimator(f"{run}/checkpoint.pt")  # the checkpoint names the decoder and its config
        batch = collate([GraphFXDataset(data, "unseen")[i] for i in range(4)])
        with torch.no_grad():
            graphs = model.estimate(batch["reference"], sample_rate=16000, max_tokens=64)
        for truth, estimate in zip(batch["graphs"], graphs):
            print(f"truth {len(truth.nodes):2d} nodes | estimate {len(estimate.nodes):2d} nodes, "
                  f"valid: {estimate.is_valid()}")


if __name__ == "__main__":
    main()
