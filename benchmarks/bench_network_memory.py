"""Peak memory of a trained network's forward pass (`run --model`), against the memory guard's estimate
(nstbatch/runtime/memory.py: network_bytes_per_pixel).

Each row runs in a fresh process: a styliser with random weights and the default layout at the width
given (channels of the first layer), saved as a checkpoint, opened as `run --model` opens it (onnxruntime
on the CPU, or torch), warmed up on a small picture; then the high-water mark is reset and one batch of
photos (4:3, long side as given) is painted. Reported: the growth of peak RSS (torch.cuda's peak on a GPU)
per pixel of the batch, and the guard's bytes a pixel, which should be above it.

    python benchmarks/bench_network_memory.py [--rows ort:16:1536:1,torch:32:1536:1,...]

Prints a table and appends it to benchmarks/RESULTS.md with the machine and the date.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from _results import RESULTS, machine, publish
from bench_memory import reset_peak, status

# runner:channels:long side:batch; runner is ort (onnxruntime, as `run --model` runs a checkpoint) or torch
DEFAULT_ROWS = ("ort:8:1536:1,ort:16:1536:1,ort:32:1536:1,ort:16:1024:4,ort:16:3072:1,"
                "torch:8:1536:1,torch:16:1536:1,torch:32:1536:1")


def one(runner: str, channels: int, side: int, batch: int) -> dict:
    from nstbatch.engines import open_model
    from nstbatch.network.checkpoint import CheckpointInfo, save_checkpoint
    from nstbatch.network.feedforward import FeedForward
    from nstbatch.network.torch_painter import TorchPainter
    from nstbatch.runtime.free_memory import network_bytes_per_pixel
    from nstbatch.network.stylizer import Architecture, Stylizer

    cuda = torch.cuda.is_available()
    network = Stylizer(Architecture(channels=channels))
    with tempfile.TemporaryDirectory() as folder:
        path = save_checkpoint(Path(folder) / "model.safetensors", network,
                               CheckpointInfo(network.architecture, [{"name": "random", "sha256": ""}], {}))
        if runner == "ort":
            engine, _ = open_model(path, device="cuda" if cuda else "cpu")
        else:
            engine = FeedForward(TorchPainter(network, "cuda" if cuda else "cpu"), ["random"])
        photos = torch.rand(batch, 3, side * 3 // 4, side)
        engine.paint(photos[:1, :, :64, :64])  # sessions and thread pools set up before the measure
        if cuda:
            torch.cuda.reset_peak_memory_stats()
            before = torch.cuda.memory_allocated()
        else:
            reset_peak()
            before = status("VmHWM")
        started = time.perf_counter()
        engine.paint(photos)
        seconds = time.perf_counter() - started
        peak = torch.cuda.max_memory_allocated() if cuda else status("VmHWM")
    pixels = batch * photos.shape[-2] * photos.shape[-1]
    return {"runs_on": engine.runs_on, "size": f"{photos.shape[-1]}x{photos.shape[-2]}", "growth": peak - before,
            "measured_bpp": (peak - before) / pixels, "estimate_bpp": network_bytes_per_pixel(channels),
            "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default=DEFAULT_ROWS)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.one:
        runner, channels, side, batch = args.one.split(":")
        print(json.dumps(one(runner, int(channels), int(side), int(batch))))
        return
    rows = []
    for spec in args.rows.split(","):
        runner, channels, _, batch = spec.split(":")
        done = subprocess.run([sys.executable, __file__, "--one", spec], capture_output=True, text=True)
        if done.returncode != 0:
            rows.append(f"| {spec} | failed (exit {done.returncode}): {done.stderr.strip().splitlines()[-1:]} | | | | | |")
        else:
            r = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append(f"| {r['runs_on']} | {channels} | {r['size']} x {batch} | {r['growth'] / 2**20:.0f} | "
                        f"{r['measured_bpp']:.0f} | {r['estimate_bpp']} | {r['estimate_bpp'] / r['measured_bpp']:.2f} | "
                        f"{r['seconds']:.2f} |")
        print(rows[-1], flush=True)
    lines = [
        f"### A network's forward pass: memory against the guard's estimate, {time.strftime('%Y-%m-%d')}, "
        f"{machine()}",
        "",
        f"`python benchmarks/bench_network_memory.py --rows {args.rows}`: one process a row, random weights, the "
        "default layout at the width given; growth of the peak while one batch is painted, in bytes a pixel of "
        "the batch, and the memory guard's bytes a pixel (`network_bytes_per_pixel`), which should be above it.",
        "",
        "| runs on | channels | size x batch | growth (MiB) | measured B/px | guard's B/px | guard / measured | seconds |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        *rows,
    ]
    publish(lines, args.results)


if __name__ == "__main__":
    main()
