"""Triton Gram + style loss vs torch (bmm + separate loss) at VGG-19's style-layer shapes. Needs CUDA.

For 512, 1024 and 2048 px inputs, the shapes of relu1_1..relu5_1 (C = 64..512 channels, H·W down
to 1/256 of the pixels), in bfloat16 and float32: microseconds (median of triton.testing.do_bench)
for the forward loss and for forward+backward, the speed-up, and achieved GB/s (the features read
once forward, twice backward) against the device's measured copy bandwidth.

    python benchmarks/bench_gram.py [--sizes 512,1024,2048] [--dtypes bf16,fp32]

Prints a table and appends it to benchmarks/RESULTS.md keyed by GPU name and date.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from _results import RESULTS, publish

LAYERS = {"relu1_1": (64, 1), "relu2_1": (128, 2), "relu3_1": (256, 4), "relu4_1": (512, 8), "relu5_1": (512, 16)}
DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="512,1024,2048")
    parser.add_argument("--dtypes", default="bf16,fp32")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("bench_gram.py needs a CUDA GPU: the Triton kernels are compiled for one (on the CPU they only run "
                 "under the interpreter, which tests/test_gram.py uses for correctness, not speed)")
    import triton.testing

    from nstbatch.runtime import gram_triton
    from nstbatch.runtime.gram import style_loss

    gpu = torch.cuda.get_device_name(0)
    buffer = torch.empty(256 * 2**20, dtype=torch.uint8, device="cuda")
    copy_ms = triton.testing.do_bench(lambda: buffer.clone())
    copy_gbs = 2 * buffer.numel() / copy_ms / 1e6  # read + write

    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        for name, (channels, stride) in LAYERS.items():
            h, w = size // stride, size // stride
            for label in args.dtypes.split(","):
                dtype = DTYPES[label]
                x = torch.randn(1, channels, h, w, device="cuda").relu().to(dtype).requires_grad_(True)
                target = gram_triton.gram(x.detach())
                results = {}
                for backend in ("torch", "triton"):
                    def fwd(backend=backend):
                        return style_loss(x, target, 1.0, backend)

                    def fwd_bwd(backend=backend):
                        loss = style_loss(x, target, 1.0, backend)
                        loss.backward()
                        x.grad = None

                    results[backend] = (triton.testing.do_bench(fwd) * 1e3, triton.testing.do_bench(fwd_bwd) * 1e3)
                nbytes = x.numel() * x.element_size()
                fb_us = results["triton"][1]
                gbs = 3 * nbytes / (fb_us * 1e-6) / 1e9  # forward reads F once, backward reads it again and writes dF
                rows.append((size, name, f"{channels}x{h * w}", label, *results["torch"], *results["triton"],
                             results["torch"][1] / fb_us, gbs, 100 * gbs / copy_gbs))
                print(rows[-1], flush=True)

    lines = [
        f"### Gram + style loss, Triton vs torch, {time.strftime('%Y-%m-%d')}, {gpu}",
        "",
        f"Median of triton.testing.do_bench; measured copy bandwidth {copy_gbs:.0f} GB/s.",
        "",
        "| px | layer | C x HW | dtype | torch fwd (µs) | torch fwd+bwd (µs) | triton fwd (µs) | triton fwd+bwd (µs) | speed-up fwd+bwd | GB/s | % of copy |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]:.1f} | {r[5]:.1f} | {r[6]:.1f} | {r[7]:.1f} | "
                     f"{r[8]:.2f}x | {r[9]:.0f} | {r[10]:.0f}% |")
    publish(lines, args.results)


if __name__ == "__main__":
    main()
