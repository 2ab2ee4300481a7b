"""Opening a styliser given with ``--model``: an exported ONNX file, or a checkpoint from ``nstbatch train``.

A checkpoint is exported, validated and cached on first use (``exporter/cache.py``) and run by
onnxruntime with the best provider that really loads. On a CUDA machine where no onnxruntime GPU
provider loads, a checkpoint runs in torch instead (bf16): a GPU sitting idle behind a CPU session
would be the slowest choice of all. What runs is said in ``runs_on``.
"""

from __future__ import annotations

from ..exporter.cache import cached_stylizer
from ..runtime.checkpoint import load_checkpoint
from ..runtime.feedforward import FeedForward, TorchPainter, parse_blend
from ..runtime.model_file import ModelFile, describe
from ..runtime.providers import CPU, loadable
from ..runtime.session import StylizerSession
from ..runtime.transfer import resolve_device

__all__ = ["ModelFile", "describe", "open_model"]


def _gpu_provider_loads() -> bool:
    import onnxruntime as ort

    return any(name != CPU for name in loadable(ort))


def open_model(path, blend: str | None = None, keep_colors: bool = False, device: str = "auto",
               providers: list[str] | None = None, max_memory: int | None = None) -> tuple[FeedForward, ModelFile]:
    """The network engine for ``path``, with ``--style-blend`` parsed against its paintings' names and
    passes planned within ``max_memory`` bytes (None: what is free)."""
    model = describe(path)
    weights = parse_blend(blend, model.style_names)
    target = resolve_device(device)
    if target.type == "cpu" and providers is None:
        providers = [CPU]  # no GPU, or --device cpu: nothing else to probe for
    if model.kind == "checkpoint" and target.type == "cuda" and providers is None and not _gpu_provider_loads():
        painter = TorchPainter(load_checkpoint(model.path)[0], target)
    else:
        onnx_path = cached_stylizer(model.path, providers=providers) if model.kind == "checkpoint" else model.path
        painter = StylizerSession(onnx_path, providers)
    return FeedForward(painter, model.style_names, weights, keep_colors, max_memory), model
