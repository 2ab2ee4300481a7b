"""Reading region masks: a grey mask (white is inside, grey is partly inside), or a colour-coded
segmentation (each region a colour, as segmentation tools write them), as float32 arrays in [0, 1].

A mask is fitted to the picture it belongs to: resampled when it has the picture's shape at another
size, refused (an ImageError naming the file) when its shape is another, since stretching it would put
the regions in the wrong places.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import ImageError, UsageError
from .images import read_picture

COLOUR_NAMES = {
    "black": (0, 0, 0), "white": (255, 255, 255), "red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255),
    "yellow": (255, 255, 0), "cyan": (0, 255, 255), "magenta": (255, 0, 255), "grey": (128, 128, 128),
    "gray": (128, 128, 128),
}
_HEX = re.compile(r"#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})")
# A segmentation pixel belongs to the nearest colour asked for within this distance (0-255 units, largest
# channel): enough for a segmentation saved as JPEG, far below the distance between distinct colours.
COLOUR_TOLERANCE = 48


def parse_colour(text: str) -> tuple[int, int, int]:
    """'red', '#ff0000' or 'f00' as (r, g, b) in 0-255; a UsageError naming the choices otherwise."""
    word = text.strip().lower()
    if word in COLOUR_NAMES:
        return COLOUR_NAMES[word]
    found = _HEX.fullmatch(word)
    if not found:
        raise UsageError(f"--region-style: '{text}' is not a colour; give a name ({', '.join(COLOUR_NAMES)}) or "
                         f"#rrggbb")
    digits = found[1] if len(found[1]) == 6 else "".join(c * 2 for c in found[1])
    return tuple(int(digits[i:i + 2], 16) for i in (0, 2, 4))


def read_mask(path) -> np.ndarray:
    """A grey mask at its own size: H x W float32 in [0, 1] (a colour mask: the mean of its channels)."""
    return read_picture(path)[0].mean(axis=0)


def read_segmentation(path, colours: list[tuple[int, int, int]]) -> np.ndarray:
    """One hard mask per colour (R x H x W float32, 0 or 1) of a colour-coded segmentation at its own size:
    each pixel goes to the nearest of ``colours`` within COLOUR_TOLERANCE, else to none."""
    pixels = read_picture(path)[0].transpose(1, 2, 0) * 255.0  # H x W x 3
    palette = np.asarray(colours, np.float32)  # R x 3
    distance = np.abs(pixels[:, :, None, :] - palette[None, None]).max(axis=-1)  # H x W x R
    nearest = distance.argmin(axis=-1)
    inside = distance.min(axis=-1) <= COLOUR_TOLERANCE
    return np.stack([(inside & (nearest == r)).astype(np.float32) for r in range(len(colours))])


def fitted(masks: np.ndarray, path, size: tuple[int, int]) -> np.ndarray:
    """``masks`` (R x h x w) at ``size`` (H, W): resampled (bilinear, antialiased) when they have the
    picture's shape at another size; an ImageError naming ``path`` when the shape differs."""
    height, width = size
    mask_h, mask_w = masks.shape[-2:]
    if (mask_h, mask_w) == (height, width):
        return masks.astype(np.float32)
    # Sizes are whole pixels, so shapes that are the same may differ by a rounding at either size.
    slack = 0.01 + 1.5 / min(height, width, mask_h, mask_w)
    if abs((mask_w / mask_h) / (width / height) - 1) > slack:
        raise ImageError(path, f"is a {mask_w}x{mask_h} mask for a picture of another shape ({width}x{height} "
                               f"here); make the mask the photo's shape")
    return np.stack([np.asarray(Image.fromarray(m.astype(np.float32), mode="F").resize(
        (width, height), Image.Resampling.BILINEAR), np.float32).clip(0, 1) for m in masks])


def mask_beside(folder: Path, relative: str) -> Path | None:
    """The mask in ``folder`` for the photo at ``relative`` (its path under the inputs): the same path with
    any image suffix, a .png first; None when there is none."""
    stem = Path(folder) / Path(relative).with_suffix("")
    for suffix in (".png", ".PNG", ".webp", ".tif", ".tiff", ".bmp", ".jpg", ".jpeg", ".gif"):
        candidate = stem.with_name(stem.name + suffix)
        if candidate.is_file():
            return candidate
    return None
