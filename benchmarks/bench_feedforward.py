"""The feed-forward mode against optimisation, in one run: speed, folder throughput, look, training.

- speed: ms per photo (4:3, long side 256, 512, 1024) for torch and onnxruntime on the CPU, fp32, for the
  given model and for untrained networks of other widths (the speed side of choosing the default);
  onnxruntime's int8 (static, calibrated on the photos) with the picture's PSNR against fp32;
- folder: photos per second for a folder through `nstbatch run --model` (decode, paint, encode, manifest),
  against optimisation with `run`'s defaults at the same size (timed on the quality photos);
- look: the fixed Gatys distances (_distance.py) of the network's pictures and of optimisation's
  (`run`'s defaults: L-BFGS, 150 iterations on the CPU) on photos that were not in the training set; also
  of the model's int8 copy where one lies beside it, and of each ``--also LABEL=FILE`` (another network of
  the same painting, e.g. a recipe being tried), in one table against optimisation's;
- steps: the same distances for snapshots of the model taken during training (``--snapshots DIR`` of
  ``stepN.safetensors``), and seconds per training step from the model folder's log.

    python benchmarks/bench_feedforward.py --model nstbatch/models/starry_night/model.safetensors \
        --painting examples/styles/starry_night_vangogh.jpg [--size 256] [--snapshots DIR] [--log LOG] \
        [--also LABEL=FILE ...] [--look-only]

Prints the tables and appends them to benchmarks/RESULTS.md with the machine and the date.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from _distance import gatys_scorer
from _results import RESULTS, cpu_name, publish

from nstbatch.media.images import load_image, save_image
from nstbatch.exporter import StylizerSpec, export
from nstbatch.network.checkpoint import load_checkpoint, save_checkpoint
from nstbatch.network.feedforward import FeedForward
from nstbatch.network.torch_painter import TorchPainter
from nstbatch.onnx.providers import CPU
from nstbatch.onnx.session import StylizerSession
from nstbatch.runtime.stylize import Options
from nstbatch.network.stylizer import Architecture, Stylizer, one_hot
from nstbatch.runtime.transfer import StyleTransfer

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data"
# Photos that are not in ../shared/data/train: the benchmark photos and the bundled examples.
QUALITY_PHOTOS = ["content/tubingen_neckarfront.jpg", "content/golden_gate.jpg", "content/coffee.png",
                  "content/chelsea_cat.png"]


def unseen_photos(painting: torch.Tensor, size: int) -> list[tuple[torch.Tensor, object]]:
    """(photo at ``size``, its Gatys scorer against ``painting``) for each benchmark photo found."""
    photos = (load_image(DATA / p, size) for p in QUALITY_PHOTOS if (DATA / p).exists())
    return [(photo, gatys_scorer(photo, painting)) for photo in photos]


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up: allocations, onnxruntime's first-run planning
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def onnx_of(network: Stylizer, info, folder: Path, name: str) -> Path:
    checkpoint = save_checkpoint(folder / f"{name}.safetensors", network, replace(info, architecture=network.architecture))
    return export(StylizerSpec(checkpoint=checkpoint), folder / f"{name}.onnx")


def quantized(model: Path, photos: list[torch.Tensor], folder: Path) -> Path | None:
    """onnxruntime's static int8 quantisation, calibrated on the photos; None where it fails."""
    try:
        from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static
    except ImportError:
        return None

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.feeds = iter([{"image": p.numpy()} for p in photos])

        def get_next(self):
            return next(self.feeds, None)

    out = folder / "int8.onnx"
    logging.getLogger().setLevel(logging.ERROR)  # the quantiser warns once per norm layer about constant biases
    try:
        quantize_static(str(model), str(out), Reader(), quant_format=QuantFormat.QDQ)
    except Exception as exc:  # noqa: BLE001 - report and go on
        print(f"int8 quantisation failed: {exc}")
        return None
    return out


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(torch.mean((a - b) ** 2))
    return 10 * np.log10(1 / max(mse, 1e-12))


def speed(model_path: Path, photo: torch.Tensor, sizes, repeats, folder: Path) -> list[str]:
    network, info, _ = load_checkpoint(model_path)
    rows = []
    candidates = [("trained", network)]
    for width in (8, 16, 32):
        if width != network.architecture.channels:
            torch.manual_seed(0)
            candidates.append((f"untrained, {width} channels",
                               Stylizer(Architecture(width, network.architecture.residual_blocks, network.styles))))
    for label, net in candidates:
        onnx_path = onnx_of(net.eval(), info, folder, label.replace(" ", "_").replace(",", ""))
        session = StylizerSession(onnx_path, [CPU])
        torch_painter = TorchPainter(net, "cpu")
        weights = one_hot(0, net.styles)
        for size in sizes:
            image = torch.nn.functional.interpolate(photo, size=(size * 3 // 4, size), mode="bilinear", antialias=True)
            ort_ms = median_ms(lambda: session(image, weights), repeats)
            torch_ms = median_ms(lambda: torch_painter(image, weights), repeats) if label == "trained" else None
            extra = ""
            if label == "trained" and size == sizes[0]:
                int8 = quantized(onnx_path, [image], folder)
                if int8 is not None:
                    q = StylizerSession(int8, [CPU])
                    q_ms = median_ms(lambda: q(image, weights), repeats)
                    extra = f"int8 {q_ms:.0f} ms, PSNR {psnr(q(image, weights), session(image, weights)):.1f} dB vs fp32"
            torch_cell = f"{torch_ms:.0f}" if torch_ms is not None else "–"
            rows.append(f"| {label} ({net.architecture.channels} ch) | {size}x{size * 3 // 4} | {torch_cell} | "
                        f"{ort_ms:.0f} | {extra} |")
            print(rows[-1])
    return ["| network | size | torch fp32 ms | onnxruntime fp32 ms | int8 |", "| --- | --- | --- | --- | --- |", *rows]


def folder_throughput(model_path: Path, photos: list[Path], size: int, count: int, folder: Path) -> tuple[float, float]:
    """(photos per second, seconds) for `nstbatch run --model` over ``count`` photos at ``size``."""
    from typer.testing import CliRunner

    from nstbatch.cli import app

    inputs = folder / "folder"
    for i in range(count):
        save_image(load_image(photos[i % len(photos)], size * 2), inputs / f"p{i:03d}.png")
    args = ["run", "-i", str(inputs), "-m", str(model_path), "--size", str(size), "--device", "cpu", "-q"]
    CliRunner().invoke(app, [*args, "-o", str(folder / "warm")])  # the export is built and cached once
    start = time.perf_counter()
    result = CliRunner().invoke(app, [*args, "-o", str(folder / "timed")])
    seconds = time.perf_counter() - start
    assert result.exit_code == 0, result.output
    return count / seconds, seconds


def video_fps(model_path: Path, clip: Path, size: int, folder: Path) -> tuple[float, int]:
    """(frames per second, frames) for `nstbatch video --model` over ``clip`` at ``size``, decode and encode included."""
    from typer.testing import CliRunner

    from nstbatch.media.frames import open_frames
    from nstbatch.cli import app

    args = ["video", "-i", str(clip), "-m", str(model_path), "--size", str(size), "--device", "cpu", "-q"]
    CliRunner().invoke(app, [*args, "-o", str(folder / "warm.mp4")])  # the export is built and cached once
    start = time.perf_counter()
    result = CliRunner().invoke(app, [*args, "-o", str(folder / f"clip{size}.mp4")])
    seconds = time.perf_counter() - start
    assert result.exit_code == 0, result.output
    frames = open_frames(folder / f"clip{size}.mp4").count
    return frames / seconds, frames


def networks(model_path: Path, also: list[str]) -> dict[str, Path]:
    """label -> file for the look: the model, its int8 copy where one lies beside it (what a CPU paints
    with), and each ``--also LABEL=FILE``."""
    from nstbatch.network.model_file import int8_path

    files = {"the model": model_path}
    copy = int8_path(model_path.with_suffix(".onnx"))
    if copy.is_file():
        files["its int8 copy"] = copy
    for entry in also:
        label, _, file = entry.partition("=")
        if not file or not Path(file).is_file():
            raise SystemExit(f"--also {entry}: give LABEL=FILE, a network's .safetensors or .onnx")
        files[label] = Path(file)
    return files


def look(files: dict[str, Path], painting: torch.Tensor, photos: list[Path], size: int, iterations: int | None):
    """Per photo: each network's and optimisation's Gatys distances, and optimisation's seconds. A network
    file paints as `run --model FILE --device cpu` paints with it (an .onnx file is the file used)."""
    from nstbatch.engines import open_model

    engines = {label: open_model(str(file), device="cpu")[0] for label, file in files.items()}
    opts = Options(iterations=iterations or 150)
    optimiser = StyleTransfer([painting], opts, device="cpu")
    rows = []
    for path in photos:
        photo = load_image(path, size)
        score = gatys_scorer(photo, painting)
        started = time.perf_counter()
        optimised = optimiser(photo)
        rows.append({"photo": path.name, "opt": score(optimised.image), "opt_seconds": time.perf_counter() - started,
                     "nets": {label: score(engine(photo).image) for label, engine in engines.items()}})
        rows[-1]["net"] = rows[-1]["nets"]["the model"]
        print(rows[-1])
    return rows


def look_against_optimisation(rows: list[dict], files: dict[str, Path]) -> list[str]:
    """The table of every network's mean distances beside optimisation's (the targets' terms: style as a
    multiple of optimisation's, content as a difference)."""
    opt_style = statistics.mean(r["opt"]["style_rel"] for r in rows)
    opt_content = statistics.mean(r["opt"]["content_rel"] for r in rows)
    lines = ["| network | file | style distance | content distance | style, × optimisation's | "
             "content, − optimisation's |", "| --- | --- | --- | --- | --- | --- |",
             f"| optimisation, run's defaults | – | {opt_style:.3f} | {opt_content:.3f} | 1.00× | 0.000 |"]
    for label, file in files.items():
        style = statistics.mean(r["nets"][label]["style_rel"] for r in rows)
        content = statistics.mean(r["nets"][label]["content_rel"] for r in rows)
        lines.append(f"| {label} | `{file}` | {style:.3f} | {content:.3f} | {style / opt_style:.2f}× | "
                     f"{content - opt_content:+.3f} |")
    return lines


def snapshot_distances(folder: Path, painting, photos: list[Path], size: int) -> list[str]:
    rows = []
    snapshots = sorted(folder.glob("step*.safetensors"), key=lambda p: int(p.stem[4:]))
    scored = [(p, gatys_scorer(load_image(ph, size), painting), load_image(ph, size)) for p in snapshots for ph in photos]
    for snap in snapshots:
        network, info, _ = load_checkpoint(snap)
        engine = FeedForward(TorchPainter(network, "cpu"), ["p"], [1.0])
        scores = [score(engine(photo).image) for p, score, photo in scored if p == snap]
        rows.append(f"| {info.step} | {statistics.mean(s['style_rel'] for s in scores):.3f} | "
                    f"{statistics.mean(s['content_rel'] for s in scores):.3f} |")
        print(rows[-1])
    return ["| training step | style distance | content distance |", "| --- | --- | --- |", *rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--painting", type=Path, required=True, help="The painting the model was trained on.")
    parser.add_argument("--size", type=int, default=256, help="Long side for the look and folder comparisons.")
    parser.add_argument("--speed-sizes", default="256,512,1024")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--folder-count", type=int, default=32)
    parser.add_argument("--iterations", type=int, default=None, help="Optimisation's budget (default: run's, 150).")
    parser.add_argument("--snapshots", type=Path, default=None, help="Folder of stepN.safetensors taken during training.")
    parser.add_argument("--log", type=Path, default=None, help="The training's log.jsonl, for seconds per step.")
    parser.add_argument("--also", action="append", default=[], metavar="LABEL=FILE",
                        help="Another network of the same painting to score beside the model (repeatable).")
    parser.add_argument("--look-only", action="store_true", help="Only the look: no speed, folder or video.")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    photos = [DATA / p for p in QUALITY_PHOTOS if (DATA / p).exists()]
    if not photos:
        raise SystemExit(f"no benchmark photos under {DATA}")
    painting = load_image(args.painting)
    work = Path(tempfile.mkdtemp(prefix="bench-ff-"))
    sizes = [int(s) for s in args.speed_sizes.split(",")]

    files = networks(args.model, args.also)
    command = " ".join(["python benchmarks/bench_feedforward.py --model", str(args.model), "--painting", str(args.painting),
                        *(f"--also '{entry}'" for entry in args.also), *(["--look-only"] if args.look_only else [])])
    # A look-only run is a topic of its own: it must not send the full run's speed tables to the history.
    title = "Feed-forward look against optimisation" if args.look_only else "Feed-forward mode"
    lines = [f"## {title} ({time.strftime('%Y-%m-%d')}, {cpu_name()}, torch {torch.__version__}, "
             f"{torch.get_num_threads()} threads)", "", f"`{command}`", ""]
    if not args.look_only:
        lines += [f"Speed, one photo at a time (median of {args.repeats}, after a warm-up):", ""]
        lines += speed(args.model, load_image(photos[0], 1024), sizes, args.repeats, work)

    rows = look(files, painting, photos, args.size, args.iterations)
    if not args.look_only:
        per_photo_opt = statistics.mean(r["opt_seconds"] for r in rows)
        rate, seconds = folder_throughput(args.model, photos, args.size, args.folder_count, work)
        lines += ["", f"Folder of {args.folder_count} photos at {args.size} px through `nstbatch run --model` (decode, "
                  f"paint, encode, manifest): {seconds:.1f} s, {rate:.1f} photos/s; optimisation with run's defaults "
                  f"({args.iterations or 150} iterations): {per_photo_opt:.0f} s a photo, so the network's folder "
                  f"throughput is {rate * per_photo_opt:.0f}x optimisation's.", ""]
        clip = HERE.parent / "examples" / "video" / "cockatoo_3s.mp4"
        for long_side in (256, 512):
            fps, frames = video_fps(args.model, clip, long_side, work)
            lines.append(f"`nstbatch video --model` on the bundled clip ({frames} frames) at {long_side} px, decode "
                         f"and encode included: {fps:.1f} frames per second.")
        lines.append("")
    lines += [f"Look at {args.size} px on photos not in the training set (fixed Gatys distances, lower is better; "
              "the photo itself scores style 1, content 0):", "",
              "| photo | network style | optimisation style | network content | optimisation content |",
              "| --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['photo']} | {r['net']['style_rel']:.3f} | {r['opt']['style_rel']:.3f} | "
                     f"{r['net']['content_rel']:.3f} | {r['opt']['content_rel']:.3f} |")
    net_style = statistics.mean(r["net"]["style_rel"] for r in rows)
    opt_style = statistics.mean(r["opt"]["style_rel"] for r in rows)
    net_content = statistics.mean(r["net"]["content_rel"] for r in rows)
    opt_content = statistics.mean(r["opt"]["content_rel"] for r in rows)
    lines.append(f"| mean | {net_style:.3f} | {opt_style:.3f} | {net_content:.3f} | {opt_content:.3f} |")
    lines += ["", f"Network / optimisation: style distance {net_style / opt_style:.2f}x, content distance "
              f"{net_content / opt_content:.2f}x.", "",
              "Every network scored, means over the same photos (the target: style at most 2× optimisation's, "
              "content at most +0.05):", ""]
    lines += look_against_optimisation(rows, files)
    if args.snapshots:
        lines += ["", "Quality against training steps (means over the same photos):", ""]
        lines += snapshot_distances(args.snapshots, painting, photos, args.size)
    if args.log and args.log.exists():
        steps = [json.loads(line) for line in args.log.read_text().splitlines() if line.strip()]
        pace = statistics.median(s["seconds"] for s in steps)
        lines += ["", f"Training: {len(steps)} steps logged, median {pace:.2f} s a step on this machine "
                  f"(from {args.log})."]
    publish(lines, args.results)


if __name__ == "__main__":
    main()
