"""What a styliser file holds, whichever form it takes: an ONNX export or a safetensors checkpoint."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError
from .checkpoint import file_sha256, read_info
from .session import stylizer_metadata

ONNX_SUFFIX = ".onnx"


@dataclass
class ModelFile:
    path: Path
    style_names: list[str]
    sha256: str
    kind: str  # "onnx" or "checkpoint"
    training: dict  # the settings that trained it, with its step
    description: str  # the form and the nstbatch version that wrote it, for people


def describe(path) -> ModelFile:
    """Read a model file's metadata; ModelError for a missing, damaged or foreign one."""
    path = Path(path)
    if not path.exists():
        raise ModelError(f"{path}: no such model file (give an .onnx from `nstbatch export model` or a .safetensors "
                         f"checkpoint from `nstbatch train`)")
    if path.suffix.lower() == ONNX_SUFFIX:
        meta = stylizer_metadata(path)
        description = (f"ONNX styliser ({meta.get('precision', 'fp32')}), exported by nstbatch "
                       f"{meta.get('nstbatch_version', '?')}")
        return ModelFile(path, meta["styles"], file_sha256(path), "onnx", meta["training"], description)
    info, _ = read_info(path)
    return ModelFile(path, info.style_names, file_sha256(path), "checkpoint", {**info.settings, "step": info.step},
                     f"checkpoint (safetensors), written by nstbatch {info.nstbatch_version}")
