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


# Help panels, in the order a user looks for them; each command shows the ones it has.
INPUT_OUTPUT = "Input and output"
ENGINE = "Painting or network"
LOOK = "Look"
REGIONS = "Regions"
OPTIMISATION = "Optimisation"
VIDEO = "Video"
TRAINING = "Training"
DEVICES = "Memory and devices"
MANY_MACHINES = "Many machines"

# Options shared by run, video, train, reconstruct and texture: one line of help each.
Size = Annotated[Optional[int], typer.Option(min=16, metavar="PX", help="Longest side of the result.", show_default="256 CPU, 512 GPU", rich_help_panel=INPUT_OUTPUT)]
# `run` defaults to auto, as benchmarks/bench_scales.py measured it; video, reconstruct and texture to off,
# not measured there.
Scales = Annotated[str, typer.Option(metavar="PX|auto|off", help="Coarse-to-fine from this side.", rich_help_panel=OPTIMISATION)]
Iterations = Annotated[Optional[int], typer.Option(min=1, metavar="N", help="Evaluations of the objective.", show_default="150 CPU, 500 GPU", rich_help_panel=OPTIMISATION)]
Device = Annotated[str, typer.Option(metavar="auto|cpu|cuda", help="Where to paint.", rich_help_panel=DEVICES)]
Seed = Annotated[int, typer.Option(metavar="N", help="The same seed paints the same picture.", rich_help_panel=OPTIMISATION)]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", metavar="", help="No progress bars: only errors and the summary.", rich_help_panel=INPUT_OUTPUT)]
Weights = Annotated[Optional[Path], typer.Option(metavar="FILE", help="A torchvision VGG-19 state dict.", show_default="Caffe's", rich_help_panel=OPTIMISATION)]
Optimizer = Annotated[str, typer.Option(metavar="lbfgs|adam", help="The optimiser.", rich_help_panel=OPTIMISATION)]
Providers = Annotated[Optional[str], typer.Option(metavar="LIST", help="onnxruntime's, in order: tensorrt,cuda,cpu.", show_default="best that loads", rich_help_panel=DEVICES)]
Pooling = Annotated[str, typer.Option(metavar="max|avg", help="VGG-19's pooling.", rich_help_panel=OPTIMISATION)]
ContentLayers = Annotated[str, typer.Option(metavar="LIST", help="VGG-19 layers that keep the photo.", rich_help_panel=OPTIMISATION)]
StyleLayers = Annotated[str, typer.Option(metavar="LIST", help="VGG-19 layers that carry the painting.", rich_help_panel=OPTIMISATION)]
LearningRate = Annotated[float, typer.Option(min=0.0, metavar="R", help="Step size (Adam only).", rich_help_panel=OPTIMISATION)]
# Style options shared by run and video.
Strength = Annotated[float, typer.Option(min=0.0, max=1.0, metavar="S", help="Universal network: 0 photo to 1 painting.", show_default=False, rich_help_panel=LOOK)]
StyleBlend = Annotated[Optional[str], typer.Option(metavar="W,W|NAME=W", help="0.7,0.3 or starry=0.7 (--model).", show_default="equal", rich_help_panel=LOOK)]
StyleScale = Annotated[float, typer.Option(min=0.05, metavar="X", help="Painting size: smaller, finer strokes.", rich_help_panel=LOOK)]
PreserveColors = Annotated[bool, typer.Option("--preserve-colors", metavar="", help="Keep the photo's colours (luminance only).", rich_help_panel=LOOK)]
StyleFine = Annotated[Optional[Path], typer.Option("--style-fine", metavar="FILE", help="The fine texture from this painting instead.", rich_help_panel=ENGINE)]
MatchColors = Annotated[bool, typer.Option("--match-colors", metavar="", help="Paint in the photo's colours (histogram matching).", rich_help_panel=LOOK)]
# Regions (batch/painted_regions.py): which painting goes where.
Region = Annotated[Optional[list[str]], typer.Option("--region", metavar="MASK=STYLE", help="Paint a mask's region with STYLE (or 'photo').", rich_help_panel=REGIONS)]
Regions = Annotated[Optional[Path], typer.Option("--regions", metavar="SEG", help="A colour-coded segmentation, or a folder of them.", rich_help_panel=REGIONS)]
RegionStyle = Annotated[Optional[list[str]], typer.Option("--region-style", metavar="COLOUR=STYLE", help="What paints a colour of --regions.", rich_help_panel=REGIONS)]
MissingMask = Annotated[str, typer.Option(metavar="fail|unmasked", help="No mask: fail the photo, or paint it all.", rich_help_panel=REGIONS)]
ContentWeight = Annotated[float, typer.Option(min=0.0, metavar="W", help="How much of the photo to keep.", rich_help_panel=LOOK)]
StyleWeight = Annotated[float, typer.Option(min=0.0, metavar="W", help="Higher paints more, keeps less photo.", rich_help_panel=LOOK)]
TvWeight = Annotated[float, typer.Option(min=0.0, metavar="W", help="Smoothness; try 1-10 against speckle.", rich_help_panel=LOOK)]
BlockSize = Annotated[Optional[int], typer.Option(min=16, metavar="PX", help="Optimise in blocks of this side.", show_default="if too large", rich_help_panel=DEVICES)]
MaxMemory = Annotated[Optional[float], typer.Option(min=0.0, metavar="GiB", help="A picture's memory: fit in it or refuse.", show_default="what is free", rich_help_panel=DEVICES)]
Precision = Annotated[str, typer.Option(metavar="fp32|bf16|fp16", help="Convolutions' precision.", rich_help_panel=DEVICES)]


def fail(exc: NstError):
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(exc.exit_code)




def given_on_command_line(ctx: typer.Context, names) -> list[str]:
    """The options among ``names`` that the user set (on the command line or through the environment)."""
    return [f"--{name.replace('_', '-')}" for name in names
            if getattr(ctx.get_parameter_source(name), "name", None) in ("COMMANDLINE", "ENVIRONMENT")]


def check_engine_choice(style, model, ctx: typer.Context, optimisation_only, regions=None) -> None:
    """--style or --model, one of them (``engines.check_engine_choice``); options that only optimisation
    uses are refused with --model."""
    from ..engines import check_engine_choice as check_choice

    check_choice(style, model, regions)
    given = given_on_command_line(ctx, optimisation_only) if model is not None else []
    if given:
        raise UsageError(f"{', '.join(given)}: only for optimisation, not with --model")


# Options of the network engine shared by run and video.
Model = Annotated[Optional[Path], typer.Option("--model", "-m", metavar="NAME|FILE", help="A trained network: its name, .onnx or checkpoint.", rich_help_panel=ENGINE)]
MaxSize = Annotated[int, typer.Option(min=16, metavar="PX", help="--model, no --size: shrink larger to it.", rich_help_panel=INPUT_OUTPUT)]
