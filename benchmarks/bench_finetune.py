"""Adding a painting to a trained network (`nstbatch train --from`) against training one from scratch.

Both runs train the new painting with the same settings, seed and photos; the fine-tuned one trains
only the new painting's (γ, β) of the base network (Dumoulin et al.'s recipe), the other every weight
of a fresh network. Every ``--eval-every`` steps both are scored with the fixed Gatys distances
(_distance.py) on photos that are not in the training set, so the table says how many steps and
minutes the cheap way needs to reach what a network trained from scratch reaches.

    python benchmarks/bench_finetune.py --base nstbatch/models/starry_night/model.safetensors \
        --painting examples/styles/composition_vii_kandinsky.jpg --photos train-runs/clear-photos

Prints a table and appends it to benchmarks/RESULTS.md with the machine and the date.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from _results import RESULTS, cpu_name, publish
from bench_feedforward import unseen_photos

from nstbatch.media.images import load_image
from nstbatch.records import file_sha256
from nstbatch.network.feedforward import FeedForward
from nstbatch.network.torch_painter import TorchPainter
from nstbatch.network.stylizer import one_hot
from nstbatch.training.loop import Painting, Trainer, TrainSettings
from nstbatch.training.photos import load_photos


def distances(trainer: Trainer, index: int, scored) -> tuple[float, float]:
    trainer.model.eval()
    blend = one_hot(index, trainer.model.styles)[0].tolist()
    engine = FeedForward(TorchPainter(trainer.model, "cpu"), [str(i) for i in range(trainer.model.styles)], blend)
    scores = [score(engine(photo).image) for photo, score in scored]
    trainer.model.train()
    return statistics.mean(s["style_rel"] for s in scores), statistics.mean(s["content_rel"] for s in scores)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--painting", type=Path, required=True)
    parser.add_argument("--photos", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--crop-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--style-scale", type=float, default=1.5)
    parser.add_argument("--style-weight", type=float, default=TrainSettings.style_weight)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--finetune-learning-rate", type=float, default=None,
                        help="For the fine-tuned run (default: --learning-rate); (γ, β) alone may take a larger one.")
    parser.add_argument("--size", type=int, default=256, help="Long side of the photos scored.")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    painting = Painting(args.painting.stem, load_image(args.painting), file_sha256(args.painting))
    photos = load_photos(args.photos, args.crop_size)
    scored = unseen_photos(painting.image, args.size)
    work = Path(tempfile.mkdtemp(prefix="bench-finetune-"))
    finetune_lr = args.finetune_learning_rate or args.learning_rate
    runs = {"from scratch": (None, args.learning_rate), f"fine-tuned (γ, β only, lr {finetune_lr:g})": (args.base, finetune_lr)}
    table, seconds = {}, {}
    for label, (base, learning_rate) in runs.items():
        elapsed = 0.0
        for steps in range(args.eval_every, args.steps + 1, args.eval_every):
            settings = TrainSettings(steps=steps, crop_size=args.crop_size, batch_size=args.batch_size,
                                     style_scale=args.style_scale, style_weight=args.style_weight,
                                     learning_rate=learning_rate, save_every=args.steps)
            trainer = Trainer(photos, [painting], settings, work / label.split()[0].strip(":"), "cpu", base=base)
            start = time.perf_counter()
            trainer.run()
            elapsed += time.perf_counter() - start
            index = trainer.trained_styles[0]
            table[(label, steps)] = distances(trainer, index, scored)
            seconds[(label, steps)] = elapsed
            print(label, steps, table[(label, steps)], f"{elapsed:.0f} s")
    head = " | ".join(f"{label}: style | content | minutes" for label in runs)
    lines = [f"## Adding a painting to a trained network ({time.strftime('%Y-%m-%d')}, {cpu_name()}, "
             f"torch {torch.__version__})", "",
             f"`python benchmarks/bench_finetune.py --base {args.base} --painting {args.painting} --photos "
             f"{args.photos} --steps {args.steps}`: learning rate {args.learning_rate:g}, {args.crop_size} px crops x "
             f"{args.batch_size}, style scale {args.style_scale}, style weight {args.style_weight:g}; fixed Gatys "
             f"distances at {args.size} px, means over {len(scored)} photos not in the training set (lower is better).", "",
             f"| steps | {head} |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    labels = list(runs)
    for steps in range(args.eval_every, args.steps + 1, args.eval_every):
        cells = []
        for label in labels:
            style, content = table[(label, steps)]
            cells += [f"{style:.3f}", f"{content:.3f}", f"{seconds[(label, steps)] / 60:.1f}"]
        lines.append(f"| {steps} | " + " | ".join(cells) + " |")
    publish(lines, args.results)


if __name__ == "__main__":
    main()
