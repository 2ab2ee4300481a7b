"""Steadiness learnt in training (`nstbatch train --temporal-weight`) against the same network trained without it.

Every arm starts from the same trained network (--base, the bundled one by default) and trains --steps
more steps with the same photos, painting, seed and settings as the bundled network's own training;
the arms differ only in the temporal weight (0: the baseline). So the comparison is the one the issue
asks for, the same network trained with and without the term, at a cost a 2-core CPU can pay.

Each network then paints the clips of bench_video.py (the sliding window and the real segments) at
--size; the trained-with-term network also with --temporal-blend, and (--optimisation) nstbatch video's
optimisation paints the same clips at the CPU defaults. Reported per clip: the temporal error by the
frozen yardstick (_steadiness.py, which imports nothing from nstbatch), its ratio to the network
trained without the term, and the style and content distances (_distance.py), so steadiness is never
bought by painting less.

    python benchmarks/bench_temporal_training.py --photos train-runs/clear-photos [--steps 400]
        [--weights 100,300,1000] [--blend 0.5] [--size 256] [--optimisation]

An arm `W@S` trains with temporal weight W at `train --style-weight S` (default 1, the baseline's):
the term paints with less contrast, and `20@1.3` asks whether more style weight buys it back; `0@1.3`
is the same style weight without the term, to show what the style weight alone does.

Prints a table and appends it to benchmarks/RESULTS.md with the machine and the date.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _results import RESULTS, machine, publish
from _steadiness import temporal_error
from bench_video import EXAMPLES, REAL_CLIPS, load_clips, look, stylize
from bench_video_model import paint

from nstbatch.media.images import load_image
from nstbatch.batch.video_optimisation import VideoSettings
from nstbatch.network.checkpoint import load_checkpoint
from nstbatch.records import file_sha256
from nstbatch.network.feedforward import FeedForward
from nstbatch.network.torch_painter import TorchPainter
from nstbatch.training.clips import load_clips as load_clip_pairs
from nstbatch.training.loop import LOG, Painting, Trainer, TrainSettings
from nstbatch.training.photos import load_photos


@dataclass(frozen=True)
class Arm:
    """One network of the comparison: trained with this temporal weight at this style weight."""

    temporal: float
    style: float
    block: int = 1  # train --temporal-block, for an arm with the term

    @classmethod
    def parse(cls, text: str, block: int = 1) -> "Arm":
        temporal, _, style = text.partition("@")
        return cls(float(temporal), float(style or 1), block if float(temporal) else 1)

    def folder(self, with_clips: bool, seed: int = 1) -> str:
        """Its folder under --work; arms at style weight 1, per-pixel blocks and seed 1 keep the names earlier runs gave them."""
        return (f"w{self.temporal:g}{f'-block{self.block}' if self.block != 1 else ''}{'-clips' if with_clips else ''}"
                f"{f'-style{self.style:g}' if self.style != 1 else ''}{f'-seed{seed}' if seed != 1 else ''}")

    def label(self, clips) -> str:
        if not self.temporal and self.style == 1:
            return "trained without the term"
        words = [f"--temporal-weight {self.temporal:g}"] if self.temporal else ["no term"]
        if self.block != 1:
            words.append(f"--temporal-block {self.block}")
        if self.temporal and clips is not None:
            words.append(f"--clips {', '.join(clips.names)}")
        if self.style != 1:
            words.append(f"--style-weight {self.style:g}")
        return " + ".join(words)


def train_on(base: Path, photos, painting: Painting, settings: TrainSettings, folder: Path, clips=None):
    """--steps more steps of ``base``'s weights with ``settings`` (and ``clips``' frame pairs), or what
    ``folder`` already holds of them (the trainer resumes); (network, median seconds a step from its log)."""
    trainer = Trainer(photos, [painting], settings, folder, "cpu", clips=clips)
    if trainer.resumed_from == 0:
        trainer.start_from(load_checkpoint(base)[0])
    trainer.run()
    seconds = [json.loads(line)["seconds"] for line in (folder / LOG).read_text().splitlines() if line.strip()]
    return trainer.shipped.eval(), statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", type=Path, default=EXAMPLES.parent / "nstbatch" / "models" / "starry_night" / "model.safetensors")
    parser.add_argument("--style", type=Path, default=EXAMPLES / "styles" / "starry_night_vangogh.jpg")
    parser.add_argument("--photos", type=Path, required=True, help="the training photos (scripts/train_demo_model.sh's)")
    parser.add_argument("--photo", type=Path, default=EXAMPLES / "photos" / "coffee.jpg", help="slid across for the known-motion clip")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--weights", default="100,300,1000",
                        help="arms besides the baseline: temporal weights W, or W@S at style weight S")
    parser.add_argument("--temporal-block", type=int, default=1, help="train --temporal-block for the arms with the term")
    parser.add_argument("--seed", type=int, default=1, help="train every arm with this seed (the bundled network's: 1)")
    parser.add_argument("--no-default-arm", action="store_true",
                        help="leave out the network trained at the defaults: the first of --weights is then the one "
                             "the others are measured against")
    parser.add_argument("--ema-decay", type=float, default=0.0, help="train every arm with train --ema-decay")
    parser.add_argument("--blend", type=float, default=0.5, help="--temporal-blend for the networks trained with the term")
    parser.add_argument("--size", type=int, default=256)
    # 16: the same networks read over 8 and over 16 frames a clip differed by up to 0.04 in flicker ratio
    # and 3 points of style (RESULTS.md, 2026-12-01), as much as the bounds' margins: twice the frames
    # make the mean over a clip steadier.
    parser.add_argument("--frames", type=int, default=16, help="frames of each clip measured")
    parser.add_argument("--optimisation", action="store_true", help="also nstbatch video's optimisation (slow)")
    parser.add_argument("--clips", type=Path, default=None,
                        help="train the arms with a temporal weight on these clips' frame pairs too (train --clips); "
                             "keep them apart from the clips measured")
    parser.add_argument("--work", type=Path, default=None,
                        help="keep the trained networks here; a re-run resumes or reuses them (default: a temporary folder)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()

    # The bundled network's own training settings (nstbatch/models/starry_night/TRAINING.md).
    settings = dict(steps=args.steps, crop_size=160, batch_size=2, style_scale=1.5, style_weight=1.0, seed=args.seed,
                    save_every=args.steps, ema_decay=args.ema_decay)
    painting = Painting(args.style.stem, load_image(args.style), file_sha256(args.style))
    photos = load_photos(args.photos, settings["crop_size"])
    arms = [] if args.no_default_arm else [Arm(0.0, 1.0)]
    arms += [Arm.parse(text, args.temporal_block) for text in args.weights.split(",")]
    clips = load_clip_pairs(args.clips, settings["crop_size"]) if args.clips else None
    networks, pace = {}, {}
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.work or Path(scratch)
        for arm in arms:
            on_clips = clips if arm.temporal else None
            trained = TrainSettings(**{**settings, "style_weight": arm.style}, temporal_weight=arm.temporal,
                                    temporal_block=arm.block)
            networks[arm], pace[arm] = train_on(args.base, photos, painting, trained,
                                                Path(folder) / arm.folder(on_clips is not None, args.seed), on_clips)
            print(f"{arm.label(clips)}: {pace[arm]:.2f} s a step (median)", flush=True)

    style_image = load_image(args.style)
    rows = []
    for clip_name, frames in load_clips(["sliding", *REAL_CLIPS], args.photo, args.size, args.frames).items():
        h, w = frames[0].shape[:2]
        ways = [(arm.label(clips), networks[arm], 0.0) for arm in arms]
        ways += [(f"{arm.label(clips)} + --temporal-blend {args.blend:g}", networks[arm], args.blend)
                 for arm in arms if arm.temporal]
        baseline = None
        for name, network, blend in ways:
            engine = FeedForward(TorchPainter(network, "cpu"), [painting.name], [1.0])
            painted, _ = paint(frames, engine, args.size, blend)
            error = temporal_error(painted, frames)
            baseline = baseline or error
            style, content = look(frames, painted, style_image)
            rows.append(f"| {clip_name} | {w}x{h} | {name} | {error:.3g} | {error / baseline:.3f} | {style:.3f} | {content:.3f} |")
            print(rows[-1], flush=True)
        if args.optimisation:
            video = VideoSettings(size=args.size, first_iterations=150, iterations=50)
            painted, _ = stylize(frames, style_image, video, 100.0)
            error = temporal_error(painted, frames)
            style, content = look(frames, painted, style_image)
            rows.append(f"| {clip_name} | {w}x{h} | optimisation (nstbatch video, 150 then 50) | {error:.3g} | "
                        f"{error / baseline:.3f} | {style:.3f} | {content:.3f} |")
            print(rows[-1], flush=True)

    lines = [
        f"### Steadiness learnt in training, {time.strftime('%Y-%m-%d')}, {machine('auto' if args.optimisation else 'cpu')}",
        "",
        f"`python benchmarks/bench_temporal_training.py --photos {args.photos} --steps {args.steps} --weights "
        f"{args.weights}{f' --temporal-block {args.temporal_block}' if args.temporal_block != 1 else ''}"
        f"{f' --seed {args.seed}' if args.seed != 1 else ''}{' --no-default-arm' if args.no_default_arm else ''} --blend "
        f"{args.blend:g} --size {args.size}{' --optimisation' if args.optimisation else ''}"
        f"{f' --ema-decay {args.ema_decay:g}' if args.ema_decay else ''}"
        f" --frames {args.frames}"
        f"{f' --clips {args.clips}' if clips else ''}`: "
        f"each network is {args.base} trained {args.steps} more steps (160 px crops x 2, style scale 1.5, style "
        f"weight 1 unless shown, seed {args.seed}"
        f"{f', shipping the moving average of the weights, decay {args.ema_decay:g}' if args.ema_decay else ''}"
        f") with the temporal weight shown; median seconds a step: "
        + ", ".join(f"{pace[arm]:.2f} {arm.label(None)}" for arm in arms)
        + (f"; with --clips: {len(clips.pairs)} frame pairs of {', '.join(clips.names)}" if clips else "")
        + (f"; no network trained at the defaults: \"vs trained without\" is against {arms[0].label(clips)}"
           if args.no_default_arm else "")
        + f". {args.frames} frames a clip. Temporal error: the frozen yardstick (_steadiness.py); style / content: "
        "fixed Gatys distances, mean over frames.",
        "",
        "| clip | size | way | temporal error | vs trained without | style | content |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *rows,
    ]
    publish(lines, args.results)


if __name__ == "__main__":
    main()
