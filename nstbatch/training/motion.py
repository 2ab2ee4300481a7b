"""Small random motions of training crops, for learning steadiness without video (Wang et al., 2020).

A network that flickers paints a photo and the same photo moved by a pixel or two (plus a little sensor
noise) with different strokes. The temporal term of training compares the network's picture of a moved,
noised crop with its picture of the crop, moved the same way; each step draws a fresh motion: a shift, a
rotation, a zoom and a smooth random flow field (``Motion``'s limits), as a function of (seed, step) like
the crops, so a resumed run draws the same motions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

# The flow field's control grid: 4 x 4 random displacements, upsampled smoothly over the crop, so
# neighbouring pixels move alike, as they do between two video frames.
WOBBLE_GRID = 4


@dataclass(frozen=True)
class Motion:
    """The largest motion drawn, in the units of one frame to the next of a hand-held clip."""

    shift: float = 0.02  # of the crop's side along each axis (3 px of a 160 px crop)
    rotation: float = 1.5  # degrees
    zoom: float = 0.03  # relative
    wobble: float = 0.01  # of the crop's side: the flow field's largest displacement
    noise: float = 0.02  # standard deviation of the noise added to the moved crop, in [0, 1] units


def random_motion(batch_size: int, size: int, generator: torch.Generator, limits: Motion = Motion()) -> torch.Tensor:
    """Sampling grids (B x size x size x 2, grid_sample's [-1, 1] coordinates) of one motion per crop."""
    u = torch.rand(batch_size, 4, generator=generator) * 2 - 1  # shift x, shift y, rotation, zoom in [-1, 1]
    angle = u[:, 2] * math.radians(limits.rotation)
    scale = 1 + u[:, 3] * limits.zoom
    theta = torch.zeros(batch_size, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = scale * torch.cos(angle)
    theta[:, 0, 1] = -scale * torch.sin(angle)
    theta[:, 1, 0] = scale * torch.sin(angle)
    theta[:, :, 2] = u[:, :2] * limits.shift * 2  # [-1, 1] spans the side twice over
    grid = F.affine_grid(theta, [batch_size, 3, size, size], align_corners=False)
    coarse = (torch.rand(batch_size, 2, WOBBLE_GRID, WOBBLE_GRID, generator=generator) * 2 - 1) * limits.wobble * 2
    flow = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=True)
    return grid + flow.permute(0, 2, 3, 1)


def move(images: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """``images`` (B x C x H x W) moved by ``grid``; what comes from outside the crop is 0."""
    return F.grid_sample(images, grid.to(images.dtype), mode="bilinear", padding_mode="zeros", align_corners=False)


def inside(grid: torch.Tensor) -> torch.Tensor:
    """B x 1 x H x W: 1 where the moved picture comes from inside the crop (its bilinear taps all inside)."""
    h, w = grid.shape[1:3]
    # Half a pixel in from the edge: beyond it bilinear sampling blends in the zero padding.
    limit_x, limit_y = 1 - 1 / w, 1 - 1 / h
    ok = (grid[..., 0].abs() <= limit_x) & (grid[..., 1].abs() <= limit_y)
    return ok.unsqueeze(1).to(grid.dtype)


def noisy(images: torch.Tensor, generator: torch.Generator, limits: Motion = Motion()) -> torch.Tensor:
    noise = torch.randn(images.shape, generator=generator) * limits.noise
    return (images + noise.to(images.device, images.dtype)).clamp(0, 1)


def consistency(painted: torch.Tensor, painted_moved: torch.Tensor, grid: torch.Tensor, block: int = 1) -> torch.Tensor:
    """Mean squared difference between the picture of the moved crop and the picture moved, where the
    motion saw inside the crop, compared on the means of ``block`` x ``block`` blocks (1: per pixel);
    divided by the values compared (as the video's temporal term divides by all values), so its weight
    depends neither on the crop size nor on the block."""
    mask = inside(grid)
    target = move(painted.float(), grid)
    difference = mask * (painted_moved.float() - target.float())
    # On 2 x 2 block means a stroke may move by a pixel inside its block at no cost, while a coarse
    # change costs as it does per pixel (benchmarks/RESULTS.md, "the term on 2x2 block means").
    if block > 1:
        difference = F.avg_pool2d(difference, block)
    return torch.sum(difference ** 2) / difference.numel()
