"""Register a new graph decoder, train it and benchmark it like the built-in ones.

The decoder here is TokenGT with orthonormal node identifiers instead of the
paper's sinusoidal ones (TokenGT's own choice; the sinusoidal table is far
from orthonormal). Any ``GraphDecoder`` subclass registers the same way; a
third-party package can instead declare it in its entry points:

    [options.entry_points]
    graphfx.decoders =
        tokengt_ortho = mypackage.decoders:OrthonormalTokenGT

Run:  python examples/custom_decoder.py   (smoke preset; `time` measured 10 s on 2 idle CPU cores)
      python examples/custom_decoder.py --preset cpu --out bench-cpu --only-custom
      (adds the orthonormal row to a `graphfx bench --preset cpu --out bench-cpu` comparison)
"""
import argparse
import dataclasses
import tempfile

from graphfx import bench
from graphfx.decoders import registry
from graphfx.decoders.tokengt import TokenGTDecoder
from graphfx.estimator import load_estimator


@registry.register("tokengt_ortho")
class OrthonormalTokenGT(TokenGTDecoder):
    """TokenGT with orthonormal node identifiers (Kim et al., 2022)."""

    @dataclasses.dataclass
    class Config(TokenGTDecoder.Config):
        node_id: str = "orthonormal"
        node_id_dim: int = 64  # one orthonormal row per possible node (max_nodes)


def compare(work: str, preset: str, systems):
    # Through the benchmark: generate (or reuse) the preset's dataset, train, evaluate seen and unseen.
    results = bench.run(systems, preset, "singing", work, status=print)
    for label, splits in results["systems"].items():
        iou, invalid = splits["unseen"]["iou"][0], splits["unseen"]["invalid_rate"][0]
        print(f"{label:14s} unseen IOU {iou:.3f}, invalid {invalid:.3f}")
    # The checkpoint names the decoder and its config, so it rebuilds the model by itself.
    model = load_estimator(f"{work}/runs/tokengt_ortho/checkpoint.pt")
    print("reloaded:", type(model.decoder).__name__, model.decoder.config.node_id)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="smoke", choices=["smoke", "cpu", "paper"])
    parser.add_argument("--out", default=None, help="bench folder to add to (default: a temporary one)")
    parser.add_argument("--only-custom", action="store_true", help="train tokengt_ortho only, not tokengt too")
    args = parser.parse_args()
    print("registered decoders:", registry.list_decoders())
    systems = ["tokengt_ortho"] if args.only_custom else ["tokengt_ortho", "tokengt"]
    if args.out is not None:
        compare(args.out, args.preset, systems)
        return
    with tempfile.TemporaryDirectory() as work:
        compare(work, args.preset, systems)


if __name__ == "__main__":
    main()
