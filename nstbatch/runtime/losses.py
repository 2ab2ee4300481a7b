"""The terms of the Gatys objective, each a tiny module that holds its target as a buffer."""

from __future__ import annotations

import torch
from torch import nn

from .gram import at_least_float32, gram, style_loss
from .regions import guided_gram


def _energy(target: torch.Tensor) -> float:
    """Mean square of a target, the unit its loss is measured in when normalised."""
    return max(float(torch.mean(target.float() ** 2)), 1e-12)


# Each layer's loss module also says how it is taken over a picture cut into blocks (blocks.py): a
# "positions" module sums its positions (``block_sum``); a "gram" module is a function of the layer's Gram,
# gathered over the blocks from each block's ``weighted`` activations and divided by ``gram_from``.


class ContentLoss(nn.Module):
    """Mean squared error between activations and the content photo's activations.

    With ``normalize`` the error is divided by the target's mean square, so the weight is
    dimensionless: 1.0 means "as far off as the activations are large".
    """

    blockwise = "positions"

    def __init__(self, target: torch.Tensor, weight: float = 1.0, normalize: bool = True):
        super().__init__()
        self.register_buffer("target", target.detach())
        # One scale per image, so photos optimised together in a batch each count as they would alone.
        scale = [weight / _energy(t) if normalize else weight for t in target]
        self.register_buffer("weight", torch.tensor(scale, dtype=torch.float32).view(-1, 1, 1, 1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.mean(self.weight * (features.to(at_least_float32(features.dtype)) - self.target) ** 2)

    def block_sum(self, act: torch.Tensor, where: tuple[slice, slice]) -> torch.Tensor:
        """This block's share of the term: its own positions ``where`` (rows, cols of the whole layer)."""
        target = self.target[:, :, where[0], where[1]].to(act.dtype)
        return torch.sum(self.weight.to(act.dtype) * (act - target) ** 2) / self.target.numel()


class StyleLoss(nn.Module):
    """Mean squared error between Gram matrices, G = F Fᵀ / (C·H·W).

    Several paintings are blended by blending their Gram targets: for blend weights that sum to 1,
    Σ wᵢ‖G − Aᵢ‖² and ‖G − Σ wᵢAᵢ‖² differ by a constant, so the gradient is the same at a fifth of
    the cost.

    With ``normalize`` the error is divided by the target Gram's mean square. Raw Gram errors of
    VGG-19 layers span four orders of magnitude (relu4_1 ~1e6, relu1_1 ~1e2 for the Caffe weights),
    so equal raw weights let one layer decide the look; normalised, each layer counts alike and the
    same weights suit either weight release.
    """

    blockwise = "gram"

    def __init__(self, target_gram: torch.Tensor, weight: float = 1.0, gram_backend: str = "auto",
                 normalize: bool = True):
        super().__init__()
        self.register_buffer("target", target_gram.detach())
        self.weight = weight / _energy(target_gram) if normalize else weight
        self.gram_backend = gram_backend

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return style_loss(features, self.target, self.weight, self.gram_backend)

    def of_gram(self, gram: torch.Tensor) -> torch.Tensor:
        """The term for a Gram matrix already gathered (block by block: see blocks.py)."""
        return self.weight * torch.mean((gram - self.target.to(gram.dtype)) ** 2)

    def gram_key(self, term: str, layer: str):
        """Which Gram this module reads: every unguided style term shares a layer's."""
        return layer

    def weighted(self, act: torch.Tensor, where: tuple[slice, slice]) -> torch.Tensor:
        """A block's own activations as they enter the Gram."""
        return act

    def gram_from(self, products: torch.Tensor, positions: int) -> torch.Tensor:
        """The Gram from F Fᵀ summed over a layer's ``positions``."""
        return products / (products.shape[1] * positions)


class GuidedStyleLoss(StyleLoss):
    """A style term for one region (regions.py): the Gram of the features weighted by the region's
    ``guide`` at this layer (1 x 1 x h x w), normalised by the guide's energy Σ g², against the region's
    paintings' Gram. A guide of ones is StyleLoss exactly."""

    def __init__(self, target_gram: torch.Tensor, guide: torch.Tensor, weight: float = 1.0,
                 gram_backend: str = "auto", normalize: bool = True):
        super().__init__(target_gram, weight, gram_backend, normalize)
        self.register_buffer("guide", guide.detach().float())
        self.energy = float(torch.sum(guide.double() ** 2))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.of_gram(guided_gram(features, self.guide, self.energy,
                                        lambda weighted: gram(weighted, self.gram_backend)))

    def gram_key(self, term: str, layer: str):
        return term, layer  # each region's term has its own Gram

    def weighted(self, act: torch.Tensor, where: tuple[slice, slice]) -> torch.Tensor:
        return act * self.guide[:, :, where[0], where[1]].to(act.dtype)

    def gram_from(self, products: torch.Tensor, positions: int) -> torch.Tensor:
        return products / (products.shape[1] * self.energy)


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between neighbouring pixels (an image in [0, 1])."""
    dx = image[..., :, 1:] - image[..., :, :-1]
    dy = image[..., 1:, :] - image[..., :-1, :]
    return torch.mean(dx**2) + torch.mean(dy**2)


class TemporalLoss(nn.Module):
    """Ruder et al.'s temporal term: the mean squared difference to the previous stylised frame warped
    into this frame's place, counted only where ``mask`` (1 x 1 x H x W, in [0, 1]) trusts the warp.

    Divided by the number of values (C·H·W), as in the paper, so the weight does not depend on the
    frame size.
    """

    def __init__(self, warped: torch.Tensor, mask: torch.Tensor, weight: float = 1.0):
        super().__init__()
        self.register_buffer("warped", warped.detach().float())
        self.register_buffer("mask", mask.detach().float())
        self.weight = weight

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.weight * torch.sum(self.mask * (image - self.warped) ** 2) / image.numel()


# The objective is a list of named terms (objective.py builds it). The loop, the block-wise objective and
# the reported losses iterate it and never ask which term is which. A term reads VGG-19 layers
# (``layers``) or only the image itself (``layers`` empty).


class LayerTerms:
    """A term that reads VGG-19 layers: the sum of one loss module per layer.

    ``blockwise`` is how blocks.py evaluates it over a picture cut into blocks, as its modules declare it:
    "positions" (a sum over each layer's positions, like the content term) or "gram" (a function of each
    layer's whole Gram matrix, like the style term); None for modules that declare neither."""

    def __init__(self, name: str, by_layer: dict[str, nn.Module]):
        self.name, self.by_layer = name, by_layer
        forms = {getattr(module, "blockwise", None) for module in by_layer.values()}
        self.blockwise = forms.pop() if len(forms) == 1 else None

    @property
    def layers(self) -> tuple[str, ...]:
        return tuple(self.by_layer)

    def __call__(self, features: dict[str, torch.Tensor], image: torch.Tensor) -> torch.Tensor:
        return sum((term(features[name]) for name, term in self.by_layer.items()), image.new_zeros(()))


class ImageTerm:
    """A term of the image alone (smoothness, the temporal term): no network, no blocks."""

    layers: tuple[str, ...] = ()
    blockwise = None

    def __init__(self, name: str, of_image):
        self.name, self.of_image = name, of_image

    def __call__(self, features: dict[str, torch.Tensor], image: torch.Tensor) -> torch.Tensor:
        return self.of_image(image)


def layers_of(terms) -> list[str]:
    """Every layer the terms read, each once, in the terms' order."""
    return list(dict.fromkeys(name for term in terms for name in term.layers))


def values_of(terms, features: dict[str, torch.Tensor], image: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each term's weighted value, by name, in the list's order: what the objective sums and reports."""
    return {term.name: term(features, image) for term in terms}
