"""How several paintings mix, decided once for both engines: blend weights (read from text and checked)
and regions' masks sharing a pixel. Torch-free: the network engine's workers use it too; the masks may be
numpy arrays or torch tensors alike.
"""

from __future__ import annotations

from ..errors import UsageError


# Why an engine painting by region takes one photo at a time (its masks are the photo's own).
REGIONS_ONE_AT_A_TIME = "painting by region takes one photo at a time"


def parse_weights(text: str | None, option: str = "--style-blend") -> list[float] | None:
    """Blend weights given as numbers separated by commas ('0.7,0.3'); None for an equal blend."""
    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"{option}: expected numbers separated by commas, got '{text}'") from None


def weights_given(blend, option: str = "style_blend") -> list[float] | None:
    """A blend as the Python API takes it: a list of numbers, text ('0.7,0.3'), or None."""
    return parse_weights(blend, option) if isinstance(blend, str) else None if blend is None else list(blend)


def check_weights(weights: list[float], count: int, option: str = "--style-blend", names=None) -> list[float]:
    """``weights`` for ``count`` paintings (``names``, to say which), as given: as many as there are
    paintings, each >= 0, not all zero; a UsageError naming ``option`` otherwise."""
    if len(weights) != count:
        held = f" ({', '.join(names)})" if names else ""
        raise UsageError(f"{option} has {len(weights)} weight{'s' * (len(weights) != 1)} for {count} "
                         f"painting{'s' * (count != 1)}{held}")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise UsageError(f"{option}: weights must be >= 0 and not all zero, not {', '.join(f'{w:g}' for w in weights)}")
    return weights


def pixel_shares(masks):
    """Regions' masks (R x H x W in [0, 1]) as each region's share of every pixel, and the share no mask
    covers (H x W): where masks overlap they share the pixel in proportion to their values."""
    shared = masks / masks.sum(0)[None].clip(min=1.0)
    return shared, (1.0 - shared.sum(0)).clip(0, 1)
