"""`nstbatch export`: networks to ONNX, validated against torch."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from ..errors import NstError, UsageError
from .app import export_app
from .options import INPUT_OUTPUT, Pooling, Providers, Weights, fail, split_names

EXPORT = "Export"
Output = Annotated[Path, typer.Option("--output", "-o", metavar="FILE", help="The ONNX file to write.", rich_help_panel=INPUT_OUTPUT)]
Opset = Annotated[int, typer.Option(min=9, metavar="N", help="ONNX operator set.", rich_help_panel=EXPORT)]
Fp16 = Annotated[bool, typer.Option("--fp16", metavar="", help="Half-precision weights and activations (fp32 in and out).", rich_help_panel=EXPORT)]
NoValidate = Annotated[bool, typer.Option("--no-validate", metavar="", help="Skip the check against torch (else *.invalid on a mismatch).", rich_help_panel=EXPORT)]


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
        typer.echo(f"valid: every output's largest difference from torch is within {report.tolerance:g} of its largest "
                   f"value (relative), on {', '.join(report.providers)}")


@export_app.command("vgg19")
def export_vgg19(
    output: Output = Path("vgg19.onnx"),
    layers: Annotated[str, typer.Option(metavar="LIST", help="The layers to output, one output each.", rich_help_panel=EXPORT)] = "relu1_1,relu2_1,relu3_1,relu4_1,relu4_2,relu5_1",
    opset: Opset = 17,
    fp16: Fp16 = False,
    no_validate: NoValidate = False,
    pooling: Pooling = "max",
    weights: Weights = None,
    providers: Providers = None,
):
    """VGG-19 feature extraction as ONNX: input 'image' [N,3,H,W] RGB in [0,1], one output per layer."""
    from ..exporter import export_vgg19 as run_export
    from ..onnx.providers import parse as parse_providers

    _exported(output, lambda: run_export(output, split_names(layers), opset, fp16, pooling, weights, not no_validate,
                                         parse_providers(providers)))


@export_app.command("model")
def export_model(
    checkpoint: Annotated[Path, typer.Argument(metavar="CHECKPOINT", help="A checkpoint from `nstbatch train` (model.safetensors).")],
    output: Output = Path("model.onnx"),
    opset: Opset = 17,
    fp16: Fp16 = False,
    no_validate: NoValidate = False,
    providers: Providers = None,
    style_map: Annotated[bool, typer.Option("--style-map", metavar="", help="Take a per-pixel blend, to paint by region.", rich_help_panel=EXPORT)] = False,
):
    """A trained network as ONNX: input 'image' [N,3,H,W] RGB in [0,1] (and 'style' [N,S] blend weights for
    several paintings, or with --style-map 'style_map' [N,S,H,W]), output 'stylized' of the same shape. A universal
    network (`train --universal`) becomes its two halves: inputs 'photo' and 'features', outputs 'encoded' and 'decoded'."""
    from ..exporter import export_stylizer, export_universal
    from ..network.checkpoint import read_info
    from ..onnx.providers import parse as parse_providers

    def make():
        if _universal(checkpoint):
            if style_map or fp16:
                raise UsageError("--style-map and --fp16 are for a network of its own paintings; a universal network "
                                 "takes its paintings, and regions, when it paints")
            return export_universal(checkpoint, output, opset, not no_validate, parse_providers(providers))
        read_info(checkpoint)  # a damaged or foreign file is one clear line before any export starts
        return export_stylizer(checkpoint, output, opset, fp16, not no_validate, parse_providers(providers), style_map)

    _exported(output, make)


def _universal(checkpoint: Path) -> bool:
    """Whether ``checkpoint`` holds a universal network (``train --universal``) rather than a styliser."""
    from ..errors import ModelError
    from ..network.universal_checkpoint import read_universal

    try:
        read_universal(checkpoint)
    except ModelError:
        return False
    return True
