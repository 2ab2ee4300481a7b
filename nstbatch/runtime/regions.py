"""Spatial control (Gatys et al. 2017): which painting goes where, as masks over the photo.

A region is a mask (soft masks allowed: values in [0, 1]) and what paints it: one or more paintings
(blended), or the photo itself. Each painted region gets a style term of its own, a *guided* Gram
matrix: the layer's features weighted by the region's guide at that layer,

    G_r = Σ_p g_r(p)² F(p) F(p)ᵀ / (C · Σ_p g_r(p)²),

matched to its paintings' Gram. With a guide of ones this is the ordinary Gram exactly, and it is still
a sum over positions, so block-wise evaluation (blocks.py) gathers it as it gathers the ordinary one.

The guide at a layer is the mask propagated through the network as the paper describes: averaged over
each 3x3 convolution's window and each 2x2 pooling. A position's guide is then about the share of its
receptive field that lies inside the region, so a position that mostly sees the next region counts
little in this one's Gram: the paintings do not leak across the boundary through the receptive field.
Complementary masks give guides that still sum to one at every position.

A region painted by the photo has no style term: its pixels are held to the photo (stylize.optimize's
``held``), softly where its mask is soft.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .gram import gram_torch
from .mixing import pixel_shares
from .vgg import LAYER_INDEX, LAYERS

@dataclass
class RegionStyle:
    """What paints one region: ``paintings`` (1 x 3 x H x W tensors) blended by ``blend``, or none for the
    photo. ``painting_mask`` (1 x 1 x h x w, the first painting's shape or resampled to it) takes the target
    Gram from that part of the painting alone."""

    name: str
    paintings: list = field(default_factory=list)
    blend: list = field(default_factory=list)
    painting_mask: torch.Tensor | None = None

    @property
    def is_photo(self) -> bool:
        return not self.paintings


def resized_masks(masks: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """R x H x W (or R x 1 x H x W) masks at ``size`` (h, w), bilinear with antialiasing, in [0, 1]."""
    masks = masks.float()
    if masks.dim() == 3:
        masks = masks[:, None]
    if tuple(masks.shape[-2:]) != tuple(size):
        masks = F.interpolate(masks, size=size, mode="bilinear", align_corners=False, antialias=True)
    return masks.clamp(0, 1)


def layer_guides(mask: torch.Tensor, layers) -> dict[str, torch.Tensor]:
    """``mask`` (1 x 1 x H x W at the picture's size) propagated to each of ``layers``: {layer: 1 x 1 x h x w},
    h and w those of the layer's activations."""
    wanted = set(layers)
    deepest = max(LAYER_INDEX[name] for name in wanted)
    guide, guides = mask.float(), {}
    for name in LAYERS[:deepest + 1]:
        if name.startswith("conv"):
            guide = F.avg_pool2d(guide, 3, stride=1, padding=1, count_include_pad=False)
        elif name.startswith("pool"):
            guide = F.avg_pool2d(guide, 2, 2)  # floors odd sides, as VGG's pooling does
        if name in wanted:
            guides[name] = guide
    return guides


def guided_gram(features: torch.Tensor, guide: torch.Tensor, energy: float | None = None, gram=None) -> torch.Tensor:
    """The guided Gram of ``features`` (B x C x h x w) under ``guide`` (1 x 1 x h x w); ``energy`` is Σ guide²
    (computed when not given); ``gram`` the Gram function to use (gram.gram_torch by default)."""
    gram = gram or gram_torch
    energy = float(torch.sum(guide.double() ** 2)) if energy is None else energy
    positions = features.shape[-2] * features.shape[-1]
    return gram(features * guide.to(features.dtype)) * (positions / max(energy, 1e-12))


@dataclass
class Layout:
    """The regions of one picture at one size: each painted region's mask, and the photo's hold."""

    painted: list[tuple[int, torch.Tensor]]  # (index into the engine's regions, 1 x 1 x H x W mask)
    held: torch.Tensor | None  # 1 x 1 x H x W: where the pixels are held to the photo; None: nowhere


def layout(masks: torch.Tensor, regions: list[RegionStyle], rest: RegionStyle | None,
           size: tuple[int, int]) -> Layout:
    """The picture's regions at ``size`` from ``masks`` (R x H x W, one per entry of ``regions``, any size).

    Where masks overlap they share the pixel in proportion; what no mask covers is the ``rest`` region
    (the paintings of --style), or the photo when there is no rest."""
    masks, uncovered = pixel_shares(resized_masks(masks, size))
    everyone = list(zip(range(len(regions)), masks)) + [(len(regions), uncovered)]
    painted, held = [], None
    for index, mask in everyone:
        region = regions[index] if index < len(regions) else rest
        if float(mask.max()) <= 0:
            continue  # a region absent from this picture: no term
        if region is None or region.is_photo:
            held = mask[None] if held is None else held + mask[None]
        else:
            painted.append((index, mask[None]))
    return Layout(painted, None if held is None else held.clamp(0, 1))
