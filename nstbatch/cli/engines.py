"""The two engines a command can paint with, built from its options: optimisation against paintings,
or a trained network. Each comes with the manifest's record of its options and its header line."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .. import __version__
from ..errors import UsageError
from .options import load_option_image, loop_options, memory_options, split_floats


@dataclass
class Chosen:
    engine: object  # transfer.StyleTransfer or feedforward.FeedForward
    size: int | None  # the working long side; None: each photo's own (up to --max-size)
    init: object  # the starting picture from --init FILE, or None
    record: dict  # the options as given, for the manifest
    header: str  # what runs, for the first line of output
    label: str = ""  # the network and its blend, for commands that write their own header
    made_with: dict = field(default_factory=dict)  # what decides the pictures, compared on resume


# Where and how fast a picture is made does not change what it is meant to be, so these stay out of
# ``made_with``: a run resumed on another machine or with other providers is the same run.
NOT_MADE_WITH = ("device", "runs_on", "style", "model", "targets", "block_size", "max_memory")


def optimisation_engine(style: list[Path], size, device, max_pixels, style_blend, style_scale, preserve_colors,
                        weights, targets, providers, block_size, max_memory, iterations, init, **fields) -> Chosen:
    from ..runtime.gram import backend_in_use
    from ..runtime.checkpoint import file_sha256
    from ..runtime.providers import parse as parse_providers
    from ..runtime.scales import scale_plan
    from ..runtime.stylize import INITS
    from ..runtime.transfer import StyleTransfer

    options, size = loop_options(device, size, iterations, init=init if init in INITS else "content", **fields)
    styles = [load_option_image(path, "--style", max_pixels=max_pixels) for path in style]
    init_image = None if init in INITS else load_option_image(Path(init), "--init", max_pixels=max_pixels)
    if targets not in ("torch", "onnx"):
        raise UsageError(f"--targets must be torch or onnx, not '{targets}'")
    target_features = None
    if targets == "onnx":
        from ..exporter.cache import feature_session

        target_features = feature_session(options.content_layers + options.style_layers, options.pooling, weights,
                                          parse_providers(providers))
    engine = StyleTransfer(styles, options, split_floats(style_blend, "--style-blend"), style_scale, preserve_colors,
                           device, weights, target_features, **memory_options(block_size, max_memory))
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
    return Chosen(engine, size, init_image, record, header, made_with=made_with)


def network_engine(model: Path, size, max_size, style_blend, preserve_colors, device, providers,
                   max_memory: float | None = None) -> Chosen:
    from ..batch.models import open_model
    from ..runtime.providers import parse as parse_providers

    engine, described = open_model(model, style_blend, preserve_colors, device, parse_providers(providers),
                                   memory_options(None, max_memory)["max_memory"])
    blend = dict(zip(described.style_names, (round(w, 6) for w in engine.blend)))
    record = {"model": str(model), "model_sha256": described.sha256, "style_blend": blend,
              "preserve_colors": preserve_colors, "runs_on": engine.runs_on, "max_memory": max_memory}
    what = ", ".join(f"{name} {weight:g}" for name, weight in blend.items()) if len(blend) > 1 else described.style_names[0]
    working = f"{size} px" if size else f"each photo's own size up to {max_size} px"
    label = f"network {model.name} ({what})"
    made_with = {k: v for k, v in record.items() if k not in NOT_MADE_WITH}
    made_with.update(engine="network", size=size, max_size=None if size else max_size, version=__version__)
    return Chosen(engine, size, None, record, f"{label}, {working}, one pass a photo on {engine.runs_on}", label,
                  made_with)
