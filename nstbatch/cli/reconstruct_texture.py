"""`nstbatch reconstruct` and `nstbatch texture`: the same machinery without a painting or without a photo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..engines import load_option_image, loop_options, memory_options
from ..errors import NstError
from ..runtime import defaults as library
from .app import app
from .options import (INPUT_OUTPUT, OPTIMISATION, BlockSize, Device, Iterations, MaxMemory, Optimizer, Pooling, Quiet,
                      Scales, Seed, Size, StyleLayers, Weights, fail, parse_scales, split_names)


def _single(output: Path, quiet: bool, make):
    """Run one optimisation with a progress bar and write its result atomically."""
    from ..media.images import save_image
    from ..batch.progress import QuietReporter, RichReporter

    reporter = QuietReporter() if quiet else RichReporter()
    with reporter:
        reporter.start_batch(1)
        result = make(lambda step: reporter.iteration(step.iteration, step.losses["total"], step.scale), reporter)
        reporter.end_item()
    save_image(result.image, output)
    if not quiet:
        typer.echo(f"wrote {output} ({result.iterations} iterations, loss {result.losses['total']:.4g}, {result.seconds:.1f} s)")


@app.command(short_help="Content reconstruction: match one layer's activations of a photo.")
def reconstruct(
    content: Annotated[Path, typer.Option("--content", "-c", metavar="FILE", help="The photo to reconstruct.", rich_help_panel=INPUT_OUTPUT)],
    output: Annotated[Path, typer.Option("--output", "-o", metavar="FILE", help="The picture made.", rich_help_panel=INPUT_OUTPUT)] = Path("reconstruction.png"),
    layer: Annotated[str, typer.Option(metavar="LAYER", help="The one VGG-19 layer to match, relu1_1 to relu5_1.", rich_help_panel=OPTIMISATION)] = "relu4_2",
    size: Size = None,
    iterations: Iterations = None,
    scales: Scales = "off",
    device: Device = "auto",
    seed: Seed = 0,
    quiet: Quiet = False,
    optimizer: Optimizer = library.DEFAULT_OPTIMIZER,
    pooling: Pooling = library.DEFAULT_POOLING,
    weights: Weights = None,
    block_size: BlockSize = None,
    max_memory: MaxMemory = None,
):
    """Content reconstruction: start from noise and match one layer's activations of a photo."""
    from ..runtime.transfer import reconstruct as reconstruct_image

    try:
        options, size = loop_options(device, size, iterations, optimizer=optimizer, seed=seed, pooling=pooling,
                                     content_layers=(layer,), first_scale=parse_scales(scales, device))
        photo = load_option_image(content, "--content", size)

        def make(on_step, reporter):
            reporter.start_item(f"reconstruct {layer}", options.iterations)
            return reconstruct_image(photo, layer, options, device, weights, on_step, **memory_options(block_size, max_memory))

        _single(output, quiet, make)
    except NstError as exc:
        fail(exc)


@app.command(short_help="Texture synthesis: match only a painting's Gram matrices.")
def texture(
    style: Annotated[Path, typer.Option("--style", "-s", metavar="FILE", help="The painting whose texture to make.", rich_help_panel=INPUT_OUTPUT)],
    output: Annotated[Path, typer.Option("--output", "-o", metavar="FILE", help="The picture made.", rich_help_panel=INPUT_OUTPUT)] = Path("texture.png"),
    size: Size = None,
    iterations: Iterations = None,
    scales: Scales = "off",
    device: Device = "auto",
    seed: Seed = 0,
    quiet: Quiet = False,
    style_layers: StyleLayers = ",".join(library.DEFAULT_STYLE_LAYERS),
    optimizer: Optimizer = library.DEFAULT_OPTIMIZER,
    pooling: Pooling = library.DEFAULT_POOLING,
    weights: Weights = None,
    block_size: BlockSize = None,
    max_memory: MaxMemory = None,
):
    """Texture synthesis: start from noise and match only the painting's Gram matrices."""
    from ..runtime.transfer import synthesize_texture

    try:
        options, size = loop_options(device, size, iterations, optimizer=optimizer, seed=seed, pooling=pooling,
                                     style_layers=split_names(style_layers), first_scale=parse_scales(scales, device))
        painting = load_option_image(style, "--style", size)

        def make(on_step, reporter):
            reporter.start_item("texture", options.iterations)
            return synthesize_texture(painting, options, device, weights, on_step, **memory_options(block_size, max_memory))

        _single(output, quiet, make)
    except NstError as exc:
        fail(exc)


