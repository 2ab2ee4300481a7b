"""torch -> ONNX for the VGG-19 feature extractor. Never validates: see validate.py."""

from __future__ import annotations

import warnings
from pathlib import Path

import onnx
import torch
from torch import nn

from .. import __version__
from ..atomic import atomic_path
from ..runtime.vgg import VGG19Features
from ..runtime.weights import load_weights
from .spec import INPUT_NAME, ExportSpec


class _FeatureGraph(nn.Module):
    """The extractor as a graph with float32 IO; with fp16, half weights and activations inside."""

    def __init__(self, features: VGG19Features, spec: ExportSpec):
        super().__init__()
        self.features = features.half() if spec.fp16 else features
        self.layers = spec.layers
        self.fp16 = spec.fp16

    def forward(self, image):
        out = self.features(image.half() if self.fp16 else image, self.layers)
        return tuple(out[layer].float() for layer in self.layers)


def export(spec: ExportSpec, output, weights=None) -> Path:
    """Write the ONNX model for ``spec`` to ``output`` atomically, with metadata saying what it holds."""
    output = Path(output)
    vgg_weights = load_weights(weights)
    graph = _FeatureGraph(VGG19Features(vgg_weights, spec.pooling), spec).eval()
    with atomic_path(output) as tmp:
        with warnings.catch_warnings(), torch.no_grad():
            # The TorchScript exporter: deprecated since torch 2.9 but present in 2.14; the dynamo
            # exporter would add onnxscript as a dependency for the same graph of convolutions.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                graph, (torch.rand(1, 3, 32, 32),), str(tmp),
                input_names=[INPUT_NAME], output_names=list(spec.layers), dynamic_axes=spec.dynamic_axes(),
                opset_version=spec.opset, dynamo=False,
            )
        model = onnx.load(str(tmp))
        metadata = {
            "nstbatch_version": __version__,
            "layers": ",".join(spec.layers),
            "precision": spec.precision,
            "pooling": spec.pooling,
            "weights_source": vgg_weights.source,
            "weights_sha256": vgg_weights.sha256,
            "preprocessing": f"{vgg_weights.preprocessing} (inside the graph; input is RGB in [0, 1])",
        }
        for key, value in metadata.items():
            model.metadata_props.add(key=key, value=value)
        onnx.save(model, str(tmp))
    return output
