"""The three ONNX contracts nstbatch exports, each declared once; ``export`` and ``validate`` serve all.

A spec says the input and output names, which axes are dynamic, the opset and the tolerance; it
builds the graph to export (float32 in and out, half precision inside with ``fp16``), the float32
torch reference that validation compares against, sample inputs, and the metadata.

- ``FeatureSpec``: VGG-19 features. Input ``image`` float32 [N, 3, H, W], RGB in [0, 1] (the
  BGR/mean preprocessing is inside the graph); one float32 output per layer, named by the layer.
- ``StylizerSpec``: a feed-forward styliser. Input ``image`` as above, any H and W; for a network
  holding several paintings a second input ``style`` float32 [N, S] of blend weights summing to 1;
  one output ``stylized``, the shape of ``image``, in [0, 1]. Exported with ``style_map``, the second
  input is ``style_map`` float32 [N, S, H, W] instead (any H and W; the image's size is natural): a
  blend at every pixel, summing to 1 over S, for painting by region. A constant map is the ``style``
  contract's blend.
- ``UniversalSpec``: a universal network's two halves (network/universal.py): inputs ``photo`` float32
  [N, 3, H, W] in [0, 1] (H and W multiples of 4) and ``features`` float32 [N, C, h, w]; outputs
  ``encoded`` [N, C, H/4, W/4] and ``decoded`` [N, 3, 4h, 4w].
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import torch
from torch import nn

from ..version import __version__
from ..network.checkpoint import load_checkpoint, read_info
from ..records import file_sha256
from ..network.model_file import STYLIZER_KIND, UNIVERSAL_KIND
from ..runtime.stylize import DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS
from ..runtime.vgg import VGG19Features, check_layers
from ..runtime.weights import load_weights

INPUT_NAME = "image"
STYLE_NAME = "style"
STYLE_MAP_NAME = "style_map"
STYLIZED_NAME = "stylized"
DEFAULT_LAYERS = tuple(check_layers(DEFAULT_STYLE_LAYERS + DEFAULT_CONTENT_LAYERS))
DEFAULT_OPSET = 17
# Max |onnxruntime − torch| / max |torch|, per output: fp32 is the same arithmetic reordered; fp16
# keeps 11 bits through the network.
TOLERANCE = {"fp32": 1e-4, "fp16": 1e-2}


class _Spec:
    opset: int
    fp16: bool
    # Batch 2 at two sizes, so the batch and spatial axes are shown to be really dynamic.
    validation_shapes: tuple = ((2, 3, 64, 80), (2, 3, 96, 72))

    @property
    def precision(self) -> str:
        return "fp16" if self.fp16 else "fp32"

    @property
    def tolerance(self) -> float:
        return TOLERANCE[self.precision]


@dataclass(frozen=True)
class FeatureSpec(_Spec):
    layers: tuple = DEFAULT_LAYERS
    opset: int = DEFAULT_OPSET
    fp16: bool = False
    pooling: str = "max"
    weights: str | None = None  # a torchvision state dict; None: the original Caffe weights

    def __post_init__(self):
        object.__setattr__(self, "layers", tuple(check_layers(self.layers)))
        object.__setattr__(self, "weights", str(self.weights) if self.weights else None)

    @property
    def input_names(self) -> list[str]:
        return [INPUT_NAME]

    @property
    def output_names(self) -> list[str]:
        return list(self.layers)

    def dynamic_axes(self) -> dict:
        axes = {INPUT_NAME: {0: "batch", 2: "height", 3: "width"}}
        for layer in self.layers:
            axes[layer] = {0: "batch", 2: f"{layer}_height", 3: f"{layer}_width"}
        return axes

    def reference(self) -> nn.Module:
        return VGG19Features(load_weights(self.weights), self.pooling).eval()

    def graph(self) -> nn.Module:
        return _FeatureGraph(self.reference(), self.layers, self.fp16).eval()

    def sample_inputs(self, shape, generator: torch.Generator) -> tuple:
        return (torch.rand(shape, generator=generator),)

    def expected(self, reference: nn.Module, inputs: tuple) -> list[torch.Tensor]:
        out = reference(inputs[0], self.layers)
        return [out[layer] for layer in self.layers]

    def metadata(self) -> dict[str, str]:
        vgg_weights = load_weights(self.weights)
        return {
            "nstbatch_version": __version__,
            "layers": ",".join(self.layers),
            "precision": self.precision,
            "pooling": self.pooling,
            "weights_source": vgg_weights.source,
            "weights_sha256": vgg_weights.sha256,
            "preprocessing": f"{vgg_weights.preprocessing} (inside the graph; input is RGB in [0, 1])",
        }


class _FeatureGraph(nn.Module):
    """The extractor with float32 IO; with fp16, half weights and activations inside."""

    def __init__(self, features: VGG19Features, layers: tuple, fp16: bool):
        super().__init__()
        self.features = features.half() if fp16 else features
        self.layers, self.fp16 = layers, fp16

    def forward(self, image):
        out = self.features(image.half() if self.fp16 else image, self.layers)
        return tuple(out[layer].float() for layer in self.layers)


@dataclass(frozen=True)
class StylizerSpec(_Spec):
    checkpoint: str = ""
    opset: int = DEFAULT_OPSET
    fp16: bool = False
    style_map: bool = False  # the second input a per-pixel blend [N, S, H, W] (regions) instead of [N, S]
    # An odd size too: the network pads nothing and must still give back exactly H x W.
    validation_shapes: tuple = ((2, 3, 64, 80), (2, 3, 67, 93))

    def __post_init__(self):
        object.__setattr__(self, "checkpoint", str(self.checkpoint))

    @cached_property
    def styles(self) -> int:
        return read_info(self.checkpoint)[0].architecture.styles

    @property
    def input_names(self) -> list[str]:
        if self.style_map:
            return [INPUT_NAME, STYLE_MAP_NAME]
        return [INPUT_NAME, STYLE_NAME] if self.styles > 1 else [INPUT_NAME]

    @property
    def output_names(self) -> list[str]:
        return [STYLIZED_NAME]

    def dynamic_axes(self) -> dict:
        image_axes = {0: "batch", 2: "height", 3: "width"}
        axes = {INPUT_NAME: image_axes, STYLIZED_NAME: image_axes}
        if self.style_map:
            axes[STYLE_MAP_NAME] = {0: "batch", 2: "map_height", 3: "map_width"}
        elif self.styles > 1:
            axes[STYLE_NAME] = {0: "batch"}
        return axes

    def reference(self) -> nn.Module:
        return load_checkpoint(self.checkpoint)[0].float().eval()

    def graph(self) -> nn.Module:
        return _StylizerGraph(self.reference(), self.fp16).eval()

    def sample_inputs(self, shape, generator: torch.Generator) -> tuple:
        image = torch.rand(shape, generator=generator)
        if self.style_map:  # a real per-pixel blend, at the image's size
            weights = torch.rand(shape[0], self.styles, *shape[2:], generator=generator)
            return image, weights / weights.sum(1, keepdim=True)
        if self.styles == 1:
            return (image,)
        weights = torch.rand(shape[0], self.styles, generator=generator)  # a real blend, not one painting
        return image, weights / weights.sum(1, keepdim=True)

    def expected(self, reference: nn.Module, inputs: tuple) -> list[torch.Tensor]:
        return [reference(*inputs)]

    def metadata(self) -> dict[str, str]:
        info, _ = read_info(self.checkpoint)
        return {
            "kind": STYLIZER_KIND,
            "nstbatch_version": __version__,
            "precision": self.precision,
            "styles": json.dumps(info.style_names),
            "style_sha256": json.dumps([s["sha256"] for s in info.styles]),
            "architecture": json.dumps(info.architecture.as_dict()),
            "training": json.dumps({**info.settings, "step": info.step, "history": info.history}),
            "checkpoint": Path(self.checkpoint).name,
            "checkpoint_sha256": file_sha256(self.checkpoint),
            **({"style_map": "true"} if self.style_map else {}),
        }


class _StylizerGraph(nn.Module):
    def __init__(self, network, fp16: bool):
        super().__init__()
        self.network = network.half() if fp16 else network
        self.fp16 = fp16

    def forward(self, image, style=None):
        return self.network(image.half() if self.fp16 else image, style).float()


@dataclass(frozen=True)
class UniversalSpec(_Spec):
    checkpoint: str = ""
    opset: int = DEFAULT_OPSET
    fp16: bool = False
    validation_shapes: tuple = ((2, 3, 64, 80), (2, 3, 96, 72))
    input_names: tuple = ("photo", "features")
    output_names: tuple = ("encoded", "decoded")

    def __post_init__(self):
        object.__setattr__(self, "checkpoint", str(self.checkpoint))
        object.__setattr__(self, "input_names", list(self.input_names))
        object.__setattr__(self, "output_names", list(self.output_names))

    def dynamic_axes(self) -> dict:
        image = {0: "batch", 2: "height", 3: "width"}
        features = {0: "feature_batch", 2: "feature_height", 3: "feature_width"}
        return {"photo": image, "features": features, "encoded": {0: "batch", 2: "encoded_height",
                                                                   3: "encoded_width"},
                "decoded": {0: "feature_batch", 2: "decoded_height", 3: "decoded_width"}}

    def reference(self) -> nn.Module:
        from ..network.universal_checkpoint import load_universal

        return load_universal(self.checkpoint)[0].float().eval()

    def graph(self) -> nn.Module:
        return self.reference()

    def sample_inputs(self, shape, generator: torch.Generator) -> tuple:
        from ..network.universal_checkpoint import read_universal

        channels = read_universal(self.checkpoint).shape.feature_channels
        photo = torch.rand(shape, generator=generator)
        return photo, torch.rand(shape[0], channels, shape[2] // 4, shape[3] // 4, generator=generator)

    def expected(self, reference: nn.Module, inputs: tuple) -> list[torch.Tensor]:
        return list(reference(*inputs))

    def metadata(self) -> dict[str, str]:
        from ..network.universal_checkpoint import read_universal

        info = read_universal(self.checkpoint)
        return {
            "kind": UNIVERSAL_KIND,
            "nstbatch_version": __version__,
            "precision": self.precision,
            "shape": json.dumps(info.shape.as_dict()),
            "training": json.dumps({**info.settings, "step": info.step}),
            "checkpoint": Path(self.checkpoint).name,
            "checkpoint_sha256": file_sha256(self.checkpoint),
        }
