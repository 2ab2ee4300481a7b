"""Keeping the photo's colours (Gatys et al. 2016, "Preserving Color in Neural Artistic Style Transfer";
Gatys et al. 2017), two ways:

- **luminance**: the stylised picture gives the luminance (the brush strokes, light and shade), the
  photo the chroma. Done after painting in YCbCr (ITU-R BT.601), so it costs nothing per iteration.
- **histogram**: the painting's colours are mapped to the photo's before painting, so that their mean
  and covariance in RGB are the photo's (x' = A (x − μ_painting) + μ_photo, A = Σ_photo^½ Σ_painting^-½,
  the symmetric square roots); the texture then comes in the photo's colours. A trained network
  cannot repaint its painting, so there the stylised picture's colours are mapped to the photo's instead.

Pictures are numpy arrays (a network's) or torch tensors (optimisation's), and come back as they went
in; no torch import, so network workers need none.
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


COLOR_MODES = ("luminance", "histogram")


def _statistics(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (3) and covariance (3 x 3) of 3 x N pixels, in float64."""
    mean = pixels.mean(axis=1)
    centred = pixels - mean[:, None]
    return mean, centred @ centred.T / max(pixels.shape[1] - 1, 1)


def _symmetric_power(matrix: np.ndarray, power: float) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    values = np.maximum(values, 1e-8)  # a flat colour channel would make the inverse root infinite
    return (vectors * values**power) @ vectors.T


def match_colors(picture, reference):
    """``picture`` (N x 3 x H x W in [0, 1]) with each image's RGB mean and covariance mapped to those of
    ``reference``'s image (N or 1 x 3 x h x w, any size), clipped to [0, 1]: the histogram colour transfer."""
    as_numpy = picture if isinstance(picture, np.ndarray) else picture.detach().cpu().numpy()
    refs = reference if isinstance(reference, np.ndarray) else reference.detach().cpu().numpy()
    mapped = np.empty(as_numpy.shape, np.float32)
    for i, image in enumerate(as_numpy):
        pixels = image.reshape(3, -1).astype(np.float64)
        mean_p, cov_p = _statistics(pixels)
        mean_r, cov_r = _statistics(refs[min(i, len(refs) - 1)].reshape(3, -1).astype(np.float64))
        matrix = _symmetric_power(cov_r, 0.5) @ _symmetric_power(cov_p, -0.5)
        mapped[i] = np.clip(matrix @ (pixels - mean_p[:, None]) + mean_r[:, None], 0, 1).reshape(image.shape)
    return mapped if isinstance(picture, np.ndarray) else picture.new_tensor(mapped)


def keep_colors(mode, stylised, photo):
    """After painting: ``stylised`` with the photo's colours kept as ``mode`` says (None: as painted)."""
    if mode == "luminance":
        return preserve_colors(stylised, photo)
    if mode == "histogram":
        return match_colors(stylised, photo)
    return stylised
