"""What a styliser file holds, whichever form it takes: an ONNX export or a safetensors checkpoint."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError
from ..records import file_sha256
from .checkpoint_info import read_info

ONNX_SUFFIX = ".onnx"
STYLIZER_KIND = "nstbatch-stylizer"  # the ``kind`` metadata property of a styliser model


@dataclass
class ModelFile:
    path: Path
    style_names: list[str]
    sha256: str
    kind: str  # "onnx" or "checkpoint"
    training: dict  # the settings that trained it, with its step
    description: str  # the form and the nstbatch version that wrote it, for people
    style_map: bool = False  # an ONNX file taking a per-pixel blend (export --style-map), not one a picture


def describe(path, onnx_metadata: dict | None = None) -> ModelFile:
    """Read a model file's metadata; ModelError for a missing, damaged or foreign one. ``onnx_metadata``:
    an ONNX file's metadata already read (by the session that runs it), so the file is not opened twice."""
    path = Path(path)
    if not path.exists():
        raise ModelError(f"{path}: no such model file (give an .onnx from `nstbatch export model` or a .safetensors "
                         f"checkpoint from `nstbatch train`)")
    if path.suffix.lower() == ONNX_SUFFIX:
        meta = onnx_metadata or stylizer_metadata(path)
        description = (f"ONNX styliser ({meta.get('precision', 'fp32')}), exported by nstbatch "
                       f"{meta.get('nstbatch_version', '?')}")
        return ModelFile(path, meta["styles"], file_sha256(path), "onnx", meta["training"], description,
                         meta.get("style_map") == "true")
    info, _ = read_info(path)
    return ModelFile(path, info.style_names, file_sha256(path), "checkpoint", {**info.settings, "step": info.step},
                     f"checkpoint (safetensors), written by nstbatch {info.nstbatch_version}")


def model_metadata(model_path) -> dict[str, str]:
    """The metadata properties of an ONNX file, or ModelError naming the file and what is wrong.

    Read by onnxruntime (a CPU session, graph left unoptimised: milliseconds for a styliser), not the
    onnx package, whose import alone takes half a second and which network workers need not have."""
    import onnxruntime as ort

    path = Path(model_path)
    if not path.is_file():
        raise ModelError(f"{path}: no such model file")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 4  # the reason is ours to say, in one line
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's own error types for a file it cannot parse
        raise ModelError(f"{path}: not a readable ONNX model ({str(exc).splitlines()[0][:120]}); it may be damaged "
                         f"or truncated: export it again") from None
    return dict(session.get_modelmeta().custom_metadata_map)


def stylizer_metadata(model_path, metadata: dict[str, str] | None = None) -> dict:
    """The styliser contract's metadata, decoded (``metadata``: the file's properties already read by a
    session); ModelError if the file is another kind of model."""
    meta = model_metadata(model_path) if metadata is None else metadata
    if meta.get("kind") != STYLIZER_KIND:
        what = "an nstbatch VGG-19 feature model" if "layers" in meta else "not an nstbatch styliser"
        raise ModelError(f"{model_path}: {what}, not a styliser; give a model made by `nstbatch export model` "
                         f"or a checkpoint made by `nstbatch train`")
    try:
        return {**meta, "styles": json.loads(meta["styles"]), "training": json.loads(meta.get("training", "{}"))}
    except (KeyError, ValueError):
        raise ModelError(f"{model_path}: its styliser metadata is damaged; export it again") from None
