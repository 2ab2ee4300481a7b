"""Compose docs/images/video.jpg: frame by frame against `nstbatch video`, on the bundled clip.

Rows: the photos (frames 2-5 of examples/video/cockatoo_3s.mp4); each frame stylised on its own (150
iterations each); the same frames from `nstbatch video` (150 for the first frame, 50 after); then, for
each of the two, how much every pixel changed from the previous stylised frame carried along the flow
(black: no change; bright: flicker).

    python scripts/video_figure.py [--size 192] [--frames 5]
"""

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from nstbatch.media.flow import previous_in_place
from nstbatch.media.frames import open_frames
from nstbatch.media.images import load_image
from nstbatch.batch.video_optimisation import VideoSettings, stylize_frame
from nstbatch.runtime.stylize import Options
from nstbatch.runtime.transfer import StyleTransfer

ROOT = Path(__file__).resolve().parent.parent
GAP = 6


def stylize_all(frames, painting, settings, temporal_weight):
    engine = StyleTransfer([painting], Options(iterations=settings.iterations, temporal_weight=temporal_weight))
    stylised, history = [], []
    for t, frame in enumerate(frames):
        stylised.append(stylize_frame(engine, frame, history, settings))
        history.insert(0, (frame, stylised[-1]))
        print(f"frame {t + 1}/{len(frames)}", flush=True)
    return stylised


def change_maps(stylised, frames):
    """|frame t − frame t-1 warped along the flow|, averaged over colour, as grey images (x4 for visibility)."""
    maps = [np.zeros_like(stylised[0])]
    for t in range(1, len(frames)):
        warped, _ = previous_in_place(stylised[t - 1].astype(np.float32), frames[t], frames[t - 1])
        change = np.abs(stylised[t].astype(np.float32) - warped).mean(axis=-1)
        maps.append(np.repeat(np.clip(change * 4, 0, 255).astype(np.uint8)[..., None], 3, axis=-1))
    return maps


def grid(rows) -> Image.Image:
    h, w = rows[0][0].shape[:2]
    canvas = Image.new("RGB", (len(rows[0]) * (w + GAP) - GAP, len(rows) * (h + GAP) - GAP), "white")
    for r, row in enumerate(rows):
        for c, tile in enumerate(row):
            canvas.paste(Image.fromarray(tile), (c * (w + GAP), r * (h + GAP)))
    return canvas


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--frames", type=int, default=5)
    args = parser.parse_args()
    frames = [f for _, f in open_frames(ROOT / "examples/video/cockatoo_3s.mp4", max_frames=args.frames).read(args.size)]
    painting = load_image(ROOT / "examples/styles/starry_night_vangogh.jpg")
    alone = stylize_all(frames, painting, VideoSettings(args.size, 150, 150, consistent=False), 0.0)  # full budget each
    video = stylize_all(frames, painting, VideoSettings(args.size, 150, 50), 100.0)
    shown = slice(1, None)  # the first frame is the same both ways
    rows = [frames[shown], alone[shown], video[shown], change_maps(alone, frames)[shown], change_maps(video, frames)[shown]]
    out = ROOT / "docs" / "images" / "video.jpg"
    grid(rows).save(out, quality=88)
    print(f"wrote {out} ({out.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
