"""The objective's terms, from one registry: each entry builds its terms for a picture from the options and
what the picture is measured against (``Targets``).

The optimisation loop, the block-wise objective (blocks.py), the reported losses and training all take the
list ``loss_terms`` gives and never ask which term is which. Adding a term is one entry here (a function
of the options and the targets that returns its terms; a loss module in losses.py if it reads VGG-19
layers, declaring its block-wise form there) and, if it has a weight, one field of ``stylize.Options``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import torch

from .losses import ContentLoss, GuidedStyleLoss, ImageTerm, LayerTerms, StyleLoss, TemporalLoss, total_variation

if TYPE_CHECKING:  # the options are stylize.py's, which builds its objective here
    from .stylize import Options


@dataclass(frozen=True)
class RegionTargets:
    """One painted region's targets: its paintings' Grams and its guide at each style layer (regions.py)."""

    name: str
    grams: dict
    guides: dict


@dataclass(frozen=True)
class Targets:
    """What one picture's terms are measured against; each may be absent."""

    content: dict | None = None  # {layer: the photo's activations}
    style: dict | None = None  # {layer: the paintings' blended Gram}
    previous: tuple | None = None  # a video frame's (warped previous painted frame, trust mask): the temporal term
    regions: tuple = ()  # RegionTargets, one per region painted by its own paintings
    # (photo, mask): the picture is the photo where the mask is 1 (a region painted by "photo"). Not a term
    # but a constraint on the pixels, which the loop applies (stylize.optimize).
    held: tuple | None = None


TermBuilder = Callable[["Options", Targets, torch.device], list]
TERMS: dict[str, TermBuilder] = {}  # in the order the terms are summed and reported


def term(name: str):
    """Register a builder of the terms called ``name`` (a decorator)."""
    def register(builder: TermBuilder) -> TermBuilder:
        TERMS[name] = builder
        return builder
    return register


def loss_terms(opts: Options, targets: Targets, device) -> list:
    """The objective for one picture: every registered entry's terms, in the registry's order."""
    return [built for builder in TERMS.values() for built in builder(opts, targets, device)]


def style_weights(opts: Options) -> dict[str, float]:
    """Each style layer's weight: the style weight times the layer's own (--style-layer-weights; equal)."""
    layer_weights = opts.style_layer_weights or (1.0,) * len(opts.style_layers)
    return {name: opts.style_weight * weight for name, weight in zip(opts.style_layers, layer_weights)}


@term("content")
def content_terms(opts: Options, targets: Targets, device) -> list:
    """The photo's term: its activations at each content layer (reported as 0 without a photo)."""
    return [LayerTerms("content", {name: ContentLoss(target.to(device), opts.content_weight, opts.normalize)
                                   for name, target in (targets.content or {}).items()})]


@term("style")
def style_terms(opts: Options, targets: Targets, device) -> list:
    """The paintings' term: their (blended) Gram matrices at each style layer, each layer weighted."""
    weight_of = style_weights(opts)
    return [LayerTerms("style", {name: StyleLoss(target.to(device), weight_of.get(name, opts.style_weight),
                                                 opts.gram_backend, opts.normalize)
                                 for name, target in (targets.style or {}).items()})]


@term("tv")
def smoothness_terms(opts: Options, targets: Targets, device) -> list:
    return [ImageTerm("tv", lambda image: opts.tv_weight * total_variation(image) if opts.tv_weight
                      else image.new_zeros(()))]


@term("temporal")
def temporal_terms(opts: Options, targets: Targets, device) -> list:
    """A video frame's pull towards its warped predecessor, where the warp is trusted (Ruder et al.)."""
    if targets.previous is None or opts.temporal_weight <= 0:
        return []
    warped, mask = targets.previous
    return [ImageTerm("temporal", TemporalLoss(warped.to(device), mask.to(device), opts.temporal_weight))]


@term("regions")
def region_terms(opts: Options, targets: Targets, device) -> list:
    """Each painted region's term (regions.py): guided Grams at each style layer, weighted as the style
    term's layers are, named ``style:NAME`` in the reported losses."""
    weight_of = style_weights(opts)
    return [LayerTerms(f"style:{region.name}",
                       {layer: GuidedStyleLoss(target.to(device), region.guides[layer].to(device),
                                               weight_of.get(layer, opts.style_weight), opts.gram_backend,
                                               opts.normalize)
                        for layer, target in region.grams.items()})
            for region in targets.regions]
