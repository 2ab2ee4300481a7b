"""Forward-only VGG-19 features through onnxruntime, from a model built and validated on first use.

The exported model is cached under the cache folder, keyed by layers, precision, pooling, opset and
the weights' hash, so users never run the export by hand unless they want the file.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch

from .. import __version__
from ..atomic import atomic_path
from .providers import create_session
from .weights import weights_sha256


def cache_dir() -> Path:
    """$NSTBATCH_CACHE, else $XDG_CACHE_HOME/nstbatch, else ~/.cache/nstbatch."""
    if os.environ.get("NSTBATCH_CACHE"):
        return Path(os.environ["NSTBATCH_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "nstbatch"


def cached_model(spec, weights=None) -> Path:
    """The path of a validated model for ``spec``, exporting and validating it if not cached yet."""
    from ..exporter.export import export
    from ..exporter.validate import validate

    sha = weights_sha256(weights)
    key = json.dumps([spec.layers, spec.precision, spec.pooling, spec.opset, sha, __version__])
    path = cache_dir() / f"vgg19-{spec.precision}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.onnx"
    if not path.exists():
        with atomic_path(path) as staged:  # only a validated model ever gets the cached name
            export(spec, staged, weights)
            validate(staged, spec, weights)
    return path


class FeatureSession:
    """Callable like VGG19Features, ``session(image, layers) -> {layer: activation}``, forward only."""

    def __init__(self, layers, fp16: bool = False, weights=None, pooling: str = "max", providers=None):
        from ..exporter.spec import ExportSpec

        self.spec = ExportSpec(layers=tuple(layers), fp16=fp16, pooling=pooling)
        self.model_path = cached_model(self.spec, weights)
        self.session, self.providers = create_session(self.model_path, providers, cache_dir() / "tensorrt", fp16)

    def __call__(self, image: torch.Tensor, layers) -> dict[str, torch.Tensor]:
        missing = [name for name in layers if name not in self.spec.layers]
        if missing:
            raise ValueError(f"the ONNX feature model has no {', '.join(missing)}; it holds {', '.join(self.spec.layers)}")
        wanted = [name for name in self.spec.layers if name in set(layers)]
        values = self.session.run(wanted, {"image": image.detach().float().cpu().contiguous().numpy()})
        return {name: torch.from_numpy(value).to(image.device) for name, value in zip(wanted, values)}
