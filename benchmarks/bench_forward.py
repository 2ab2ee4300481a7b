"""Milliseconds per VGG-19 forward pass (to relu5_1, the default export layers): torch vs onnxruntime.

Batch 1 and 8 at 256 and 512 px, for torch on the CPU (and CUDA where present) and for every
onnxruntime provider that really loads; plus the time to export and to validate the model.

    python benchmarks/bench_forward.py [--repeats 3] [--sizes 256,512] [--batches 1,8]

Prints a table and appends it to benchmarks/RESULTS.md with the machine and the date. Providers that
onnxruntime lists but cannot load are named as not measured, with the reason.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from _results import RESULTS, cpu_name, publish

from nstbatch.exporter import FeatureSpec, export, validate
from nstbatch.onnx.providers import provider_status
from nstbatch.onnx.providers import PREFERENCE, create_session
from nstbatch.runtime.vgg import load_vgg19



def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up: kernel selection, TensorRT engine build, allocator
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", default="256,512")
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    batches = [int(b) for b in args.batches.split(",")]
    spec = FeatureSpec()
    model = Path(tempfile.mkdtemp()) / "vgg19.onnx"

    start = time.perf_counter()
    export(spec, model)
    export_s = time.perf_counter() - start
    start = time.perf_counter()
    validate(model, spec)
    validate_s = time.perf_counter() - start

    backends = {}
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        vgg = load_vgg19(device=device)

        def run(x, vgg=vgg, device=device):
            with torch.no_grad():
                vgg(x, spec.layers)
            if device == "cuda":
                torch.cuda.synchronize()

        backends[f"torch ({device})"] = (run, device)
    status = provider_status()
    not_measured = {name: state for name, state in status.items() if name in PREFERENCE and state != "loads"}
    for name in PREFERENCE:
        if status.get(name) == "loads":
            session, running = create_session(model, [name])
            if running[0] != name:
                not_measured[name] = f"session fell back to {running[0]}"
                continue
            backends[f"onnxruntime {name.replace('ExecutionProvider', '')}"] = (
                lambda x, s=session: s.run(None, {"image": x.cpu().numpy()}), "cpu")

    rows = []
    for size in sizes:
        for batch in batches:
            shape = (batch, 3, size * 3 // 4, size)
            for label, (fn, device) in backends.items():
                x = torch.rand(shape, device=device)
                ms = median_ms(lambda: fn(x), args.repeats)
                rows.append((label, f"{batch}x3x{shape[2]}x{shape[3]}", ms))
                print(f"{label:<28} {rows[-1][1]:<16} {ms:10.1f} ms", flush=True)

    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no GPU"
    lines = [
        f"### VGG-19 forward pass, torch vs onnxruntime, {time.strftime('%Y-%m-%d')}, {cpu_name()}, "
        f"{torch.get_num_threads()} threads{gpu}",
        "",
        f"Layers {','.join(spec.layers)} (to relu5_1), fp32, median of {args.repeats} after a warm-up. "
        f"Export {export_s:.1f} s, validation {validate_s:.1f} s.",
        "",
        "| backend | input | ms / forward |",
        "| --- | --- | --- |",
        *[f"| {label} | {shape} | {ms:.1f} |" for label, shape, ms in rows],
        "",
    ]
    for name in PREFERENCE:
        if name not in status:
            lines.append(f"Not measured: {name}: not in this onnxruntime build (the GPU wheel is not installed here).")
        elif name in not_measured:
            lines.append(f"Not measured: {name}: {not_measured[name]}.")
    publish(lines, args.results)


if __name__ == "__main__":
    main()
