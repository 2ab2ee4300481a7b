"""Make the region masks of the bundled region examples by colour thresholds, as a user without a
segmentation tool would: white inside, black outside. Reproducible: the same photos give the same masks.

    python scripts/make_region_masks.py    # writes examples/regions/masks/{dune,astronaut}.png

- dune.png, the sky: bluish pixels (blue above red by 20 levels) in the picture's top half, each column's
  sky ending at its first ground pixel from the top; then a 5 px median to drop specks.
- astronaut.png, the person: the suit, skin and hair (red above blue by a third, red over 90,
  green over 0.3 of red: orange and skin, not the flag's deep red), within an outline drawn by hand
  around her (OUTLINE: the flag and the shuttle lie outside it); each row filled from its first such pixel to its last (the face's
  highlights, the collar ring); then smoothed by a 9 px median.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parent.parent / "examples" / "regions"


def sky(photo: np.ndarray) -> np.ndarray:
    r, g, b = (photo[..., i].astype(int) for i in range(3))
    bluish = (b > r + 20) & (b > 100)
    bluish[photo.shape[0] // 2:] = False
    # A column's sky ends at its first pixel that is not sky: grass tips against the sky stay ground.
    ends = np.where(bluish.all(axis=0), photo.shape[0], np.argmin(bluish, axis=0))
    rows = np.arange(photo.shape[0])[:, None]
    return rows < ends[None, :]


# Around the astronaut, in pixels of the 512 x 512 photo, drawn by hand.
OUTLINE = [(140, 15), (320, 15), (335, 160), (375, 250), (365, 512), (0, 512), (0, 330), (45, 250), (105, 195),
           (135, 150)]


def person(photo: np.ndarray) -> np.ndarray:
    r, g, b = (photo[..., i].astype(int) for i in range(3))
    warm = (r > 1.33 * b) & (r > 90) & (g > 0.3 * r)
    outline = Image.new("L", (photo.shape[1], photo.shape[0]))
    ImageDraw.Draw(outline).polygon(OUTLINE, fill=1)
    warm &= np.asarray(outline, bool)
    columns = np.arange(photo.shape[1])[None, :]
    first = np.where(warm.any(axis=1), np.argmax(warm, axis=1), photo.shape[1])[:, None]
    last = np.where(warm.any(axis=1), photo.shape[1] - 1 - np.argmax(warm[:, ::-1], axis=1), -1)[:, None]
    return (columns >= first) & (columns <= last)


def save(mask: np.ndarray, path: Path, median: int) -> None:
    image = Image.fromarray((mask * 255).astype(np.uint8)).filter(ImageFilter.MedianFilter(median))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    print(f"wrote {path}: {np.asarray(image).mean() / 255:.0%} inside")


if __name__ == "__main__":
    save(sky(np.asarray(Image.open(ROOT / "photos" / "dune.jpg").convert("RGB"))), ROOT / "masks" / "dune.png", 5)
    save(person(np.asarray(Image.open(ROOT / "photos" / "astronaut.jpg").convert("RGB"))), ROOT / "masks" / "astronaut.png", 9)
