"""`nstbatch train`: a feed-forward network learnt from a folder of photos and one or more paintings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import NstError, UsageError
from .app import app
from ..training.settings import TrainSettings  # its defaults are the command's
from ..engines import load_option_image
from .options import (INPUT_OUTPUT, LOOK, TRAINING, VIDEO, ContentWeight, Device, Precision, Quiet, StyleWeight, TvWeight,
                      Weights, fail, given_on_command_line)


@app.command(short_help="Train a network that paints any photo in one pass.")
def train(
    ctx: typer.Context,
    style: Annotated[Optional[list[Path]], typer.Option("--style", "-s", metavar="FILE", help="A painting; repeat for a network of several.", rich_help_panel=INPUT_OUTPUT)] = None,
    universal: Annotated[bool, typer.Option("--universal", help="A network for any painting, given when it paints.", rich_help_panel=INPUT_OUTPUT)] = False,
    paintings: Annotated[Optional[Path], typer.Option(metavar="FOLDER", help="With --universal: paintings to learn from (--style-weight) and preview.", rich_help_panel=INPUT_OUTPUT)] = None,
    photos: Annotated[Optional[Path], typer.Option(metavar="FOLDER", help="Photos to train on (walked recursively).", rich_help_panel=INPUT_OUTPUT)] = None,
    output: Annotated[Path, typer.Option("--output", "-o", metavar="FOLDER", help="Checkpoints, previews, log; a re-run resumes.", rich_help_panel=INPUT_OUTPUT)] = Path("model"),
    from_checkpoint: Annotated[Optional[Path], typer.Option("--from", metavar="FILE", help="Add --style paintings to this network.", rich_help_panel=INPUT_OUTPUT)] = None,
    start_from: Annotated[Optional[Path], typer.Option(metavar="FILE", help="Go on training this network, every weight.", rich_help_panel=INPUT_OUTPUT)] = None,
    quiet: Quiet = False,
    steps: Annotated[int, typer.Option(min=1, metavar="N", help="Steps in all; more extends a finished run.", rich_help_panel=TRAINING)] = TrainSettings.steps,
    crop_size: Annotated[int, typer.Option(min=16, metavar="PX", help="Side of the square training crops.", rich_help_panel=TRAINING)] = TrainSettings.crop_size,
    batch_size: Annotated[int, typer.Option(min=1, metavar="N", help="Crops a step.", rich_help_panel=TRAINING)] = TrainSettings.batch_size,
    learning_rate: Annotated[float, typer.Option(min=0.0, metavar="R", help="Adam's step size.", rich_help_panel=TRAINING)] = TrainSettings.learning_rate,
    ema_decay: Annotated[float, typer.Option(min=0.0, max=0.9999, metavar="D", help="Ship the weights' moving average (e.g. 0.995).", rich_help_panel=TRAINING)] = TrainSettings.ema_decay,
    kind: Annotated[str, typer.Option(metavar="KIND", help="The kind of network (residual: Johnson et al.'s).", rich_help_panel=TRAINING)] = TrainSettings.kind,
    channels: Annotated[int, typer.Option(min=1, metavar="N", help="Width of the first layer (then 2x, 4x).", rich_help_panel=TRAINING)] = TrainSettings.channels,
    residual_blocks: Annotated[int, typer.Option(min=0, metavar="N", help="Residual blocks in the middle.", rich_help_panel=TRAINING)] = TrainSettings.residual_blocks,
    save_every: Annotated[int, typer.Option(min=1, metavar="K", help="A checkpoint and a preview every K steps.", rich_help_panel=TRAINING)] = TrainSettings.save_every,
    seed: Annotated[int, typer.Option(metavar="N", help="Seeds the weights and the crops.", rich_help_panel=TRAINING)] = TrainSettings.seed,
    weights: Weights = None,
    content_weight: ContentWeight = TrainSettings.content_weight,
    style_weight: StyleWeight = TrainSettings.style_weight,
    tv_weight: TvWeight = TrainSettings.tv_weight,
    style_scale: Annotated[float, typer.Option(min=0.05, metavar="X", help="Painting size to the crop: larger, larger strokes.", rich_help_panel=LOOK)] = TrainSettings.style_scale,
    temporal_weight: Annotated[float, typer.Option(min=0.0, metavar="W", help="Steadiness on video (Wang et al.); 0 is off.", rich_help_panel=VIDEO)] = TrainSettings.temporal_weight,
    temporal_block: Annotated[int, typer.Option(min=1, metavar="PX", help="Compare means of blocks this wide.", rich_help_panel=VIDEO)] = TrainSettings.temporal_block,
    clips: Annotated[Optional[Path], typer.Option(metavar="FOLDER", help="Also hold it steady on these clips' frames.", rich_help_panel=VIDEO)] = None,
    device: Device = "auto",
    precision: Precision = TrainSettings.precision,
):
    """Train a feed-forward network that paints any photo in one pass (Johnson et al.; several paintings: Dumoulin et al.).
    With --universal, one that takes any painting when it paints (Li et al.'s whitening and colouring, the encoder
    distilled from VGG-19): it learns from photos alone."""
    from ..batch.progress import QuietReporter, RichReporter

    reporter = QuietReporter() if quiet else RichReporter()
    if universal:
        given = {name: value for name, value in (("steps", steps), ("crop_size", crop_size), ("batch_size", batch_size),
                                                 ("learning_rate", learning_rate), ("width", channels), ("seed", seed),
                                                 ("save_every", save_every), ("style_weight", style_weight))
                 if given_on_command_line(ctx, ["channels" if name == "width" else name])}
        _refuse_for_universal(ctx, style, from_checkpoint, clips)
        return _train_universal(photos, paintings, output, given, weights, device, quiet, reporter, start_from)
    if paintings is not None:
        fail(UsageError("--paintings is for --universal; a network of its own paintings takes them as --style"))
    settings = TrainSettings(steps=steps, crop_size=crop_size, batch_size=batch_size, learning_rate=learning_rate,
                             content_weight=content_weight, style_weight=style_weight, tv_weight=tv_weight,
                             temporal_weight=temporal_weight, temporal_block=temporal_block, ema_decay=ema_decay,
                             style_scale=style_scale, kind=kind, channels=channels, residual_blocks=residual_blocks, seed=seed,
                             precision=precision, save_every=save_every)
    try:
        trainer, photo_set, clip_pairs = _trainer(style or [], photos, clips, settings, output, device, from_checkpoint,
                                                  weights, start_from, reporter)
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
        result = _trained(reporter, trainer, output, steps,
                          lambda: trainer.run(lambda step: reporter.iteration(step.step, step.losses["total"])))
    if not quiet:
        pace = f", {result.seconds_per_step:.2f} s per step" if result.seconds_per_step else ""
        typer.echo(f"trained to step {result.step}{pace}; weights in {result.model}, previews in {output / 'previews'}")


def _trained(reporter, trainer, output, steps: int, run):
    """What ``run`` (the trainer's run to ``steps``, reporting each step) returns; a folder trained that far
    already is one line and exit 0, Ctrl-C or SIGTERM (Slurm, Kubernetes) saves the checkpoint and says so,
    a loss that stops being a number is one line and exit 1."""
    from ..batch.signals import Interrupted, stop_on_signals

    if trainer.info.step >= steps:
        reporter.message(f"{output} is trained to step {trainer.info.step} already; give a larger --steps to go on")
        raise typer.Exit(0)
    reporter.start_item("training", steps)
    try:
        with stop_on_signals():
            result = run()
    except KeyboardInterrupt as stop:
        by = f"stopped by {stop}" if isinstance(stop, Interrupted) else "interrupted"
        reporter.message(f"{by} at step {trainer.info.step}: checkpoint saved; the same command resumes")
        raise typer.Exit(stop.exit_code if isinstance(stop, Interrupted) else 130) from None
    except FloatingPointError as exc:
        reporter.message(f"error: {exc}")
        raise typer.Exit(1) from None
    reporter.end_item(0)
    return result


def _trainer(style, photos, clips, settings, output, device, from_checkpoint, weights, start_from, reporter):
    """The paintings, photos and clips read (unreadable ones said and left out), and the trainer over them."""
    from ..records import file_sha256
    from ..training.clips import load_clips
    from ..training.loop import Painting, Trainer
    from ..training.photos import load_photos

    if photos is None:
        raise UsageError("--photos: give a folder of photos to train on")
    paintings = [Painting(path.stem, load_option_image(path, "--style"), file_sha256(path)) for path in style]
    names = [p.name for p in paintings]
    if len(set(names)) != len(names):
        raise UsageError(f"two paintings share a name ({', '.join(names)}): --style-blend calls them by file stem; rename one")
    photo_set = load_photos(photos, settings.crop_size, on_skip=lambda line: reporter.message(f"skipped: {line}"))
    clip_pairs = None
    if clips is not None:
        clip_pairs = load_clips(clips, settings.crop_size, on_skip=lambda line: reporter.message(f"skipped: {line}"))
    trainer = Trainer(photo_set, paintings, settings, output, device, from_checkpoint, weights, clip_pairs, start_from)
    return trainer, photo_set, clip_pairs


# What a universal network's training takes of the command's options (the rest shape a network of paintings).
UNIVERSAL_REFUSED = ("content_weight", "tv_weight", "style_scale", "temporal_weight", "temporal_block",
                     "ema_decay", "kind", "residual_blocks", "precision")


def _refuse_for_universal(ctx, style, from_checkpoint, clips) -> None:
    refused = given_on_command_line(ctx, UNIVERSAL_REFUSED)
    if style:
        refused.append("--style")
    refused += [name for name, value in (("--from", from_checkpoint), ("--clips", clips)) if value is not None]
    if refused:
        fail(UsageError(f"{', '.join(refused)}: not for --universal, whose paintings are given when it paints (it "
                        f"learns from --photos, and from --paintings with --style-weight)"))


def _train_universal(photos, paintings, output, given: dict, weights, device, quiet, reporter, start_from=None):
    """`train --universal`: the photos and paintings read, the run started (from ``start_from``'s weights)
    or resumed. With --style-weight, the painting stage: the decoder learns to paint --paintings (else the
    photos)."""
    from ..media.images import walk_images
    from ..training.photos import load_photos
    from ..training.universal import UniversalSettings, UniversalTrainer, painting_for_preview

    try:
        if photos is None:
            raise UsageError("--photos: give a folder of photos to train on")
        settings = UniversalSettings(**given)
        settings.check()
        photo_set = load_photos(photos, settings.crop_size, on_skip=lambda line: reporter.message(f"skipped: {line}"))
        shown, styles = [], None
        if paintings is not None:
            if not paintings.is_dir():
                raise UsageError(f"{paintings}: no such folder for --paintings")
            shown = [painting_for_preview(load_option_image(path, "--paintings")) for path in walk_images(paintings)[:3]]
            if settings.style_weight:
                styles = load_photos(paintings, settings.crop_size, lambda line: reporter.message(f"skipped: {line}"))
        if start_from is not None and not start_from.is_file():
            raise UsageError(f"{start_from}: no such file for --start-from")
        trainer = UniversalTrainer(photo_set, settings, output, device, weights, shown, styles, start_from)
    except NstError as exc:
        fail(exc)
    done = trainer.info.step
    with reporter:
        if not quiet:
            reporter.message(f"nstbatch train --universal: {len(photo_set.photos)} photos ({len(photo_set.skipped)} "
                             f"unreadable); {settings.crop_size} px crops x {settings.batch_size}, {settings.steps} steps, "
                             f"{'resuming at step ' + str(done) if done else 'from scratch'}; device {trainer.device}")
        pace = _trained(reporter, trainer, output, settings.steps,
                        lambda: trainer.run(lambda step, losses: reporter.iteration(step, losses["total"])))
    if not quiet:
        typer.echo(f"trained to step {trainer.info.step}{f', {pace:.2f} s per step' if pace else ''}; weights in "
                   f"{output / 'model.safetensors'}, previews in {output / 'previews'}; `nstbatch export model` makes "
                   f"the file `run --model ... --style PAINTING` paints with")
