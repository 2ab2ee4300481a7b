"""Photos per second of a trained network through torch, batched: plain float32 against the fast path.

The fast path is the one `run --model` / `video --model` take on CUDA when onnxruntime has no GPU
provider (network/feedforward.py's TorchPainter: bf16 autocast, channels-last weights); on CUDA also
that path replayed as a CUDA graph (one launch for the whole network, for a fixed batch and size).
Per size and batch: the network alone with the photos already on the device, and end to end with the
copies to and from the host that `run --model` pays; the largest difference from float32's picture.

    python benchmarks/bench_model_speed.py [--model nstbatch/models/starry_night/model.safetensors]
        [--device auto] [--sizes 512x512,1920x1080] [--batches 1,8,32] [--seconds 2]

Issue 12's targets (TensorRT fp16, batched, on one H100): >= 1000 photos a second at 512 px and
>= 200 frames a second at 1920x1080. Prints a table and appends it to benchmarks/RESULTS.md with the
device and the date.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from _results import RESULTS, machine, publish

from nstbatch.network.checkpoint import load_checkpoint
from nstbatch.network.torch_painter import TorchPainter
from nstbatch.runtime.transfer import resolve_device

MODEL = Path(__file__).resolve().parent.parent / "nstbatch" / "models" / "starry_night" / "model.safetensors"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def rate(paint, batch: int, device: torch.device, seconds: float) -> float:
    """Photos per second of ``paint()`` (one batch a call), timed for about ``seconds`` after two warm-ups."""
    paint(), paint()
    sync(device)
    calls, start = 0, time.perf_counter()
    while True:
        paint()
        calls += 1
        if calls % 4 == 0 or device.type != "cuda":
            sync(device)
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                return calls * batch / elapsed


def graphed(network, photos: torch.Tensor, weights: torch.Tensor, dtype):
    """The network's forward pass for exactly these shapes captured as a CUDA graph; () -> output."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    # Autocast's cache of cast weights must be off: casts cached outside the capture would not replay.
    with torch.cuda.stream(stream), torch.no_grad(), torch.autocast("cuda", dtype=dtype, cache_enabled=False):
        for _ in range(3):  # capture needs the allocator and cuDNN's choices settled first
            network(photos, weights)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph), torch.no_grad(), torch.autocast("cuda", dtype=dtype, cache_enabled=False):
        output = network(photos, weights)
    return lambda: (graph.replay(), output)[1]


def measure(model: Path, device: torch.device, height: int, width: int, batch: int, seconds: float) -> list[str]:
    """The table's rows for one size and batch: float32, the fast path, and (CUDA) the fast path as a graph."""
    plain, info, _ = load_checkpoint(model, device)
    plain.eval()
    fast = TorchPainter(load_checkpoint(model)[0], device)
    host = torch.rand(batch, 3, height, width, generator=torch.Generator().manual_seed(0))
    photos = host.to(device)
    if fast.dtype is not None:
        photos_fast = photos.contiguous(memory_format=torch.channels_last)
    else:
        photos_fast = photos
    weights = torch.zeros(batch, len(info.styles), device=device)
    weights[:, 0] = 1

    def run_plain():
        with torch.no_grad():
            return plain(photos, weights)

    def run_fast():
        with torch.no_grad(), torch.autocast(device.type, dtype=fast.dtype or torch.float32,
                                             enabled=fast.dtype is not None):
            return fast.network(photos_fast, weights)

    ways = [("float32", run_plain, None), (fast.providers[0], run_fast, lambda: fast(host, weights.cpu()))]
    if device.type == "cuda":
        ways.append((f"{fast.providers[0]}, CUDA graph", graphed(fast.network, photos_fast, weights, fast.dtype), None))
    reference = run_plain().float()
    rows = []
    for name, paint, end_to_end in ways:
        try:
            alone = rate(paint, batch, device, seconds)
            difference = (paint().float() - reference).abs().max().item()
            through = f"{rate(end_to_end, batch, device, seconds):.1f}" if end_to_end else "-"
        except torch.cuda.OutOfMemoryError:
            rows.append(f"| {width}x{height} | {batch} | {name} | out of memory | - | - |")
            torch.cuda.empty_cache()
            continue
        rows.append(f"| {width}x{height} | {batch} | {name} | {alone:.1f} | {through} | {difference:.4f} |")
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=MODEL)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--sizes", default="512x512,1920x1080", help="WIDTHxHEIGHT, comma-separated")
    parser.add_argument("--batches", default="1,8,32")
    parser.add_argument("--seconds", type=float, default=2.0, help="timed for about this long per row")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    device = resolve_device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        # float32 means float32: TF32 would make the baseline a reduced-precision path too.
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    command = (f"`python benchmarks/bench_model_speed.py --model {args.model} --device {args.device} "
               f"--sizes {args.sizes} --batches {args.batches} --seconds {args.seconds:g}`")
    lines = [f"### Network speed, {time.strftime('%Y-%m-%d')}, {machine(device.type)}", "", command, "",
             "Photos per second (float32 with TF32 off): the network alone (photos already on the device) and "
             "end to end (from and to host memory, as `run --model` pays); the largest difference from float32's "
             "picture, in [0, 1] units.",
             "", "| size | batch | way | network alone | end to end | max difference |", "| --- | --- | --- | --- | --- | --- |"]
    for size in args.sizes.split(","):
        width, height = (int(v) for v in size.lower().split("x"))
        for batch in (int(b) for b in args.batches.split(",")):
            lines += measure(args.model, device, height, width, batch, args.seconds)
    publish(lines, args.results)


if __name__ == "__main__":
    main()
