"""torch -> ONNX for any spec in spec.py. Never validates: see validate.py."""

from __future__ import annotations

import warnings
from pathlib import Path

import onnx
import torch

from ..atomic import atomic_path


def export(spec, output) -> Path:
    """Write the ONNX model for ``spec`` to ``output`` atomically, with the spec's metadata."""
    output = Path(output)
    graph = spec.graph()
    example = spec.sample_inputs((1, 3, 32, 32), torch.Generator().manual_seed(0))
    with atomic_path(output) as tmp:
        with warnings.catch_warnings(), torch.no_grad():
            # The TorchScript exporter: deprecated since torch 2.9 but present in 2.14; the dynamo
            # exporter would add onnxscript as a dependency for the same graph of convolutions.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                graph, example, str(tmp),
                input_names=spec.input_names, output_names=spec.output_names, dynamic_axes=spec.dynamic_axes(),
                opset_version=spec.opset, dynamo=False,
            )
        model = onnx.load(str(tmp))
        for key, value in spec.metadata().items():
            model.metadata_props.add(key=key, value=value)
        onnx.save(model, str(tmp))
    return output
