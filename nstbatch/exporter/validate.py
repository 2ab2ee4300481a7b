"""Checking an exported model against torch, for any spec in spec.py. Raises on any failure; never just warns.

In order: onnx.checker; the input and output names; the dynamic dimensions; then onnxruntime
against the spec's float32 torch reference at its validation shapes (batch 2), every output's
error reported at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch

from ..errors import NstError
from ..onnx.providers import create_session


class ValidationError(NstError):
    """The exported model is not what the contract promises; the message holds the whole report."""


@dataclass
class Row:
    shape: tuple
    output: str
    max_abs: float
    max_rel: float  # max |ort − torch| / max |torch|
    ok: bool


@dataclass
class Report:
    rows: list[Row]
    providers: list[str]
    tolerance: float

    def table(self) -> str:
        lines = [f"{'input shape':<18} {'output':<9} {'max abs err':>12} {'max rel err':>12}  (tolerance {self.tolerance:g})"]
        for r in self.rows:
            lines.append(f"{'x'.join(map(str, r.shape)):<18} {r.output:<9} {r.max_abs:>12.3e} {r.max_rel:>12.3e}  "
                         f"{'ok' if r.ok else 'FAIL'}")
        return "\n".join(lines)


def _dims(value_info) -> list:
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


def check_graph(model: onnx.ModelProto, spec) -> None:
    """Names, float32 IO and symbolic dimensions, before anything is run."""
    inputs = [i.name for i in model.graph.input]
    outputs = [o.name for o in model.graph.output]
    if inputs != spec.input_names:
        raise ValidationError(f"inputs are {inputs}, expected {spec.input_names}")
    if outputs != spec.output_names:
        raise ValidationError(f"outputs are {outputs}, expected {spec.output_names}")
    axes = spec.dynamic_axes()
    for value in list(model.graph.input) + list(model.graph.output):
        dims = _dims(value)
        fixed = [axis for axis in axes.get(value.name, {}) if axis >= len(dims) or not isinstance(dims[axis], str)]
        if fixed:
            raise ValidationError(f"'{value.name}' has dimensions {dims}; axes {fixed} must be symbolic")
        if value.type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
            raise ValidationError(f"'{value.name}' is not float32")


def validate(path, spec, providers: list[str] | None = None) -> Report:
    """Raise ValidationError unless ``path`` honours ``spec``; return the table of errors otherwise."""
    path = Path(path)
    try:
        onnx.checker.check_model(str(path), full_check=True)
        model = onnx.load(str(path))
    except Exception as exc:  # onnx raises its own types and protobuf's
        raise ValidationError(f"{path}: onnx.checker rejects it: {exc}") from None
    check_graph(model, spec)

    reference = spec.reference()
    session, running = create_session(path, providers, fp16=spec.fp16)
    rows = []
    generator = torch.Generator().manual_seed(0)
    for shape in spec.validation_shapes:
        inputs = spec.sample_inputs(shape, generator)
        with torch.no_grad():
            expected = spec.expected(reference, inputs)
        got = session.run(spec.output_names, {name: x.numpy() for name, x in zip(spec.input_names, inputs)})
        for name, value, want in zip(spec.output_names, got, expected):
            want = want.numpy()
            if value.shape != want.shape:
                raise ValidationError(f"'{name}' at input {shape} has shape {value.shape}, torch gives {want.shape}")
            max_abs = float(np.abs(value - want).max())
            max_rel = max_abs / max(float(np.abs(want).max()), 1e-12)
            rows.append(Row(shape, name, max_abs, max_rel, bool(max_rel <= spec.tolerance)))
    report = Report(rows, running, spec.tolerance)
    if not all(r.ok for r in rows):
        raise ValidationError(f"{path}: onnxruntime ({', '.join(running)}) differs from torch beyond a relative "
                              f"{spec.tolerance:g} (the largest difference over the largest value):\n{report.table()}")
    return report
