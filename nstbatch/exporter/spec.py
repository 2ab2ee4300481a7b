"""The ONNX contract for VGG-19 feature extraction, declared once.

One input ``image``: float32 [N, 3, H, W], RGB in [0, 1] (the BGR/mean preprocessing is inside the
graph). One float32 output per layer, named exactly by the layer. N, H and W are dynamic.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..runtime.stylize import DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS
from ..runtime.vgg import check_layers

INPUT_NAME = "image"
DEFAULT_LAYERS = tuple(check_layers(DEFAULT_STYLE_LAYERS + DEFAULT_CONTENT_LAYERS))
DEFAULT_OPSET = 17
# Max |onnxruntime − torch| / max |torch|, per output: fp32 is the same arithmetic reordered; fp16
# keeps 11 bits through 16 convolutions.
TOLERANCE = {"fp32": 1e-4, "fp16": 1e-2}
# Two sizes at batch 2, so both the spatial and the batch axes are shown to be really dynamic.
VALIDATION_SHAPES = ((2, 3, 64, 80), (2, 3, 96, 72))


@dataclass(frozen=True)
class ExportSpec:
    layers: tuple = DEFAULT_LAYERS
    opset: int = DEFAULT_OPSET
    fp16: bool = False
    pooling: str = "max"

    def __post_init__(self):
        object.__setattr__(self, "layers", tuple(check_layers(self.layers)))

    @property
    def precision(self) -> str:
        return "fp16" if self.fp16 else "fp32"

    @property
    def tolerance(self) -> float:
        return TOLERANCE[self.precision]

    def dynamic_axes(self) -> dict:
        axes = {INPUT_NAME: {0: "batch", 2: "height", 3: "width"}}
        for layer in self.layers:
            axes[layer] = {0: "batch", 2: f"{layer}_height", 3: f"{layer}_width"}
        return axes
