"""Peak memory against picture size: the whole picture against blocks (`run --block-size`), and what the
memory guard (nstbatch/runtime/memory.py) estimated for each.

Each row runs in a fresh process (peak RSS is a per-process high-water mark): VGG-19 loaded, the content
and style targets computed (in blocks when the row is), then --iterations evaluations of L-BFGS with the
history shown. Reported: the process's peak RSS, its RSS before the loop (torch, the weights, the
targets), the guard's estimate in its two parts (the per-pixel state: image, gradient, L-BFGS history,
content targets; and the network's activations for the pixels one pass sees), and seconds an evaluation.
On a GPU, torch.cuda.max_memory_allocated instead of RSS.

    python benchmarks/bench_memory.py [--rows whole:512:100,blocks512:4096:10,...] [--iterations 3]

Prints a table and appends it to benchmarks/RESULTS.md with the machine and the date.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch
from _results import RESULTS, machine, publish

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
# way:size:history; way is "whole" or "blocksN"; a size ending in "sq" crops the photo square first
DEFAULT_ROWS = ("whole:512:100,whole:1024:100,whole:2048:100,whole:512:10,whole:1024:10,whole:2048:10,"
                "blocks512:1024:10,blocks512:2048:10,blocks512:4096:10")


def status(field: str) -> int:
    """VmRSS (resident now) or VmHWM (its high-water mark) of this process, bytes."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status: this benchmark reads Linux's")


def reset_peak() -> None:
    """Linux (4.0 and later) resets VmHWM to the current RSS when 5 is written to clear_refs."""
    with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
        f.write("5")


def one(way: str, size: int, history: int, iterations: int, square: bool = False) -> dict:
    """One row, in this process: the figures as a dict."""
    from nstbatch.media.images import load_image
    from nstbatch.runtime.memory import ACTIVATION_SLACK, OVERHEAD, Fit, largest_read
    from nstbatch.runtime.objective import Targets
    from nstbatch.runtime.stylize import Options, content_targets, optimize
    from nstbatch.runtime.transfer import StyleTransfer, resize_long_side

    device = "cuda" if torch.cuda.is_available() else "cpu"
    block = int(way[len("blocks"):]) if way.startswith("blocks") else None
    opts = Options(iterations=iterations)
    engine = StyleTransfer([load_image(EXAMPLES / "styles" / "starry_night_vangogh.jpg")], opts, device=device)
    photo = load_image(EXAMPLES / "photos" / "coffee.jpg")
    if square:  # the photo's middle, as a square of side ``size``
        side = min(photo.shape[-2:])
        top, left = (photo.shape[-2] - side) // 2, (photo.shape[-1] - side) // 2
        photo = photo[..., top:top + side, left:left + side]
    photo = resize_long_side(photo, size).to(engine.device)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    targets = content_targets(engine.vgg, photo, opts.content_layers, block)
    style = engine.style_targets(size, block)
    if device == "cuda":
        setup_peak, before = torch.cuda.max_memory_allocated(), torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
    else:
        setup_peak, before = status("VmHWM"), status("VmRSS")
        reset_peak()
    needs = engine.needs(opts)  # what the memory guard plans with
    shape = tuple(photo.shape)
    estimate = needs.peak(shape[0], shape[2], shape[3], block, history)
    seen = shape[2] * shape[3] if block is None else largest_read(shape[2], shape[3], block, needs.layers)
    activations = int(shape[0] * ACTIVATION_SLACK * needs.activation_bpp * seen + OVERHEAD)
    started = time.perf_counter()
    result = optimize(engine.vgg, photo, opts, Targets(targets, style), fit=Fit(block, history))
    seconds = (time.perf_counter() - started) / result.iterations
    peak = torch.cuda.max_memory_allocated() if device == "cuda" else status("VmHWM")
    return {"way": way, "size": f"{shape[3]}x{shape[2]}", "history": history, "peak": peak, "before": before,
            "setup_peak": setup_peak,
            "estimate": estimate, "activations": activations, "state": estimate - activations,
            "seconds": seconds, "total": result.losses["total"]}


def gib(n: float) -> str:
    return f"{n / 2**30:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default=DEFAULT_ROWS)
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.one:
        way, size, history = args.one.split(":")
        print(json.dumps(one(way, int(size.rstrip("sq")), int(history), args.iterations, size.endswith("sq"))))
        return
    rows = []
    for spec in args.rows.split(","):
        done = subprocess.run([sys.executable, __file__, "--one", spec, "--iterations", str(args.iterations)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            rows.append(f"| {spec} | failed (exit {done.returncode}): {done.stderr.strip().splitlines()[-1:]} | | | | | | | | |")
            print(rows[-1], flush=True)
            continue
        r = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(f"| {r['way']} | {r['size']} | {r['history']} | {gib(r['setup_peak'])} | {gib(r['before'])} | "
                    f"{gib(r['peak'])} | {gib(r['peak'] - r['before'])} | {gib(r['estimate'])} = {gib(r['state'])} + "
                    f"{gib(r['activations'])} | {r['seconds']:.1f} | {r['total']:.4g} |")
        print(rows[-1], flush=True)
    measure = "torch.cuda.max_memory_allocated" if torch.cuda.is_available() else "peak RSS of the process"
    lines = [
        f"### Peak memory against size, {time.strftime('%Y-%m-%d')}, {machine()}",
        "",
        f"`python benchmarks/bench_memory.py --rows {args.rows} --iterations {args.iterations}`: one process a row; "
        f"default layers, L-BFGS, fp32; memory in GiB by {measure}. Setup peak: while loading VGG-19 and computing "
        "the targets (in blocks on block rows); before the loop: resident after that; loop peak: the high-water mark "
        "of the evaluations alone (reset before them); estimate: the memory guard's, per-pixel state + the "
        "activations of the pixels one pass sees, which the loop's growth should stay under.",
        "",
        "| way | size | L-BFGS history | setup peak | before the loop | loop peak | loop peak − before | estimate = state + activations | s / evaluation | objective |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        *rows,
    ]
    publish(lines, args.results)


if __name__ == "__main__":
    main()
