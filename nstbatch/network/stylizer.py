"""The feed-forward styliser: a small image-transformation network that paints a photo in one pass.

Johnson et al.'s layout as later work fixed it: reflection padding, instance normalisation,
residual blocks, and nearest-neighbour upsampling followed by a convolution instead of transposed
convolutions (which leave checkerboard artefacts). Every normalisation is conditional (Dumoulin et
al.): one scale and shift (γ, β) per painting, and a vector of blend weights mixes them, so one
network holds several paintings and blends their looks. Only layers here: nothing about files or
training.
"""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from .architecture import Architecture


class ConditionalInstanceNorm(nn.Module):
    """Instance normalisation followed by a per-painting scale and shift, blended by ``weights``.

    γ = weights @ scale and β = weights @ shift, so a one-hot vector is that painting alone and a
    blend interpolates (γ, β). ``weights`` may also be a style map, N x S x H x W (any H and W): a blend
    at every pixel, resampled to the layer's size, so each region gets its own (γ, β) (Dumoulin et al.'s
    spatial interpolation); the statistics stay the whole picture's. They are taken in float32 whatever
    the activations' type: a variance of large half-precision activations overflows.
    """

    def __init__(self, channels: int, styles: int):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(styles, channels))
        self.shift = nn.Parameter(torch.zeros(styles, channels))

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        normalised = F.instance_norm(x.float(), eps=1e-5).to(x.dtype)
        weights = weights.to(self.scale.dtype)
        if weights.dim() == 4:  # a style map: (γ, β) per pixel
            if tuple(weights.shape[-2:]) != tuple(x.shape[-2:]):
                weights = F.interpolate(weights, size=x.shape[-2:], mode="bilinear", align_corners=False)
            per_pixel = weights.permute(0, 2, 3, 1)  # N x H x W x S
            gamma = (per_pixel @ self.scale).permute(0, 3, 1, 2).to(x.dtype)
            beta = (per_pixel @ self.shift).permute(0, 3, 1, 2).to(x.dtype)
            return normalised * gamma + beta
        gamma = (weights @ self.scale).to(x.dtype)[:, :, None, None]
        beta = (weights @ self.shift).to(x.dtype)[:, :, None, None]
        return normalised * gamma + beta


class ConvNormReLU(nn.Module):
    """Reflection-padded convolution, conditional instance norm, ReLU (optionally without the ReLU)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, styles: int, stride: int = 1, relu: bool = True):
        super().__init__()
        self.pad = nn.ReflectionPad2d(kernel // 2)
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride)
        self.norm = ConditionalInstanceNorm(c_out, styles)
        self.relu = relu

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.conv(self.pad(x)), weights)
        return F.relu(x) if self.relu else x


class ResidualBlock(nn.Module):
    def __init__(self, channels: int, styles: int):
        super().__init__()
        self.first = ConvNormReLU(channels, channels, 3, styles)
        self.second = ConvNormReLU(channels, channels, 3, styles, relu=False)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return x + self.second(self.first(x, weights), weights)


class Stylizer(nn.Module):
    """RGB in [0, 1] (N x 3 x H x W, any H and W) to RGB in [0, 1] of the same shape.

    ``weights`` (N x styles) blends the paintings; it may be left out when the network holds one. A style
    map (N x styles x h x w) blends them pixel by pixel instead.
    Any size works without padding to a multiple of 4: each upsampling goes back to the exact size
    its downsampling stage started from.
    """

    def __init__(self, architecture: Architecture = Architecture()):
        super().__init__()
        architecture.check()
        self.architecture = architecture
        c, s = architecture.channels, architecture.styles
        self.encoder = nn.ModuleList([
            ConvNormReLU(3, c, 9, s),
            ConvNormReLU(c, 2 * c, 3, s, stride=2),
            ConvNormReLU(2 * c, 4 * c, 3, s, stride=2),
        ])
        self.residuals = nn.ModuleList([ResidualBlock(4 * c, s) for _ in range(architecture.residual_blocks)])
        self.decoder = nn.ModuleList([ConvNormReLU(4 * c, 2 * c, 3, s), ConvNormReLU(2 * c, c, 3, s)])
        self.out_pad = nn.ReflectionPad2d(4)
        self.out_conv = nn.Conv2d(c, 3, 9)

    @property
    def styles(self) -> int:
        return self.architecture.styles

    def style_weights(self, weights: torch.Tensor | None, batch: int, like: torch.Tensor) -> torch.Tensor:
        if weights is None:
            if self.styles != 1:
                raise ValueError(f"this network holds {self.styles} paintings: give blend weights (N x {self.styles})")
            return like.new_ones(batch, 1, dtype=torch.float32)
        if weights.dim() == 1:
            weights = weights.unsqueeze(0).expand(batch, -1)
        if weights.dim() == 4:
            if tuple(weights.shape[:2]) != (batch, self.styles):
                raise ValueError(f"a style map must be {batch} x {self.styles} x H x W, not {tuple(weights.shape)}")
            return weights.to(device=like.device, dtype=torch.float32)
        if tuple(weights.shape) != (batch, self.styles):
            raise ValueError(f"blend weights must be {batch} x {self.styles}, not {tuple(weights.shape)}")
        return weights.to(device=like.device, dtype=torch.float32)

    def forward(self, image: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        weights = self.style_weights(weights, image.shape[0], image)
        x = self.encoder[0](image, weights)
        sizes = []
        for stage in self.encoder[1:]:
            sizes.append(x.shape[-2:])
            x = stage(x, weights)
        for block in self.residuals:
            x = block(x, weights)
        for stage, size in zip(self.decoder, reversed(sizes)):
            x = stage(F.interpolate(x, size=size, mode="nearest"), weights)
        return torch.sigmoid(self.out_conv(self.out_pad(x)).float())

    def add_style(self, like: int | None = None) -> int:
        """Grow every (γ, β) table by one painting, starting from painting ``like`` (default: their mean);
        returns the new painting's index. The convolutions are untouched."""
        for norm in self.norms():
            for name in ("scale", "shift"):
                table = getattr(norm, name).data
                row = table.mean(0, keepdim=True) if like is None else table[like:like + 1]
                setattr(norm, name, nn.Parameter(torch.cat([table, row.clone()])))
        self.architecture = replace(self.architecture, styles=self.architecture.styles + 1)
        return self.architecture.styles - 1

    def norms(self) -> list[ConditionalInstanceNorm]:
        return [m for m in self.modules() if isinstance(m, ConditionalInstanceNorm)]

    def style_parameters(self) -> list[nn.Parameter]:
        """The per-painting (γ, β) tables: all that differs between paintings."""
        return [p for norm in self.norms() for p in (norm.scale, norm.shift)]


def one_hot(index: int, styles: int, batch: int = 1) -> torch.Tensor:
    weights = torch.zeros(batch, styles)
    weights[:, index] = 1.0
    return weights
