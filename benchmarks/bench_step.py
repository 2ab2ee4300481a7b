"""Milliseconds per optimisation iteration: plain float32 vs the fast path (bf16 convolutions).

Each iteration is one forward and backward through VGG-19 to relu5_1 with the default content and
style losses, as `nstbatch run` does. Also reports the final objective of each precision scored in
float32, so the fast path is shown to give the same picture (target: within 2%).

    python benchmarks/bench_step.py [--device auto] [--sizes 512,1024] [--iterations 50]

Prints a table and appends it to benchmarks/RESULTS.md with the device and the date. Batching several
images per step (--batch-size) is not implemented yet, so there is no images-per-minute row.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from _results import RESULTS, cpu_name, publish

from nstbatch.runtime.stylize import Options, content_targets, optimize, style_targets
from nstbatch.runtime.transfer import resolve_device
from nstbatch.runtime.vgg import load_vgg19



def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--sizes", default="512,1024")
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    device = resolve_device(args.device)
    vgg = load_vgg19(device=device)
    generator = torch.Generator().manual_seed(0)
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        photo = torch.rand(1, 3, size * 3 // 4, size, generator=generator).to(device)
        painting = torch.rand(1, 3, size, size, generator=generator).to(device)
        base = Options(iterations=args.iterations)
        content = content_targets(vgg, photo, base.content_layers)
        style = style_targets(vgg, [painting], [1.0], base.style_layers)
        for precision in args.precisions.split(","):
            stamps = []

            def on_step(step, stamps=stamps):
                if device.type == "cuda":
                    torch.cuda.synchronize()
                stamps.append(time.perf_counter())

            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            result = optimize(vgg, photo, Options(iterations=args.iterations, precision=precision), content, style,
                              callback=on_step)
            per_iter = 1000 * (stamps[-1] - stamps[4]) / (len(stamps) - 5)  # after 5 warm-up iterations
            score = optimize(vgg, result.image.to(device), Options(iterations=1), content, style).history[0]
            peak = f"{torch.cuda.max_memory_allocated() / 2**20:.0f}" if device.type == "cuda" else "n/a"
            rows.append((size, precision, per_iter, score, peak))
            print(rows[-1], flush=True)
    name = torch.cuda.get_device_name(0) if device.type == "cuda" else f"{cpu_name()}, {torch.get_num_threads()} threads"
    lines = [
        f"### Iteration time, fp32 vs fast path, {time.strftime('%Y-%m-%d')}, {name}",
        "",
        f"{args.iterations} L-BFGS iterations on random images, default layers and weights; objective scored in float32.",
        "",
        "| px (long side) | precision | ms / iteration | final objective (fp32 score) | peak GPU MB |",
        "| --- | --- | --- | --- | --- |",
        *[f"| {r[0]} | {r[1]} | {r[2]:.1f} | {r[3]:.4g} | {r[4]} |" for r in rows],
    ]
    publish(lines, args.results)


if __name__ == "__main__":
    main()
