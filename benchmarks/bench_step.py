"""Milliseconds per optimisation iteration: plain float32 vs the fast path (bf16 convolutions).

Each iteration is one forward and backward through VGG-19 to relu5_1 with the default content and
style losses, as `nstbatch run` does. Also reports the final objective of each precision scored in
float32, so the fast path is shown to give the same picture (target: within 2%).

Then images per minute for a folder of same-size photos (--folder-images at --folder-size px,
--folder-iterations each), one at a time and optimised together (`nstbatch run --batch-size B`), with
the mean final objective per photo so batching is shown not to cost quality.

    python benchmarks/bench_step.py [--device auto] [--sizes 512,1024] [--iterations 50]
                                    [--folder-size 512] [--folder-images 16] [--folder-iterations 300] [--batch-sizes 1,8]

Prints a table and appends it to benchmarks/RESULTS.md with the device and the date.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from _results import RESULTS, cpu_name, publish

from nstbatch.runtime.objective import Targets
from nstbatch.runtime.stylize import Options, content_targets, optimize, style_targets
from nstbatch.runtime.transfer import StyleTransfer, resolve_device
from nstbatch.runtime.vgg import load_vgg19


def folder_rate(device, size: int, count: int, iterations: int, batch_size: int) -> tuple[float, float]:
    """(photos per minute, mean final objective) for ``count`` random photos in groups of ``batch_size``."""
    generator = torch.Generator().manual_seed(1)
    photos = torch.rand(count, 3, size * 3 // 4, size, generator=generator)
    engine = StyleTransfer([torch.rand(1, 3, size, size, generator=generator)], Options(iterations=iterations),
                           device=str(device))
    engine(photos[:1], iterations=2)  # warm-up: style targets, cuDNN autotuning
    start = time.perf_counter()
    results = []
    for first in range(0, count, batch_size):
        group = photos[first:first + batch_size]
        results += engine.stylize_batch(group) if len(group) > 1 else [engine(group)]
    if device.type == "cuda":
        torch.cuda.synchronize()
    minutes = (time.perf_counter() - start) / 60
    return count / minutes, sum(r.losses["total"] for r in results) / count


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--sizes", default="512,1024")
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--folder-size", type=int, default=512)
    parser.add_argument("--folder-images", type=int, default=16)
    parser.add_argument("--folder-iterations", type=int, default=300)
    parser.add_argument("--batch-sizes", default="1,8", help="0 skips the folder rows")
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
            result = optimize(vgg, photo, Options(iterations=args.iterations, precision=precision), Targets(content, style),
                              callback=on_step)
            per_iter = 1000 * (stamps[-1] - stamps[4]) / (len(stamps) - 5)  # after 5 warm-up iterations
            score = optimize(vgg, result.image.to(device), Options(iterations=1), Targets(content, style)).history[0]
            peak = f"{torch.cuda.max_memory_allocated() / 2**20:.0f}" if device.type == "cuda" else "n/a"
            rows.append((size, precision, per_iter, score, peak))
            print(rows[-1], flush=True)
    folder = []
    for batch_size in (int(b) for b in args.batch_sizes.split(",") if int(b) > 0):
        folder.append((batch_size, *folder_rate(device, args.folder_size, args.folder_images, args.folder_iterations, batch_size)))
        print(folder[-1], flush=True)
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
    if folder:
        lines += [
            "",
            f"A folder of {args.folder_images} random {args.folder_size} px photos, {args.folder_iterations} iterations each, fp32:",
            "",
            "| batch size | photos / minute | vs one at a time | mean final objective |",
            "| --- | --- | --- | --- |",
            *[f"| {b} | {rate:.2f} | {rate / folder[0][1]:.2f}x | {objective:.4g} |" for b, rate, objective in folder],
        ]
    publish(lines, args.results)


if __name__ == "__main__":
    main()
