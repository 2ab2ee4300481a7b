"""The content and style terms and their exact gradient, computed block by block (Galerne et al., 2024).

A Gram matrix is a sum over positions, and the gradient of ‖G − A‖² with respect to a position's
activations is (∂L/∂G + ∂L/∂Gᵀ)·F[p] / N: with the global G in hand, each position's gradient depends
on that position alone. So an evaluation takes two passes over blocks of the picture:

1. without gradients: each style layer's Gram, summed over the blocks' own positions, and the content
   term's value;
2. with gradients, block after block: the activations of the block's own positions are given the
   gradient of the global objective (through a surrogate whose gradient it is), and back-propagated
   to the pixels.

Each block is read with a margin of ``vgg.reach`` pixels (rounded up to the deepest layer's stride),
so its own positions see exactly what they see in the whole picture; blocks start at multiples of the
deepest stride, so every pooling grid lines up with the whole picture's. Each position belongs to one
block, so the sum over blocks is the whole picture's gradient to float tolerance: no seams. Peak memory
then depends on the block size, not the picture; the price is one more forward pass per evaluation
and the margins' work.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass

import torch

from .losses import layers_of
from .vgg import VGG19Features, min_side, reach, stride


@dataclass(frozen=True)
class Block:
    """A block's own pixels (rows, cols of the picture) and the pixels read for it, margin included."""

    rows: tuple[int, int]
    cols: tuple[int, int]
    read_rows: tuple[int, int]
    read_cols: tuple[int, int]


def _spans(length: int, block: int, margin: int) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(own span, read span) along one axis; a remainder under half a block joins the block before it,
    which costs less than reading a whole margin for a sliver."""
    starts = list(range(0, length, block))
    if len(starts) > 1 and length - starts[-1] < block // 2:
        starts.pop()
    ends = starts[1:] + [length]
    return [((a, b), (max(0, a - margin), min(length, b + margin))) for a, b in zip(starts, ends)]


def blocks(height: int, width: int, block: int, layers) -> list[Block]:
    """The blocks covering a height x width picture: ``block`` pixels a side (rounded up to the deepest
    layer's stride), each read with the margin the deepest layer needs."""
    align = min_side(layers)
    block = max(align, math.ceil(block / align) * align)
    margin = math.ceil(reach(layers) / align) * align
    return [Block(rows, cols, read_rows, read_cols)
            for rows, read_rows in _spans(height, block, margin) for cols, read_cols in _spans(width, block, margin)]


def _own(span: tuple[int, int], read: tuple[int, int], step: int, whole: int, end: int) -> tuple[slice, slice]:
    """A block's own positions along one axis of a layer with ``step`` pixels per position: as a slice
    of the block's activations and of the whole picture's. The last block keeps the positions the
    whole picture's pooling kept (``whole`` of them)."""
    first = span[0] // step
    last = whole if span[1] == end else span[1] // step
    offset = read[0] // step
    return slice(first - offset, last - offset), slice(first, last)


class Tiling:
    """The blocks of one picture size and set of layers, and where each block's own positions lie."""

    def __init__(self, height: int, width: int, block: int, layers):
        self.height, self.width = height, width
        self.layers = list(layers)
        self.blocks = blocks(height, width, block, self.layers)

    def own(self, features: dict[str, torch.Tensor], block: Block):
        """{layer: (the block's own activations, the same positions' slices of the whole layer)}."""
        own = {}
        for name, act in features.items():
            step = stride(name)
            rows, whole_rows = _own(block.rows, block.read_rows, step, self.height // step, self.height)
            cols, whole_cols = _own(block.cols, block.read_cols, step, self.width // step, self.width)
            own[name] = (act[:, :, rows, cols], (whole_rows, whole_cols))
        return own

    def positions(self, name: str) -> int:
        step = stride(name)
        return (self.height // step) * (self.width // step)


def _sum_of_products(act: torch.Tensor) -> torch.Tensor:
    """F Fᵀ over the positions of ``act`` (B x C x h x w), not yet divided."""
    flat = act.reshape(act.shape[0], act.shape[1], -1)
    return torch.bmm(flat, flat.transpose(1, 2))


def targets_by_blocks(vgg: VGG19Features, image: torch.Tensor, content_layers, style_layers, block: int,
                      autocast=nullcontext) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The whole picture's activations at ``content_layers`` (float32) and Grams at ``style_layers``,
    gathered block by block: what ``stylize.content_targets`` and ``style_targets`` give, at a peak set
    by the block, not the picture."""
    tiling = Tiling(image.shape[-2], image.shape[-1], block, dict.fromkeys([*content_layers, *style_layers]))
    dtype = torch.float64 if image.dtype == torch.float64 else torch.float32
    activations, grams = {}, {}
    with torch.no_grad():
        for part in tiling.blocks:
            with autocast():
                features = vgg(_read(image, part), tiling.layers)
            for name, (act, (rows, cols)) in tiling.own(features, part).items():
                act = act.to(dtype)
                if name in content_layers:
                    if name not in activations:
                        h, w = tiling.height // stride(name), tiling.width // stride(name)
                        activations[name] = act.new_zeros(act.shape[0], act.shape[1], h, w)
                    activations[name][:, :, rows, cols] = act
                if name in style_layers:
                    grams[name] = grams[name] + _sum_of_products(act) if name in grams else _sum_of_products(act)
    return ({name: act.float() for name, act in activations.items()},  # float32, as content_targets gives
            {name: g / (g.shape[1] * tiling.positions(name)) for name, g in grams.items()})


class BlockwiseObjective:
    """The terms that read layers (losses.LayerTerms) of a picture (B x 3 x H x W), evaluated and
    differentiated block by block: a "positions" term sums its blocks' own positions, a "gram" term is
    taken of each layer's Gram gathered over the blocks."""

    def __init__(self, vgg: VGG19Features, terms, shape: tuple, block: int, autocast=nullcontext):
        self.vgg = vgg
        self.terms = [term for term in terms if term.layers]
        unknown = [term.name for term in self.terms if term.blockwise not in ("positions", "gram")]
        if unknown:  # a term whose modules declare no block-wise form (losses.py)
            raise ValueError(f"no block-wise form for the terms {', '.join(unknown)}")
        self.tiling = Tiling(shape[-2], shape[-1], block, layers_of(self.terms))
        self.blocks = self.tiling.blocks
        self.autocast = autocast
        self._grams: dict[str, torch.Tensor] = {}

    def _own_features(self, crop: torch.Tensor, block: Block):
        with self.autocast():
            features = self.vgg(crop, self.tiling.layers)
        return self.tiling.own(features, block).items()

    def _gram_keys(self) -> dict:
        """{key: (a loss module, the layer)} of every Gram the terms need (a module says which it reads)."""
        return {loss.gram_key(term.name, name): (loss, name) for term in self.terms if term.blockwise == "gram"
                for name, loss in term.by_layer.items()}

    def values(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Pass 1: each term's value for ``image``, by name; keeps the Grams for ``backward``."""
        grams: dict = {}
        dtype = torch.float64 if image.dtype == torch.float64 else torch.float32
        sums = {term.name: image.new_zeros((), dtype=dtype) for term in self.terms if term.blockwise == "positions"}
        keys = self._gram_keys()
        with torch.no_grad():
            for block in self.blocks:
                own = dict(self._own_features(_read(image, block), block))
                for name, (act, where) in own.items():
                    act = act.to(dtype)
                    for term in self.terms:
                        if term.blockwise == "positions" and name in term.by_layer:
                            sums[term.name] = sums[term.name] + term.by_layer[name].block_sum(act, where)
                for key, (loss, name) in keys.items():
                    act, where = own[name]
                    products = _sum_of_products(loss.weighted(act.to(dtype), where))
                    grams[key] = grams[key] + products if key in grams else products
        self._grams = {key: keys[key][0].gram_from(g, self.tiling.positions(keys[key][1])) for key, g in grams.items()}
        zero = image.new_zeros((), dtype=dtype)
        return {term.name: sums[term.name] if term.blockwise == "positions" else
                sum((loss.of_gram(self._grams[loss.gram_key(term.name, name)]) for name, loss in term.by_layer.items()),
                    zero)
                for term in self.terms}

    def backward(self, image: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        """Pass 2: d(scale · the terms' sum) / d image, after ``values`` on the same image."""
        slopes = {}  # (term, layer) -> ∂L/∂G of a Gram term's layer, from the whole picture's Gram
        for term in self.terms:
            if term.blockwise == "gram":
                for name, loss in term.by_layer.items():
                    gram = self._grams[loss.gram_key(term.name, name)].detach().requires_grad_(True)
                    slopes[term.name, name], = torch.autograd.grad(loss.of_gram(gram) * scale, gram)
        gradient = torch.zeros_like(image)
        for block in self.blocks:
            crop = _read(image, block).detach().requires_grad_(True)
            surrogate = crop.new_zeros((), dtype=torch.float64 if crop.dtype == torch.float64 else torch.float32)
            for name, (act, where) in self._own_features(crop, block):
                act = act.to(surrogate.dtype)
                for term in self.terms:
                    if name not in term.by_layer:
                        continue
                    loss = term.by_layer[name]
                    if term.blockwise == "positions":
                        surrogate = surrogate + scale * loss.block_sum(act, where)
                    else:  # its gradient with respect to these activations is the whole objective's
                        gram = loss.gram_from(_sum_of_products(loss.weighted(act, where)), self.tiling.positions(name))
                        surrogate = surrogate + torch.sum(slopes[term.name, name] * gram)
            if surrogate.requires_grad:
                surrogate.backward()
                gradient[:, :, slice(*block.read_rows), slice(*block.read_cols)] += crop.grad
        return gradient


def _read(image: torch.Tensor, block: Block) -> torch.Tensor:
    return image[:, :, slice(*block.read_rows), slice(*block.read_cols)]
