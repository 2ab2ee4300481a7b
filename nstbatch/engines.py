"""The engines a command paints with, built from its options: optimisation against paintings, or a
trained network (an exported ONNX file, or a checkpoint exported, validated and cached on first use).
Each comes with the manifest's record of its options, what decides its pictures, and its header line.

A network runs on onnxruntime with the best provider that really loads; on a CUDA machine where no
onnxruntime GPU provider loads, a checkpoint runs in torch instead (bf16): a GPU sitting idle behind a
CPU session would be the slowest choice of all. What runs is said in ``runs_on``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

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
    """A painting or a trained network, one of them (or regions, whose paintings may be all there is); a
    UsageError naming the options as ``names`` (the command line's, or the Python API's keywords)."""
    style_name, model_name = names
    if model is not None and style:
        raise UsageError(f"{model_name} and {style_name}: give one; the model already holds its paintings")
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
    from .media.images import DEFAULT_MAX_PIXELS, load_image

    try:
        return load_image(path, long_side, max_pixels or DEFAULT_MAX_PIXELS)
    except ImageError as exc:
        raise UsageError(f"{what} {exc}") from None


def blend_weights(text: str | None) -> list[float] | None:
    """--style-blend as numbers, e.g. '0.7,0.3'; None for an equal blend."""
    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"--style-blend: expected numbers separated by commas, got '{text}'") from None


def optimiser(paintings: list, options, blend: list[float] | None = None, style_scale: float = 1.0,
              preserve_colors: bool | str = False, device="auto", weights=None, target_features=None,
              block_size: int | None = None, max_memory: float | None = None, regions=None, fine_style=None):
    """The optimisation engine (``transfer.StyleTransfer``) for paintings given as 1 x 3 x H x W tensors: what
    `run`, `video` and ``nstbatch.stylize`` all paint with. ``max_memory`` in GiB, as the options take it;
    ``preserve_colors`` True or "luminance", or "histogram"; ``regions`` a batch.regions.RegionPlan;
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


def region_styles(plan) -> list | None:
    """What paints each region of ``plan`` (batch.regions.RegionPlan), as optimisation takes it: paintings
    loaded, the painting masks read. A list (of runtime.regions.RegionStyle, from the Python API) is taken
    as it is."""
    if plan is None or isinstance(plan, list):
        return plan
    import torch

    from .media.masks import read_mask
    from .runtime.regions import RegionStyle

    styles = []
    for region in plan.regions:
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


@dataclass
class Chosen:
    engine: object  # transfer.StyleTransfer or feedforward.FeedForward
    size: int | None  # the working long side; None: each photo's own (up to --max-size)
    init: object  # the starting picture from --init FILE, or None
    record: dict  # the options as given, for the manifest
    header: str  # what runs, for the first line of output
    label: str = ""  # the network and its blend, for commands that write their own header
    made_with: dict = field(default_factory=dict)  # what decides the pictures, compared on resume
    recipe: tuple = ()  # (kind, arguments): how to build the engine again elsewhere (``rebuild``), e.g. on a Ray worker


# Where and how fast a picture is made does not change what it is meant to be, so these stay out of
# ``made_with``: a run resumed on another machine or with other providers is the same run.
NOT_MADE_WITH = ("device", "runs_on", "style", "model", "targets", "block_size", "max_memory")


def optimisation_engine(style: list[Path], size, device, max_pixels, style_blend, style_scale, preserve_colors,
                        weights, targets, providers, block_size, max_memory, iterations, init, regions=None,
                        match_colors: bool = False, style_fine: Path | None = None, **fields) -> Chosen:
    recipe = ("optimisation", _absolute_paths({k: v for k, v in locals().items() if k != "fields"} | fields))
    from .onnx.providers import parse as parse_providers
    from .runtime.gram import backend_in_use
    from .runtime.scales import scale_plan
    from .runtime.stylize import INITS

    if init not in INITS:  # a picture to start from, found again by a worker that starts elsewhere
        recipe[1]["init"] = str(Path(init).absolute())
    options, size = loop_options(device, size, iterations, init=init if init in INITS else "content", **fields)
    colors = color_mode(preserve_colors, match_colors)
    styles = [load_option_image(path, "--style", max_pixels=max_pixels) for path in style]
    fine = None if style_fine is None else load_option_image(style_fine, "--style-fine", max_pixels=max_pixels)
    init_image = None if init in INITS else load_option_image(Path(init), "--init", max_pixels=max_pixels)
    if targets not in ("torch", "onnx"):
        raise UsageError(f"--targets must be torch or onnx, not '{targets}'")
    target_features = None
    if targets == "onnx":
        from .exporter.cache import feature_session

        target_features = feature_session(options.content_layers + options.style_layers, options.pooling, weights,
                                          parse_providers(providers))
    engine = optimiser(styles, options, blend_weights(style_blend), style_scale, colors, device, weights,
                       target_features, block_size, max_memory, regions, fine)
    record = {"style": [str(s) for s in style], "style_blend": style_blend, "style_scale": style_scale,
              "preserve_colors": preserve_colors, "device": str(engine.device), "weights": engine.vgg.weights_source,
              "targets": targets, "block_size": block_size, "max_memory": max_memory,
              **{k: v for k, v in options.__dict__.items() if k != "gram_backend"}, "init": init}
    runs_on = f", targets by onnxruntime on {', '.join(target_features.providers)}" if target_features else ""
    plan = scale_plan(size, options.first_scale, options.iterations)
    split = "+".join(str(n) for _, n in plan)
    scales = f" in {len(plan)} scales from {plan[0][0]} px ({split})" if len(plan) > 1 else ""
    header = (f"{size} px, {options.iterations} iterations{scales}, device {engine.device}, "
              f"gram {backend_in_use(engine.device)}{runs_on}")
    made_with = {k: v for k, v in record.items() if k not in NOT_MADE_WITH}
    made_with.update(engine="optimisation", style_sha256=[file_sha256(path) for path in style], size=size,
                     init=init if init in INITS else file_sha256(Path(init)), version=__version__)
    _control(record, made_with, regions, match_colors)
    if style_fine is not None:
        record["style_fine"] = str(style_fine)
        made_with["style_fine_sha256"] = file_sha256(style_fine)
    return Chosen(engine, size, init_image, record, header, made_with=made_with, recipe=recipe)


def _control(record: dict, made_with: dict, regions, match_colors: bool) -> None:
    """Regions and histogram colours in the record and ``made_with``, only when asked for: a folder painted
    before they existed resumes as it was."""
    if match_colors:
        record["match_colors"] = made_with["match_colors"] = True
    if regions is not None:
        record["regions"] = made_with["regions"] = regions.record()


def network_engine(model: Path, size, max_size, style_blend, preserve_colors, device, providers,
                   max_memory: float | None = None, regions=None, match_colors: bool = False) -> Chosen:
    recipe = ("network", _absolute_paths(dict(locals())))
    from .onnx.providers import parse as parse_providers

    engine, described = open_model(model, style_blend, color_mode(preserve_colors, match_colors), device,
                                   parse_providers(providers), memory_options(None, max_memory)["max_memory"],
                                   regions)
    blend = dict(zip(described.style_names, (round(w, 6) for w in engine.blend)))
    record = {"model": str(model), "model_sha256": described.sha256, "style_blend": blend,
              "preserve_colors": preserve_colors, "runs_on": engine.runs_on, "max_memory": max_memory}
    what = ", ".join(f"{name} {weight:g}" for name, weight in blend.items()) if len(blend) > 1 else described.style_names[0]
    working = f"{size} px" if size else f"each photo's own size up to {max_size} px"
    label = f"network {model.name} ({what})"
    made_with = {k: v for k, v in record.items() if k not in NOT_MADE_WITH}
    made_with.update(engine="network", size=size, max_size=None if size else max_size, version=__version__)
    _control(record, made_with, regions, match_colors)
    return Chosen(engine, size, None, record, f"{label}, {working}, one pass a photo on {engine.runs_on}", label,
                  made_with, recipe)


def _absolute_paths(arguments: dict) -> dict:
    """``arguments`` with every path made absolute: a worker elsewhere may start in another folder."""
    def absolute(value):
        if isinstance(value, Path):
            return value.absolute()
        if isinstance(value, (list, tuple)) and value and all(isinstance(v, Path) for v in value):
            return [v.absolute() for v in value]
        return value

    return {key: absolute(value) for key, value in arguments.items()}


def rebuild(recipe: tuple):
    """The engine a ``Chosen`` was built with, built again from its ``recipe`` where it is to run."""
    kind, arguments = recipe
    return (optimisation_engine if kind == "optimisation" else network_engine)(**arguments).engine


def _gpu_provider_loads() -> bool:
    import onnxruntime as ort

    from .onnx.providers import CPU, loadable

    return any(name != CPU for name in loadable(ort))


def network_providers(device: str, providers: list[str] | None) -> list[str] | None:
    """The onnxruntime providers an exported network asks for, decided without torch: --providers as
    given; the CPU alone for --device cpu; else the best that loads (None), where --device cuda insists
    on a GPU one."""
    from .onnx.providers import CPU

    from .runtime.defaults import DEVICES

    if device not in DEVICES and not device.startswith("cuda:"):
        raise UsageError(f"device must be one of {', '.join(DEVICES)} (or cuda:N), not '{device}'")
    if providers is not None:
        return providers
    if device == "cpu":
        return [CPU]
    if device.startswith("cuda") and not _gpu_provider_loads():
        raise UsageError("--device cuda was asked for, but no onnxruntime GPU provider loads here; use --device cpu")
    return None


def open_model(path, blend: str | None = None, keep_colors: bool | str | None = None, device: str = "auto",
               providers: list[str] | None = None, max_memory: int | None = None, regions=None):
    """The network engine for ``path``, with ``--style-blend`` parsed against its paintings' names and
    passes planned within ``max_memory`` bytes (None: what is free); ``regions`` (batch.regions.RegionPlan)
    name its paintings. An exported network (.onnx) opens without torch; a checkpoint needs it (to export
    it on first use, or to run it on a GPU)."""
    from .network.feedforward import FeedForward, parse_blend, region_blends
    from .network.model_file import ONNX_SUFFIX, describe
    from .onnx.session import StylizerSession

    if Path(path).suffix.lower() == ONNX_SUFFIX and Path(path).is_file():  # one session: it runs and describes
        painter = StylizerSession(path, network_providers(device, providers))
        model = describe(path, painter.metadata)
        weights = parse_blend(blend, model.style_names)
    else:
        model = describe(path)
        weights = parse_blend(blend, model.style_names)
        painter = _checkpoint_painter(model.path, device, providers)
    return FeedForward(painter, model.style_names, weights, keep_colors, max_memory,
                       region_blends(regions, model.style_names)), model


def _checkpoint_painter(path: Path, device: str, providers: list[str] | None):
    """A checkpoint's painter: its cached ONNX export on onnxruntime, or torch on a GPU that no
    onnxruntime provider reaches."""
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
        return TorchPainter(load_checkpoint(path)[0], target)
    return StylizerSession(cached_stylizer(path, providers=providers), providers)
