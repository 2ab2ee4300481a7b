"""The Python API: ``stylize(content, style, **options)`` or ``stylize(content, model=...)`` returns a stylised PIL image."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image

from .engines import open_model, optimiser
from .errors import UsageError
from .media.images import load_image, pil_to_tensor, tensor_to_pil
from .runtime.stylize import Options
from .runtime.transfer import resize_long_side

ImageLike = str | Path | Image.Image | torch.Tensor


def _as_tensor(image: ImageLike, long_side: int | None) -> torch.Tensor:
    if isinstance(image, (str, Path)):
        return load_image(image, long_side)
    if isinstance(image, Image.Image):
        tensor = pil_to_tensor(image.convert("RGB"))
    else:
        tensor = image if image.dim() == 4 else image.unsqueeze(0)
    if long_side is not None:
        tensor = resize_long_side(tensor, long_side)
    return tensor


def stylize(
    content: ImageLike,
    style: ImageLike | list[ImageLike] | None = None,
    *,
    model: str | Path | None = None,
    size: int | None = 256,
    style_blend: list[float] | str | None = None,
    style_scale: float = 1.0,
    preserve_colors: bool = False,
    device: str = "auto",
    weights: str | Path | None = None,
    callback=None,
    **options,
) -> Image.Image:
    """Paint ``content`` in the manner of ``style`` (a path, PIL image or 1x3xHxW tensor in [0, 1]), or
    with a trained network: ``stylize(photo, model="model.onnx")`` (no painting needed, one pass).

    ``size`` is the longest side of the result (None keeps the photo's size). With ``model``,
    ``style_blend`` weighs the model's paintings (``[0.7, 0.3]`` or ``"starry=0.7,scream=0.3"``).
    Otherwise the keyword arguments are fields of ``nstbatch.runtime.stylize.Options``: iterations,
    optimizer, content_weight, style_weight, tv_weight, content_layers, style_layers, init, seed, pooling.
    """
    if (style is None) == (model is None):
        raise UsageError("give a painting (style=...) or a trained network (model=...), not both or neither")
    if model is not None:
        if options or weights is not None or style_scale != 1.0:
            raise UsageError(f"only for optimisation, not with model=: {', '.join(options) or 'weights/style_scale'}")
        blend = ",".join(map(str, style_blend)) if isinstance(style_blend, (list, tuple)) else style_blend
        engine, _ = open_model(model, blend, preserve_colors, device)
        return tensor_to_pil(engine(_as_tensor(content, size)).image)
    styles = style if isinstance(style, list) else [style]
    engine = optimiser([_as_tensor(s, None) for s in styles], Options(**options), style_blend, style_scale,
                       preserve_colors, device, weights)
    return tensor_to_pil(engine(_as_tensor(content, size), callback=callback).image)
