"""`nstbatch run`: a photo or a folder, painted by optimisation or by a trained network."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Optional

import typer

from ..engines import MODEL_MAX_SIZE, STRENGTH_REFUSAL
from ..errors import EXIT_FAILED, NstError, UsageError
from ..runtime import defaults as library
from .app import app
from .options import (DEVICES, ENGINE, INPUT_OUTPUT, MANY_MACHINES, OPTIMISATION, BlockSize,
                      ContentLayers, ContentWeight, Device, Iterations, LearningRate, MatchColors, MaxMemory, MaxSize,
                      MissingMask, Model, Optimizer, Pooling, Precision, PreserveColors, Providers, Quiet, Region,
                      Regions, RegionStyle, Scales, StyleFine, Seed, StyleBlend, Strength, StyleLayers, StyleScale, StyleWeight, TvWeight,
                      Weights, check_engine_choice, fail, given_on_command_line, parse_scales, split_floats,
                      split_names)

# Options that only mean something to optimisation: given with --model they are a usage error.
OPTIMISATION_ONLY = ("style_fine", "iterations", "scales", "seed", "style_scale", "content_weight", "style_weight", "tv_weight",
                     "content_layers", "style_layers", "style_layer_weights", "optimizer", "learning_rate", "init",
                     "pooling", "weights", "save_every", "targets", "precision", "block_size")


@app.command(short_help="Paint photos or folders of them with paintings, or with a trained network.")
def run(
    ctx: typer.Context,
    inputs: Annotated[Path, typer.Option("--inputs", "--input", "-i", metavar="PATH", help="A photo or a folder of them.", rich_help_panel=INPUT_OUTPUT)],
    output: Annotated[Path, typer.Option("--output", "-o", metavar="FOLDER", help="Where results go.", rich_help_panel=INPUT_OUTPUT)] = Path("stylised"),
    size: Annotated[Optional[int], typer.Option(min=16, metavar="PX", help="The results' long side.", show_default="256 CPU, 512 GPU", rich_help_panel=INPUT_OUTPUT)] = None,
    max_size: MaxSize = MODEL_MAX_SIZE,
    output_format: Annotated[str, typer.Option("--format", metavar="FORMAT", help="png, jpg, webp or tif16 (16-bit, print).", rich_help_panel=INPUT_OUTPUT)] = "png",
    overwrite: Annotated[bool, typer.Option("--overwrite", metavar="", help="Redo results that exist (else they are kept).", rich_help_panel=INPUT_OUTPUT)] = False,
    max_pixels: Annotated[int, typer.Option(min=1, metavar="N", help="Refuse inputs with more pixels.", rich_help_panel=INPUT_OUTPUT)] = 100_000_000,
    no_gallery: Annotated[bool, typer.Option("--no-gallery", metavar="", help="No OUTPUT/index.html (photos beside results).", rich_help_panel=INPUT_OUTPUT)] = False,
    quiet: Quiet = False,
    style: Annotated[Optional[list[Path]], typer.Option("--style", "-s", metavar="FILE", help="A painting; repeat to blend several.", rich_help_panel=ENGINE)] = None,
    style_fine: StyleFine = None,
    model: Model = None,
    style_blend: StyleBlend = None,
    strength: Strength = 1.0,
    style_scale: StyleScale = 1.0,
    preserve_colors: PreserveColors = False,
    match_colors: MatchColors = False,
    region: Region = None,
    regions: Regions = None,
    region_style: RegionStyle = None,
    missing_mask: MissingMask = "fail",
    content_weight: ContentWeight = library.DEFAULT_CONTENT_WEIGHT,
    style_weight: StyleWeight = library.DEFAULT_STYLE_WEIGHT,
    tv_weight: TvWeight = library.DEFAULT_TV_WEIGHT,
    iterations: Iterations = None,
    scales: Scales = "auto",
    seed: Seed = 0,
    init: Annotated[str, typer.Option(metavar="HOW|FILE", help="content, noise, style, or an image file.", rich_help_panel=OPTIMISATION)] = "content",
    optimizer: Optimizer = library.DEFAULT_OPTIMIZER,
    learning_rate: LearningRate = library.DEFAULT_LEARNING_RATE,
    content_layers: ContentLayers = ",".join(library.DEFAULT_CONTENT_LAYERS),
    style_layers: StyleLayers = ",".join(library.DEFAULT_STYLE_LAYERS),
    style_layer_weights: Annotated[Optional[str], typer.Option(metavar="LIST", help="A weight for each style layer.", show_default="equal", rich_help_panel=OPTIMISATION)] = None,
    pooling: Pooling = library.DEFAULT_POOLING,
    weights: Weights = None,
    save_every: Annotated[int, typer.Option(min=0, metavar="K", help="Also write a snapshot every K iterations.", rich_help_panel=OPTIMISATION)] = 0,
    device: Device = "auto",
    batch_size: Annotated[int, typer.Option(min=1, metavar="N", help="Photos of one size at once (GPU).", rich_help_panel=DEVICES)] = 1,
    precision: Precision = "fp32",
    block_size: BlockSize = None,
    max_memory: MaxMemory = None,
    targets: Annotated[str, typer.Option(metavar="torch|onnx", help="What computes the targets.", rich_help_panel=DEVICES)] = "torch",
    providers: Providers = None,
    shard: Annotated[Optional[str], typer.Option(metavar="I/N", help="Paint only every N-th input from the I-th (0 to N-1).", rich_help_panel=MANY_MACHINES)] = None,
    ray: Annotated[bool, typer.Option("--ray", metavar="", help="Paint on a Ray cluster (a private local one by default).", rich_help_panel=MANY_MACHINES)] = False,
    ray_address: Annotated[Optional[str], typer.Option(metavar="ADDRESS", help="With --ray: the cluster to join, e.g. auto.", show_default="$RAY_ADDRESS, else local", rich_help_panel=MANY_MACHINES)] = None,
    ray_workers: Annotated[int, typer.Option(min=1, metavar="N", help="With --ray: workers, each holding the engine.", rich_help_panel=MANY_MACHINES)] = 2,
    ray_gpus: Annotated[float, typer.Option(min=0.0, metavar="G", help="With --ray: GPUs each worker takes.", show_default="1 with --device cuda, else 0", rich_help_panel=MANY_MACHINES)] = 0.0,
):
    """Stylise a photo or a folder of photos with one or more paintings, or with a trained network (--model)."""
    given = SimpleNamespace(**{name: value for name, value in locals().items() if name != "ctx"})
    from ..batch.signals import Interrupted, stop_on_signals

    try:
        with stop_on_signals():
            code = _run(ctx, given)
    except Interrupted as stop:
        typer.echo(f"nstbatch: stopped by {stop} before any picture was painted", err=True)
        code = stop.exit_code
    raise typer.Exit(code)


def _run(ctx: typer.Context, o: SimpleNamespace) -> int:
    """Everything that can refuse the run, before any work; then the batch, holding the folder's lock."""
    from ..atomic import remove_stale_temps
    from ..batch.discover import discover
    from ..batch.lock import FolderLock
    from ..batch.manifest import Ledger, prove_existing
    from ..batch.painted_regions import check_single_masks, parse_regions
    from ..batch.shards import parse_shard

    lock = created = None
    try:
        regions = parse_regions(o.region, o.regions, o.region_style, o.missing_mask)
        check_engine_choice(o.style, o.model, ctx, OPTIMISATION_ONLY, regions)
        if regions is not None:
            check_single_masks(regions)
        _check_ray(ctx, o)
        part = parse_shard(o.shard)
        found = discover(o.inputs, o.output, o.output_format, o.overwrite)
        if not found:
            raise UsageError(f"{o.inputs}: no images found (looked for .jpg .jpeg .png .bmp .tif .tiff .webp .gif)")
        jobs = part.take(found)
        created = make_output_folder(o.output)
        lock = FolderLock.acquire(o.output, part)  # from here on, no other run writes to this folder (shard)
        manifest = o.output / part.manifest_name
        if manifest.is_symlink():  # rows appended through it would land in another file
            raise UsageError(f"{manifest}: is a link; nstbatch does not follow links for its own files: remove it")
        chosen = _engine(o, regions)
        refusal = chosen.engine.batch_refusal() if o.batch_size > 1 else None
        if refusal:
            raise UsageError(f"--batch-size: {refusal}; leave it out")
        cluster = None
        if o.ray:  # joined (or started) now, so a cluster that cannot take the run refuses it before any work
            from ..batch.ray_executor import connect

            cluster = _ray_cluster(o)
            connect(cluster)
        made_with = chosen.made_with if o.model is not None else {**chosen.made_with, "batch_size": o.batch_size}
        ledger = Ledger.read(o.output)
        for problem in ledger.problems:
            typer.echo(f"warning: {problem}", err=True)
        masks_of = (lambda job: regions.hashes(job.relative)) if regions is not None and regions.per_photo else None
        unproven = prove_existing(jobs, made_with, o.output, ledger, masks_of)
        stale_temps = remove_stale_temps(o.output) if lock.alone else 0
    except BaseException as exc:  # refused before any work (ours, typer's BadParameter, a signal): undo, then say
        if lock is not None:
            lock.release()
        if created is not None:
            _undo_output_folder(o.output, created)
        if isinstance(exc, NstError):
            fail(exc)
        raise
    try:
        notes = _notes(lock, unproven, stale_temps, o.output)
        return _paint(o, jobs, len(found), chosen, part, made_with, notes, cluster, regions)
    finally:
        lock.release()


def _engine(o: SimpleNamespace, regions):
    """The engine the options ask for (``engines.Chosen``): the network, or optimisation with its settings."""
    from ..engines import NetworkSettings, OptimisationSettings, build

    if o.model is not None:
        return build(NetworkSettings(o.model, o.size, o.max_size, o.style_blend, o.preserve_colors, o.match_colors,
                                     regions, o.device, o.providers, o.max_memory, tuple(o.style or ()), o.strength))
    if o.strength != 1:
        raise UsageError(STRENGTH_REFUSAL)
    loop = dict(optimizer=o.optimizer, learning_rate=o.learning_rate, content_layers=split_names(o.content_layers),
                style_layers=split_names(o.style_layers),
                style_layer_weights=split_floats(o.style_layer_weights, "--style-layer-weights"),
                content_weight=o.content_weight, style_weight=o.style_weight, tv_weight=o.tv_weight, seed=o.seed,
                pooling=o.pooling, precision=o.precision, first_scale=parse_scales(o.scales, o.device))
    return build(OptimisationSettings(
        tuple(o.style or ()), o.style_blend, o.style_scale, o.style_fine, o.preserve_colors, o.match_colors, regions,
        o.size, o.iterations, o.init, loop, o.max_pixels, o.weights, o.targets, o.device, o.providers, o.block_size,
        o.max_memory))


def _notes(lock, unproven: int, stale_temps: int, output: Path) -> list[str]:
    """What the run says before its bar: a folder it could not lock, results redone, temporary files cleared."""
    notes = [f"warning: {lock.note}"] if lock.note else []
    if unproven:
        notes.append(f"note: {unproven} existing result{'s' if unproven > 1 else ''} in {output} redone: no "
                     f"manifest row proves {'them' if unproven > 1 else 'it'} (written by a run killed before "
                     f"its row, made from a photo since replaced, or changed since)")
    if stale_temps:
        notes.append(f"note: removed {stale_temps} unfinished temporary file{'s' if stale_temps > 1 else ''} "
                     f"that an interrupted run left")
    return notes


def _paint(o: SimpleNamespace, jobs, found: int, chosen, part, made_with: dict, notes: list[str],
           cluster=None, regions=None) -> int:
    """The batch itself, locally or on Ray (``cluster``): the plan, the gallery, the bars, the summary; its
    exit code."""
    from ..batch.gallery import Gallery
    from ..batch.progress import QuietReporter, RichReporter
    from ..batch.runner import Settings, Threads, drive
    from ..batch.shards import write_plan

    record = {**chosen.record, "size": chosen.size, "batch_size": o.batch_size}
    settings = Settings(size=chosen.size, max_pixels=o.max_pixels, max_size=o.max_size if o.model is not None else None,
                        init=chosen.init, save_every=o.save_every, batch_size=o.batch_size, record=record,
                        made_with=made_with, manifest_name=part.manifest_name, regions=regions)
    mask_files = None
    if regions is not None and regions.per_photo:
        def mask_files(job):
            try:
                return [str(Path(path).resolve()) for path in regions.sources(job.relative)]
            except (NstError, OSError):
                return None
    try:
        write_plan(o.output, part, jobs, found, mask_files)
    except OSError as exc:
        typer.echo(f"error: {o.output}: cannot write the plan ({exc.strerror or exc}); nothing was painted", err=True)
        return EXIT_FAILED
    if not o.no_gallery:
        paintings = [(path.name, path) for path in o.style or []] if o.model is None or o.style else [(chosen.label, None)]
        if (o.model is None or o.style) and regions is not None:  # the regions' paintings too, each once
            files = dict.fromkeys(Path(name) for region in regions.regions for name, _ in region.paintings)
            given = {path.resolve() for path in o.style or []}
            paintings += [(path.name, path) for path in files if path.is_file() and path.resolve() not in given]
        settings.gallery = Gallery(o.output, paintings, f"nstbatch run: {o.inputs} -> {o.output}",
                                   f"index{part.suffix}.html")
    reporter = QuietReporter() if o.quiet else RichReporter()
    with reporter:
        if not o.quiet:
            todo = sum(job.status == "todo" for job in jobs)
            of = f" (shard {part} of {found})" if part.count > 1 else ""
            on_ray = ""
            if cluster is not None:
                from ..batch.ray_executor import started

                on_ray = f"; {started(cluster)}"
            reporter.message(f"nstbatch: {len(jobs)} inputs{of}, {todo} to do; {chosen.header}{on_ray}")
        for note in notes:
            reporter.message(note)
        if cluster is not None:
            from ..batch.ray_executor import OnRay

            executor = OnRay(chosen.settings, cluster, o.output)
        else:
            executor = Threads(chosen.engine)
        summary = drive(executor, jobs, settings, o.output, reporter)
        reporter.message(f"{summary.line()}; results in {o.output}")
    return summary.exit_code


RAY_OPTIONS = ("ray_address", "ray_workers", "ray_gpus")


def _check_ray(ctx: typer.Context, o: SimpleNamespace) -> None:
    """--ray with what it needs, before any work: Ray installed, no --shard beside it."""
    if not o.ray:
        given = given_on_command_line(ctx, RAY_OPTIONS)
        if given:
            raise UsageError(f"{', '.join(given)}: only with --ray")
        return
    if o.shard is not None:
        raise UsageError("--ray and --shard: choose one (Ray hands the inputs out itself)")
    from ..batch.ray_executor import ray_module

    ray_module()


def _ray_cluster(o: SimpleNamespace):
    from ..batch.ray_executor import RayCluster

    gpus = o.ray_gpus or (1.0 if o.device.startswith("cuda") else 0.0)
    return RayCluster(o.ray_address, o.ray_workers, gpus)


def make_output_folder(output: Path) -> Path | None:
    """Create ``output`` (with its parents) if needed; the topmost folder created, or None. A folder that
    cannot be made is a usage error, before any work."""
    missing = None
    for folder in [output, *output.parents]:
        if folder.exists():
            break
        missing = folder
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{output}: cannot create the --output folder ({exc.strerror or exc})") from None
    return missing


def _undo_output_folder(output: Path, created: Path) -> None:
    """Undo ``make_output_folder`` for a run refused before any work: the folders it made, if left empty."""
    for lock_file in output.glob(".nstbatch*.lock"):
        lock_file.unlink(missing_ok=True)
    for folder in [output, *output.parents]:
        try:
            folder.rmdir()
        except OSError:
            return
        if folder == created:
            return
