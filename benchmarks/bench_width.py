"""Choosing the network's width: speed against look for networks of several widths, trained alike.

Each width is trained for the same steps on the same crops (same seed), then timed with onnxruntime on
the CPU at 256 and 512 px and scored with the fixed Gatys distances (_distance.py) on photos that are
not in the training set. Short runs: they rank the widths, they do not show what a long run reaches.

    python benchmarks/bench_width.py --painting examples/styles/starry_night_vangogh.jpg \
        --photos train-runs/clear-photos [--widths 8,16,32] [--steps 300]

Prints a table and appends it to benchmarks/RESULTS.md with the machine and the date.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from _results import RESULTS, cpu_name, publish
from bench_feedforward import DATA, QUALITY_PHOTOS, median_ms, unseen_photos
from bench_finetune import distances

from nstbatch.media.images import load_image
from nstbatch.exporter.cache import cached_stylizer
from nstbatch.records import file_sha256
from nstbatch.onnx.providers import CPU
from nstbatch.onnx.session import StylizerSession
from nstbatch.network.stylizer import one_hot
from nstbatch.training.loop import MODEL, Painting, Trainer, TrainSettings
from nstbatch.training.photos import load_photos


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--painting", type=Path, required=True)
    parser.add_argument("--photos", type=Path, required=True)
    parser.add_argument("--widths", default="8,16,32")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--crop-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--style-scale", type=float, default=1.5)
    parser.add_argument("--style-weight", type=float, default=TrainSettings.style_weight)
    parser.add_argument("--size", type=int, default=256, help="Long side of the photos scored.")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    painting = Painting(args.painting.stem, load_image(args.painting), file_sha256(args.painting))
    photos = load_photos(args.photos, args.crop_size)
    scored = unseen_photos(painting.image, args.size)
    work = Path(tempfile.mkdtemp(prefix="bench-width-"))
    sample = load_image(DATA / QUALITY_PHOTOS[0], 512)
    rows = []
    for width in (int(w) for w in args.widths.split(",")):
        settings = TrainSettings(steps=args.steps, crop_size=args.crop_size, batch_size=args.batch_size,
                                 style_scale=args.style_scale, style_weight=args.style_weight, channels=width,
                                 save_every=args.steps)
        trainer = Trainer(photos, [painting], settings, work / f"w{width}", "cpu")
        start = time.perf_counter()
        trainer.run()
        per_step = (time.perf_counter() - start) / args.steps
        style, content = distances(trainer, 0, scored)
        session = StylizerSession(cached_stylizer(work / f"w{width}" / MODEL), [CPU])
        timings = []
        for long_side in (256, 512):
            image = torch.nn.functional.interpolate(sample, size=(long_side * 3 // 4, long_side), mode="bilinear",
                                                    antialias=True)
            timings.append(median_ms(lambda: session(image, one_hot(0, 1)), args.repeats))
        rows.append(f"| {width} | {sum(p.numel() for p in trainer.model.parameters()):,} | {timings[0]:.0f} | "
                    f"{timings[1]:.0f} | {style:.3f} | {content:.3f} | {per_step:.2f} |")
        print(rows[-1])
    lines = [f"## Network width: speed against look ({time.strftime('%Y-%m-%d')}, {cpu_name()}, "
             f"torch {torch.__version__})", "",
             f"`python benchmarks/bench_width.py --painting {args.painting} --photos {args.photos} --steps "
             f"{args.steps}`: each width trained {args.steps} steps on {args.crop_size} px crops x {args.batch_size} "
             f"(seed 0, style scale {args.style_scale}, style weight {args.style_weight:g}); onnxruntime fp32 on the CPU, 4:3 photos; Gatys distances "
             f"at {args.size} px, means over {len(scored)} photos not in the training set.", "",
             "| channels | parameters | ms at 256 px | ms at 512 px | style distance | content distance | s a training step |",
             "| --- | --- | --- | --- | --- | --- | --- |", *rows]
    publish(lines, args.results)


if __name__ == "__main__":
    main()
