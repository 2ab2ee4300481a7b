"""`nstbatch export`: networks to ONNX, validated against torch."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from ..errors import NstError
from .app import export_app
from .options import Pooling, Providers, Weights, fail, split_names

Opset = Annotated[int, typer.Option(min=9)]
Fp16 = Annotated[bool, typer.Option(help="Half-precision weights and activations (float32 input and outputs).")]
Validate = Annotated[bool, typer.Option(help="Check the model against torch (exit 1 and rename it *.invalid if it differs).")]


def _exported(output: Path, make) -> None:
    """Run one export, then say what was written and how it compared with torch."""
    start = time.perf_counter()
    try:
        report = make()
    except NstError as exc:
        fail(exc)
    typer.echo(f"wrote {output} in {time.perf_counter() - start:.1f} s")
    if report is not None:
        typer.echo(report.table())
        typer.echo(f"valid: every output within {report.tolerance:g} of torch on {', '.join(report.providers)}")


@export_app.command("vgg19")
def export_vgg19(
    output: Annotated[Path, typer.Option("--output", "-o")] = Path("vgg19.onnx"),
    layers: Annotated[str, typer.Option(help="Outputs, one per layer.")] = "relu1_1,relu2_1,relu3_1,relu4_1,relu4_2,relu5_1",
    opset: Opset = 17,
    fp16: Fp16 = False,
    validate: Validate = True,
    pooling: Pooling = "max",
    weights: Weights = None,
    providers: Providers = None,
):
    """VGG-19 feature extraction as ONNX: input 'image' [N,3,H,W] RGB in [0,1], one output per layer."""
    from ..exporter import export_vgg19 as run_export
    from ..onnx.providers import parse as parse_providers

    _exported(output, lambda: run_export(output, split_names(layers), opset, fp16, pooling, weights, validate,
                                         parse_providers(providers)))


@export_app.command("model")
def export_model(
    checkpoint: Annotated[Path, typer.Argument(help="A checkpoint from `nstbatch train` (model.safetensors).")],
    output: Annotated[Path, typer.Option("--output", "-o")] = Path("model.onnx"),
    opset: Opset = 17,
    fp16: Fp16 = False,
    validate: Validate = True,
    providers: Providers = None,
):
    """A trained network as ONNX: input 'image' [N,3,H,W] RGB in [0,1] (and 'style' [N,S] blend weights for
    several paintings), output 'stylized' of the same shape."""
    from ..exporter import export_stylizer
    from ..network.checkpoint import read_info
    from ..onnx.providers import parse as parse_providers

    def make():
        read_info(checkpoint)  # a damaged or foreign file is one clear line before any export starts
        return export_stylizer(checkpoint, output, opset, fp16, validate, parse_providers(providers))

    _exported(output, make)
