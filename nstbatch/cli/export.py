"""`nstbatch export`: networks to ONNX, validated against torch."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

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
    int8: Annotated[bool, typer.Option("--int8", metavar="", help="Also write an int8 copy for CPUs (NAME.int8.onnx beside it), checked against the float file; CHECKPOINT may then be an exported .onnx.", rich_help_panel=EXPORT)] = False,
    calibration: Annotated[Optional[Path], typer.Option(metavar="FOLDER", help="Photos for --int8: most calibrate it, four judge it (at least 8).", rich_help_panel=EXPORT)] = None,
):
    """A trained network as ONNX: input 'image' [N,3,H,W] RGB in [0,1] (and 'style' [N,S] blend weights for
    several paintings, or with --style-map 'style_map' [N,S,H,W]), output 'stylized' of the same shape. A universal
    network (`train --universal`) becomes its two halves: inputs 'photo' and 'features', outputs 'encoded' and 'decoded'.
    With --int8, `run` and `video` paint with the int8 copy on a CPU when given the model's folder or name."""
    from ..exporter import export_stylizer, export_universal
    from ..network.checkpoint import read_info
    from ..onnx.providers import parse as parse_providers

    photos = _calibration_photos(int8, calibration)
    if int8 and checkpoint.suffix.lower() == ".onnx":  # an exported styliser: only its int8 copy is made
        _int8(checkpoint, photos)
        return

    def make():
        if _universal(checkpoint):
            if style_map or fp16 or int8:
                raise UsageError("--style-map, --fp16 and --int8 are for a network of its own paintings; a universal network "
                                 "takes its paintings, and regions, when it paints")
            return export_universal(checkpoint, output, opset, not no_validate, parse_providers(providers))
        read_info(checkpoint)  # a damaged or foreign file is one clear line before any export starts
        return export_stylizer(checkpoint, output, opset, fp16, not no_validate, parse_providers(providers), style_map)

    _exported(output, make)
    if int8:
        _int8(output, photos)
    else:
        _drop_stale_copy(output)


def _calibration_photos(int8: bool, calibration: Path | None) -> list[Path]:
    """--calibration's photos, checked before a long export starts."""
    from ..media.images import walk_images

    if calibration is None:
        if int8:
            fail(UsageError("--int8 needs photos to calibrate and judge the copy on: --calibration FOLDER"))
        return []
    if not int8:
        fail(UsageError("--calibration is for --int8"))
    if not calibration.is_dir():
        fail(UsageError(f"{calibration}: no such folder (--calibration takes a folder of photos)"))
    return walk_images(calibration)


def _int8(model: Path, photos: list[Path]) -> None:
    """The int8 copy of the exported styliser ``model``, beside it."""
    from ..exporter.quantise import quantise
    from ..network.model_file import int8_path

    start = time.perf_counter()
    try:
        quantise(model, photos, say=typer.echo)
    except NstError as exc:
        fail(exc)
    typer.echo(f"wrote {int8_path(model)} in {time.perf_counter() - start:.1f} s; `run` and `video` paint with it "
               f"on a CPU when given the folder or the model's name")


def _drop_stale_copy(output: Path) -> None:
    """An int8 copy of the file just replaced would paint the old network on a CPU: it goes."""
    from ..errors import ModelError
    from ..network.model_file import int8_copy, int8_path

    try:
        int8_copy(output)
    except ModelError:
        int8_path(output).unlink()
        typer.echo(f"removed {int8_path(output)}: an int8 copy of the file replaced (--int8 makes one of this)")


def _universal(checkpoint: Path) -> bool:
    """Whether ``checkpoint`` holds a universal network (``train --universal``) rather than a styliser."""
    from ..errors import ModelError
    from ..network.universal_checkpoint import read_universal

    try:
        read_universal(checkpoint)
    except ModelError:
        return False
    return True
