"""The VGG-19 feature extractor: RGB in [0, 1] in, ``{layer_name: activation}`` out.

Preprocessing lives inside, so callers never think about BGR or mean pixels, and the network is cut
after the deepest layer asked for. The weights are buffers, not parameters: no gradient is ever
computed for them, only for the image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UsageError
from .weights import CAFFE, CAFFE_BGR_MEAN, CONV_CHANNELS, IMAGENET_MEAN, IMAGENET_STD, VGGWeights


def _layer_names() -> list[str]:
    names = []
    for block in range(1, 6):
        convs = [c for c in CONV_CHANNELS if c.startswith(f"conv{block}_")]
        for conv in convs:
            names += [conv, "relu" + conv[4:]]
        names.append(f"pool{block}")
    return names


LAYERS = tuple(_layer_names())  # conv1_1, relu1_1, conv1_2, relu1_2, pool1, conv2_1, ...
LAYER_INDEX = {name: i for i, name in enumerate(LAYERS)}


def min_side(layers) -> int:
    """The shortest side, in pixels, that still leaves the deepest of ``layers`` one position: its
    stride (16 for relu5_1, 32 for pool5)."""
    return stride(max(layers, key=LAYER_INDEX.__getitem__))


def stride(layer: str) -> int:
    """Image pixels between neighbouring positions of ``layer``: 2 to the power of the poolings before it."""
    return 2 ** sum(1 for name in LAYERS[:LAYER_INDEX[layer] + 1] if name.startswith("pool"))


def channels(layer: str) -> int:
    """Channels of ``layer``'s activations: those of the convolution it is, follows or pools."""
    convs = [name for name in LAYERS[:LAYER_INDEX[layer] + 1] if name.startswith("conv")]
    return CONV_CHANNELS[convs[-1]][1]


def reach(layers) -> int:
    """How many pixels beyond a position's own ``stride`` x ``stride`` patch the deepest of ``layers``
    sees: each 3x3 convolution widens it by one position of its layer; a 2x2 pooling aligned to its
    stride adds nothing. 70 for relu5_1."""
    deepest = max(LAYER_INDEX[name] for name in layers)
    spacing, radius = 1, 0
    for name in LAYERS[:deepest + 1]:
        if name.startswith("conv"):
            radius += spacing
        elif name.startswith("pool"):
            spacing *= 2
    return radius


def check_layers(names) -> list[str]:
    """Names in network order, or a UsageError naming the unknown one and the valid choices."""
    names = list(dict.fromkeys(names))
    for name in names:
        if name not in LAYER_INDEX:
            raise UsageError(f"unknown VGG-19 layer '{name}'; choose from conv1_1..conv5_4, relu1_1..relu5_4, pool1..pool5")
    return sorted(names, key=LAYER_INDEX.__getitem__)


class VGG19Features(nn.Module):
    def __init__(self, weights: VGGWeights, pooling: str = "max"):
        super().__init__()
        if pooling not in ("max", "avg"):
            raise UsageError(f"pooling must be 'max' or 'avg', not '{pooling}'")
        self.pooling = pooling
        self.weights_source = weights.source
        self.weights_sha256 = weights.sha256
        for name, (weight, bias) in weights.convs.items():
            # Taken as they are, not cloned: a second copy of 80 MB of weights only raises peak memory.
            self.register_buffer(f"{name}_weight", weight)
            self.register_buffer(f"{name}_bias", bias)
        if weights.preprocessing == CAFFE:
            # RGB [0,1] -> BGR [0,255] minus the mean pixel, as one per-channel affine map with the
            # channel swap folded into a permutation.
            scale = torch.full((3,), 255.0)
            shift = -torch.tensor(CAFFE_BGR_MEAN)
            self.channel_order = [2, 1, 0]
        else:
            scale = 1.0 / torch.tensor(IMAGENET_STD)
            shift = -torch.tensor(IMAGENET_MEAN) / torch.tensor(IMAGENET_STD)
            self.channel_order = [0, 1, 2]
        self.register_buffer("input_scale", scale.view(1, 3, 1, 1))
        self.register_buffer("input_shift", shift.view(1, 3, 1, 1))

    def preprocess(self, image: torch.Tensor) -> torch.Tensor:
        return image[:, self.channel_order] * self.input_scale + self.input_shift

    def forward(self, image: torch.Tensor, layers) -> dict[str, torch.Tensor]:
        """Activations of ``layers`` for an N x 3 x H x W RGB batch in [0, 1]."""
        if image.dim() != 4 or image.shape[1] != 3:
            raise ValueError(f"expected an N x 3 x H x W image batch, got shape {tuple(image.shape)}")
        wanted = set(layers)
        last = max(LAYER_INDEX[name] for name in wanted)
        x = self.preprocess(image)
        out = {}
        for name in LAYERS[: last + 1]:
            if name.startswith("conv"):
                x = F.conv2d(x, getattr(self, f"{name}_weight"), getattr(self, f"{name}_bias"), padding=1)
            elif name.startswith("relu"):
                x = F.relu(x)  # not in place: the conv output may be a requested layer too
            elif self.pooling == "max":
                x = F.max_pool2d(x, 2, 2)
            else:
                x = F.avg_pool2d(x, 2, 2)
            if name in wanted:
                out[name] = x
        return out


_cache: dict = {}


def load_vgg19(weights_path=None, pooling: str = "max", device="cpu") -> VGG19Features:
    """A shared extractor per (weights file, pooling, device): loading and dequantising costs ~1 s."""
    from .weights import load_weights

    key = (str(weights_path), pooling, str(device))
    if key not in _cache:
        features = VGG19Features(load_weights(weights_path), pooling).to(device).eval()
        if torch.device(device).type == "cuda":
            # cuDNN's fastest convolutions, in half precision above all, want NHWC weights.
            features = features.to(memory_format=torch.channels_last)
        _cache[key] = features
    return _cache[key]
