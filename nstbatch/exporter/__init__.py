"""torch -> ONNX export of nstbatch's three networks (VGG-19 features, feed-forward stylisers, universal
networks), and its validation against torch."""

from __future__ import annotations

import os
from pathlib import Path

from .export import export
from .spec import DEFAULT_LAYERS, DEFAULT_OPSET, FeatureSpec, StylizerSpec, UniversalSpec
from .validate import Report, ValidationError, validate

__all__ = ["FeatureSpec", "StylizerSpec", "Report", "ValidationError", "export", "export_checked", "export_vgg19",
           "export_stylizer", "export_universal", "validate"]


def export_checked(spec, output, check: bool = True, providers=None) -> Report | None:
    """Export, then (unless ``check`` is False) validate; a model that fails is renamed ``*.invalid``."""
    path = export(spec, output)
    if not check:
        return None
    try:
        return validate(path, spec, providers)
    except ValidationError as exc:
        invalid = Path(f"{path}.invalid")
        os.replace(path, invalid)
        raise ValidationError(f"{exc}\nThe model was moved to {invalid} so nothing mistakes it for a good one.") from None


def export_vgg19(output, layers=DEFAULT_LAYERS, opset: int = DEFAULT_OPSET, fp16: bool = False, pooling: str = "max",
                 weights=None, check: bool = True, providers=None) -> Report | None:
    spec = FeatureSpec(layers=tuple(layers), opset=opset, fp16=fp16, pooling=pooling, weights=weights)
    return export_checked(spec, output, check, providers)


def export_stylizer(checkpoint, output, opset: int = DEFAULT_OPSET, fp16: bool = False, check: bool = True,
                    providers=None, style_map: bool = False) -> Report | None:
    spec = StylizerSpec(checkpoint=checkpoint, opset=opset, fp16=fp16, style_map=style_map)
    return export_checked(spec, output, check, providers)


def export_universal(checkpoint, output, opset: int = DEFAULT_OPSET, check: bool = True, providers=None) -> Report | None:
    return export_checked(UniversalSpec(checkpoint=checkpoint, opset=opset), output, check, providers)
