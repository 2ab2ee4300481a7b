"""`nstbatch export`: networks to ONNX, validated against torch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import NstError
from .app import export_app
from .options import Pooling, Providers, Weights, fail, split_names


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

    from ..exporter import export_vgg19 as run_export
    from ..runtime.providers import parse as parse_providers

    try:
        start = time.perf_counter()
        report = run_export(output, split_names(layers), opset, fp16, pooling, weights, validate, parse_providers(providers))
    except NstError as exc:
        fail(exc)
    typer.echo(f"wrote {output} in {time.perf_counter() - start:.1f} s")
    if report is not None:
        typer.echo(report.table())
        typer.echo(f"valid: every output within {report.tolerance:g} of torch on {', '.join(report.providers)}")


