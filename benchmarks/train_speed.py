"""Training and inference speed of the blind estimators, per decoder and preset.

For each registered decoder and each preset: one optimizer step (encoder +
decoder forward, backward, AdamW) on a batch of synthetic graphs with random
audio of the preset's clip length, reported as steps/s and examples/s; and
the inference latency per clip of the encoder and of decoding (constrained
greedy generation plus parameter estimation). Runs on CUDA too when asked.

    python benchmarks/train_speed.py                          # cpu and paper presets, every decoder
    python benchmarks/train_speed.py --presets cpu --steps 5
"""
import argparse
import os
import random
import statistics
import time

import torch
from rich.console import Console
from rich.table import Table

from graphfx.decoders import registry
from graphfx.estimator import BlindEstimator, estimator_config
from graphfx.presets import PRESETS
from graphfx.provenance import write_result
from graphfx.synth.prototype import PrototypeConfig, sample_prototype
from graphfx.tokens import graph_to_tokens, pad_tokens


def measure(decoder: str, preset: str, steps: int, device: str, task: str = "singing") -> dict:
    chosen = PRESETS[preset]
    batch = chosen.train.batch_size
    model = BlindEstimator(estimator_config(chosen, task, decoder)).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    graphs = [sample_prototype(random.Random(s), PrototypeConfig(), sample_rate=chosen.sample_rate)
              for s in range(batch)]
    tokens = pad_tokens([graph_to_tokens(g) for g in graphs]).to(device)
    samples = round(chosen.seconds * chosen.sample_rate)
    reference = 0.1 * torch.randn(batch, 2, samples, device=device)
    times = []
    for step in range(steps + 1):  # the first step warms up
        start = time.perf_counter()
        loss = model(reference, tokens)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        if step:
            times.append(time.perf_counter() - start)
    step_s = statistics.median(times)
    model.eval()
    clips = min(batch, 8)
    with torch.no_grad():
        start = time.perf_counter()
        latents = model.latents(reference[:clips])
        encode = (time.perf_counter() - start) / clips
        start = time.perf_counter()
        model.decoder.generate(latents, sample_rate=chosen.sample_rate, max_tokens=128)
        decode = (time.perf_counter() - start) / clips
    return {"decoder": decoder, "preset": preset, "batch": batch, "seconds": chosen.seconds,
            "sample_rate": chosen.sample_rate, "steps_per_s": 1 / step_s, "examples_per_s": batch / step_s,
            "step_ms": 1000 * step_s, "encoder_ms_per_clip": 1000 * encode, "decode_ms_per_clip": 1000 * decode,
            "parameters": sum(p.numel() for p in model.parameters())}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default="cpu,paper")
    parser.add_argument("--decoders", default=",".join(registry.list_decoders()))
    parser.add_argument("--steps", type=int, default=3, help="timed steps per configuration (after one warm-up)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "train_speed.json"))
    args = parser.parse_args()
    rows = [measure(d, p, args.steps, args.device) for p in args.presets.split(",") for d in args.decoders.split(",")]
    table = Table(title=f"training and inference speed ({args.device}, {torch.get_num_threads()} threads)")
    for column in ("decoder", "preset", "params", "batch", "step ms", "examples/s", "encode ms/clip",
                   "decode ms/clip"):
        table.add_column(column, justify="right")
    for r in rows:
        table.add_row(r["decoder"], r["preset"], f"{r['parameters'] / 1e6:.2f}M", str(r["batch"]),
                      f"{r['step_ms']:.0f}", f"{r['examples_per_s']:.1f}", f"{r['encoder_ms_per_clip']:.1f}",
                      f"{r['decode_ms_per_clip']:.0f}")
    Console(width=140).print(table)
    result = {"device": args.device, "threads": torch.get_num_threads(), "rows": rows}
    print(f"wrote {write_result(args.out, result)}")


if __name__ == "__main__":
    main()
