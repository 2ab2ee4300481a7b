"""Compose the feed-forward figures from what nstbatch made (run `make demo` first):

- docs/images/feedforward.jpg: each bundled photo, then the bundled network's picture of it (one pass,
  out/demo-fast/) and optimisation's (150 iterations, out/demo/);
- docs/images/training_loss.png: the bundled model's training loss against steps, from its log.

    python scripts/feedforward_figures.py [--model-dir nstbatch/models/starry_night]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont
from readme_figures import GAP, ROOT, row, save  # the same tiles and output folder as the other figures

SERIES = (("total", (30, 30, 30)), ("style", (40, 90, 200)), ("content", (210, 120, 20)))


def stack(rows: list[Image.Image]) -> Image.Image:
    canvas = Image.new("RGB", (max(r.width for r in rows), sum(r.height for r in rows) + GAP * (len(rows) - 1)), "white")
    y = 0
    for r in rows:
        canvas.paste(r, (0, y))
        y += r.height + GAP
    return canvas


def smoothed(values: list[float], window: int) -> list[float]:
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def loss_curve(log: Path, width=760, height=360, window=50) -> Image.Image:
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    steps = [r["step"] for r in rows]
    curves = {name: smoothed([float(r[name]) for r in rows], window) for name, _ in SERIES}
    top = max(max(c) for c in curves.values()) * 1.05
    left, right, bottom, upper = 60, 20, 40, 30
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    x = lambda s: left + (s - steps[0]) / max(1, steps[-1] - steps[0]) * (width - left - right)  # noqa: E731
    y = lambda v: height - bottom - min(v, top) / top * (height - bottom - upper)  # noqa: E731
    draw.line([(left, upper), (left, height - bottom), (width - right, height - bottom)], fill="black")
    for i in range(5):
        value = top * i / 4
        draw.text((8, y(value) - 6), f"{value:.1f}", fill="black", font=font)
        draw.line([(left - 4, y(value)), (left, y(value))], fill="black")
        step = round(steps[0] + (steps[-1] - steps[0]) * i / 4)
        draw.text((x(step) - 12, height - bottom + 6), str(step), fill="black", font=font)
    draw.text((width // 2 - 30, height - 18), "training step", fill="black", font=font)
    for i, (name, colour) in enumerate(SERIES):
        draw.line([(x(s), y(v)) for s, v in zip(steps, curves[name])], fill=colour, width=2)
        draw.text((width - 200, upper + 4 + 14 * i), f"{name} loss (mean of {window} steps)", fill=colour, font=font)
    draw.text((left + 8, 8), f"{log.parent.name}: nstbatch train, {len(rows)} steps", fill="black", font=font)
    return image


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--model-dir", type=Path, default=ROOT / "nstbatch" / "models" / "starry_night")
    args = parser.parse_args()
    photos = sorted((ROOT / "examples" / "photos").glob("*.jpg"))
    save(stack([row([p.relative_to(ROOT), f"out/demo-fast/{p.stem}.png", f"out/demo/{p.stem}.png"]) for p in photos]),
         "feedforward.jpg")
    save(loss_curve(args.model_dir / "log.jsonl"), "training_loss.png")
