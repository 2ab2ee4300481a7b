"""Keeping the photo's colours: luminance-only transfer (Gatys et al. 2016, "Preserving Color").

The stylised picture gives the luminance (the brush strokes, light and shade); the photo gives the
chroma. Done after optimisation in YCbCr (ITU-R BT.601), so it costs nothing per iteration.
"""

import torch

_RGB_TO_YCBCR = torch.tensor([
    [0.299, 0.587, 0.114],
    [-0.168736, -0.331264, 0.5],
    [0.5, -0.418688, -0.081312],
])
_YCBCR_TO_RGB = torch.linalg.inv(_RGB_TO_YCBCR)


def _apply(matrix: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,njhw->nihw", matrix.to(image), image)


def preserve_colors(stylised: torch.Tensor, photo: torch.Tensor) -> torch.Tensor:
    """The luminance of ``stylised`` with the chroma of ``photo`` (both N x 3 x H x W in [0, 1])."""
    ycbcr = _apply(_RGB_TO_YCBCR, photo)
    ycbcr[:, 0] = _apply(_RGB_TO_YCBCR[:1], stylised)[:, 0]
    return _apply(_YCBCR_TO_RGB, ycbcr).clamp(0, 1)
