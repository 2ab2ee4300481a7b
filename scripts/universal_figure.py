"""docs/images/universal.jpg: the bundled photos painted by the bundled universal network with three
paintings it never saw, each made by `nstbatch run --model universal --style PAINTING`.

    python scripts/universal_figure.py

The first row: each painting; then one row a photo: the photo, then its picture with each painting.
"""

from __future__ import annotations

import subprocess
import sys

from PIL import Image
from readme_figures import GAP, ROOT, save

PAINTINGS = ["the_scream_munch", "shipwreck_of_the_minotaur_turner", "composition_vii_kandinsky"]
PHOTOS = ["chelsea_cat", "coffee"]
CELL = (300, 200)  # every picture fitted into a cell this size, so rows and columns line up


def grid(rows: list[list[str | None]]) -> Image.Image:
    """Pictures (paths under the repository; None: an empty cell) in a grid of equal cells."""
    width, height = CELL
    canvas = Image.new("RGB", (len(rows[0]) * (width + GAP) - GAP, len(rows) * (height + GAP) - GAP), "white")
    for r, paths in enumerate(rows):
        for c, path in enumerate(paths):
            if path is None:
                continue
            picture = Image.open(ROOT / path).convert("RGB")
            picture.thumbnail(CELL, Image.Resampling.LANCZOS)
            canvas.paste(picture, (c * (width + GAP) + (width - picture.width) // 2,
                                   r * (height + GAP) + (height - picture.height) // 2))
    return canvas


def main() -> None:
    for name in PAINTINGS:
        # --overwrite: the figure shows what this code paints, whatever an earlier run left in out/
        subprocess.run([sys.executable, "-m", "nstbatch", "run", "--inputs", "examples/photos", "--model", "universal",
                        "--style", f"examples/styles/{name}.jpg", "--output", f"out/universal/{name}", "--quiet",
                        "--overwrite"], cwd=ROOT, check=True)
    rows = [[None, *(f"examples/styles/{name}.jpg" for name in PAINTINGS)]]
    rows += [[f"examples/photos/{photo}.jpg", *(f"out/universal/{name}/{photo}.png" for name in PAINTINGS)]
             for photo in PHOTOS]
    save(grid(rows), "universal.jpg")


if __name__ == "__main__":
    main()
