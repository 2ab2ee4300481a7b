"""Keeping the photo's colours: luminance-only transfer (Gatys et al. 2016, "Preserving Color").

The stylised picture gives the luminance (the brush strokes, light and shade); the photo gives the
chroma. Done after painting in YCbCr (ITU-R BT.601), so it costs nothing per iteration. Pictures are
numpy arrays (a network's) or torch tensors (optimisation's), and come back as they went in; no torch
import, so network workers need none.
"""

import numpy as np

_RGB_TO_YCBCR = np.array([
    [0.299, 0.587, 0.114],
    [-0.168736, -0.331264, 0.5],
    [0.5, -0.418688, -0.081312],
], dtype=np.float32)
_YCBCR_TO_RGB = np.linalg.inv(_RGB_TO_YCBCR)


def _apply(matrix: np.ndarray, image):
    """``matrix`` applied to each pixel's channels of an N x 3 x H x W array or tensor."""
    if not isinstance(image, np.ndarray):  # a tensor: the matrix on its device, in its type
        matrix = image.new_tensor(matrix)
    n, _, height, width = image.shape
    return (matrix @ image.reshape(n, 3, height * width)).reshape(n, -1, height, width)


def preserve_colors(stylised, photo):
    """The luminance of ``stylised`` with the chroma of ``photo`` (both N x 3 x H x W in [0, 1])."""
    ycbcr = _apply(_RGB_TO_YCBCR, photo)
    ycbcr[:, 0] = _apply(_RGB_TO_YCBCR[:1], stylised)[:, 0]
    return _apply(_YCBCR_TO_RGB, ycbcr).clip(0, 1)
