"""`nstbatch video`: a clip painted frame by frame, by optimisation (each frame started from the previous one
along the flow) or by a trained network (--model, several frames a pass)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Optional

import typer

from ..engines import MODEL_MAX_SIZE, STRENGTH_REFUSAL, device_defaults
from ..media.encode import DEFAULT_CRF, ENCODERS
from ..errors import NstError, UsageError
from ..runtime import defaults as library
from ..version import __version__
from .app import app
from .options import (DEVICES, ENGINE, INPUT_OUTPUT, OPTIMISATION, VIDEO, ContentWeight, Device, MatchColors,
                      MaxSize, Model, Precision, PreserveColors, Providers, Quiet, Region, Regions, RegionStyle,
                      Scales, Seed, StyleBlend, Strength, StyleScale, StyleWeight, TvWeight, Weights, check_engine_choice, fail,
                      given_on_command_line, parse_scales, split_ints)

# Options that only mean something to optimisation: given with --model they are a usage error.
OPTIMISATION_ONLY = ("iterations", "first_iterations", "scales", "temporal_weight", "temporal_frames", "passes", "flow",
                     "seed", "style_scale", "content_weight", "style_weight", "tv_weight", "weights", "precision",
                     "keyframes", "keyframe_steps")
# Options of frame-by-frame optimisation that a clip painted through its keyframes' network has no use for.
NOT_WITH_KEYFRAMES = ("iterations", "temporal_weight", "temporal_frames", "passes", "flow")


def finished(output: Path):
    typer.echo(f"{output} already exists, made with these settings; pass --overwrite to make it again")
    raise typer.Exit(0)


@app.command(short_help="Paint a video: by optimisation, with a trained network, or through keyframes.")
def video(
    ctx: typer.Context,
    input_path: Annotated[Path, typer.Option("--inputs", "--input", "-i", metavar="PATH", help="A video file, or a folder of numbered frames.", rich_help_panel=INPUT_OUTPUT)],
    output: Annotated[Path, typer.Option("--output", "-o", metavar="FILE", help="The stylised video, an mp4 with the clip's sound.", rich_help_panel=INPUT_OUTPUT)] = Path("stylised.mp4"),
    frames_dir: Annotated[Optional[Path], typer.Option(metavar="FOLDER", help="Keep the frames here; a re-run resumes from them.", show_default="OUTPUT.frames, then removed", rich_help_panel=INPUT_OUTPUT)] = None,
    size: Annotated[Optional[int], typer.Option(min=16, metavar="PX", help="Longest side of the frames.", show_default="256 CPU, 512 GPU", rich_help_panel=INPUT_OUTPUT)] = None,
    max_size: MaxSize = MODEL_MAX_SIZE,
    max_frames: Annotated[Optional[int], typer.Option(min=1, metavar="N", help="Stylise only the first N frames.", rich_help_panel=INPUT_OUTPUT)] = None,
    fps: Annotated[Optional[float], typer.Option(min=0.1, metavar="FPS", help="Frame rate of the result.", show_default="the clip's; 25", rich_help_panel=INPUT_OUTPUT)] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", metavar="", help="Make it again, discarding stored frames.", rich_help_panel=INPUT_OUTPUT)] = False,
    codec: Annotated[str, typer.Option(metavar="h264|hevc|vp9|av1", help="Video codec (h264 plays everywhere).", rich_help_panel=INPUT_OUTPUT)] = "h264",
    crf: Annotated[int, typer.Option(min=0, max=63, metavar="Q", help="Quality: lower is better and larger.", rich_help_panel=INPUT_OUTPUT)] = DEFAULT_CRF,
    no_audio: Annotated[bool, typer.Option("--no-audio", metavar="", help="Leave the clip's sound out.", rich_help_panel=INPUT_OUTPUT)] = False,
    quiet: Quiet = False,
    style: Annotated[Optional[list[Path]], typer.Option("--style", "-s", metavar="FILE", help="A painting; repeat to blend several.", rich_help_panel=ENGINE)] = None,
    model: Model = None,
    keyframes: Annotated[Optional[int], typer.Option(min=1, metavar="N", help="Paint N frames, train a network on them, paint all.", rich_help_panel=ENGINE)] = None,
    keyframe_steps: Annotated[int, typer.Option(min=1, metavar="N", help="With --keyframes: the network's training steps.", rich_help_panel=ENGINE)] = 300,
    style_blend: StyleBlend = None,
    strength: Strength = 1.0,
    style_scale: StyleScale = 1.0,
    preserve_colors: PreserveColors = False,
    match_colors: MatchColors = False,
    region: Region = None,
    regions: Regions = None,
    region_style: RegionStyle = None,
    content_weight: ContentWeight = library.DEFAULT_CONTENT_WEIGHT,
    style_weight: StyleWeight = library.DEFAULT_STYLE_WEIGHT,
    tv_weight: TvWeight = library.DEFAULT_TV_WEIGHT,
    temporal_weight: Annotated[float, typer.Option(min=0.0, metavar="W", help="Hold each frame to the one before; 0 flickers.", rich_help_panel=VIDEO)] = 100.0,
    temporal_frames: Annotated[str, typer.Option(metavar="LIST", help="Earlier frames to hold to, e.g. 1,2,4.", rich_help_panel=VIDEO)] = "1",
    passes: Annotated[int, typer.Option(min=1, metavar="N", help="Sweeps over the clip, back and forth.", rich_help_panel=VIDEO)] = 1,
    flow: Annotated[str, typer.Option(metavar="dis|farneback", help="Optical flow method.", rich_help_panel=VIDEO)] = "dis",
    temporal_blend: Annotated[float, typer.Option(min=0.0, max=1.0, metavar="W", help="Networks: mix in the previous frame along the flow.", rich_help_panel=VIDEO)] = 0.0,
    iterations: Annotated[Optional[int], typer.Option(min=1, metavar="N", help="Per frame after the first.", show_default="50 CPU, 150 GPU", rich_help_panel=OPTIMISATION)] = None,
    first_iterations: Annotated[Optional[int], typer.Option(min=1, metavar="N", help="For the first frame.", show_default="150 CPU, 500 GPU", rich_help_panel=OPTIMISATION)] = None,
    scales: Scales = "off",
    seed: Seed = 0,
    weights: Weights = None,
    device: Device = "auto",
    batch_size: Annotated[int, typer.Option(min=1, metavar="N", help="Networks: frames painted in one pass.", rich_help_panel=DEVICES)] = 4,
    precision: Precision = "fp32",
    providers: Providers = None,
):
    """Stylise a video: by optimisation (each frame started from the last, carried along the optical flow),
    with a trained network (--model), or through a network trained on a few of its frames (--keyframes N)."""
    o = SimpleNamespace(**{name: value for name, value in locals().items() if name != "ctx"})
    from ..batch.signals import Interrupted, stop_on_signals

    job = None
    try:
        with stop_on_signals():
            try:
                job = _prepare(ctx, o)
            except NstError as exc:
                fail(exc)
            try:
                run = _paint(o, job)
                _assemble(o, job, run)
            finally:
                job.lock.release()
    except Interrupted as stop:
        kept = f"; finished frames are kept in {job.work_dir}: the same command resumes" if job else ""
        typer.echo(f"nstbatch: stopped by {stop}{kept}", err=True)
        raise typer.Exit(stop.exit_code) from None


@dataclass
class VideoJob:
    """What `video` settled before any frame: the clip, the engine, the work folder and the records."""

    source: object  # frames.FrameSource
    engine: object  # the optimiser, or the network's FeedForward
    size: int
    work_dir: Path
    made_with: dict
    label: str = ""  # the network and its blend (--model)
    settings: object = None  # video_optimisation.VideoSettings (optimisation and --keyframes)
    keyframe_settings: object = None
    lock: object = None  # lock.FolderLock: one writer for this output
    repainted: int = 0  # stored frames dropped: painted from an input since changed


def _prepare(ctx: typer.Context, o: SimpleNamespace) -> VideoJob:
    """Every check and refusal before any work; the job, or the exit of a video already made."""
    from ..batch.painted_regions import check_single_masks, parse_regions
    from ..engines import NetworkSettings, build
    from ..media.frames import open_frames

    o.painted_regions = parse_regions(o.region, o.regions, o.region_style)
    if o.painted_regions is not None:
        check_single_masks(o.painted_regions)
        if o.keyframes is not None:
            raise UsageError("--keyframes and regions: not together yet; paint the clip frame by frame, or with --model")
    if o.output.suffix.lower() != ".mp4":
        raise UsageError(f"--output {o.output}: must end in .mp4 (what browsers and phones play)")
    work_dir = o.frames_dir or o.output.with_name(o.output.name + ".frames")
    _check_paths(o, work_dir)
    if o.codec not in ENCODERS:
        raise UsageError(f"--codec must be one of {', '.join(ENCODERS)}, not '{o.codec}'")
    check_engine_choice(o.style, o.model, ctx, OPTIMISATION_ONLY, o.painted_regions)
    unused = given_on_command_line(ctx, NOT_WITH_KEYFRAMES) if o.keyframes is not None else []
    if unused:
        raise UsageError(f"{', '.join(unused)}: not with --keyframes, which paints the keyframes with "
                         f"--first-iterations and the rest with their network")
    if o.model is None and o.keyframes is None and o.temporal_blend > 0:
        raise UsageError("--temporal-blend: only with --model or --keyframes; optimisation holds frames together "
                         "with --temporal-weight")
    if o.model is not None:
        source = open_frames(o.input_path, o.max_frames, o.fps)
        size = o.size or min(max(source.width, source.height), o.max_size)
        chosen = build(NetworkSettings(o.model, size, o.max_size, o.style_blend, o.preserve_colors, o.match_colors,
                                       o.painted_regions, o.device, o.providers, None, tuple(o.style or ()),
                                       o.strength))
        record = {"input": str(o.input_path.resolve()), "size": size, "temporal_blend": o.temporal_blend,
                  **chosen.record}
        record.pop("runs_on")  # where it runs does not change the frames
        engine = _with_masks(chosen.engine, o.painted_regions, source, size, record)
        made_with = {**record, **chosen.made_with, **_encoding(o)}
        job = VideoJob(source, engine, size, work_dir, made_with, label=chosen.label)
        return _claim(o, job, record)
    if o.strength != 1:
        raise UsageError(STRENGTH_REFUSAL)
    return _prepare_optimisation(o, work_dir)


def _check_paths(o: SimpleNamespace, work_dir: Path) -> None:
    """Where the video and its frames go, checked before any work: never the input, never inside an input
    folder, never a folder where a file is asked for."""
    from ..files import overlap

    if o.output.is_dir():
        raise UsageError(f"--output {o.output}: is a folder; give the video's file name, e.g. {o.output / 'painted.mp4'}")
    if not o.input_path.exists():
        return  # said by open_frames, naming the file
    for path, option in ((o.output, "--output"), (work_dir, "--frames-dir" if o.frames_dir else "the work folder")):
        relation = overlap(path, o.input_path)
        if relation:
            fix = "choose another --output" if option != "--frames-dir" else "choose another --frames-dir"
            raise UsageError(f"{option} {path}: {relation} the input {o.input_path}; writing there could replace or "
                             f"delete it: {fix}")


def _claim(o: SimpleNamespace, job: VideoJob, record: dict) -> VideoJob:
    """Take the output for this run (one writer a video), exit if the video is made already, and ready
    the work folder; every refusal is one line, with the lock let go."""
    from ..atomic import remove_stale_temps
    from ..batch.lock import FolderLock
    from ..batch.video_work import already_made, prepare_work_dir

    try:
        o.output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--output {o.output}: cannot create its folder ({exc.strerror or exc})") from None
    job.lock = FolderLock.for_file(o.output)
    try:
        if job.lock.note:
            typer.echo(f"warning: {job.lock.note}", err=True)
        remove_stale_temps(o.output.parent, o.output.name)  # a killed encoder's temporary mp4
        if already_made(o.output, job.made_with, o.overwrite, o.input_path):
            finished(o.output)
        try:
            job.repainted = prepare_work_dir(job.work_dir, record, o.overwrite, o.input_path)
        except OSError as exc:
            raise UsageError(f"{job.work_dir}: cannot write the work folder ({exc.strerror or exc})") from None
    except BaseException:
        job.lock.release()
        raise
    return job


def _prepare_optimisation(o: SimpleNamespace, work_dir: Path) -> VideoJob:
    """The job of a clip painted by optimisation, frame by frame or through its keyframes' network."""
    from ..batch.video_optimisation import VideoSettings
    from ..engines import OptimisationSettings, build
    from ..media.frames import open_frames
    from ..training.keyframes import KeyframeSettings

    defaults = device_defaults(o.device)
    size, iterations = o.size or defaults["size"], o.iterations or defaults["video_iterations"]
    settings = VideoSettings(size=size, first_iterations=o.first_iterations or defaults["iterations"],
                             iterations=iterations, flow=o.flow,
                             temporal_frames=split_ints(o.temporal_frames, "--temporal-frames"), passes=o.passes)
    settings.check()
    source = open_frames(o.input_path, o.max_frames, o.fps)
    loop = dict(content_weight=o.content_weight, style_weight=o.style_weight, tv_weight=o.tv_weight,
                temporal_weight=o.temporal_weight, seed=o.seed, precision=o.precision,
                first_scale=parse_scales(o.scales, o.device))
    chosen = build(OptimisationSettings(tuple(o.style or ()), o.style_blend, o.style_scale, None, o.preserve_colors,
                                        o.match_colors, o.painted_regions, size, iterations, loop=loop, weights=o.weights,
                                        device=o.device))
    engine, options = chosen.engine, chosen.engine.options
    settings.record = {
        "input": str(o.input_path.resolve()), "style": [str(p.resolve()) for p in o.style or []], "size": size,
        "first_iterations": settings.first_iterations, "flow": o.flow,
        "temporal_frames": list(settings.temporal_frames), "passes": o.passes, "style_blend": o.style_blend,
        "style_scale": o.style_scale, "preserve_colors": o.preserve_colors, "weights": engine.vgg.weights_source,
        **{k: v for k, v in options.__dict__.items() if k != "gram_backend"},
    }
    keyframe_settings = None
    if o.keyframes is not None:
        keyframe_settings = KeyframeSettings(steps=o.keyframe_steps, seed=o.seed)
        settings.record.update(keyframes=o.keyframes, temporal_blend=o.temporal_blend,
                               keyframe_network={**keyframe_settings.record(), "steps": o.keyframe_steps})
    if o.match_colors:
        settings.record["match_colors"] = True
    if o.painted_regions is not None:
        settings.record["regions"] = chosen.record["regions"]  # the masks as build hashed them
    engine = _with_masks(engine, o.painted_regions, source, size, settings.record)
    made_with = {**settings.record, "style_sha256": chosen.made_with["style_sha256"], "version": __version__,
                 **_encoding(o)}
    job = VideoJob(source, engine, size, work_dir, made_with, settings=settings, keyframe_settings=keyframe_settings)
    return _claim(o, job, settings.record)


def _with_masks(engine, regions, source, size: int, record: dict):
    """The engine handed each frame its masks (one mask for the clip, or a folder of one a frame), the
    hash of every mask file used put in ``record``; as it is without regions."""
    if regions is None:
        return engine
    from ..batch.painted_regions import ClipMasks
    from ..media.frames import working_size

    masked = ClipMasks(engine, regions, source.count)
    width, height = working_size(source.width, source.height, size)
    masked.check((height, width))
    record["masks_sha256"] = masked.sha256()
    return masked


def _encoding(o: SimpleNamespace) -> dict:
    """What decides the file beyond its frames (the encoding, the sound): another choice is another video."""
    return {"codec": o.codec, "crf": o.crf, "audio": not o.no_audio}


def _paint(o: SimpleNamespace, job: VideoJob):
    """Every frame into the work folder, with a bar: the run's record of what it did."""
    from ..batch.progress import QuietReporter, RichReporter
    from ..batch.signals import Interrupted
    from ..batch.video_work import paint_video
    from ..media.frames import working_size

    source, engine, settings = job.source, job.engine, job.settings
    width, height = working_size(source.width, source.height, job.size)
    reporter = QuietReporter() if o.quiet else RichReporter()
    with reporter:
        clip = (f"nstbatch video: {source.path}, {source.count} frames at {source.fps:g} fps, "
                f"{source.width}x{source.height} -> {width}x{height}; ")
        if o.size is None and (width, height) != (source.width, source.height):  # shrunk by a default: say so
            keep = "--max-size" if o.model is not None else "--size"
            reporter.message(f"note: the frames are painted at {width}x{height}, smaller than the clip's "
                             f"{source.width}x{source.height}; {keep} {max(source.width, source.height)} keeps its size")
        if job.repainted:
            reporter.message(f"note: {job.repainted} stored frames in {job.work_dir} painted again: the input changed "
                             f"since they were painted")
        blend = f", blended {o.temporal_blend:g} with the previous frame" if o.temporal_blend else ""
        try:
            if o.model is not None:
                if not o.quiet:
                    reporter.message(clip + job.label + f", {o.batch_size} frames a pass on {engine.runs_on}{blend}")
                return paint_video(source, engine, job.size, job.work_dir, reporter, o.batch_size, o.temporal_blend)
            from ..batch.keyframe_video import keyframe_video
            from ..batch.video_optimisation import stylize_video
            from ..runtime.gram import backend_in_use

            if o.keyframes is not None:
                if not o.quiet:
                    reporter.message(clip + f"{o.keyframes} keyframes painted with {settings.first_iterations} "
                                     f"iterations each, a network trained on them for {o.keyframe_steps} steps, then "
                                     f"every frame through it{blend}; device {engine.device}")
                return keyframe_video(source, engine, job.size, job.work_dir, o.keyframes, settings.first_iterations,
                                      job.keyframe_settings, reporter, o.batch_size, o.temporal_blend)
            if not o.quiet:
                reporter.message(clip + f"first frame {settings.first_iterations} iterations, then "
                                 f"{settings.iterations}; temporal weight {o.temporal_weight:g} towards frames "
                                 f"{', '.join(f't-{k}' for k in settings.temporal_frames)}, {o.passes} pass"
                                 f"{'es' if o.passes > 1 else ''}, flow {o.flow}; "
                                 f"device {engine.device}, gram {backend_in_use(engine.device)}")
            return stylize_video(source, engine, settings, job.work_dir, reporter)
        except KeyboardInterrupt as stop:
            if isinstance(stop, Interrupted):  # a signal's: said once, by the command
                raise
            reporter.message(f"interrupted: finished frames are kept in {job.work_dir}; the same command resumes")
            raise typer.Exit(130) from None


def _assemble(o: SimpleNamespace, job: VideoJob, run) -> None:
    """The mp4 from the work folder, its record beside it, and the closing line. A clip that decoded to
    fewer frames than it declares is written as far as it goes, but said, not recorded as made, and exit 1."""
    from ..batch.video_work import assemble, record_made_with, remove_work_dir
    from ..media.frames import working_size

    if run.failure:
        typer.echo(f"error: {run.failure}\n{run.frames} frames kept in {job.work_dir}; fix the input and run the "
                   f"same command again to resume", err=True)
        raise typer.Exit(1)
    source = job.source
    short = run.frames < source.count
    try:
        audio_from = None if o.no_audio or o.input_path.is_dir() else o.input_path
        written, sound = assemble(run.folder, run.frames, o.output, source.fps, audio_from, o.codec, o.crf,
                                  source.frame_times(run.frames), source.colour)
        if not short:
            record_made_with(o.output, job.made_with, o.input_path)
    except NstError as exc:  # a stored frame gone missing, or no mp4 encoder: the frames stay for a re-run
        fail(exc)
    except OSError as exc:  # a full disk, a folder made read-only while painting: one line, frames kept
        typer.echo(f"error: cannot write {o.output}: {exc.strerror or exc}\n{run.frames} painted frames are kept in "
                   f"{job.work_dir}; make room and run the same command again to write it", err=True)
        raise typer.Exit(1) from None
    if short:
        typer.echo(f"error: {source.path}: {run.frames} frames decoded of the {source.count} the file declares "
                   f"(damaged or cut short?); {o.output} holds those {run.frames}, and the frames are kept in "
                   f"{job.work_dir}", err=True)
        raise typer.Exit(1)
    if o.frames_dir is None:
        remove_work_dir(job.work_dir)
    if not o.quiet:
        width, height = working_size(source.width, source.height, job.size)
        pace = f", {run.seconds_per_frame():.2f} s per frame" if run.done else ""
        heard = "with the clip's sound" if sound else ("without sound (--no-audio)" if o.no_audio else "without sound")
        typer.echo(f"wrote {o.output}: {written} frames, {width}x{height} at {source.fps:g} fps, {o.codec}, {heard} "
                   f"({run.done} stylised now, {run.resumed} resumed{pace})")
