"""The engines a command paints with: optimisation against paintings, or a trained network (an exported ONNX
file, or a checkpoint exported, validated and cached on first use). ``build`` makes one from its settings
(``OptimisationSettings``, ``NetworkSettings``), with the manifest's record of them, what decides its
pictures, and its header line; ``optimiser`` and ``open_model`` are the constructors underneath, for
callers holding pictures rather than files (the Python API).

A network runs on onnxruntime with the best provider that really loads; on a CUDA machine where no
onnxruntime GPU provider loads, a checkpoint runs in torch instead (bf16): a GPU sitting idle behind a
CPU session would be the slowest choice of all. What runs is said in ``runs_on``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar

from .errors import ImageError, UsageError
from .records import file_sha256
from .version import __version__

# Defaults that finish in minutes on a 2-core laptop CPU, and go for quality on a GPU. A video's first
# frame gets a photo's iterations; later frames start from their predecessor and need a third or less.
DEFAULTS = {
    "cpu": {"size": 256, "iterations": 150, "video_iterations": 50, "first_scale": 256},
    "cuda": {"size": 512, "iterations": 500, "video_iterations": 150, "first_scale": 512},
}


# A long side that a laptop CPU paints in about a second with the default network (measured in
# benchmarks/RESULTS.md); larger pictures are shrunk to it unless --size or --max-size says otherwise.
MODEL_MAX_SIZE = 1024


def check_engine_choice(style, model, regions=None, names: tuple[str, str] = ("--style", "--model")) -> None:
    """A painting or a trained network (or regions, whose paintings may be all there is); a UsageError
    naming the options as ``names`` (the command line's, or the Python API's keywords). Both: a universal
    network and its paintings, which ``open_model`` checks once it has read the model."""
    style_name, model_name = names
    if model is None and not style and not regions:
        raise UsageError(f"give a painting with {style_name}, or a trained network with {model_name}")


def memory_options(block_size: int | None, max_memory: float | None) -> dict:
    """--block-size and --max-memory (GiB) as StyleTransfer takes them."""
    return {"block_size": block_size, "max_memory": None if max_memory is None else round(max_memory * 2**30)}


def device_defaults(device) -> dict:
    from .runtime.transfer import resolve_device

    return DEFAULTS["cuda" if resolve_device(device).type == "cuda" else "cpu"]


def loop_options(device, size, iterations, **fields):
    """Options and the working size, with device-dependent defaults filled in."""
    from .runtime.stylize import Options

    defaults = device_defaults(device)
    options = Options(iterations=iterations or defaults["iterations"], **fields)
    options.check()
    return options, size or defaults["size"]


def load_option_image(path: Path, what: str, long_side=None, max_pixels=None):
    """An image given as an option: a bad one is a usage error (exit 2) before any work starts. Without
    ``max_pixels``, the limit every picture has."""
    import torch

    return torch.from_numpy(read_option_picture(path, what, long_side, max_pixels))


def read_option_picture(path: Path, what: str, long_side=None, max_pixels=None, max_long_side=None):
    """``load_option_image`` as a numpy array (1 x 3 x H x W), torch-free."""
    from .media.images import DEFAULT_MAX_PIXELS, read_picture

    try:
        return read_picture(path, long_side, max_pixels or DEFAULT_MAX_PIXELS, max_long_side)
    except ImageError as exc:
        raise UsageError(f"{what} {exc}") from None


def optimiser(paintings: list, options, blend: list[float] | None = None, style_scale: float = 1.0,
              preserve_colors: bool | str = False, device="auto", weights=None, target_features=None,
              block_size: int | None = None, max_memory: float | None = None, regions=None, fine_style=None):
    """The optimisation engine (``transfer.StyleTransfer``) for paintings given as 1 x 3 x H x W tensors: what
    `run`, `video` and ``nstbatch.stylize`` all paint with. ``max_memory`` in GiB, as the options take it;
    ``preserve_colors`` True or "luminance", or "histogram"; ``regions`` a batch.painted_regions.PaintedRegions;
    ``fine_style`` a painting for the fine texture (1 x 3 x H x W)."""
    from .runtime.transfer import StyleTransfer

    return StyleTransfer(paintings, options, blend, style_scale, preserve_colors, device, weights, target_features,
                         **memory_options(block_size, max_memory), regions=region_styles(regions),
                         fine_style=fine_style)


def color_mode(preserve_colors: bool, match_colors: bool) -> str | None:
    """--preserve-colors (luminance) and --match-colors (histogram) as the engines take them."""
    if preserve_colors and match_colors:
        raise UsageError("--preserve-colors and --match-colors: choose one way to keep the photo's colours")
    return "histogram" if match_colors else "luminance" if preserve_colors else None


def region_styles(painted) -> list | None:
    """What paints each region of ``painted`` (batch.painted_regions.PaintedRegions), as optimisation takes it: paintings
    loaded, the painting masks read. A list (of runtime.regions.RegionStyle, from the Python API) is taken
    as it is."""
    if painted is None or isinstance(painted, list):
        return painted
    import torch

    from .media.masks import read_mask
    from .runtime.regions import RegionStyle

    styles = []
    for region in painted.regions:
        paintings = []
        for name, _ in region.paintings:
            if not Path(name).is_file():
                raise UsageError(f"{name}: no such painting for the region {region.label} (give a file, or 'photo')")
            paintings.append(load_option_image(Path(name), f"the painting of region {region.label}:"))
        mask = None
        if region.painting_mask is not None:
            try:
                mask = torch.from_numpy(read_mask(region.painting_mask))[None, None]
            except ImageError as exc:
                raise UsageError(f"painting mask {exc}") from None
        styles.append(RegionStyle(region.label, paintings, [w for _, w in region.paintings], mask))
    return styles


@dataclass(frozen=True)
class OptimisationSettings:
    """What an optimisation engine is built from, as `run`, `video` and Ray workers give it: the paintings
    and how they are weighed, the loop (``loop``: other ``stylize.Options`` fields; the library's defaults for
    what is not given), where it runs. Paths as given; ``absolute`` for a worker that starts elsewhere."""

    kind: ClassVar[str] = "optimisation"
    style: tuple[Path, ...] = ()
    style_blend: str | None = None
    style_scale: float = 1.0
    style_fine: Path | None = None
    preserve_colors: bool = False
    match_colors: bool = False
    regions: object = None  # batch.painted_regions.PaintedRegions
    size: int | None = None  # the working long side; None: the device's default
    iterations: int | None = None  # None: the device's default
    init: str = "content"  # or an image file
    loop: dict = field(default_factory=dict)
    max_pixels: int | None = None
    weights: Path | None = None
    targets: str = "torch"  # or "onnx": what computes the targets
    device: str = "auto"
    providers: str | None = None  # onnxruntime's, comma-separated as --providers takes them
    block_size: int | None = None
    max_memory: float | None = None  # GiB

    def absolute(self) -> OptimisationSettings:
        init = self.init if self.init in _inits() else str(Path(self.init).absolute())
        return replace(self, style=tuple(Path(p).absolute() for p in self.style), init=init,
                       style_fine=_absolute(self.style_fine), weights=_absolute(self.weights))


@dataclass(frozen=True)
class NetworkSettings:
    """What a network engine is built from: the model file, the working size, the blend of its paintings,
    colours and regions, where it runs."""

    kind: ClassVar[str] = "network"
    model: Path
    size: int | None = None  # None: each photo's own, up to ``max_size``
    max_size: int = MODEL_MAX_SIZE
    style_blend: str | None = None
    preserve_colors: bool = False
    match_colors: bool = False
    regions: object = None  # batch.painted_regions.PaintedRegions
    device: str = "auto"
    providers: str | None = None  # onnxruntime's, comma-separated as --providers takes them
    max_memory: float | None = None  # GiB
    style: tuple[Path, ...] = ()  # a universal network's paintings
    strength: float = 1.0  # a universal network's: 0 the photo, 1 the paintings' statistics

    def absolute(self) -> NetworkSettings:
        return replace(self, model=Path(self.model).absolute(), style=tuple(Path(p).absolute() for p in self.style))


def _absolute(path):
    return None if path is None else Path(path).absolute()


def _inits() -> tuple:
    from .runtime.stylize import INITS

    return INITS


@dataclass
class Chosen:
    engine: object  # transfer.StyleTransfer or feedforward.FeedForward
    size: int | None  # the working long side; None: each photo's own (up to --max-size)
    init: object  # the starting picture from --init FILE, or None
    record: dict  # the options as given, for the manifest
    header: str  # what runs, for the first line of output
    label: str = ""  # the network and its blend, for commands that write their own header
    made_with: dict = field(default_factory=dict)  # what decides the pictures, compared on resume
    settings: object = None  # what it was built from, paths absolute: ``build`` makes it again elsewhere (Ray)


# What --strength given without a universal network is told (run, video, and open_model for a network of
# its own paintings).
STRENGTH_REFUSAL = "--strength is for a universal network (--model universal --style PAINTING)"


# Where and how fast a picture is made does not change what it is meant to be, so these stay out of
# ``made_with``: a run resumed on another machine or with other providers is the same run.
NOT_MADE_WITH = ("device", "runs_on", "style", "model", "targets", "block_size", "max_memory")  # files: by hash


def build(settings) -> Chosen:
    """The engine ``settings`` describe (``OptimisationSettings`` or ``NetworkSettings``), with its record,
    what decides its pictures and its header: the one place an engine is made from settings."""
    for kind, builder in ENGINES.items():
        if isinstance(settings, kind):
            return builder(settings)
    raise TypeError(f"no engine is built from {type(settings).__name__}")


def _optimisation_engine(s: OptimisationSettings) -> Chosen:
    from .onnx.providers import parse as parse_providers
    from .runtime.gram import backend_in_use
    from .runtime.mixing import parse_weights
    from .runtime.scales import scale_schedule

    given_init = s.init in _inits()
    options, size = loop_options(s.device, s.size, s.iterations, init=s.init if given_init else "content", **s.loop)
    colors = color_mode(s.preserve_colors, s.match_colors)
    styles = [load_option_image(path, "--style", max_pixels=s.max_pixels) for path in s.style]
    fine = None if s.style_fine is None else load_option_image(s.style_fine, "--style-fine", max_pixels=s.max_pixels)
    init_image = None if given_init else load_option_image(Path(s.init), "--init", max_pixels=s.max_pixels)
    if s.targets not in ("torch", "onnx"):
        raise UsageError(f"--targets must be torch or onnx, not '{s.targets}'")
    target_features = None
    if s.targets == "onnx":
        from .exporter.cache import feature_session

        target_features = feature_session(options.content_layers + options.style_layers, options.pooling, s.weights,
                                          parse_providers(s.providers))
    engine = optimiser(styles, options, parse_weights(s.style_blend), s.style_scale, colors, s.device, s.weights,
                       target_features, s.block_size, s.max_memory, s.regions, fine)
    record = {"style": [str(path) for path in s.style], "style_blend": s.style_blend, "style_scale": s.style_scale,
              "preserve_colors": s.preserve_colors, "device": str(engine.device),
              "weights": engine.vgg.weights_source, "targets": s.targets, "block_size": s.block_size,
              "max_memory": s.max_memory, **{k: v for k, v in options.__dict__.items() if k != "gram_backend"},
              "init": s.init}
    runs_on = f", targets by onnxruntime on {', '.join(target_features.providers)}" if target_features else ""
    schedule = scale_schedule(size, options.first_scale, options.iterations)
    split = "+".join(str(n) for _, n in schedule)
    scales = f" in {len(schedule)} scales from {schedule[0][0]} px ({split})" if len(schedule) > 1 else ""
    header = (f"{size} px, {options.iterations} iterations{scales}, device {engine.device}, "
              f"gram {backend_in_use(engine.device)}{runs_on}")
    made_with = {k: v for k, v in record.items() if k not in NOT_MADE_WITH}
    made_with.update(engine="optimisation", style_sha256=[file_sha256(path) for path in s.style], size=size,
                     init=s.init if given_init else file_sha256(Path(s.init)), version=__version__)
    _control(record, made_with, s.regions, s.match_colors)
    if s.style_fine is not None:
        record["style_fine"] = str(s.style_fine)
        made_with["style_fine_sha256"] = file_sha256(s.style_fine)
    return Chosen(engine, size, init_image, record, header, made_with=made_with, settings=s.absolute())


def _control(record: dict, made_with: dict, regions, match_colors: bool) -> None:
    """Regions and histogram colours in the record and ``made_with``, only when asked for: a folder painted
    before they existed resumes as it was."""
    if match_colors:
        record["match_colors"] = made_with["match_colors"] = True
    if regions is not None:
        record["regions"] = made_with["regions"] = regions.record()


def _network_engine(s: NetworkSettings) -> Chosen:
    from .onnx.providers import parse as parse_providers

    engine, described = open_model(s.model, s.style_blend, color_mode(s.preserve_colors, s.match_colors), s.device,
                                   parse_providers(s.providers),
                                   memory_options(None, s.max_memory)["max_memory"], s.regions, s.style, s.strength)
    blend = dict(zip(engine.style_names, (round(w, 6) for w in engine.blend)))
    record = {"model": str(s.model), "model_sha256": described.sha256, "style_blend": blend,
              "preserve_colors": s.preserve_colors, "runs_on": engine.runs_on, "max_memory": s.max_memory}
    if described.universal:  # only for one, so folders painted by a network of its own paintings resume
        record.update(style=[str(path) for path in engine.painter.files], strength=s.strength,
                      style_sha256=[file_sha256(path) for path in engine.painter.files],
                      painting_size="the photo's")  # since it stopped being a fixed 512 px: such folders repaint
    if described.int8:  # only for one, so folders painted by a float file resume
        record["int8"] = True
    what = ", ".join(f"{name} {weight:g}" for name, weight in blend.items()) if len(blend) > 1 else engine.style_names[0]
    if described.universal and s.strength < 1:
        what += f", strength {s.strength:g}"
    if described.int8:
        what += ", int8 copy"
    working = f"{s.size} px" if s.size else f"each photo's own size up to {s.max_size} px"
    label = f"network {Path(s.model).name} ({what})"
    made_with = {k: v for k, v in record.items() if k not in NOT_MADE_WITH}
    made_with.update(engine="network", size=s.size, max_size=None if s.size else s.max_size, version=__version__)
    _control(record, made_with, s.regions, s.match_colors)
    return Chosen(engine, s.size, None, record, f"{label}, {working}, one pass a photo on {engine.runs_on}", label,
                  made_with, replace(s, model=described.path).absolute())


# The kinds of engine: the settings each is built from, and its builder.
ENGINES = {OptimisationSettings: _optimisation_engine, NetworkSettings: _network_engine}


def _gpu_provider_loads() -> bool:
    import onnxruntime as ort

    from .onnx.providers import CPU, loadable

    return any(name != CPU for name in loadable(ort))


def _cpu_only(providers: list[str] | None) -> bool:
    """Whether a network asking for ``providers`` (network_providers') runs on the CPU alone."""
    from .onnx.providers import CPU

    return providers == [CPU] if providers is not None else not _gpu_provider_loads()


def network_providers(device: str, providers: list[str] | None) -> list[str] | None:
    """The onnxruntime providers an exported network asks for, decided without torch: --providers as
    given; the CPU alone for --device cpu; else the best that loads (None), where --device cuda insists
    on a GPU one."""
    from .onnx.providers import CPU

    from .runtime.defaults import DEVICE_NAMES

    if device not in DEVICE_NAMES and not device.startswith("cuda:"):
        raise UsageError(f"device must be one of {', '.join(DEVICE_NAMES)} (or cuda:N), not '{device}'")
    if providers is not None:
        return providers
    if device == "cpu":
        return [CPU]
    if device.startswith("cuda") and not _gpu_provider_loads():
        raise UsageError("--device cuda was asked for, but no onnxruntime GPU provider loads here; use --device cpu")
    return None


def open_model(path, blend: str | None = None, keep_colors: bool | str | None = None, device: str = "auto",
               providers: list[str] | None = None, max_memory: int | None = None, regions=None, paintings=(),
               strength: float = 1.0):
    """The network engine for ``path`` (a file, a model's folder or its name), with ``--style-blend`` parsed
    against its paintings' names and passes planned within ``max_memory`` bytes (None: what is free);
    ``regions`` (batch.painted_regions.PaintedRegions) name its paintings. A universal network takes its
    ``paintings`` (files, or 1 x 3 x H x W arrays from the Python API) and ``strength`` here. An exported
    network (.onnx) opens without torch; a checkpoint needs it (to export it on first use, or to run it on a
    GPU)."""
    from .network.feedforward import FeedForward, parse_blend, region_blends
    from .network.model_file import ONNX_SUFFIX, UNIVERSAL_KIND, check_int8_copy, describe, int8_path, locate
    from .onnx.session import StylizerSession, open_session

    given, path = path, locate(path)  # a name or a folder: the file it stands for
    if path.suffix.lower() == ONNX_SUFFIX and path.is_file():  # one session: it runs and describes
        providers = network_providers(device, providers)
        float_path = path
        if Path(given) != path and _cpu_only(providers) and int8_path(path).is_file():
            path = int8_path(path)  # a name or a folder on a CPU: its int8 copy (a file given is the file used)
        opened = open_session(path, providers)
        metadata = opened[0].get_modelmeta().custom_metadata_map
        if path != float_path:  # checked by the session that paints: no second one opened for its metadata
            check_int8_copy(path, float_path, metadata)
        if metadata.get("kind") == UNIVERSAL_KIND:
            return _universal_engine(path, opened, list(paintings), blend, keep_colors, max_memory, regions, strength)
        _check_not_universal(paintings, strength, path)
        painter = StylizerSession(path, opened=opened)
        model = describe(path, painter.metadata)
        weights = parse_blend(blend, model.style_names)
    else:
        model = describe(path)  # a universal network's checkpoint is refused here, saying to export it
        _check_not_universal(paintings, strength, path)
        weights = parse_blend(blend, model.style_names)
        painter = _checkpoint_painter(model, device, providers)
    return FeedForward(painter, model.style_names, weights, keep_colors, max_memory,
                       region_blends(regions, model.style_names)), model


def _check_not_universal(paintings, strength: float, path: Path) -> None:
    """What only a universal network takes, refused for a network of its own paintings."""
    if paintings:
        raise UsageError(f"--model {path.name} and --style: give one; the model already holds its paintings (a "
                         f"universal network, such as --model universal, takes them with --style)")
    if strength != 1:
        raise UsageError(STRENGTH_REFUSAL)


def _universal_engine(path: Path, opened: tuple, paintings: list, blend, keep_colors, max_memory, regions,
                      strength: float):
    """A universal network's engine (``opened``: its onnxruntime session and providers): its paintings
    (``--style`` files or arrays, then the regions' files) read at most the painter's largest size, their
    statistics taken once for each size of photo."""
    import numpy as np

    from .network.feedforward import FeedForward, parse_blend
    from .network.model_file import describe
    from .network.universal_painter import PAINTING_MAX_SIDE, UniversalPainter, region_paintings
    from .onnx.session import UniversalSession

    if not paintings:
        raise UsageError(f"--model {path.name} is a universal network: give the painting it paints with, --style FILE "
                         f"(with regions too: it paints what no region covers)")
    session = UniversalSession(path, opened=opened)
    model = describe(path, session.metadata)
    files = [None if isinstance(p, np.ndarray) else Path(p) for p in paintings]  # None: a picture, from the API
    given = [f"painting{i + 1}" if file is None else file.stem for i, file in enumerate(files)]
    region_files, blends = region_paintings(regions, given, files)
    names = given + [Path(p).stem for p in region_files]
    if len(set(names)) != len(names):
        raise UsageError(f"two paintings share a name ({', '.join(names)}): --style-blend and --region call them by "
                         f"file stem; rename one")
    pictures = [p if isinstance(p, np.ndarray) else read_option_picture(Path(p), "--style",
                                                                         max_long_side=PAINTING_MAX_SIDE)
                for p in [*paintings, *region_files]]
    painter = UniversalPainter(session, pictures, strength, [p for p in [*files, *region_files] if p is not None])
    weights = parse_blend(blend, given) + [0.0] * len(region_files)  # the regions' own paintings paint only them
    return FeedForward(painter, names, weights, keep_colors, max_memory, blends), model


def _checkpoint_painter(model, device: str, providers: list[str] | None):
    """A checkpoint's painter (``model``: its network.model_file.ModelFile, hashed once): its cached ONNX export
    on onnxruntime, or torch on a GPU that no onnxruntime provider reaches."""
    from .runtime.transfer import resolve_device  # first: without torch, the line says torch is what is missing
    from .exporter.cache import cached_stylizer
    from .network.checkpoint import load_checkpoint
    from .network.torch_painter import TorchPainter
    from .onnx.providers import CPU
    from .onnx.session import StylizerSession

    target = resolve_device(device)
    if target.type == "cpu" and providers is None:
        providers = [CPU]  # no GPU, or --device cpu: nothing else to probe for
    if target.type == "cuda" and providers is None and not _gpu_provider_loads():
        return TorchPainter(load_checkpoint(model.path)[0], target)
    return StylizerSession(cached_stylizer(model.path, providers=providers, sha256=model.sha256), providers)
