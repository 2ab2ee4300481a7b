"""Exported models built, validated and cached on first use, so users never run the export by hand.

Keyed by what decides the graph (for VGG-19: layers, precision, pooling, opset and the weights'
hash; for a styliser: the checkpoint's hash, precision and opset) and the nstbatch version. Only a
validated model ever gets the cached name.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..version import __version__
from ..atomic import atomic_path
from ..records import file_sha256
from ..onnx.session import FeatureSession, cache_dir
from ..runtime.weights import weights_sha256
from .export import export
from .spec import FeatureSpec, StylizerSpec
from .validate import validate


def _cached(name: str, key: list, spec, providers: list[str] | None = None) -> Path:
    """The cached model, exported and validated (on ``providers``: the run's own) if not there yet."""
    digest = hashlib.sha256(json.dumps([*key, __version__]).encode()).hexdigest()[:16]
    path = cache_dir() / f"{name}-{spec.precision}-{digest}.onnx"
    if not path.exists():
        with atomic_path(path) as staged:
            export(spec, staged)
            validate(staged, spec, providers)
    return path


def cached_vgg19(spec: FeatureSpec, providers: list[str] | None = None) -> Path:
    return _cached("vgg19", [spec.layers, spec.precision, spec.pooling, spec.opset, weights_sha256(spec.weights)], spec,
                   providers)


def cached_stylizer(checkpoint, fp16: bool = False, providers: list[str] | None = None,
                    sha256: str | None = None) -> Path:
    """The checkpoint's ONNX export, made and validated on first use; ``sha256``: the checkpoint's, when the
    caller has hashed it already (network/model_file.describe)."""
    spec = StylizerSpec(checkpoint=checkpoint, fp16=fp16)
    return _cached(f"stylizer-{Path(checkpoint).stem}", [sha256 or file_sha256(checkpoint), spec.precision, spec.opset],
                   spec, providers)


def feature_session(layers, pooling: str = "max", weights=None, providers=None) -> FeatureSession:
    """VGG-19 features by onnxruntime, from the cached model for these layers (built on first use)."""
    spec = FeatureSpec(layers=tuple(layers), pooling=pooling, weights=weights)
    return FeatureSession(cached_vgg19(spec, providers), spec.layers, providers)
