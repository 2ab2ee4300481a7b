"""What a styliser file holds, whichever form it takes: an ONNX export or a safetensors checkpoint."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError
from ..records import file_sha256
from .checkpoint_info import read_info

ONNX_SUFFIX = ".onnx"
INT8_SUFFIX = ".int8.onnx"  # the int8 copy beside a float file (export model --int8): NAME.onnx, NAME.int8.onnx
MODEL_SUFFIXES = (ONNX_SUFFIX, ".safetensors")
STYLIZER_KIND = "nstbatch-stylizer"  # the ``kind`` metadata property of a styliser model
UNIVERSAL_KIND = "nstbatch-universal"  # ... and of a universal network's (network/universal.py)

# Models by name: the networks the package carries (nstbatch/models/NAME/), then the user's folder.
BUNDLED_MODELS = Path(__file__).resolve().parent.parent / "models"
MODELS_ENV = "NSTBATCH_MODELS"
FOLDER_FILES = ("model.onnx", "model.safetensors")  # what a model's folder is painted with, the first found


def user_models() -> Path:
    """The folder of the user's own models: $NSTBATCH_MODELS, else the platform's folder for an
    application's data (~/.local/share/nstbatch/models on Linux)."""
    if os.environ.get(MODELS_ENV):
        return Path(os.environ[MODELS_ENV]).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "nstbatch" / "models"


@dataclass(frozen=True)
class NamedModel:
    name: str
    path: Path  # the file it paints with
    where: str  # "bundled", or "yours" (the user's folder)


def model_in(entry: Path) -> Path | None:
    """The model file ``entry`` stands for: itself (an .onnx or .safetensors file), or a folder's
    ``FOLDER_FILES``; None when it is neither."""
    if entry.is_dir():
        return next((entry / name for name in FOLDER_FILES if (entry / name).is_file()), None)
    return entry if entry.suffix.lower() in MODEL_SUFFIXES and entry.is_file() else None


def int8_path(float_path) -> Path:
    """Where the int8 copy of the float file ``float_path`` lies (whether or not there is one)."""
    path = Path(float_path)
    return path.with_name(path.name.removesuffix(ONNX_SUFFIX) + INT8_SUFFIX)


def int8_copy(float_path) -> Path | None:
    """The int8 copy beside ``float_path``, if it has one; ModelError for a copy made from another float file
    (one left when the file beside it was replaced by hand), which would paint another network."""
    path = Path(float_path)
    copy = int8_path(path)
    if path.suffix.lower() != ONNX_SUFFIX or path.name.endswith(INT8_SUFFIX) or not copy.is_file():
        return None
    check_int8_copy(copy, path, model_metadata(copy))
    return copy


def check_int8_copy(copy: Path, float_path: Path, metadata: dict[str, str]) -> None:
    """ModelError unless ``copy`` (its ONNX metadata already read) was made from ``float_path`` as it is now."""
    if metadata.get("float_sha256") != file_sha256(float_path):
        raise ModelError(f"{copy}: an int8 copy made from another {float_path.name} than the one beside it; make it "
                         f"again (nstbatch export model {float_path} --int8 --calibration PHOTOS) or delete it")


def named_models() -> list[NamedModel]:
    """Every model a name reaches, bundled ones first; a name the package already holds stays the
    package's."""
    found: dict[str, NamedModel] = {}
    for folder, where in ((BUNDLED_MODELS, "bundled"), (user_models(), "yours")):
        if not folder.is_dir():
            continue
        for entry in sorted(folder.iterdir()):
            hidden = entry.name.startswith(".") or entry.name.endswith(INT8_SUFFIX)  # a copy, not a model of its own
            path = None if hidden else model_in(entry)
            name = entry.stem if entry.is_file() else entry.name
            if path is not None and name not in found:
                found[name] = NamedModel(name, path, where)
    return list(found.values())


def locate(given) -> Path:
    """The model file ``given`` names: a file, a model's folder, or a model's name (``named_models``); a
    ModelError saying what there is otherwise. A folder without a model does not hide a name: an output
    folder called after the model it was painted with is common."""
    path = Path(given)
    found = model_in(path) if path.exists() else None
    if found is not None or path.is_file():
        return found or path  # a file that is no model is said by describe, naming it
    if len(path.parts) == 1 and path.suffix.lower() not in MODEL_SUFFIXES:
        known = named_models()
        for model in known:
            if model.name == path.name:
                return model.path
        names = ", ".join(model.name for model in known) or "none"
        raise ModelError(f"{given}: no model of that name (there are: {names}; `nstbatch models` lists them), and no "
                         f"such file")
    if path.is_dir():
        raise ModelError(f"{path}: a folder without a model ({' or '.join(FOLDER_FILES)}) in it")
    raise ModelError(f"{path}: no such model file (give an .onnx from `nstbatch export model`, a .safetensors "
                     f"checkpoint from `nstbatch train`, or a model's name: `nstbatch models` lists them)")


@dataclass
class ModelFile:
    path: Path
    style_names: list[str]
    sha256: str
    kind: str  # "onnx" or "checkpoint"
    training: dict  # the settings that trained it, with its step
    description: str  # the form and the nstbatch version that wrote it, for people
    style_map: bool = False  # an ONNX file taking a per-pixel blend (export --style-map), not one a picture
    universal: str | None = None  # a universal network's transform ("wct"): it takes its paintings when it paints
    int8: dict | None = None  # an int8 copy's judgement against its float file (exporter/quantise.Int8Report)


def describe(path, onnx_metadata: dict | None = None) -> ModelFile:
    """Read a model file's metadata (``path``: a file, a folder or a name, as ``locate`` takes it); ModelError
    for a missing, damaged or foreign one. ``onnx_metadata``:
    an ONNX file's metadata already read (by the session that runs it), so the file is not opened twice."""
    path = locate(path)
    if path.suffix.lower() == ONNX_SUFFIX:
        properties = onnx_metadata if onnx_metadata is not None else model_metadata(path)
        if properties.get("kind") == UNIVERSAL_KIND:
            meta = universal_metadata(path, properties)
            return ModelFile(path, [], file_sha256(path), "onnx", meta["training"],
                             f"universal network ({meta['shape']['kind']}), exported by nstbatch "
                             f"{meta.get('nstbatch_version', '?')}", universal=meta["shape"]["kind"])
        meta = properties if isinstance(properties.get("styles"), list) else stylizer_metadata(path, properties)
        description = (f"ONNX styliser ({meta.get('precision', 'fp32')}), exported by nstbatch "
                       f"{meta.get('nstbatch_version', '?')}")
        try:
            int8 = json.loads(meta["int8_validation"]) if meta.get("int8") == "true" else None
        except (KeyError, ValueError):
            raise ModelError(f"{path}: its int8 metadata is damaged; make the copy again (export model --int8)") from None
        return ModelFile(path, meta["styles"], file_sha256(path), "onnx", meta["training"], description,
                         meta.get("style_map") == "true", int8=int8)
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
    if meta.get("kind") == UNIVERSAL_KIND:
        raise ModelError(f"{model_path}: a universal network, which paints with the paintings given to it: give "
                         f"them with --style")
    if meta.get("kind") != STYLIZER_KIND:
        what = "an nstbatch VGG-19 feature model" if "layers" in meta else "not an nstbatch styliser"
        raise ModelError(f"{model_path}: {what}, not a styliser; give a model made by `nstbatch export model` "
                         f"or a checkpoint made by `nstbatch train`")
    try:
        return {**meta, "styles": json.loads(meta["styles"]), "training": json.loads(meta.get("training", "{}"))}
    except (KeyError, ValueError):
        raise ModelError(f"{model_path}: its styliser metadata is damaged; export it again") from None


def universal_metadata(model_path, metadata: dict[str, str] | None = None) -> dict:
    """A universal network's metadata, decoded (``shape``, ``training``); ModelError for another kind of
    model or damaged metadata."""
    from .universal_shape import UniversalShape

    meta = model_metadata(model_path) if metadata is None else metadata
    if meta.get("kind") != UNIVERSAL_KIND:
        raise ModelError(f"{model_path}: not a universal network; --style with --model takes one made by "
                         f"`nstbatch train --universal` and `nstbatch export model` (or the bundled 'universal')")
    try:
        shape, training = (_decoded(meta.get(key, "{}")) for key in ("shape", "training"))
        UniversalShape.from_record(shape)
        return {**meta, "shape": shape, "training": training}
    except (KeyError, ValueError, TypeError):
        raise ModelError(f"{model_path}: its universal network metadata is damaged; export it again") from None
    except ModelError as exc:
        raise ModelError(f"{model_path}: {exc}") from None


def _decoded(value):
    """A metadata property as JSON text, or already decoded (by the session that read it)."""
    return value if isinstance(value, (dict, list)) else json.loads(value)
