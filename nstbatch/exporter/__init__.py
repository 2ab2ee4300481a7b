"""torch -> ONNX export of the VGG-19 feature extractor, and its validation against torch."""

from __future__ import annotations

import os
from pathlib import Path

from .export import export
from .spec import DEFAULT_LAYERS, DEFAULT_OPSET, ExportSpec
from .validate import Report, ValidationError, validate

__all__ = ["ExportSpec", "Report", "ValidationError", "export", "export_vgg19", "validate"]


def export_vgg19(output, layers=DEFAULT_LAYERS, opset: int = DEFAULT_OPSET, fp16: bool = False, pooling: str = "max",
                 weights=None, check: bool = True, providers=None) -> Report | None:
    """Export, then (unless ``check`` is False) validate; a model that fails is renamed ``*.invalid``."""
    spec = ExportSpec(layers=tuple(layers), opset=opset, fp16=fp16, pooling=pooling)
    path = export(spec, output, weights)
    if not check:
        return None
    try:
        return validate(path, spec, weights, providers)
    except ValidationError as exc:
        invalid = Path(f"{path}.invalid")
        os.replace(path, invalid)
        raise ValidationError(f"{exc}\nThe model was moved to {invalid} so nothing mistakes it for a good one.") from None
