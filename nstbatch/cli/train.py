"""`nstbatch train`: a feed-forward network learnt from a folder of photos and one or more paintings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import NstError, UsageError
from .app import app
from ..training.settings import TrainSettings  # its defaults are the command's
from ..engines import load_option_image
from .options import ContentWeight, Device, Precision, Quiet, Seed, StyleWeight, TvWeight, Weights, fail


@app.command()
def train(
    style: Annotated[list[Path], typer.Option("--style", "-s", help="A painting; repeat for a network that holds several.")],
    photos: Annotated[Optional[Path], typer.Option(help="A folder of photos to train on (walked recursively), e.g. COCO.")] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Model folder: checkpoints, previews, log; a re-run resumes here.")] = Path("model"),
    from_checkpoint: Annotated[Optional[Path], typer.Option("--from", help="Add --style paintings to this network, training only their (γ, β).")] = None,
    start_from: Annotated[Optional[Path], typer.Option(help="Go on training this network, every weight, with these settings (from a fresh optimiser; --style: the paintings it holds): e.g. teach a trained network steadiness.")] = None,
    steps: Annotated[int, typer.Option(min=1, help="Training steps in all; a larger number extends a finished run.")] = TrainSettings.steps,
    crop_size: Annotated[int, typer.Option(min=16, help="Side of the square training crops in pixels.")] = TrainSettings.crop_size,
    batch_size: Annotated[int, typer.Option(min=1, help="Crops per step.")] = TrainSettings.batch_size,
    learning_rate: Annotated[float, typer.Option(min=0.0)] = TrainSettings.learning_rate,
    content_weight: ContentWeight = TrainSettings.content_weight,
    style_weight: StyleWeight = TrainSettings.style_weight,
    tv_weight: TvWeight = TrainSettings.tv_weight,
    temporal_weight: Annotated[float, typer.Option(min=0.0, help="Steadiness on video: paint a crop and the same crop moved by a pixel or two and noised alike (Wang et al.); 0 is off; 10-20 about halves the flicker for 5-15% more style distance (32 with --style-weight 1.35 halved it at the style distance of a network trained at the defaults, or lower), 100 and more trades style for steadiness.")] = TrainSettings.temporal_weight,
    temporal_block: Annotated[int, typer.Option(min=1, help="With --temporal-weight: compare the means of blocks this many pixels on a side, so a stroke may move inside its block at no cost (2: less style distance than per pixel, a little more flicker); 1 compares every pixel.")] = TrainSettings.temporal_block,
    clips: Annotated[Optional[Path], typer.Option(help="With --temporal-weight: also hold the network steady on consecutive frames of the clips in this folder (video files, or folders of frames), along their optical flow.")] = None,
    ema_decay: Annotated[float, typer.Option(min=0.0, max=0.9999, help="Ship the moving average of the weights, with this decay a step (e.g. 0.995, about the last 200 steps), rather than the last step's; 0 is off.")] = TrainSettings.ema_decay,
    style_scale: Annotated[float, typer.Option(min=0.05, help="The painting's size relative to the crop: larger gives larger strokes.")] = TrainSettings.style_scale,
    channels: Annotated[int, typer.Option(min=1, help="Width of the network's first layer (the others are 2x and 4x).")] = TrainSettings.channels,
    residual_blocks: Annotated[int, typer.Option(min=0)] = TrainSettings.residual_blocks,
    save_every: Annotated[int, typer.Option(min=1, help="Write a checkpoint and a preview every K steps.")] = TrainSettings.save_every,
    device: Device = "auto",
    seed: Seed = TrainSettings.seed,
    precision: Precision = TrainSettings.precision,
    weights: Weights = None,
    quiet: Quiet = False,
):
    """Train a feed-forward network that paints any photo in one pass (Johnson et al.; several paintings: Dumoulin et al.)."""
    from ..batch.progress import QuietReporter, RichReporter
    from ..records import file_sha256
    from ..training.clips import load_clips
    from ..training.loop import Painting, Trainer
    from ..training.photos import load_photos

    reporter = QuietReporter() if quiet else RichReporter()
    settings = TrainSettings(steps=steps, crop_size=crop_size, batch_size=batch_size, learning_rate=learning_rate,
                             content_weight=content_weight, style_weight=style_weight, tv_weight=tv_weight,
                             temporal_weight=temporal_weight, temporal_block=temporal_block, ema_decay=ema_decay,
                             style_scale=style_scale, channels=channels, residual_blocks=residual_blocks, seed=seed,
                             precision=precision, save_every=save_every)
    try:
        if photos is None:
            raise UsageError("--photos: give a folder of photos to train on")
        paintings = [Painting(path.stem, load_option_image(path, "--style"), file_sha256(path)) for path in style]
        names = [p.name for p in paintings]
        if len(set(names)) != len(names):
            raise UsageError(f"two paintings share a name ({', '.join(names)}): --style-blend calls them by file stem; rename one")
        photo_set = load_photos(photos, crop_size, on_skip=lambda line: reporter.message(f"skipped: {line}"))
        clip_pairs = None
        if clips is not None:
            clip_pairs = load_clips(clips, crop_size, on_skip=lambda line: reporter.message(f"skipped: {line}"))
        trainer = Trainer(photo_set, paintings, settings, output, device, from_checkpoint, weights, clip_pairs, start_from)
    except NstError as exc:
        fail(exc)
    done = trainer.info.step
    with reporter:
        if not quiet:
            what = ("resuming at step " + str(done) if done else f"adding to {from_checkpoint}" if from_checkpoint
                    else f"going on from {start_from}" if start_from else "from scratch")
            frames = (f", {len(clip_pairs.pairs)} frame pairs of {len(clip_pairs.names)} clips"
                      if clip_pairs is not None else "")
            reporter.message(f"nstbatch train: {len(photo_set.photos)} photos ({len(photo_set.skipped)} unreadable){frames}, "
                             f"{', '.join(trainer.info.style_names)}; {crop_size} px crops x {batch_size}, "
                             f"{steps} steps, {what}; device {trainer.device}")
        if done >= steps:
            reporter.message(f"{output} is trained to step {done} already; give a larger --steps to go on")
            raise typer.Exit(0)
        reporter.start_item("training", steps)

        def on_step(step):
            reporter.iteration(step.step, step.losses["total"])

        try:
            result = trainer.run(on_step)
        except KeyboardInterrupt:
            reporter.message(f"interrupted at step {trainer.info.step}: checkpoint saved; the same command resumes")
            raise typer.Exit(130) from None
        except FloatingPointError as exc:
            reporter.message(f"error: {exc}")
            raise typer.Exit(1) from None
        reporter.end_item(0)
    if not quiet:
        pace = f", {result.seconds_per_step:.2f} s per step" if result.seconds_per_step else ""
        typer.echo(f"trained to step {result.step}{pace}; weights in {result.model}, previews in {output / 'previews'}")
