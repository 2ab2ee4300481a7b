"""`nstbatch video`: a clip painted frame by frame, by optimisation (each frame started from the previous one
along the flow) or by a trained network (--model, several frames a pass)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..engines import device_defaults, load_option_image, loop_options
from ..errors import NstError, UsageError
from ..version import __version__
from .app import app
from .options import (MODEL_MAX_SIZE, ContentWeight, Device, MaxSize, Model, Precision, PreserveColors, Providers, Quiet,
                      Scales, Seed, StyleBlend, StyleScale, StyleWeight, TvWeight, Weights, check_engine_choice, fail,
                      given_on_command_line, parse_scales, split_floats, split_ints)

# Options that only mean something to optimisation: given with --model they are a usage error.
OPTIMISATION_ONLY = ("iterations", "first_iterations", "scales", "temporal_weight", "temporal_frames", "passes", "flow",
                     "seed", "style_scale", "content_weight", "style_weight", "tv_weight", "weights", "precision",
                     "keyframes", "keyframe_steps")
# Options of frame-by-frame optimisation that a clip painted through its keyframes' network has no use for.
NOT_WITH_KEYFRAMES = ("iterations", "temporal_weight", "temporal_frames", "passes", "flow")


def finished(output: Path):
    typer.echo(f"{output} already exists, made with these settings; pass --overwrite to make it again")
    raise typer.Exit(0)


@app.command()
def video(
    ctx: typer.Context,
    input_path: Annotated[Path, typer.Option("--input", "-i", help="A video file, or a folder of numbered frames.")],
    style: Annotated[Optional[list[Path]], typer.Option("--style", "-s", help="A painting; repeat to blend several.")] = None,
    model: Model = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="The stylised video: an mp4 at the source frame rate, without audio.")] = Path("stylised.mp4"),
    frames_dir: Annotated[Optional[Path], typer.Option(help="Keep every stylised frame here as PNG; also where an interrupted run resumes from.", show_default="OUTPUT.frames/, removed when the video is written")] = None,
    size: Annotated[Optional[int], typer.Option(min=16, help="Longest side of the frames in pixels.", show_default="256 on CPU, 512 on GPU; with --model the clip's own, up to --max-size")] = None,
    max_size: MaxSize = MODEL_MAX_SIZE,
    batch_size: Annotated[int, typer.Option(min=1, help="With --model or --keyframes: frames painted in one pass.")] = 4,
    keyframes: Annotated[Optional[int], typer.Option(min=1, help="Paint only N frames by optimisation (spread over the clip, --first-iterations each), train a network on them for this clip, and paint every frame with it: minutes for a whole clip instead of seconds a frame.")] = None,
    keyframe_steps: Annotated[int, typer.Option(min=1, help="With --keyframes: training steps of the clip's network.")] = 300,
    temporal_blend: Annotated[float, typer.Option(min=0.0, max=1.0, help="With --model or --keyframes: mix this much of the previous painted frame, carried along the optical flow, into each frame where the flow is trusted; 0 is off.")] = 0.0,
    providers: Providers = None,
    iterations: Annotated[Optional[int], typer.Option(min=1, help="Per frame after the first, which start from their predecessor.", show_default="50 on CPU, 150 on GPU")] = None,
    first_iterations: Annotated[Optional[int], typer.Option(min=1, help="For the first frame, stylised from the photo.", show_default="150 on CPU, 500 on GPU")] = None,
    scales: Scales = "off",
    temporal_weight: Annotated[float, typer.Option(min=0.0, help="How closely each frame follows the previous one where the flow is reliable; 0 lets it flicker.")] = 100.0,
    temporal_frames: Annotated[str, typer.Option(help="The earlier frames each frame is held to, e.g. 1,2,4: a region hidden for a frame or two gets its look back from before (Ruder et al.'s long-term consistency).")] = "1",
    passes: Annotated[int, typer.Option(min=1, help="Sweeps over the clip: after the first, backward and forward in turn, each frame blended with its neighbour and refined for --iterations more (Ruder et al.'s multi-pass).")] = 1,
    flow: Annotated[str, typer.Option(help="Optical flow: dis (fast) or farneback.")] = "dis",
    max_frames: Annotated[Optional[int], typer.Option(min=1, help="Stylise only the first N frames.")] = None,
    fps: Annotated[Optional[float], typer.Option(min=0.1, help="Frame rate of the result.", show_default="the source's; 25 for a folder")] = None,
    device: Device = "auto",
    seed: Seed = 0,
    quiet: Quiet = False,
    style_blend: StyleBlend = None,
    style_scale: StyleScale = 1.0,
    preserve_colors: PreserveColors = False,
    content_weight: ContentWeight = 1.0,
    style_weight: StyleWeight = 3.0,
    tv_weight: TvWeight = 0.0,
    weights: Weights = None,
    precision: Precision = "fp32",
    overwrite: Annotated[bool, typer.Option(help="Make the video again even if OUTPUT exists, and discard stored frames.")] = False,
):
    """Stylise a video: by optimisation, each frame started from the previous one carried along the optical flow so
    it does not flicker; with a trained network (--model), one pass a frame; or through a network trained for
    this clip on a few of its frames painted by optimisation (--keyframes N)."""
    from ..media.frames import open_frames, working_size
    from ..batch.progress import QuietReporter, RichReporter
    from ..batch.video import (VideoSettings, already_made, assemble, paint_video, prepare_work_dir, record_made_with,
                               remove_work_dir, stylize_video)
    from ..records import file_sha256
    from ..runtime.gram import backend_in_use
    from ..runtime.transfer import StyleTransfer
    from ..batch.keyframes import keyframe_video
    from ..training.keyframes import KeyframeSettings
    from ..engines import network_engine

    try:
        if output.suffix.lower() != ".mp4":
            raise UsageError(f"--output {output}: must end in .mp4 (the one container every OpenCV build writes)")
        check_engine_choice(style, model, ctx, OPTIMISATION_ONLY)
        unused = given_on_command_line(ctx, NOT_WITH_KEYFRAMES) if keyframes is not None else []
        if unused:
            raise UsageError(f"{', '.join(unused)}: not with --keyframes, which paints the keyframes with "
                             f"--first-iterations and the rest with their network")
        if model is None and keyframes is None and temporal_blend > 0:
            raise UsageError("--temporal-blend: only with --model or --keyframes; optimisation holds frames together "
                             "with --temporal-weight")
        work_dir = frames_dir or output.with_name(output.name + ".frames")
        if model is not None:
            source = open_frames(input_path, max_frames, fps)
            size = size or min(max(source.width, source.height), max_size)
            chosen = network_engine(model, size, max_size, style_blend, preserve_colors, device, providers)
            record = {"input": str(input_path.resolve()), "size": size, "temporal_blend": temporal_blend,
                      **chosen.record}
            record.pop("runs_on")  # where it runs does not change the frames
            made_with = {**record, **chosen.made_with}
            if already_made(output, made_with, overwrite, input_path):
                finished(output)
            prepare_work_dir(work_dir, record, overwrite)
            engine = chosen.engine
        else:
            defaults = device_defaults(device)
            options, size = loop_options(
                device, size, iterations or defaults["video_iterations"], content_weight=content_weight,
                style_weight=style_weight, tv_weight=tv_weight, temporal_weight=temporal_weight, seed=seed,
                precision=precision, first_scale=parse_scales(scales, device),
            )
            settings = VideoSettings(size=size, first_iterations=first_iterations or defaults["iterations"],
                                     iterations=options.iterations, flow=flow,
                                     temporal_frames=split_ints(temporal_frames, "--temporal-frames"), passes=passes)
            settings.check()
            source = open_frames(input_path, max_frames, fps)
            styles = [load_option_image(path, "--style") for path in style]
            engine = StyleTransfer(styles, options, split_floats(style_blend, "--style-blend"), style_scale,
                                   preserve_colors, device, weights)
            settings.record = {
                "input": str(input_path.resolve()), "style": [str(p.resolve()) for p in style], "size": size,
                "first_iterations": settings.first_iterations, "flow": flow,
                "temporal_frames": list(settings.temporal_frames), "passes": passes, "style_blend": style_blend,
                "style_scale": style_scale, "preserve_colors": preserve_colors, "weights": engine.vgg.weights_source,
                **{k: v for k, v in options.__dict__.items() if k != "gram_backend"},
            }
            if keyframes is not None:
                keyframe_settings = KeyframeSettings(steps=keyframe_steps, seed=seed)
                settings.record.update(keyframes=keyframes, temporal_blend=temporal_blend,
                                       keyframe_network={**keyframe_settings.record(), "steps": keyframe_steps})
            made_with = {**settings.record, "style_sha256": [file_sha256(path) for path in style], "version": __version__}
            if already_made(output, made_with, overwrite, input_path):
                finished(output)
            prepare_work_dir(work_dir, settings.record, overwrite)
    except NstError as exc:
        fail(exc)
    width, height = working_size(source.width, source.height, size)
    reporter = QuietReporter() if quiet else RichReporter()
    with reporter:
        clip = (f"nstbatch video: {source.path}, {source.count} frames at {source.fps:g} fps, "
                f"{source.width}x{source.height} -> {width}x{height}; ")
        blend = f", blended {temporal_blend:g} with the previous frame" if temporal_blend else ""
        try:
            if model is not None:
                if not quiet:
                    reporter.message(clip + chosen.label + f", {batch_size} frames a pass on "
                                     f"{engine.runs_on}{blend}")
                run = paint_video(source, engine, size, work_dir, reporter, batch_size, temporal_blend)
            elif keyframes is not None:
                if not quiet:
                    reporter.message(clip + f"{keyframes} keyframes painted with {settings.first_iterations} iterations "
                                     f"each, a network trained on them for {keyframe_steps} steps, then every frame "
                                     f"through it{blend}; device {engine.device}")
                run = keyframe_video(source, engine, size, work_dir, keyframes, settings.first_iterations,
                                     keyframe_settings, reporter, batch_size, temporal_blend)
            else:
                if not quiet:
                    reporter.message(clip + f"first frame {settings.first_iterations} iterations, then "
                                     f"{settings.iterations}; temporal weight {temporal_weight:g} towards frames "
                                     f"{', '.join(f't-{k}' for k in settings.temporal_frames)}, {passes} pass"
                                     f"{'es' if passes > 1 else ''}, flow {flow}; "
                                     f"device {engine.device}, gram {backend_in_use(engine.device)}")
                run = stylize_video(source, engine, settings, work_dir, reporter)
        except KeyboardInterrupt:
            reporter.message(f"interrupted: finished frames are kept in {work_dir}; the same command resumes")
            raise typer.Exit(130) from None
    if run.failure:
        typer.echo(f"error: {run.failure}\n{run.frames} frames kept in {work_dir}; fix the input and run the same "
                   f"command again to resume", err=True)
        raise typer.Exit(1)
    try:
        written = assemble(run.folder, run.frames, output, source.fps)
        record_made_with(output, made_with, input_path)
    except NstError as exc:  # a stored frame gone missing, or no mp4 encoder: the frames stay for a re-run
        fail(exc)
    if frames_dir is None:
        remove_work_dir(work_dir)
    if not quiet:
        pace = f", {run.seconds_per_frame():.2f} s per frame" if run.done else ""
        typer.echo(f"wrote {output}: {written} frames, {width}x{height} at {source.fps:g} fps ({run.done} stylised now, "
                   f"{run.resumed} resumed{pace}); no audio: the soundtrack is not carried over")


